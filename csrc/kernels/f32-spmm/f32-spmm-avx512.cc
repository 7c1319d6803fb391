// AVX-512 SpMM: 64-wide register tiles (f32-spmm-avx512-inl.h); the row-major store transposes
// 16 output rows at a time so the linear layer writes whole cache lines of y.
#include <immintrin.h>

#include <algorithm>

#include "f32-spmm-avx512-inl.h"

namespace nnslim {

namespace {

using namespace avx512;

struct ChannelMajorSink {
  const SpmmKernelArgs& a;
  void begin(int, int) {}
  void end(int, int) {}
  template <int NV, bool MASK>
  void row(int n, int m, const __m512* acc, __mmask16 last) {
    float* y = a.y + n * a.ldy + m;
    for (int v = 0; v < NV; ++v) {
      if (MASK && v == NV - 1)
        _mm512_mask_storeu_ps(y + 16 * v, last, acc[v]);
      else
        _mm512_storeu_ps(y + 16 * v, acc[v]);
    }
  }
};

struct RowMajorSink {
  const SpmmKernelArgs& a;
  alignas(64) float buf[16][kMR];
  int g0 = 0, cnt = 0, m = 0, len = 0;

  void begin(int m_, int len_) {
    m = m_;
    len = len_;
    cnt = 0;
  }
  template <int NV, bool MASK>
  void row(int n, int, const __m512* acc, __mmask16) {
    if (cnt == 0) g0 = n;
    spill<NV>(buf[cnt], acc);
    if (++cnt == 16) flush();
  }
  void end(int, int) {
    if (cnt) flush();
  }
  void flush() {
    const __mmask16 cols = lanes(cnt);
    for (int q = 0; 16 * q < len; ++q) {
      __m512 r[16];
      for (int j = 0; j < 16; ++j) r[j] = j < cnt ? _mm512_load_ps(buf[j] + 16 * q) : _mm512_setzero_ps();
      transpose16(r);
      const int rows = std::min(16, len - 16 * q);
      float* y = a.y + size_t(m + 16 * q) * a.ldy + g0;
      for (int i = 0; i < rows; ++i) _mm512_mask_storeu_ps(y + i * a.ldy, cols, r[i]);
    }
    cnt = 0;
  }
};

}  // namespace

void nnslim_f32_spmm_cm__avx512(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1) {
  ChannelMajorSink sink{a};
  for_each_tile(a, n0, n1, m0, m1, sink);
}

void nnslim_f32_spmm_rm__avx512(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1) {
  RowMajorSink sink{a};
  for_each_tile(a, n0, n1, m0, m1, sink);
}

void nnslim_f32_spmm_gather__avx512(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1) {
  for (int m = m0; m < m1; ++m) {
    const float* x = a.x + m * a.x_mstride;
    for (int n = n0; n < n1; ++n) {
      const int32_t* off = a.offsets;
      const float* val = a.values;
      __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
      int64_t p = a.indptr[n];
      const int64_t pe = a.indptr[n + 1];
      for (; p + 32 <= pe; p += 32) {
        const __m512i i0 = _mm512_loadu_si512(off + p), i1 = _mm512_loadu_si512(off + p + 16);
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(val + p), _mm512_i32gather_ps(i0, x, 4), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(val + p + 16), _mm512_i32gather_ps(i1, x, 4), s1);
      }
      for (; p < pe; p += 16) {
        const __mmask16 k = lanes(int(pe - p));
        const __m512i i0 = _mm512_maskz_loadu_epi32(k, off + p);
        const __m512 xv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), k, i0, x, 4);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, val + p), xv, s0);
      }
      const float b = a.bias ? a.bias[n] : 0.f;
      a.y[m * a.y_mstride + n * a.y_nstride] = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) + b;
    }
  }
}

void nnslim_f32_pack_xt__avx512(const float* x, size_t ldx, int rows, int K, int mb, float* dst) {
  for (int i0 = 0; i0 < rows; i0 += 16) {
    const int ri = std::max(0, std::min(16, rows - i0));
    for (int k0 = 0; k0 < K; k0 += 16) {
      const int kc = std::min(16, K - k0);
      const __mmask16 km = lanes(kc);
      __m512 r[16];
      for (int j = 0; j < 16; ++j)
        r[j] = j < ri ? _mm512_maskz_loadu_ps(km, x + size_t(i0 + j) * ldx + k0) : _mm512_setzero_ps();
      transpose16(r);
      for (int c = 0; c < kc; ++c) _mm512_storeu_ps(dst + size_t(k0 + c) * mb + i0, r[c]);
    }
  }
}

}  // namespace nnslim
