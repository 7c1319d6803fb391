// Residual add + activation over a block (see nnslim/postop.h). One loop per activation, each the
// definition in postop_value, so the compiler vectorizes them for the baseline ISA.
#include "nnslim/postop.h"

namespace nnslim {

namespace {
template <typename F>
void for_each(float* y, size_t ldy, int rows, int cols, const PostOp& op, int64_t row0, int col0, F f) {
  for (int r = 0; r < rows; ++r) {
    float* row = y + size_t(r) * ldy;
    const size_t base = size_t(row0 + r) * op.ldr + col0;
    if (op.residual) {
      const float* res = op.residual + base;
      for (int c = 0; c < cols; ++c) row[c] = f(row[c] + res[c]);
    } else if (op.residual_q) {
      const int8_t* res = op.residual_q + base;
      const float s = op.res_scale;
      const int32_t zp = op.res_zero_point;
      for (int c = 0; c < cols; ++c) row[c] = f(row[c] + float(int32_t(res[c]) - zp) * s);
    } else {
      for (int c = 0; c < cols; ++c) row[c] = f(row[c]);
    }
  }
}
}  // namespace

void apply_postop(float* y, size_t ldy, int rows, int cols, const PostOp& op, int64_t row0, int col0) {
  const float lo = op.lo, hi = op.hi;
  switch (op.act) {
    case Activation::none:
      for_each(y, ldy, rows, cols, op, row0, col0, [](float v) { return v; });
      break;
    case Activation::relu:
      for_each(y, ldy, rows, cols, op, row0, col0, [](float v) { return v < 0.f ? 0.f : v; });
      break;
    case Activation::clamp:
      for_each(y, ldy, rows, cols, op, row0, col0, [lo, hi](float v) { return v < lo ? lo : (v > hi ? hi : v); });
      break;
    case Activation::hardswish:
      for_each(y, ldy, rows, cols, op, row0, col0, [](float v) {
        float t = v + 3.f;
        t = t < 0.f ? 0.f : (t > 6.f ? 6.f : t);
        return v * t / 6.f;
      });
      break;
    case Activation::hardsigmoid:
      for_each(y, ldy, rows, cols, op, row0, col0, [](float v) {
        float t = v + 3.f;
        t = t < 0.f ? 0.f : (t > 6.f ? 6.f : t);
        return t / 6.f;
      });
      break;
  }
}

}  // namespace nnslim
