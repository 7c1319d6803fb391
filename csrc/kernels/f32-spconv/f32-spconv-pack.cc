// Phase-plane copy of the convolution input (see f32-spconv.h). Memory-bound, so baseline code.
#include <algorithm>
#include <cstring>

#include "f32-spconv.h"

namespace nnslim {

PlaneLayout plane_layout(const Conv2dGeometry& g, int H, int W) {
  PlaneLayout l;
  l.channels = g.in_channels;
  const int hp = H + g.pad_top + g.pad_bottom, wp = W + g.pad_left + g.pad_right;
  l.hs = (hp + g.stride_h - 1) / g.stride_h;
  l.ws = (wp + g.stride_w - 1) / g.stride_w;
  l.plane_elems = size_t(l.hs) * l.ws;
  l.channel_elems = size_t(g.stride_h) * g.stride_w * l.plane_elems;
  // A flat-grid read starts up to (kw - 1) * dw / sw past a row start and runs ws plus a tile;
  // one extra row plus slack covers every overrun of the last plane.
  l.tail_elems = size_t(l.ws) + size_t(g.kw) * g.dilation_w + 256;
  return l;
}

size_t PlaneLayout::offset(const Conv2dGeometry& g, int ci, int r, int q) const {
  const size_t phase = size_t(r % g.stride_h) * g.stride_w + q % g.stride_w;
  return size_t(ci) * channel_elems + phase * plane_elems + size_t(r / g.stride_h) * ws + size_t(q / g.stride_w);
}

namespace {

// Row i of plane (a, b) of one channel.
void pack_row(const float* xc, int H, int W, const Conv2dGeometry& g, const PlaneLayout& l, int a, int b, int i,
              float* row) {
  const int r = i * g.stride_h + a - g.pad_top;  // input row
  if (r < 0 || r >= H) {
    std::memset(row, 0, sizeof(float) * l.ws);
    return;
  }
  const float* xr = xc + size_t(r) * W;
  if (g.stride_w == 1) {
    // Unit stride: zeros, one memcpy of the row, zeros.
    const int left = std::min(g.pad_left, l.ws);
    const int n = std::min(W, l.ws - left);
    std::memset(row, 0, sizeof(float) * left);
    std::memcpy(row + left, xr, sizeof(float) * n);
    std::memset(row + left + n, 0, sizeof(float) * (l.ws - left - n));
    return;
  }
  for (int j = 0; j < l.ws; ++j) {
    const int col = j * g.stride_w + b - g.pad_left;
    row[j] = (col >= 0 && col < W) ? xr[col] : 0.f;
  }
}

}  // namespace

void f32_spconv_pack_planes(const float* x, int c0, int c1, int H, int W, const Conv2dGeometry& g,
                            const PlaneLayout& l, float* dst) {
  for (int c = c0; c < c1; ++c) {
    const float* xc = x + size_t(c) * H * W;
    float* dc = dst + size_t(c) * l.channel_elems;
    for (int a = 0; a < g.stride_h; ++a)
      for (int b = 0; b < g.stride_w; ++b) {
        float* plane = dc + (size_t(a) * g.stride_w + b) * l.plane_elems;
        for (int i = 0; i < l.hs; ++i) pack_row(xc, H, W, g, l, a, b, i, plane + size_t(i) * l.ws);
      }
  }
}

}  // namespace nnslim
