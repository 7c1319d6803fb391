// Input layout of the sparse convolution. Padding and stride are resolved once per image by copying
// the input into "phase planes"; then every (channel, tap) nonzero reads a contiguous run of them:
//   plane(c, a, b)[i][j] = padded(c, i * sh + a, j * sw + b),   a in [0, sh), b in [0, sw)
// so input pixel (oh * sh + kh * dh, ow * sw + kw * dw) of channel c is
//   plane(c, (kh * dh) % sh, (kw * dw) % sw)[oh + (kh * dh) / sh][ow + (kw * dw) / sw],
// i.e. one fixed offset per nonzero plus oh * ws + ow. This is the input size (not the KxK-times
// larger im2col) and turns strided convolutions into unit-stride vector loads.
// (Storing pre-shifted copies so every run starts on a cache line was tried: no faster on Zen 5.)
#pragma once
#include <cstddef>

#include "nnslim/spmm.h"

namespace nnslim {

struct PlaneLayout {
  int channels = 0;
  int hs = 0, ws = 0;        // plane height and width
  size_t plane_elems = 0;    // hs * ws
  size_t channel_elems = 0;  // sh * sw * plane_elems
  size_t tail_elems = 0;     // zeros after the last channel: the flat grid reads past row ends
  size_t total_elems() const { return size_t(channels) * channel_elems + tail_elems; }
  // Offset of the run read by the nonzero at input channel ci and dilated tap offset
  // (r, q) = (kh * dh, kw * dw).
  size_t offset(const Conv2dGeometry& g, int ci, int r, int q) const;
};

PlaneLayout plane_layout(const Conv2dGeometry& g, int H, int W);

// Writes channels [c0, c1) of one (in_channels, H, W) image into dst (laid out by `l`); the caller
// zeroes l.tail_elems after the planes once.
void f32_spconv_pack_planes(const float* x, int c0, int c1, int H, int W, const Conv2dGeometry& g,
                            const PlaneLayout& l, float* dst);

}  // namespace nnslim
