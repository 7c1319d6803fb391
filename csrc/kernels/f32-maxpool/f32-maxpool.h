// Per-ISA kernels of the fp32 max pool, NaN propagating (any NaN in a window gives NaN):
//   rows:  out[w] = max over r of rows[r][w], w in [0, W)              (the vertical max of a window)
//   slide: out[w] = max over j < k of in[w + j * dil], w in [0, len)   (every horizontal window, stride 1)
// Branch-free: data-dependent branches on random activations mispredicted about half the time
// (measured 4-5 ns per element in a branchy scalar loop).
#pragma once
#include <cstddef>

namespace nnslim {

#define NNSLIM_DECLARE_F32_MAXPOOL(isa)                                                           \
  void nnslim_f32_maxpool_rows__##isa(const float* const* rows, int nrows, int W, float* out);   \
  void nnslim_f32_maxpool_slide__##isa(const float* in, int len, int k, int dil, float* out);
NNSLIM_DECLARE_F32_MAXPOOL(scalar)
NNSLIM_DECLARE_F32_MAXPOOL(avx2)
#undef NNSLIM_DECLARE_F32_MAXPOOL

// max(a, b) as torch computes it: b wins when greater or NaN (the reference's step).
inline float maxpool_step(float a, float b) { return (b > a || b != b) ? b : a; }

}  // namespace nnslim
