// AVX-512 VNNI block-sparse kernel. Activations are packed per tile of 64 rows as u8 = s8 ^ 0x80
// (vpdpbusd's unsigned operand), [Kq][64]: one ZMM per input column. Blocks go in groups of four:
// the four columns' vectors are byte-interleaved (vpunpck{l,h}bw, then {l,h}wd) into 4 ZMMs whose
// dword lanes hold (x[m, col_a], x[m, col_b], x[m, col_c], x[m, col_d]), and each of the 4 block
// rows multiplies them with its broadcast 4 weights (vpdpbusd): 4 x loads feed 4 rows x 64
// activations x 4 blocks. The flip adds 128 * (sum of the row's weights), taken off in the store
// (int32 wraps consistently, so the result is exact). Unpacks permute rows: q[j] lane L (128-bit)
// position t holds activation row 16L + 4j + t.
#include <immintrin.h>

#include "../common/transpose4-inl.h"
#include "qs8-spmm-transpose-inl.h"
#include "qs8-spmm.h"

namespace nnslim {

namespace {

constexpr int kMB = 64;

// acc[4 * r + j]: block row r, row group j (see the file comment).
void store_tile(const Qs8SpmmTile& t, int n0, const __m512i* acc) {
  const int N = t.N;
  const bool full = t.mvalid == kMB && n0 + kBlockRows <= N;
  __m512 v[16];
  for (int r = 0; r < kBlockRows; ++r) {
    const __m512i comp = _mm512_set1_epi32(t.comp[n0 + r]);
    for (int j = 0; j < 4; ++j) {
      const __m512i s = _mm512_sub_epi32(acc[4 * r + j], comp);
      v[4 * r + j] = _mm512_castsi512_ps(s);
    }
  }
  if (!t.C32) {
    const float* a = t.a_scale + t.m0;
    for (int j = 0; j < 4; ++j) {
      __m512 as = _mm512_castps128_ps512(_mm_loadu_ps(a + 4 * j));
      as = _mm512_insertf32x4(as, _mm_loadu_ps(a + 16 + 4 * j), 1);
      as = _mm512_insertf32x4(as, _mm_loadu_ps(a + 32 + 4 * j), 2);
      as = _mm512_insertf32x4(as, _mm_loadu_ps(a + 48 + 4 * j), 3);
      for (int r = 0; r < kBlockRows; ++r) {
        const int n = n0 + r < N ? n0 + r : N - 1;  // padded rows: any valid scale, not stored
        const __m512 ws = _mm512_set1_ps(t.w_scale[n]);
        const __m512 b = _mm512_set1_ps(t.bias ? t.bias[n] : 0.f);
        // Same operation order as ref::dequant_epilogue: acc * (a_scale * w_scale) + bias.
        __m512 y = _mm512_add_ps(
            _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_castps_si512(v[4 * r + j])), _mm512_mul_ps(as, ws)), b);
        if (t.relu) y = _mm512_max_ps(_mm512_setzero_ps(), y);  // NaN and -0.0 pass, as in ref
        v[4 * r + j] = y;
      }
    }
  }
  float* base = t.Cf ? t.Cf : reinterpret_cast<float*>(t.C32);
  alignas(64) float tmp[kMB][4];  // partial tiles only
  const int nvalid = N - n0 < kBlockRows ? N - n0 : kBlockRows;
  for (int j = 0; j < 4; ++j) {
    const __m512 r[4] = {v[j], v[4 + j], v[8 + j], v[12 + j]};
    __m512 o[4];
    transpose4_lanes(r, o);
    // o[s] lane L = the 4 outputs of activation row 16L + 4j + s.
    for (int s = 0; s < 4; ++s) {
      const __m128 l[4] = {_mm512_castps512_ps128(o[s]), _mm512_extractf32x4_ps(o[s], 1),
                           _mm512_extractf32x4_ps(o[s], 2), _mm512_extractf32x4_ps(o[s], 3)};
      for (int L = 0; L < 4; ++L) {
        const int i = 16 * L + 4 * j + s;
        if (full)
          _mm_storeu_ps(base + size_t(t.m0 + i) * t.ldc + n0, l[L]);
        else
          _mm_store_ps(tmp[i], l[L]);
      }
    }
  }
  if (!full)
    for (int i = 0; i < t.mvalid; ++i)
      __builtin_memcpy(base + size_t(t.m0 + i) * t.ldc + n0, tmp[i], sizeof(float) * nvalid);
}

}  // namespace

void nnslim_qs8_spmm_pack_x__avx512vnni(const int8_t* q, size_t ldq, int rows, int Kq, void* dst) {
  uint8_t* out = static_cast<uint8_t*>(dst);
  const __m128i flip = _mm_set1_epi8(int8_t(0x80));
  __m128i r[16], c[16];
  for (int k = 0; k < Kq; k += 16)
    for (int g = 0; g < kMB / 16; ++g) {
      // Groups past the tile's rows read nothing (no pointer is formed past q's rows).
      load_rows_16(rows > 16 * g ? q + size_t(16 * g) * ldq : q, ldq, rows - 16 * g, k, r);
      transpose_16x16_u8(r, c);
      for (int j = 0; j < 16; ++j)
        _mm_store_si128(reinterpret_cast<__m128i*>(out + size_t(k + j) * kMB + 16 * g), _mm_xor_si128(c[j], flip));
    }
}

void nnslim_qs8_spmm_4x1__avx512vnni(const Qs8SpmmTile& t, int b0, int b1) {
  const uint8_t* x = static_cast<const uint8_t*>(t.x);
  const int32_t* cols = t.cols;
  const int32_t* wts = t.wts;
  for (int b = b0; b < b1; ++b) {
    __m512i acc[16];
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_si512();
    for (int64_t g = t.gptr[b], ge = t.gptr[b + 1]; g < ge; ++g) {
      const int32_t* c = cols + 4 * g;
      const __m512i xa = _mm512_load_si512(x + size_t(c[0]) * kMB);
      const __m512i xb = _mm512_load_si512(x + size_t(c[1]) * kMB);
      const __m512i xc = _mm512_load_si512(x + size_t(c[2]) * kMB);
      const __m512i xd = _mm512_load_si512(x + size_t(c[3]) * kMB);
      const __m512i ab_lo = _mm512_unpacklo_epi8(xa, xb), ab_hi = _mm512_unpackhi_epi8(xa, xb);
      const __m512i cd_lo = _mm512_unpacklo_epi8(xc, xd), cd_hi = _mm512_unpackhi_epi8(xc, xd);
      const __m512i q[4] = {_mm512_unpacklo_epi16(ab_lo, cd_lo), _mm512_unpackhi_epi16(ab_lo, cd_lo),
                            _mm512_unpacklo_epi16(ab_hi, cd_hi), _mm512_unpackhi_epi16(ab_hi, cd_hi)};
      const int32_t* w = wts + 4 * g;
      for (int r = 0; r < kBlockRows; ++r) {
        const __m512i wv = _mm512_set1_epi32(w[r]);
        for (int j = 0; j < 4; ++j) acc[4 * r + j] = _mm512_dpbusd_epi32(acc[4 * r + j], q[j], wv);
      }
    }
    store_tile(t, b * kBlockRows, acc);
  }
}

}  // namespace nnslim
