"""Host-side logic of nnslim._cuda, run on the CPU: kernel choice and the argument checks that must
reject a bad call BEFORE any CUDA call (every call here fails validation, so nothing is launched even
on a GPU machine, and the bogus pointers are never dereferenced)."""
import pytest

H100 = dict(cc_major=9, cc_minor=0, num_sms=132, max_smem_optin=232448)
A100 = dict(cc_major=8, cc_minor=0, num_sms=108, max_smem_optin=166912)
RTX3090 = dict(cc_major=8, cc_minor=6, num_sms=82, max_smem_optin=101376)
T4 = dict(cc_major=7, cc_minor=5, num_sms=40, max_smem_optin=65536)
P100 = dict(cc_major=6, cc_minor=0, num_sms=56, max_smem_optin=49152)


def plan(m, M, N, K, lda=None, ldb=None, dev=H100, **kw):
    return m.gemm_plan(M, N, K, K if lda is None else lda, K if ldb is None else ldb, **dev, **kw)


# ---- GEMM dispatch --------------------------------------------------------------------------------

@pytest.mark.parametrize("M,N,K,want", [
    (4096, 4096, 4096, "mma_128x128"),
    (1024, 4096, 4096, "mma_128x128"),
    (512, 4096, 4096, "mma_128x128"),   # 128 big tiles: about one wave on 132 SMs
    (128, 4096, 4096, "mma_32x32"),     # 32 big tiles would leave 100 SMs idle
    (16, 4096, 4096, "mma_32x32"),
    (1, 4096, 4096, "mma_32x32"),
    (1, 1, 16, "mma_32x32"),
    (4096, 4096, 4100, "dp4a"),         # K % 16 != 0
    (4096, 4096, 8, "dp4a"),
])
def test_gemm_dispatch(cuda_mod, M, N, K, want):
    assert plan(cuda_mod, M, N, K) == want


def test_gemm_dispatch_alignment_and_strides(cuda_mod):
    assert plan(cuda_mod, 4096, 4096, 4096, a_ptr=256 + 8) == "dp4a"
    assert plan(cuda_mod, 4096, 4096, 4096, b_ptr=256 + 1) == "dp4a"
    assert plan(cuda_mod, 4096, 4096, 4096, lda=4100) == "dp4a"
    assert plan(cuda_mod, 4096, 4096, 4096, lda=4112, ldb=8192) == "mma_128x128"


def test_gemm_dispatch_per_gpu(cuda_mod):
    assert plan(cuda_mod, 4096, 4096, 4096, dev=A100) == "mma_128x128"
    assert plan(cuda_mod, 4096, 4096, 4096, dev=RTX3090) == "mma_128x128"  # 96 KiB fits sm_86's 99 KiB
    assert plan(cuda_mod, 4096, 4096, 4096, dev=T4) == "dp4a"               # no m16n8k32 before sm_80
    small_smem = dict(H100, max_smem_optin=64 * 1024)
    assert plan(cuda_mod, 4096, 4096, 4096, dev=small_smem) == "mma_32x32"
    with pytest.raises(ValueError, match="sm_61"):
        plan(cuda_mod, 64, 64, 64, dev=P100)


def test_gemm_forced_kernels(cuda_mod):
    assert plan(cuda_mod, 4096, 4096, 4096, kernel="mma_32x32") == "mma_32x32"
    assert plan(cuda_mod, 1, 8, 32, kernel="mma_128x128") == "mma_128x128"
    assert plan(cuda_mod, 4096, 4096, 4096, kernel="dp4a") == "dp4a"
    with pytest.raises(ValueError, match="K % 16"):
        plan(cuda_mod, 8, 8, 20, kernel="mma_128x128")
    with pytest.raises(ValueError, match="sm_80"):
        plan(cuda_mod, 8, 8, 32, dev=T4, kernel="mma_32x32")
    with pytest.raises(ValueError, match="16-byte aligned"):
        plan(cuda_mod, 8, 8, 32, a_ptr=260, kernel="mma_32x32")
    with pytest.raises(ValueError, match="shared memory"):
        plan(cuda_mod, 8, 8, 32, dev=dict(H100, max_smem_optin=48 * 1024), kernel="mma_128x128")
    with pytest.raises(ValueError, match="not one of"):
        plan(cuda_mod, 8, 8, 32, kernel="cublas")


# ---- GEMM argument checks (binding) ---------------------------------------------------------------

P = 1 << 20  # an aligned, never-dereferenced fake device address


def gemm(m, **over):
    args = dict(a=P, b=P, c=P, M=8, N=8, K=32, lda=32, ldb=32, ldc=8, out_dtype=1, a_scale=P, b_scale=P,
                bias=0, relu=False, stream=0, device=-1, kernel="auto")
    args.update(over)
    return m.qs8_gemm(**args)


