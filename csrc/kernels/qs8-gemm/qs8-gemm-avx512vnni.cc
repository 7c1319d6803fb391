// AVX-512 VNNI path: vpdpbusd multiplies u8 by s8. Weights are packed as u8 = s8 + 128 (the
// unsigned operand) and activations stay s8, so each dot product carries an extra 128 * sum_k a[k],
// removed in the epilogue from the row sums. The int32 adds wrap, and the final subtraction
// undoes the wrap whenever the true result fits in int32 (K <= kMaxExactK).
// Panel layout: [Kp / 4][32 columns][4] u8.  Micro-tile: 8 rows x 32 columns.
#include <immintrin.h>

#include "qs8-epilogue-avx512-inl.h"
#include "qs8-gemm.h"

namespace nnslim {

namespace {

constexpr int kNR = 32, kMR = 8, kMC = 64;

template <int MR>
void ukernel(const GemmProblem& p, int m, int panel) {
  const PackedB& B = *p.B;
  const uint8_t* w = B.data + size_t(panel) * B.bytes_per_panel + size_t(p.k0 / 4) * 4 * kNR;
  const int8_t* a = p.A + m * p.lda + p.k0;
  const int kquads = (p.k1 - p.k0) / 4;
  __m512i acc[MR][2];
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
  for (int kk = 0; kk < kquads; ++kk) {
    const __m512i b0 = _mm512_load_si512(w);
    const __m512i b1 = _mm512_load_si512(w + 64);
    w += 4 * kNR;
    for (int r = 0; r < MR; ++r) {
      int32_t quad;
      __builtin_memcpy(&quad, a + r * p.lda + 4 * kk, 4);
      const __m512i va = _mm512_set1_epi32(quad);
      acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], b0, va);
      acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], b1, va);
    }
  }
  const int n0 = panel * kNR;
  const int nvalid = B.N - n0 < kNR ? B.N - n0 : kNR;
  for (int r = 0; r < MR; ++r) {
    // 128 * rowsum in wrapping arithmetic, like the accumulators.
    const __m512i comp = _mm512_set1_epi32(int32_t(uint32_t(p.a_rowsum[m + r]) << 7));
    qs8_store16_avx512(p, m + r, n0, nvalid, _mm512_sub_epi32(acc[r][0], comp));
    if (nvalid > 16) qs8_store16_avx512(p, m + r, n0 + 16, nvalid - 16, _mm512_sub_epi32(acc[r][1], comp));
  }
}

}  // namespace

void nnslim_qs8_gemm_pack__avx512vnni(const int8_t* B, int N, int K, PackedB* out) {
  const int Kp = round_up(K, 4);
  qs8_alloc_panels(out, N, K, Kp, kNR, size_t(Kp) * kNR);
  qs8_pack_k4_panels(B, N, K, out, 0x80);
}

void nnslim_qs8_gemm__avx512vnni(const GemmProblem& p, int m0, int m1, int p0, int p1) {
  for (int mc = m0; mc < m1; mc += kMC) {
    const int mend = m1 - mc < kMC ? m1 : mc + kMC;
    for (int panel = p0; panel < p1; ++panel) {
      int m = mc;
      for (; m + kMR <= mend; m += kMR) ukernel<kMR>(p, m, panel);
      switch (mend - m) {
        case 7: ukernel<7>(p, m, panel); break;
        case 6: ukernel<6>(p, m, panel); break;
        case 5: ukernel<5>(p, m, panel); break;
        case 4: ukernel<4>(p, m, panel); break;
        case 3: ukernel<3>(p, m, panel); break;
        case 2: ukernel<2>(p, m, panel); break;
        case 1: ukernel<1>(p, m, panel); break;
        default: break;
      }
    }
  }
}

}  // namespace nnslim
