// AVX-512 VNNI path. vpdpbusd wants one unsigned operand: the weights. Linear int4 codes already
// are value + 8, so they go in as they are (one AND / shift per nibble); other tables are looked up
// with vpshufb as value + 128. Either way each group's int32 sum carries code_offset * (group sum
// of A), subtracted before the group is folded into the fp32 accumulator with its scale. A group
// is at most 4096 * 127 * 255 in magnitude, so nothing wraps.
// Layout: q4_pack_quad_panels with 32 columns per panel. Micro-tile: up to 8 rows x 32 columns.
#include <immintrin.h>

#include "q4-gemm.h"

namespace nnslim {

namespace {

constexpr int kNR = 32, kMR = 8, kMC = 64;

// GCC 12 gives _mm512_dpbusd_epi32's tied accumulator a fresh register every iteration and copies
// all of them back at the loop end (16+ extra moves per step, more than the multiply-adds cost);
// the asm form pins each accumulator to one register. acc += u8 w . s8 a, per 4-byte lane.
inline void dpbusd(__m512i& acc, __m512i w, __m512i a) { asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(w), "v"(a)); }

inline __mmask16 tail_mask(int n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }

template <int MR, bool kLinear>
void ukernel(const Q4Problem& p, int m, int panel) {
  const PackedQ4& B = *p.B;
  const int group = B.group;
  const size_t group_bytes = q4_quad_group_bytes(group, kNR);
  const uint8_t* wp = B.data + size_t(panel) * B.bytes_per_panel;
  const __m512i nibble = _mm512_set1_epi8(0x0F);
  __m512i table = _mm512_setzero_si512();
  if (!kLinear) {
    __m128i t;
    __builtin_memcpy(&t, B.table, 16);
    table = _mm512_broadcast_i32x4(_mm_xor_si128(t, _mm_set1_epi8(char(0x80))));
  }
  const int n0 = panel * kNR;
  const int nvalid = B.N - n0 < kNR ? B.N - n0 : kNR;

  // The fp32 accumulators live in L1 rather than registers: with 8 rows, 16 int32 accumulators,
  // the two weight registers and the broadcasts already fill most of the 32 zmm.
  alignas(64) float facc[MR][kNR];
  if (!p.C32)
    for (int r = 0; r < MR; ++r) {
      _mm512_store_ps(facc[r], _mm512_setzero_ps());
      _mm512_store_ps(facc[r] + 16, _mm512_setzero_ps());
    }

  for (int g = 0; g < B.G; ++g) {
    const uint8_t* w = wp + size_t(g) * group_bytes;
    const int8_t* a = p.A + m * p.lda + size_t(g) * group;
    // vpdpbusd has a latency of several cycles: few rows mean few independent accumulator chains,
    // so small tiles split K across kU accumulator sets, added at the end of the group (kU divides
    // group / 4, a multiple of 8).
    constexpr int kU = MR == 1 ? 8 : MR == 2 ? 4 : MR <= 5 ? 2 : 1;
    __m512i acc[kU][MR][2];
    for (int u = 0; u < kU; ++u)
      for (int r = 0; r < MR; ++r) acc[u][r][0] = acc[u][r][1] = _mm512_setzero_si512();
    for (int b = 0; b < group / 4; b += kU) {
      for (int u = 0; u < kU; ++u) {
        const __m512i v = _mm512_load_si512(w + 64 * (b + u));
        __m512i lo = _mm512_and_si512(v, nibble);
        __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
        if (!kLinear) {
          lo = _mm512_shuffle_epi8(table, lo);
          hi = _mm512_shuffle_epi8(table, hi);
        }
        for (int r = 0; r < MR; ++r) {
          int32_t quad;
          __builtin_memcpy(&quad, a + r * p.lda + 4 * (b + u), 4);
          const __m512i va = _mm512_set1_epi32(quad);
          dpbusd(acc[u][r][0], lo, va);
          dpbusd(acc[u][r][1], hi, va);
        }
      }
    }
    for (int u = 1; u < kU; ++u)
      for (int r = 0; r < MR; ++r) {
        acc[0][r][0] = _mm512_add_epi32(acc[0][r][0], acc[u][r][0]);
        acc[0][r][1] = _mm512_add_epi32(acc[0][r][1], acc[u][r][1]);
      }
    const float* scale = reinterpret_cast<const float*>(w + size_t(group) / 4 * 2 * kNR);
    const __m512 s0 = _mm512_load_ps(scale), s1 = _mm512_load_ps(scale + 16);
    if (p.C32) {
      alignas(64) int32_t tmp[MR][kNR];
      for (int r = 0; r < MR; ++r) {
        const __m512i c = _mm512_set1_epi32(p.comp[size_t(m + r) * B.G + g]);
        _mm512_store_si512(tmp[r], _mm512_sub_epi32(acc[0][r][0], c));
        _mm512_store_si512(tmp[r] + 16, _mm512_sub_epi32(acc[0][r][1], c));
      }
      q4_store_group_s32(p, m, MR, n0, nvalid, g, &tmp[0][0], kNR);
      continue;
    }
    for (int r = 0; r < MR; ++r) {
      const __m512i c = _mm512_set1_epi32(p.comp[size_t(m + r) * B.G + g]);
      const __m512 d0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[0][r][0], c));
      const __m512 d1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[0][r][1], c));
      _mm512_store_ps(facc[r], _mm512_add_ps(_mm512_load_ps(facc[r]), _mm512_mul_ps(d0, s0)));
      _mm512_store_ps(facc[r] + 16, _mm512_add_ps(_mm512_load_ps(facc[r] + 16), _mm512_mul_ps(d1, s1)));
    }
  }
  if (p.C32) return;
  for (int h = 0; h < 2 && 16 * h < nvalid; ++h) {
    const __mmask16 mk = tail_mask(nvalid - 16 * h);
    const __m512 bias = p.bias ? _mm512_maskz_loadu_ps(mk, p.bias + n0 + 16 * h) : _mm512_setzero_ps();
    for (int r = 0; r < MR; ++r) {
      const __m512 sa = _mm512_set1_ps(p.a_scale[m + r]);
      const __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_load_ps(facc[r] + 16 * h), sa), bias);
      _mm512_mask_storeu_ps(p.Y + (m + r) * p.ldy + n0 + 16 * h, mk, y);
    }
  }
}

