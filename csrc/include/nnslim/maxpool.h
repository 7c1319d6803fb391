// fp32 max pooling over NCHW planes, as torch.nn.functional.max_pool2d computes it (same output size
// rule incl. ceil_mode, padding that never wins, NaN in a window gives NaN), without its slow NCHW
// path: each output row takes the vertical max of its window's input rows (vectorised along the
// row), then the horizontal max of each window.
#pragma once
#include <cstddef>
#include <cstdint>

#include "nnslim/hw.h"

namespace nnslim {

struct Pool2dShape {
  int planes = 0, H = 0, W = 0;  // planes = batch * channels
  int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  bool ceil_mode = false;
  int OH = 0, OW = 0;
  // Fills OH / OW by torch's rule; throws std::invalid_argument naming the field when out of range.
  void resolve();
};

void f32_maxpool2d(const Pool2dShape& s, const float* x, float* y, Isa isa, int num_threads);

// int8 NHWC max pool (an int8 edge of the graph: the output keeps the input's qparams). s.planes is
// unused; x is (N, H, W, C), y (N, OH, OW, C). AVX-512 machines run the AVX2 kernel (memory-bound).
void qs8_maxpool2d_nhwc(const Pool2dShape& s, int N, int C, const int8_t* x, int8_t* y, Isa isa, int num_threads);

namespace ref {
void f32_maxpool2d(const Pool2dShape& s, const float* x, float* y);
}  // namespace ref

}  // namespace nnslim
