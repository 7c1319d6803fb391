// Portable GEMM path: panels are plain weight rows; shared packing and epilogue helpers live here too.
#include <cstring>

#include "nnslim/ref.h"
#include "qs8-gemm.h"

namespace nnslim {

void qs8_alloc_panels(PackedB* out, int N, int K, int Kp, int nr, size_t bytes_per_panel) {
  out->N = N;
  out->K = K;
  out->Kp = Kp;
  out->nr = nr;
  out->num_panels = (N + nr - 1) / nr;
  out->bytes_per_panel = bytes_per_panel;
  out->storage.assign(size_t(out->num_panels) * bytes_per_panel + 64, 0);
  const uintptr_t base = reinterpret_cast<uintptr_t>(out->storage.data());
  out->data = out->storage.data() + ((64 - base % 64) % 64);
}

void qs8_pack_k4_panels(const int8_t* B, int N, int K, PackedB* out, uint8_t flip) {
  const int nr = out->nr, Kp = out->Kp;
  for (int p = 0; p < out->num_panels; ++p) {
    uint8_t* dst = out->data + size_t(p) * out->bytes_per_panel;
    for (int kb = 0; kb < Kp / 4; ++kb)
      for (int j = 0; j < nr; ++j)
        for (int i = 0; i < 4; ++i) {
          const int n = p * nr + j, k = kb * 4 + i;
          const int8_t v = (n < N && k < K) ? B[size_t(n) * K + k] : 0;
          dst[(size_t(kb) * nr + j) * 4 + i] = uint8_t(v) ^ flip;
        }
  }
}

// What unsigned activation codes add to accumulator (m, n): zp[m] * sum_k B[n, k] (GemmProblem::a_zero_point).
static inline int32_t zero_point_term(const GemmProblem& p, int m, int n) {
  return p.a_zero_point ? p.a_zero_point[m] * p.B->colsum[size_t(n)] : 0;
}

void qs8_store_row_scalar(const GemmProblem& p, int m, int n0, int nvalid, const int32_t* acc) {
  switch (p.epilogue) {
    case Epilogue::store_s32:
      std::memcpy(p.C32 + m * p.ldc + n0, acc, sizeof(int32_t) * nvalid);
      break;
    case Epilogue::store_f32:
      for (int j = 0; j < nvalid; ++j)
        p.Cf[m * p.ldc + n0 + j] = ref::dequant_epilogue(acc[j] - zero_point_term(p, m, n0 + j),
                                                         p.a_scale[m], p.b_scale[n0 + j],
                                                         p.bias ? p.bias[n0 + j] : 0.f, p.relu);
      break;
    case Epilogue::accum_f32:
      for (int j = 0; j < nvalid; ++j)
        p.Cf[m * p.ldc + n0 + j] += static_cast<float>(acc[j] - zero_point_term(p, m, n0 + j)) *
                                    (p.a_scale[m] * p.b_scale[n0 + j]);
      break;
  }
}

void qs8_column_sums(const int8_t* B, int N, int K, PackedB* out) {
  out->colsum.assign(size_t(N), 0);
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k) out->colsum[size_t(n)] += B[size_t(n) * K + k];
}

void nnslim_qs8_gemm_pack__scalar(const int8_t* B, int N, int K, PackedB* out) {
  qs8_alloc_panels(out, N, K, K, 1, size_t(K));
  if (N > 0 && K > 0) std::memcpy(out->data, B, size_t(N) * K);
}

int8_t nnslim_qs8_gemm_weight__scalar(const PackedB& B, int n, int k) {
  return int8_t(B.data[size_t(n) * B.Kp + k]);
}

void nnslim_qs8_gemm__scalar(const GemmProblem& p, int m0, int m1, int p0, int p1) {
  const PackedB& B = *p.B;
  for (int m = m0; m < m1; ++m) {
    const int8_t* a = p.A + m * p.lda;
    for (int n = p0; n < p1; ++n) {
      const int8_t* w = reinterpret_cast<const int8_t*>(B.data) + size_t(n) * B.Kp;
      // Unsigned arithmetic wraps where int32 would overflow (undefined); the true sum fits.
      uint32_t acc = 0;
      for (int k = p.k0; k < p.k1; ++k) acc += uint32_t(int32_t(a[k]) * int32_t(w[k]));
      const int32_t r = static_cast<int32_t>(acc);
      qs8_store_row_scalar(p, m, n, 1, &r);
    }
  }
}

}  // namespace nnslim
