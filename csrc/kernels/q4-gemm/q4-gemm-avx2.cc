// AVX2 path: vpmaddubsw (u8 x s8 -> saturating s16 pairs) then vpmaddwd by ones (-> s32 quads).
// Linear int4 codes are the u8 operand as they are (value + 8, code_offset 8): a pair is at most
// 2 * 15 * 127, far from saturation. Other tables are looked up with vpshufb to signed values and
// use the sign trick, |w| (u8, up to 128) x sign(w) * a: a pair is at most 2 * 128 * 127 = 32512,
// which is why A must avoid -128 (its negation does not exist in int8).
// Layout: q4_pack_quad_panels with 16 columns per panel. Micro-tile: up to 4 rows x 16 columns.
#include <immintrin.h>

#include "q4-gemm.h"

namespace nnslim {

namespace {

constexpr int kNR = 16, kMR = 4, kMC = 64;

template <int MR, bool kLinear>
void ukernel(const Q4Problem& p, int m, int panel) {
  const PackedQ4& B = *p.B;
  const int group = B.group;
  const size_t group_bytes = q4_quad_group_bytes(group, kNR);
  const uint8_t* wp = B.data + size_t(panel) * B.bytes_per_panel;
  const __m256i nibble = _mm256_set1_epi8(0x0F);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i table = _mm256_setzero_si256();
  if (!kLinear) {
    __m128i t;
    __builtin_memcpy(&t, B.table, 16);
    table = _mm256_broadcastsi128_si256(t);
  }
  const int n0 = panel * kNR;
  const int nvalid = B.N - n0 < kNR ? B.N - n0 : kNR;

  alignas(32) float facc[MR][kNR] = {};
  for (int g = 0; g < B.G; ++g) {
    const uint8_t* w = wp + size_t(g) * group_bytes;
    const int8_t* a = p.A + m * p.lda + size_t(g) * group;
    __m256i acc[MR][2];
    for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    for (int b = 0; b < group / 4; ++b) {
      const __m256i v = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 32 * b));
      __m256i lo = _mm256_and_si256(v, nibble);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble);
      __m256i ulo = lo, uhi = hi;
      if (!kLinear) {
        lo = _mm256_shuffle_epi8(table, lo);
        hi = _mm256_shuffle_epi8(table, hi);
        ulo = _mm256_abs_epi8(lo);
        uhi = _mm256_abs_epi8(hi);
      }
      for (int r = 0; r < MR; ++r) {
        int32_t quad;
        __builtin_memcpy(&quad, a + r * p.lda + 4 * b, 4);
        const __m256i va = _mm256_set1_epi32(quad);
        const __m256i alo = kLinear ? va : _mm256_sign_epi8(va, lo);
        const __m256i ahi = kLinear ? va : _mm256_sign_epi8(va, hi);
        acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(ulo, alo), ones));
        acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(uhi, ahi), ones));
      }
    }
    for (int r = 0; r < MR; ++r) {
      if (p.comp) {
        const __m256i c = _mm256_set1_epi32(p.comp[size_t(m + r) * B.G + g]);
        acc[r][0] = _mm256_sub_epi32(acc[r][0], c);
        acc[r][1] = _mm256_sub_epi32(acc[r][1], c);
      }
    }
    if (p.C32) {
      alignas(32) int32_t tmp[MR][kNR];
      for (int r = 0; r < MR; ++r) {
        _mm256_store_si256(reinterpret_cast<__m256i*>(tmp[r]), acc[r][0]);
        _mm256_store_si256(reinterpret_cast<__m256i*>(tmp[r] + 8), acc[r][1]);
      }
      q4_store_group_s32(p, m, MR, n0, nvalid, g, &tmp[0][0], kNR);
      continue;
    }
    const float* scale = reinterpret_cast<const float*>(w + size_t(group) / 4 * 2 * kNR);
    const __m256 s0 = _mm256_load_ps(scale), s1 = _mm256_load_ps(scale + 8);
    for (int r = 0; r < MR; ++r) {
      const __m256 d0 = _mm256_cvtepi32_ps(acc[r][0]), d1 = _mm256_cvtepi32_ps(acc[r][1]);
      _mm256_store_ps(facc[r], _mm256_add_ps(_mm256_load_ps(facc[r]), _mm256_mul_ps(d0, s0)));
      _mm256_store_ps(facc[r] + 8, _mm256_add_ps(_mm256_load_ps(facc[r] + 8), _mm256_mul_ps(d1, s1)));
    }
  }
  if (p.C32) return;
  for (int r = 0; r < MR; ++r) {
    const __m256 sa = _mm256_set1_ps(p.a_scale[m + r]);
    alignas(32) float y[kNR];
    for (int h = 0; h < 2; ++h) {
      const __m256 b = p.bias && nvalid == kNR ? _mm256_loadu_ps(p.bias + n0 + 8 * h) : _mm256_setzero_ps();
      _mm256_store_ps(y + 8 * h, _mm256_add_ps(_mm256_mul_ps(_mm256_load_ps(facc[r] + 8 * h), sa), b));
    }
    float* dst = p.Y + (m + r) * p.ldy + n0;
    if (nvalid == kNR) {
      __builtin_memcpy(dst, y, sizeof y);
    } else {
      // Partial panel: the bias was not loaded (it would read past N); same order as the full path.
      for (int j = 0; j < nvalid; ++j) dst[j] = facc[r][j] * p.a_scale[m + r] + (p.bias ? p.bias[n0 + j] : 0.f);
    }
  }
}

template <bool kLinear>
void run(const Q4Problem& p, int m0, int m1, int p0, int p1) {
  for (int mc = m0; mc < m1; mc += kMC) {
    const int mend = m1 - mc < kMC ? m1 : mc + kMC;
    for (int panel = p0; panel < p1; ++panel) {
      int m = mc;
      for (; m + kMR <= mend; m += kMR) ukernel<kMR, kLinear>(p, m, panel);
      switch (mend - m) {
        case 3: ukernel<3, kLinear>(p, m, panel); break;
        case 2: ukernel<2, kLinear>(p, m, panel); break;
        case 1: ukernel<1, kLinear>(p, m, panel); break;
        default: break;
      }
    }
  }
}

}  // namespace

void nnslim_q4_gemm_pack__avx2(const uint8_t* codes, size_t ldc, const float* scales, PackedQ4* out) {
  out->code_offset = out->linear_table ? 8 : 0;
  q4_pack_quad_panels(codes, ldc, scales, out, kNR);
}

void nnslim_q4_gemm__avx2(const Q4Problem& p, int m0, int m1, int p0, int p1) {
  if (p.B->linear_table) {
    run<true>(p, m0, m1, p0, p1);
  } else {
    run<false>(p, m0, m1, p0, p1);
  }
}

}  // namespace nnslim
