// The ISA-free pieces of the int8 epilogues' finite-value shortcuts, shared by the AVX-512
// (finish-avx512-inl.h) and AVX2 (finish-avx2-inl.h) epilogues: the int16 bounds of an activation
// run after rounding, and the bounds under which no value can be NaN or infinite.
#pragma once
#include <cmath>
#include <cstdint>

#include "nnslim/postop.h"

namespace nnslim {
namespace {

// An activation bound v (ReLU's 0, a clamp's lo / hi) as the int16 clamps after rounding want it
// (finish_requant512_finite_pair_clamped, finish_requant256_finite_pair_clamped):
// round(fl(v * inv_scale)) saturated to int16.
inline int16_t requant_bound_s16(float v, const Requant& rq) {
  const float t = v * rq.inv_scale;
  if (!(t > -32768.f)) return -32768;  // -inf included (NaN bounds never reach here)
  if (!(t < 32767.f)) return 32767;
  return int16_t(std::nearbyint(t));
}

// The int16 bounds of an activation that the int16 clamps can run after
// rounding (ReLU, a clamp with lo <= hi, or none after the GEMM's relu flag): false for any other.
// A clamp after that relu flag is clamp(y, max(0, lo), hi).
inline bool requant_act_bounds_s16(Activation act, float lo, float hi, bool relu, const Requant& rq, int16_t* lo16,
                                   int16_t* hi16) {
  if (act == Activation::hardswish || act == Activation::hardsigmoid) return false;
  if (act == Activation::clamp && !(lo <= hi)) return false;
  if (act == Activation::none && !relu) return false;
  int16_t l = relu || act == Activation::relu ? 0 : -32768, h = 32767;
  if (act == Activation::clamp) {
    const int16_t b = requant_bound_s16(lo, rq);
    l = b > l ? b : l;
    h = requant_bound_s16(hi, rq);
  }
  *lo16 = l;
  *hi16 = h;
  return true;
}

// Bounded-value checks of the finite-value shortcuts (the GEMM block epilogue, depthwise runs):
// |acc| < 2^31 times scales and biases within kFiniteBound, plus an int8 residual of bounded scale,
// stays far below FLT_MAX; an fp32 residual may hold anything.
constexpr float kFiniteBound = 1e20f;
inline bool finish_residual_bounded(const PostOp& op) {
  return !op.residual && (!op.residual_q || op.res_scale <= kFiniteBound);
}

}  // namespace
}  // namespace nnslim