template <bool kLinear>
void run(const Q4Problem& p, int m0, int m1, int p0, int p1) {
  // Up to kMC rows of A (stays in L2) against one panel at a time (stays in L1/L2 for every row block).
  for (int mc = m0; mc < m1; mc += kMC) {
    const int mend = m1 - mc < kMC ? m1 : mc + kMC;
    for (int panel = p0; panel < p1; ++panel) {
      int m = mc;
      for (; m + kMR <= mend; m += kMR) ukernel<kMR, kLinear>(p, m, panel);
      switch (mend - m) {
        case 7: ukernel<7, kLinear>(p, m, panel); break;
        case 6: ukernel<6, kLinear>(p, m, panel); break;
        case 5: ukernel<5, kLinear>(p, m, panel); break;
        case 4: ukernel<4, kLinear>(p, m, panel); break;
        case 3: ukernel<3, kLinear>(p, m, panel); break;
        case 2: ukernel<2, kLinear>(p, m, panel); break;
        case 1: ukernel<1, kLinear>(p, m, panel); break;
        default: break;
      }
    }
  }
}

}  // namespace

void nnslim_q4_gemm_pack__avx512vnni(const uint8_t* codes, size_t ldc, const float* scales, PackedQ4* out) {
  out->code_offset = out->linear_table ? 8 : 128;
  q4_pack_quad_panels(codes, ldc, scales, out, kNR);
}

void nnslim_q4_gemm__avx512vnni(const Q4Problem& p, int m0, int m1, int p0, int p1) {
  if (p.B->linear_table) {
    run<true>(p, m0, m1, p0, p1);
  } else {
    run<false>(p, m0, m1, p0, p1);
  }
}

}  // namespace nnslim
