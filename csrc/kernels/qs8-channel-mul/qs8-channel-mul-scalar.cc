// Scalar squeeze-excite multiply: the reference products (finished by the scalar block finisher).
#include "qs8-channel-mul.h"

namespace nnslim {

void nnslim_qs8_channel_mul_f32__scalar(const int8_t* x, int rows, int C, float x_scale, int32_t x_zero_point,
                                        const float* gate, float* block) {
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < C; ++c)
      block[size_t(r) * C + c] = float(int32_t(x[size_t(r) * C + c]) - x_zero_point) * x_scale * gate[c];
}

}  // namespace nnslim
