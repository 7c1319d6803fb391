// Chooses the q4 kernel, its packing and its activation quantizer together for one ISA, and drives
// the kernels: activation quantization, group-sum compensation, task partitioning.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "../kernels/q4-gemm/q4-gemm.h"
#include "../kernels/qs8-quant/qs8-quant.h"
#include "nnslim/gemm.h"
#include "nnslim/q4.h"

namespace nnslim {

namespace {

struct Q4GemmConfig {
  Isa isa;
  int mr;  // rows per micro-tile, for splitting rows between threads
  void (*pack)(const uint8_t* codes, size_t ldc, const float* scales, PackedQ4* out);
  void (*gemm)(const Q4Problem& p, int m0, int m1, int p0, int p1);
  void (*quantize_rows)(const float* X, size_t ldx, int m0, int m1, int K, int Kp, int8_t* Q, size_t ldq,
                        float* scales);
};

const Q4GemmConfig& q4_config(Isa isa) {
  static const Q4GemmConfig configs[] = {
      {Isa::scalar, 1, nnslim_q4_gemm_pack__scalar, nnslim_q4_gemm__scalar, nnslim_qs8_quant_rows__scalar},
      {Isa::avx2, 4, nnslim_q4_gemm_pack__avx2, nnslim_q4_gemm__avx2, nnslim_qs8_quant_rows__avx2},
      {Isa::avx512vnni, 8, nnslim_q4_gemm_pack__avx512vnni, nnslim_q4_gemm__avx512vnni,
       nnslim_qs8_quant_rows__avx512},
  };
  // AMX tiles pay off for large M only; the decode shapes this layer is for are better served by
  // VNNI, which every AMX CPU has.
  return configs[static_cast<int>(isa == Isa::amx ? Isa::avx512vnni : isa)];
}

void run_tasks(const Q4GemmConfig& cfg, const Q4Problem& p, int threads) {
  const PackedQ4& B = *p.B;
  const int64_t work = int64_t(p.M) * B.N * B.Kp;
  // Waking a thread costs ~10 us on a busy machine: not worth it for small problems.
  if (work < (int64_t(1) << 21)) threads = 1;
  // Panels first (each weight byte is read by one thread); rows too when panels are scarce.
  // Several tasks per thread let a thread that was descheduled on a shared machine catch up.
  const int panels = B.num_panels;
  int ptasks = std::min(panels, threads * 4);
  int mtasks = 1;
  const int mblocks = (p.M + cfg.mr - 1) / cfg.mr;
  if (ptasks < threads) mtasks = std::min(mblocks, (threads + ptasks - 1) / ptasks);
  const int pstep = (panels + ptasks - 1) / ptasks;
  ptasks = (panels + pstep - 1) / pstep;
  const int mstep = (mblocks + mtasks - 1) / mtasks * cfg.mr;
  mtasks = (p.M + mstep - 1) / mstep;
  parallel_for(mtasks * ptasks, threads, [&](int t) {
    const int m0 = (t / ptasks) * mstep, m1 = std::min(p.M, m0 + mstep);
    const int p0 = (t % ptasks) * pstep, p1 = std::min(panels, p0 + pstep);
    if (m0 < m1 && p0 < p1) cfg.gemm(p, m0, m1, p0, p1);
  });
}

// comp[m, g] = offset * sum of A[m, k] over group g (wrapping, like the kernels' accumulators).
void group_comp(const int8_t* A, size_t lda, int M, const PackedQ4& B, std::vector<int32_t>* comp) {
  comp->assign(size_t(M) * B.G, 0);
  for (int m = 0; m < M; ++m)
    for (int g = 0; g < B.G; ++g) {
      int32_t s = 0;
      for (int k = g * B.group; k < (g + 1) * B.group; ++k) s += A[m * lda + k];
      (*comp)[size_t(m) * B.G + g] = int32_t(uint32_t(s) * uint32_t(B.code_offset));
    }
}

}  // namespace

std::unique_ptr<PackedQ4> q4_pack_weights(const uint8_t* codes, size_t ldc, const float* scales, int N, int K,
                                          int group, const int8_t table[16], Isa isa) {
  require_isa(isa);
  if (N <= 0 || K <= 0) throw std::invalid_argument("weight must have N > 0 rows and K > 0 columns");
  if (group <= 0 || group % kQ4GroupQuantum != 0 || group > kQ4MaxGroup)
    throw std::invalid_argument("group_size must be a positive multiple of " + std::to_string(kQ4GroupQuantum) +
                                " up to " + std::to_string(kQ4MaxGroup) + ", got " + std::to_string(group));
  if (ldc < (size_t(K) + 1) / 2)
    throw std::invalid_argument("codes: row stride " + std::to_string(ldc) + " is below ceil(K / 2) = " +
                                std::to_string((int64_t(K) + 1) / 2));
  const Q4GemmConfig& cfg = q4_config(isa);
  auto out = std::make_unique<PackedQ4>();
  out->isa = cfg.isa;
  out->N = N;
  out->K = K;
  out->group = group;
  out->G = int((int64_t(K) + group - 1) / group);
  if (int64_t(out->G) * group > 0x7fffffff) throw std::invalid_argument("K is too large");
  out->Kp = out->G * group;
  std::copy(table, table + 16, out->table);
  out->linear_table = std::equal(table, table + 16, kQ4LinearTable);
  cfg.pack(codes, ldc, scales, out.get());
  return out;
}

void q4_linear_f32(const float* X, size_t ldx, int M, const PackedQ4& B, const float* bias, float* Y, size_t ldy,
                   int num_threads) {
  if (M <= 0) return;
  const Q4GemmConfig& cfg = q4_config(B.isa);
  std::vector<int8_t> q(size_t(M) * B.Kp);
  std::vector<float> a_scale(M);
  const int qthreads = int64_t(M) * B.K >= (1 << 16) ? num_threads : 1;
  const int qtasks = std::min(M, qthreads * 4);
  parallel_for(qtasks, qthreads, [&](int t) {
    const int m0 = int(int64_t(M) * t / qtasks), m1 = int(int64_t(M) * (t + 1) / qtasks);
    cfg.quantize_rows(X, ldx, m0, m1, B.K, B.Kp, q.data(), B.Kp, a_scale.data());
  });
  std::vector<int32_t> comp;
  if (B.code_offset) group_comp(q.data(), B.Kp, M, B, &comp);
  Q4Problem p;
  p.M = M;
  p.A = q.data();
  p.lda = B.Kp;
  p.comp = B.code_offset ? comp.data() : nullptr;
  p.B = &B;
  p.Y = Y;
  p.ldy = ldy;
  p.a_scale = a_scale.data();
  p.bias = bias;
  run_tasks(cfg, p, num_threads);
}

void q4_gemm_group_s32(const int8_t* A, size_t lda, int M, const PackedQ4& B, int32_t* C, int num_threads) {
  if (M <= 0) return;
  const Q4GemmConfig& cfg = q4_config(B.isa);
  for (int m = 0; m < M; ++m)
    for (int k = 0; k < B.K; ++k)
      if (A[m * lda + k] == -128)
        throw std::invalid_argument("A: -128 is outside the supported range [-127, 127]");
  // Kernels read whole groups: copy A into a zero-padded buffer.
  std::vector<int8_t> a(size_t(M) * B.Kp, 0);
  for (int m = 0; m < M; ++m) std::copy(A + m * lda, A + m * lda + B.K, a.begin() + size_t(m) * B.Kp);
  std::vector<int32_t> comp;
  if (B.code_offset) group_comp(a.data(), B.Kp, M, B, &comp);
  Q4Problem p;
  p.M = M;
  p.A = a.data();
  p.lda = B.Kp;
  p.comp = B.code_offset ? comp.data() : nullptr;
  p.B = &B;
  p.C32 = C;
  run_tasks(cfg, p, num_threads);
}

}  // namespace nnslim
