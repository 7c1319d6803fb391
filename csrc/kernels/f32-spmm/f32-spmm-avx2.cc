// AVX2 SpMM: 64-wide register tiles (f32-spmm-avx2-inl.h); the row-major store transposes 8
// output rows at a time.
#include <immintrin.h>

#include <algorithm>

#include "f32-spmm-avx2-inl.h"

namespace nnslim {

namespace {

using namespace avx2;

struct ChannelMajorSink {
  const SpmmKernelArgs& a;
  void begin(int, int) {}
  void end(int, int) {}
  template <int NV, bool MASK>
  void row(int n, int m, const __m256* acc, __m256i last) {
    float* y = a.y + n * a.ldy + m;
    for (int v = 0; v < NV; ++v) store<NV, MASK>(y, v, last, acc[v]);
  }
};

struct RowMajorSink {
  const SpmmKernelArgs& a;
  alignas(32) float buf[8][kMR];
  int g0 = 0, cnt = 0, m = 0, len = 0;

  void begin(int m_, int len_) {
    m = m_;
    len = len_;
    cnt = 0;
  }
  template <int NV, bool MASK>
  void row(int n, int, const __m256* acc, __m256i) {
    if (cnt == 0) g0 = n;
    spill<NV>(buf[cnt], acc);
    if (++cnt == 8) flush();
  }
  void end(int, int) {
    if (cnt) flush();
  }
  void flush() {
    const __m256i cols = lanes(cnt);
    for (int q = 0; 8 * q < len; ++q) {
      __m256 r[8];
      for (int j = 0; j < 8; ++j) r[j] = j < cnt ? _mm256_load_ps(buf[j] + 8 * q) : _mm256_setzero_ps();
      transpose8(r);
      const int rows = std::min(8, len - 8 * q);
      float* y = a.y + size_t(m + 8 * q) * a.ldy + g0;
      for (int i = 0; i < rows; ++i) _mm256_maskstore_ps(y + i * a.ldy, cols, r[i]);
    }
    cnt = 0;
  }
};

}  // namespace

void nnslim_f32_spmm_cm__avx2(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1) {
  ChannelMajorSink sink{a};
  for_each_tile(a, n0, n1, m0, m1, sink);
}

void nnslim_f32_spmm_rm__avx2(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1) {
  RowMajorSink sink{a};
  for_each_tile(a, n0, n1, m0, m1, sink);
}

void nnslim_f32_spmm_gather__avx2(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1) {
  for (int m = m0; m < m1; ++m) {
    const float* x = a.x + m * a.x_mstride;
    for (int n = n0; n < n1; ++n) {
      const int32_t* off = a.offsets;
      const float* val = a.values;
      __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
      int64_t p = a.indptr[n];
      const int64_t pe = a.indptr[n + 1];
      for (; p + 16 <= pe; p += 16) {
        const __m256i i0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(off + p));
        const __m256i i1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(off + p + 8));
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(val + p), _mm256_i32gather_ps(x, i0, 4), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(val + p + 8), _mm256_i32gather_ps(x, i1, 4), s1);
      }
      for (; p < pe; p += 8) {
        const __m256i k = lanes(int(pe - p));
        const __m256i i0 = _mm256_maskload_epi32(off + p, k);
        const __m256 xv = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), x, i0, _mm256_castsi256_ps(k), 4);
        s0 = _mm256_fmadd_ps(_mm256_maskload_ps(val + p, k), xv, s0);
      }
      const __m256 s = _mm256_add_ps(s0, s1);
      __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
      h = _mm_add_ps(h, _mm_movehl_ps(h, h));
      h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
      const float b = a.bias ? a.bias[n] : 0.f;
      a.y[m * a.y_mstride + n * a.y_nstride] = _mm_cvtss_f32(h) + b;
    }
  }
}

void nnslim_f32_pack_xt__avx2(const float* x, size_t ldx, int rows, int K, int mb, float* dst) {
  for (int i0 = 0; i0 < rows; i0 += 8) {
    const int ri = std::max(0, std::min(8, rows - i0));
    for (int k0 = 0; k0 < K; k0 += 8) {
      const int kc = std::min(8, K - k0);
      const __m256i km = lanes(kc);
      __m256 r[8];
      for (int j = 0; j < 8; ++j)
        r[j] = j < ri ? _mm256_maskload_ps(x + size_t(i0 + j) * ldx + k0, km) : _mm256_setzero_ps();
      transpose8(r);
      for (int c = 0; c < kc; ++c) _mm256_storeu_ps(dst + size_t(k0 + c) * mb + i0, r[c]);
    }
  }
}

}  // namespace nnslim
