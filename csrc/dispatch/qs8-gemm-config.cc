// Chooses the int8 GEMM kernel, its packing and its K padding together for one ISA, and drives the
// kernels: task partitioning, activation quantization, K chunking for exactness.
#include <stdexcept>
#include <string>
#include <vector>

#include "../kernels/qs8-gemm/qs8-gemm.h"
#include "../kernels/qs8-quant/qs8-quant.h"
#include "../kernels/qs8-requant/qs8-requant.h"
#include "nnslim/gemm.h"

namespace nnslim {

void qs8_row_sums(const int8_t* A, size_t lda, int M, int k0, int k1, int32_t* out) {
  for (int m = 0; m < M; ++m) {
    int32_t s = 0;
    for (int k = k0; k < k1; ++k) s += A[m * lda + k];
    out[m] = s;
  }
}

const Qs8GemmConfig& qs8_gemm_config(Isa isa) {
  static const Qs8GemmConfig configs[] = {
      {Isa::scalar, 1, 1, 1, nullptr, nnslim_qs8_gemm_pack__scalar, nnslim_qs8_gemm__scalar,
       nnslim_qs8_quant_rows__scalar, nnslim_qs8_quant_rows_q7__scalar, nnslim_qs8_quant_rows_static__scalar, nnslim_qs8_finish_block__scalar, false, nullptr},
      {Isa::avx2, 16, 2, 6, nullptr, nnslim_qs8_gemm_pack__avx2, nnslim_qs8_gemm__avx2,
       nnslim_qs8_quant_rows__avx2, nnslim_qs8_quant_rows_q7__avx2, nnslim_qs8_quant_rows_static__avx2, nnslim_qs8_finish_block__avx2, true, nullptr},
      {Isa::avx512vnni, 32, 4, 8, nnslim_qs8_row_sums__avx512vnni, nnslim_qs8_gemm_pack__avx512vnni, nnslim_qs8_gemm__avx512vnni,
       nnslim_qs8_quant_rows__avx512, nnslim_qs8_quant_rows_q7__avx512, nnslim_qs8_quant_rows_static__avx512, nnslim_qs8_finish_block__avx512, true, nullptr},
      {Isa::amx, 32, 64, 32, nullptr, nnslim_qs8_gemm_pack__amx, nnslim_qs8_gemm__amx,
       nnslim_qs8_quant_rows__avx512, nnslim_qs8_quant_rows_q7__avx512, nnslim_qs8_quant_rows_static__avx512, nnslim_qs8_finish_block__avx512, true, nnslim_qs8_conv_direct_row__amx},
  };
  return configs[static_cast<int>(isa)];
}

std::unique_ptr<PackedB> qs8_pack_weights(const int8_t* B, int N, int K, Isa isa, PackHint hint) {
  require_isa(isa);
  if (N <= 0 || K <= 0) throw std::invalid_argument("weight must have N > 0 rows and K > 0 columns");
  auto out = std::make_unique<PackedB>();
  out->isa = isa;
  out->hint = hint;
  qs8_gemm_config(isa).pack(B, N, K, out.get());
  return out;
}

namespace {

// Splits rows x panels into tasks: whole panel ranges per thread when there are enough panels
// (each weight panel is read once), otherwise rows are split too.
struct Partition {
  int mtasks, ptasks, mstep, pstep;
};

Partition partition(int M, int panels, int mr, int threads, int64_t work, int64_t weight_bytes) {
  // Small problems are not worth waking threads for: a dispatch costs ~10 us, more on a busy machine.
  // A few rows over large weights still are: the weights arrive from L3 / memory (a classifier head
  // after the backbone evicted them), and two cores stream them twice as fast (ResNet-18's 512 x
  // 1000 head at batch 1: 38 -> 2x faster on an AMX Xeon).
  if (work < (int64_t(1) << 21) && weight_bytes < (int64_t(1) << 18)) threads = 1;
  Partition d{1, 1, M, panels};
  if (threads <= 1) return d;
  if (panels >= 2 * threads) {
    d.ptasks = 2 * threads;  // two per thread evens out panel-count remainders
  } else if (panels >= threads) {
    d.ptasks = threads;
  } else {
    d.ptasks = panels;
    const int mblocks = (M + mr - 1) / mr;
    d.mtasks = std::min(mblocks, (threads + panels - 1) / panels);
  }
  d.pstep = (panels + d.ptasks - 1) / d.ptasks;
  d.ptasks = (panels + d.pstep - 1) / d.pstep;
  const int mblocks = (M + mr - 1) / mr;
  d.mstep = (mblocks + d.mtasks - 1) / d.mtasks * mr;
  d.mtasks = (M + d.mstep - 1) / d.mstep;
  return d;
}

void run_gemm(const Qs8GemmConfig& cfg, const GemmProblem& p, int threads) {
  threads = clamp_threads(threads);  // the partition below sizes task counts from it
  const PackedB& B = *p.B;
  const Partition d = partition(p.M, B.num_panels, cfg.mr, threads, int64_t(p.M) * B.N * (p.k1 - p.k0),
                                int64_t(B.N) * (p.k1 - p.k0));
  parallel_for(d.mtasks * d.ptasks, threads, [&](int t) {
    const int mt = t / d.ptasks, pt = t % d.ptasks;
    const int m0 = mt * d.mstep, m1 = std::min(p.M, m0 + d.mstep);
    const int p0 = pt * d.pstep, p1 = std::min(B.num_panels, p0 + d.pstep);
    if (m0 < m1 && p0 < p1) cfg.gemm(p, m0, m1, p0, p1);
  });
}

// K range [k0, k1) of the real columns, padded end for the kernel.
struct KRange {
  int k0, k1, kend;
};

std::vector<KRange> k_chunks(const PackedB& B) {
  std::vector<KRange> v;
  for (int k0 = 0; k0 < B.K; k0 += kChunkK) {
    const int k1 = std::min(B.K, k0 + kChunkK);
    v.push_back({k0, k1, k1 == B.K ? B.Kp : k1});
  }
  return v;
}

void row_sums(const Qs8GemmConfig& cfg, const int8_t* A, size_t lda, int M, int k0, int k1,
              std::vector<int32_t>* out) {
  out->resize(M);
  cfg.row_sums(A, lda, M, k0, k1, out->data());
}

}  // namespace

void qs8_gemm_s32(const int8_t* A, size_t lda, int M, const PackedB& B, int32_t* C, size_t ldc,
                  int num_threads) {
  if (B.K > kMaxExactK)
    throw std::invalid_argument("K=" + std::to_string(B.K) + " exceeds " + std::to_string(kMaxExactK) +
                                ", the largest K whose int8 dot products always fit in int32 output");
  if (M <= 0) return;
  const Qs8GemmConfig& cfg = qs8_gemm_config(B.isa);
  // Kernels read whole padded K blocks: copy A into a zero-padded buffer unless it already is one.
  std::vector<int8_t> padded;
  const int8_t* a = A;
  size_t lda_a = lda;
  if (B.Kp != B.K || lda < size_t(B.Kp)) {
    padded.assign(size_t(M) * B.Kp, 0);
    for (int m = 0; m < M; ++m) std::copy(A + m * lda, A + m * lda + B.K, padded.begin() + size_t(m) * B.Kp);
    a = padded.data();
    lda_a = B.Kp;
  }
  std::vector<int32_t> rowsum;
  if (cfg.row_sums) row_sums(cfg, a, lda_a, M, 0, B.K, &rowsum);
  GemmProblem p;
  p.M = M;
  p.k0 = 0;
  p.k1 = B.Kp;
  p.A = a;
  p.lda = lda_a;
  p.a_rowsum = rowsum.data();
  p.B = &B;
  p.epilogue = Epilogue::store_s32;
  p.C32 = C;
  p.ldc = ldc;
  run_gemm(cfg, p, num_threads);
}

namespace {

// Quantizes rows of X into q (M x Kp) with `quant(m0, m1)` spread over threads when worth it.
template <typename F>
void quantize_parallel(int M, int K, int num_threads, F quant) {
  const int qthreads = int64_t(M) * K >= (1 << 16) ? clamp_threads(num_threads) : 1;
  const int qtasks = std::min(M, qthreads * 4);
  parallel_for(qtasks, qthreads, [&](int t) {
    quant(int(int64_t(M) * t / qtasks), int(int64_t(M) * (t + 1) / qtasks));
  });
}

// fp32 Y from quantized rows q (M x Kp) and per-row scales, chunking K for exactness.
void gemm_quantized_rows(const Qs8GemmConfig& cfg, const int8_t* q, const float* a_scale, int M,
                         const PackedB& B, const float* b_scale, const float* bias, bool relu, float* Y,
                         size_t ldy, int num_threads, const int32_t* a_zero_point = nullptr) {
  const std::vector<KRange> chunks = k_chunks(B);
  std::vector<int32_t> rowsum;
  for (size_t c = 0; c < chunks.size(); ++c) {
    if (cfg.row_sums) row_sums(cfg, q, B.Kp, M, chunks[c].k0, chunks[c].k1, &rowsum);
    GemmProblem p;
    p.M = M;
    p.k0 = chunks[c].k0;
    p.k1 = chunks[c].kend;
    p.A = q;
    p.lda = B.Kp;
    p.a_rowsum = rowsum.data();
    p.B = &B;
    // Later chunks add their dequantized partial sums; ReLU can only apply after the last one.
    const bool last = c + 1 == chunks.size();
    p.epilogue = c == 0 ? Epilogue::store_f32 : Epilogue::accum_f32;
    p.relu = relu && chunks.size() == 1;
    p.Cf = Y;
    p.ldc = ldy;
    p.a_scale = a_scale;
    p.b_scale = b_scale;
    p.bias = bias;
    p.a_zero_point = a_zero_point;  // one chunk only (the caller's condition)
    run_gemm(cfg, p, num_threads);
    if (last && relu && chunks.size() > 1)
      for (int m = 0; m < M; ++m)
        for (int n = 0; n < B.N; ++n) {
          float& y = Y[m * ldy + n];
          if (y < 0.f) y = 0.f;
        }
  }
}

}  // namespace

void qs8_linear_dynamic_f32(const float* X, size_t ldx, int M, const PackedB& B, const float* b_scale,
                            const float* bias, bool relu, float* Y, size_t ldy, int num_threads,
                            int activation_bits) {
  if (activation_bits != 8 && activation_bits != 7)
    throw std::invalid_argument("activation_bits: expected 8 or 7, got " + std::to_string(activation_bits));
  if (M <= 0) return;
  const Qs8GemmConfig& cfg = qs8_gemm_config(B.isa);
  std::vector<int8_t> q_big;
  std::vector<float> s_big;
  int8_t* q = thread_scratch<int8_t, 2>(size_t(M) * B.Kp, &q_big);
  float* a_scale = thread_scratch<float, 2>(M, &s_big);
  if (activation_bits == 7) {
    // Unsigned codes where a kernel gains from them and can take the zero points back out exactly.
    const bool unsigned_codes = !B.colsum.empty() && B.K <= kChunkK;
    std::vector<int32_t> z_big;
    int32_t* zp = thread_scratch<int32_t, 2>(M, &z_big);
    quantize_parallel(M, B.K, num_threads, [&](int m0, int m1) {
      cfg.quantize_rows_q7(X, ldx, m0, m1, B.K, B.Kp, unsigned_codes, q, B.Kp, a_scale, zp);
    });
    gemm_quantized_rows(cfg, q, a_scale, M, B, b_scale, bias, relu, Y, ldy, num_threads,
                        unsigned_codes ? zp : nullptr);
    return;
  }
  quantize_parallel(M, B.K, num_threads, [&](int m0, int m1) {
    cfg.quantize_rows(X, ldx, m0, m1, B.K, B.Kp, q, B.Kp, a_scale);
  });
  gemm_quantized_rows(cfg, q, a_scale, M, B, b_scale, bias, relu, Y, ldy, num_threads);
}

void qs8_linear_static_f32(const float* X, size_t ldx, int M, const PackedB& B, float in_scale,
                           int32_t zero_point, const float* b_scale, const float* bias, bool relu, float* Y,
                           size_t ldy, int num_threads) {
  if (M <= 0) return;
  const Qs8GemmConfig& cfg = qs8_gemm_config(B.isa);
  std::vector<int8_t> q_big;
  std::vector<float> s_big;
  int8_t* q = thread_scratch<int8_t, 2>(size_t(M) * B.Kp, &q_big);
  float* a_scale = thread_scratch<float, 2>(M, &s_big);
  const float inv = 1.f / in_scale;
  quantize_parallel(M, B.K, num_threads, [&](int m0, int m1) {
    cfg.quantize_rows_static(X, ldx, m0, m1, B.K, B.Kp, in_scale, inv, zero_point, q, B.Kp, a_scale);
  });
  gemm_quantized_rows(cfg, q, a_scale, M, B, b_scale, bias, relu, Y, ldy, num_threads);
}

}  // namespace nnslim
