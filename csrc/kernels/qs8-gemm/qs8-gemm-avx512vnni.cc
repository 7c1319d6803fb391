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

inline int32_t load_quad(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

// acc += dot4(u8 b, s8 a) in place. GCC's intrinsic lowering copies the accumulator around the
// instruction in loops (an extra move per vpdpbusd); the tied asm operand keeps it in its register.
inline void dpbusd(__m512i& acc, __m512i b, __m512i a) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(b), "v"(a));
}

// Accumulators are named variables, not an array: GCC otherwise shuffles and spills them inside
// the loop (measured: ~30 extra moves per 16 vpdpbusd).
#define NNSLIM_VNNI_ROW(r)                                         \
  if constexpr (MR > r) {                                          \
    const __m512i va = _mm512_set1_epi32(load_quad(a##r + 4 * kk)); \
    dpbusd(c##r##0, b0, va);                                       \
    dpbusd(c##r##1, b1, va);                                       \
  }

// The compensated results go to a block in L1 that the block epilogue (column constants read once
// for all rows) finishes: at short K the epilogue, not vpdpbusd, is what the kernel spends its time on.
#define NNSLIM_VNNI_STORE(r)                                                               \
  if constexpr (MR > r) {                                                                  \
    const __m512i comp = _mm512_set1_epi32(int32_t(uint32_t(p.a_rowsum[m + r]) << 7));    \
    _mm512_store_si512(blk + r * kNR, _mm512_sub_epi32(c##r##0, comp));                   \
    _mm512_store_si512(blk + r * kNR + 16, _mm512_sub_epi32(c##r##1, comp));              \
  }

// noinline: each tile size gets its own register allocation instead of sharing the driver's.
template <int MR>
__attribute__((noinline)) void ukernel(const GemmProblem& p, int m, int panel) {
  const PackedB& B = *p.B;
  const uint8_t* w = B.data + size_t(panel) * B.bytes_per_panel + size_t(p.k0 / 4) * 4 * kNR;
  const int8_t* a0 = p.A + m * p.lda + p.k0;
  const int8_t *a1 = a0 + p.lda, *a2 = a1 + p.lda, *a3 = a2 + p.lda, *a4 = a3 + p.lda, *a5 = a4 + p.lda,
               *a6 = a5 + p.lda, *a7 = a6 + p.lda;
  const int kquads = (p.k1 - p.k0) / 4;
  __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
          c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
  for (int kk = 0; kk < kquads; ++kk) {
    const __m512i b0 = _mm512_load_si512(w);
    const __m512i b1 = _mm512_load_si512(w + 64);
    w += 4 * kNR;
    NNSLIM_VNNI_ROW(0)
    NNSLIM_VNNI_ROW(1)
    NNSLIM_VNNI_ROW(2)
    NNSLIM_VNNI_ROW(3)
    NNSLIM_VNNI_ROW(4)
    NNSLIM_VNNI_ROW(5)
    NNSLIM_VNNI_ROW(6)
    NNSLIM_VNNI_ROW(7)
  }
  const int n0 = panel * kNR;
  const int nvalid = B.N - n0 < kNR ? B.N - n0 : kNR;
  // 128 * rowsum in wrapping arithmetic, like the accumulators.
  alignas(64) int32_t blk[MR * kNR];
  NNSLIM_VNNI_STORE(0)
  NNSLIM_VNNI_STORE(1)
  NNSLIM_VNNI_STORE(2)
  NNSLIM_VNNI_STORE(3)
  NNSLIM_VNNI_STORE(4)
  NNSLIM_VNNI_STORE(5)
  NNSLIM_VNNI_STORE(6)
  NNSLIM_VNNI_STORE(7)
  qs8_store_block32_avx512(p, m, MR, n0, nvalid, blk);
}

// One row (GEMV, the decode shape): two accumulators would leave vpdpbusd latency-bound, so K is
// unrolled 4 ways into 8 independent chains, summed at the end (integer adds: order-free, exact).
template <>
__attribute__((noinline)) void ukernel<1>(const GemmProblem& p, int m, int panel) {
  const PackedB& B = *p.B;
  const uint8_t* w = B.data + size_t(panel) * B.bytes_per_panel + size_t(p.k0 / 4) * 4 * kNR;
  const int8_t* a = p.A + m * p.lda + p.k0;
  const int kquads = (p.k1 - p.k0) / 4;
  __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
  int kk = 0;
  for (; kk + 4 <= kquads; kk += 4, w += 16 * kNR) {
    dpbusd(c0, _mm512_load_si512(w), _mm512_set1_epi32(load_quad(a + 4 * kk)));
    dpbusd(c1, _mm512_load_si512(w + 64), _mm512_set1_epi32(load_quad(a + 4 * kk)));
    dpbusd(c2, _mm512_load_si512(w + 128), _mm512_set1_epi32(load_quad(a + 4 * kk + 4)));
    dpbusd(c3, _mm512_load_si512(w + 192), _mm512_set1_epi32(load_quad(a + 4 * kk + 4)));
    dpbusd(c4, _mm512_load_si512(w + 256), _mm512_set1_epi32(load_quad(a + 4 * kk + 8)));
    dpbusd(c5, _mm512_load_si512(w + 320), _mm512_set1_epi32(load_quad(a + 4 * kk + 8)));
    dpbusd(c6, _mm512_load_si512(w + 384), _mm512_set1_epi32(load_quad(a + 4 * kk + 12)));
    dpbusd(c7, _mm512_load_si512(w + 448), _mm512_set1_epi32(load_quad(a + 4 * kk + 12)));
  }
  for (; kk < kquads; ++kk, w += 4 * kNR) {
    const __m512i va = _mm512_set1_epi32(load_quad(a + 4 * kk));
    dpbusd(c0, _mm512_load_si512(w), va);
    dpbusd(c1, _mm512_load_si512(w + 64), va);
  }
  const __m512i lo = _mm512_add_epi32(_mm512_add_epi32(c0, c2), _mm512_add_epi32(c4, c6));
  const __m512i hi = _mm512_add_epi32(_mm512_add_epi32(c1, c3), _mm512_add_epi32(c5, c7));
  const int n0 = panel * kNR;
  const int nvalid = B.N - n0 < kNR ? B.N - n0 : kNR;
  const __m512i comp = _mm512_set1_epi32(int32_t(uint32_t(p.a_rowsum[m]) << 7));
  qs8_store16_avx512(p, m, n0, nvalid, _mm512_sub_epi32(lo, comp));
  if (nvalid > 16) qs8_store16_avx512(p, m, n0 + 16, nvalid - 16, _mm512_sub_epi32(hi, comp));
}

#undef NNSLIM_VNNI_ROW
#undef NNSLIM_VNNI_STORE

}  // namespace

void nnslim_qs8_row_sums__avx512vnni(const int8_t* A, size_t lda, int M, int k0, int k1, int32_t* out) {
  // sum(a) = sum(a ^ 0x80) - 128 * n, and vpsadbw against zero sums unsigned bytes 8 at a time.
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  const int n = k1 - k0;
  for (int m = 0; m < M; ++m) {
    const int8_t* a = A + m * lda + k0;
    __m512i acc = _mm512_setzero_si512();
    for (int k = 0; k < n; k += 64) {
      const __mmask64 mk = n - k >= 64 ? ~__mmask64(0) : (__mmask64(1) << (n - k)) - 1;
      // Masked-off bytes load as 0 and flip to 0x80: subtract those 128s with the rest below.
      const __m512i v = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk, a + k), flip);
      acc = _mm512_add_epi64(acc, _mm512_sad_epu8(v, _mm512_setzero_si512()));
    }
    const int64_t padded = (int64_t(n) + 63) / 64 * 64;
    out[m] = static_cast<int32_t>(_mm512_reduce_add_epi64(acc) - 128 * padded);
  }
}

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