@pytest.mark.parametrize("over,match", [
    (dict(a=0), "A: null"),
    (dict(b=0), "B: null"),
    (dict(c=0), "C: null"),
    (dict(c=P + 2), "C: pointer must be 4-byte aligned"),
    (dict(c=P + 1, out_dtype=2), "C: pointer must be 2-byte aligned"),
    (dict(a_scale=0), "a_scale: null"),
    (dict(b_scale=P + 1), "b_scale: pointer must be 4-byte aligned"),
    (dict(bias=P + 2), "bias: pointer must be 4-byte aligned"),
    (dict(M=-1), "M: expected >= 0"),
    (dict(N=1 << 31), "N: .* exceeds"),
    (dict(K=131072, lda=131072, ldb=131072), "exceeds 131071"),
    (dict(lda=16), "lda: expected >= K"),
    (dict(ldb=31), "ldb: expected >= K"),
    (dict(ldc=7), "ldc: expected >= N"),
    (dict(out_dtype=4), "out_dtype"),
    (dict(out_dtype=0, bias=P), "bias and relu need a floating-point output"),
    (dict(out_dtype=0, relu=True, a_scale=0, b_scale=0), "bias and relu"),
    (dict(kernel="mma_128x128", K=20, lda=20, ldb=20), "K % 16"),
    (dict(kernel="wgmma"), "not one of"),
])
def test_gemm_rejects_before_launch(cuda_mod, over, match):
    with pytest.raises(ValueError, match=match):
        gemm(cuda_mod, **over)


def test_gemm_rejects_non_integer_pointers(cuda_mod):
    with pytest.raises(TypeError):
        gemm(cuda_mod, a=-5)
    with pytest.raises(TypeError):
        gemm(cuda_mod, a="0x100000")


def test_gemm_empty_problem_launches_nothing(cuda_mod):
    # M == 0 or N == 0: nothing is read or written; null pointers are fine and no CUDA call happens
    # (this passes even without a driver).
    assert gemm(cuda_mod, M=0, a=0, c=0, a_scale=0) in ("dp4a", "auto")
    assert gemm(cuda_mod, N=0, b=0, c=0, b_scale=0, kernel="dp4a") == "dp4a"


# ---- quantization and SpMM argument checks --------------------------------------------------------

def quant(m, **over):
    args = dict(x=P, q=P, scales=P, M=4, K=32, Kp=32, ldx=32, ldq=32, in_dtype=0, stream=0, device=-1)
    args.update(over)
    return m.qs8_quantize_rows(**args)


@pytest.mark.parametrize("over,match", [
    (dict(x=0), "X: null"),
    (dict(q=0), "Q: null"),
    (dict(scales=0), "scales: null"),
    (dict(scales=P + 2), "scales: pointer must be 4-byte aligned"),
    (dict(x=P + 2), "X: pointer must be 4-byte aligned"),
    (dict(x=P + 1, in_dtype=1), "X: pointer must be 2-byte aligned"),
    (dict(Kp=16), "Kp: expected >= K"),
    (dict(ldx=31), "ldx: expected >= K"),
    (dict(Kp=48, ldq=32), "ldq: expected >= Kp"),
    (dict(in_dtype=3), "in_dtype"),
    (dict(M=-2), "M: expected >= 0"),
])
def test_quant_rejects_before_launch(cuda_mod, over, match):
    with pytest.raises(ValueError, match=match):
        quant(cuda_mod, **over)


def spmm(m, **over):
    args = dict(indptr=P, indices=P, values=P, row_order=0, N=8, K=8, nnz=10, xt=P, ldx=4, M=4, bias=0, yt=P,
                ldy=4, stream=0, device=-1)
    args.update(over)
    return m.f32_spmm_csr(**args)


@pytest.mark.parametrize("over,match", [
    (dict(indptr=0), "indptr: null"),
    (dict(indices=0), "indices: null"),
    (dict(values=P + 2), "values: pointer must be 4-byte aligned"),
    (dict(row_order=P + 1), "row_order: pointer must be 4-byte aligned"),
    (dict(xt=0), "Xt: null"),
    (dict(yt=0), "Yt: null"),
    (dict(ldx=3), "ldx: expected >= M"),
    (dict(ldy=2), "ldy: expected >= M"),
    (dict(nnz=-1), "nnz: expected >= 0"),
    (dict(bias=P + 3), "bias: pointer must be 4-byte aligned"),
])
def test_spmm_rejects_before_launch(cuda_mod, over, match):
    with pytest.raises(ValueError, match=match):
        spmm(cuda_mod, **over)


@pytest.mark.parametrize("M,ld,xt,want", [
    (1, 1, P, (1, 1)),          # decode: 32 nonzeros of a row in flight, one per lane
    (3, 3, P, (1, 4)),
    (7, 7, P, (1, 8)),
    (16, 16, P, (4, 4)),        # float4 loads, 4 lanes per group, 8 groups
    (128, 128, P, (4, 32)),
    (4096, 4096, P, (4, 32)),
    (4096, 4096, P + 4, (1, 32)),  # misaligned: scalar loads
    (16, 18, P, (1, 16)),          # row stride not a multiple of 4
])
def test_spmm_dispatch(cuda_mod, M, ld, xt, want):
    assert tuple(cuda_mod.spmm_plan(M, ld, ld, xt, P)) == want


def test_gemm_dispatch_empty_k(cuda_mod):
    assert plan(cuda_mod, 8, 8, 0) == "dp4a"  # output is bias only; no tiles to stream
