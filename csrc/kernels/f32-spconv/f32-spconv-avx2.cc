// AVX2 convolution-grid store (see f32-spconv-avx512.cc): tile pieces inside real output columns
// are computed once per tile and copied per channel.
#include <immintrin.h>

#include <algorithm>

#include "../f32-spmm/f32-spmm-avx2-inl.h"

namespace nnslim {

namespace {

using namespace avx2;

struct GridSink {
  const SpmmKernelArgs& a;
  struct Piece {
    int src, dst, len;
  };
  Piece pieces[kMR];
  int npieces = 0, len = 0;
  alignas(32) float buf[kMR];

  void begin(int m, int len_) {
    len = len_;
    npieces = 0;
    const int ws = a.grid_ws, wo = a.grid_wo;
    for (int mm = m; mm < m + len;) {
      const int oh = mm / ws, ow = mm % ws;
      const int run = std::min(ws - ow, m + len - mm);
      const int valid = std::min(run, std::max(0, wo - ow));
      if (valid > 0) {
        Piece* prev = npieces ? &pieces[npieces - 1] : nullptr;
        if (prev && prev->src + prev->len == mm - m && prev->dst + prev->len == oh * wo + ow)
          prev->len += valid;  // ws == wo: consecutive rows are contiguous in the output too
        else
          pieces[npieces++] = {mm - m, oh * wo + ow, valid};
      }
      mm += run;
    }
  }
  void end(int, int) {}

  template <int NV, bool MASK>
  void row(int n, int, const __m256* acc, __m256i last) {
    float* y = a.y + n * a.ldy;
    if (npieces == 1 && pieces[0].src == 0 && pieces[0].len == len) {
      for (int v = 0; v < NV; ++v) store<NV, MASK>(y + pieces[0].dst, v, last, acc[v]);
      return;
    }
    spill<NV>(buf, acc);
    for (int i = 0; i < npieces; ++i) {
      const Piece& pc = pieces[i];
      for (int j = 0; j < pc.len; j += 8) {
        const __m256i k = lanes(pc.len - j);
        _mm256_maskstore_ps(y + pc.dst + j, k, _mm256_maskload_ps(buf + pc.src + j, k));
      }
    }
  }
};

}  // namespace

void nnslim_f32_spconv_grid__avx2(const SpmmKernelArgs& a, int n0, int n1, int m0, int m1) {
  GridSink sink{a};
  for_each_tile(a, n0, n1, m0, m1, sink);
}

}  // namespace nnslim
