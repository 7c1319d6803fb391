// Post-operations applied to a conv's fp32 output block while it is still in cache: a fused
// residual add (the other operand of `conv(x) + identity`), then an activation. One portable
// function serves every kernel path, so the fp32 results of all ISAs stay identical.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nnslim {

enum class Activation : int {
  none = 0,
  relu = 1,       // max(y, 0)
  clamp = 2,      // min(max(y, lo), hi): ReLU6, Hardtanh
  hardswish = 3,  // y * min(max(y + 3, 0), 6) / 6
  hardsigmoid = 4,  // min(max(y + 3, 0), 6) / 6  (squeeze-excite gates)
};

struct PostOp {
  // The residual, laid out as the output (NHWC, ldr values per pixel): fp32, or int8 that reads as
  // float(q - res_zero_point) * res_scale. At most one of the two is set.
  const float* residual = nullptr;
  const int8_t* residual_q = nullptr;
  float res_scale = 1.f;
  int32_t res_zero_point = 0;
  size_t ldr = 0;
  Activation act = Activation::none;
  float lo = 0.f, hi = 0.f;  // clamp bounds
  bool has_residual() const { return residual != nullptr || residual_q != nullptr; }
  bool empty() const { return !has_residual() && act == Activation::none; }
};

// Requantization of a node's fp32 result into the int8 tensor the next node reads.
struct Requant {
  float inv_scale = 1.f;  // 1 / output scale
  int32_t zero_point = 0;
};

// y[r, c] = act(y[r, c] + residual[row0 + r, col0 + c]) for rows [0, rows), columns [0, cols): y is
// an output block whose first element is output pixel row0, channel col0. NaN stays NaN.
void apply_postop(float* y, size_t ldy, int rows, int cols, const PostOp& op, int64_t row0, int col0);

// The same on one value: the definition the function above follows.
inline float postop_value(float y, const PostOp& op, float residual) {
  if (op.has_residual()) y = y + residual;
  switch (op.act) {
    case Activation::none: return y;
    case Activation::relu: return y < 0.f ? 0.f : y;
    case Activation::clamp: return y < op.lo ? op.lo : (y > op.hi ? op.hi : y);
    case Activation::hardswish: {
      float t = y + 3.f;
      t = t < 0.f ? 0.f : (t > 6.f ? 6.f : t);
      return y * t / 6.f;
    }
    case Activation::hardsigmoid: {
      float t = y + 3.f;
      t = t < 0.f ? 0.f : (t > 6.f ? 6.f : t);
      return t / 6.f;
    }
  }
  return y;
}

}  // namespace nnslim
