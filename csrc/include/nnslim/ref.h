// Scalar reference kernels. They DEFINE nnslim's integer semantics: every SIMD path must match
// them bit for bit on integers, and on fp32 outputs (all paths use the same float operation order
// and the build disables FMA contraction).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace nnslim {
namespace ref {

// C[m, n] = sum_k A[m, k] * B[n, k], exact in int64 and returned as int32 (the caller checks K).
void qs8_gemm_s32(const int8_t* A, size_t lda, const int8_t* B, size_t ldb, int M, int N, int K,
                  int32_t* C, size_t ldc);

// Rows whose largest magnitude is below this quantize to zero: 127 / amax would overflow to Inf.
constexpr float kTinyAmax = 1e-30f;

// Symmetric per-row quantization of one row of K floats.
//   amax = max |x|; non-finite anywhere -> scale = NaN and q = 0 (so NaN propagates to the output);
//   amax < kTinyAmax -> scale = 0, q = 0; otherwise scale = amax / 127, q = clamp(rne(x * (127 / amax)), -127, 127).
// Writes q[0..K) and zeroes q[K..Kp).
void qs8_quantize_row(const float* x, int K, int Kp, int8_t* q, float* scale);

// The 7-bit form (Int8DynamicConfig(activation_bits=7)): asymmetric onto [0, 127], as torch.ao's x86
// dynamic quantization (reduce_range) but per row:
//   lo = min(0, min x), hi = max(0, max x), inv = 127 / (hi - lo), scale = (hi - lo) / 127,
//   zp = clamp(rne(-lo * inv), 0, 127), u = clamp(rne(x * inv) + zp, 0, 127); x ~ scale * (u - zp).
// Stored: u - zp (an s8 code in [-127, 127], what every kernel multiplies exactly), or with
// unsigned_codes u itself, with zp in *zero_point (AVX2's s8 layout then multiplies without sign
// steps and subtracts zp * sum_k w[n, k]: the same int32 results). Non-finite anywhere: scale = NaN;
// hi - lo < kTinyAmax: scale = 0; both store 0 with zp 0. Zeroes q[K..Kp).
void qs8_quantize_row_q7(const float* x, int K, int Kp, bool unsigned_codes, int8_t* q, float* scale,
                         int32_t* zero_point);

// What every ISA's qs8_quantize_row_q7 does between its min / max pass and its code loop, so they
// cannot drift apart (internal linkage: ISA files include it). Zeroes q[0..Kp). A non-finite or
// degenerate row gets *scale NaN / 0, *zero_point 0, and false. Otherwise *scale, *zero_point and
// *inv are the row's and the result is true (callers storing s8 codes reset *zero_point to 0 after). A range beyond FLT_MAX
// (hi - lo = inf) takes the scale as hi / 127 - lo / 127 (finite), so such a row quantizes.
static inline bool q7_begin_row(bool nonfinite, float lo, float hi, int Kp, int8_t* q, float* scale,
                                int32_t* zero_point, float* inv) {
  std::memset(q, 0, size_t(Kp));
  *zero_point = 0;
  if (nonfinite || !(hi - lo >= kTinyAmax)) {
    *scale = nonfinite ? std::nanf("") : 0.f;
    return false;
  }
  const float range = hi - lo;
  if (range <= 3.40282347e38f) {
    *inv = 127.f / range;
    *scale = range / 127.f;
  } else {
    *scale = hi / 127.f - lo / 127.f;
    *inv = 1.f / *scale;
  }
  const float z = std::nearbyint(-lo * *inv);
  *zero_point = z > 127.f ? 127 : (z < 0.f ? 0 : static_cast<int32_t>(z));
  return true;
}

// Static (calibrated) quantization of one row with a fixed scale and zero point:
//   q = clamp(rne(clamp(x * inv_scale, -1000, 1000)) + zero_point, -128, 127)
// (the inner clamp keeps the float->int conversion in range). Any non-finite x: *row_scale = NaN,
// q = zero_point; otherwise *row_scale = scale. Zeroes q[K..Kp).
constexpr float kStaticClamp = 1000.f;
void qs8_quantize_row_static(const float* x, int K, int Kp, float scale, float inv_scale, int32_t zero_point,
                             int8_t* q, float* row_scale);

// The fp32 epilogue of one element: acc * (a_scale * b_scale) + bias, optional ReLU.
inline float dequant_epilogue(int32_t acc, float a_scale, float b_scale, float bias, bool relu) {
  float y = static_cast<float>(acc) * (a_scale * b_scale) + bias;
  // Same as SIMD max(0, y): NaN and -0.0 pass through unchanged.
  return (relu && y < 0.f) ? 0.f : y;
}

}  // namespace ref
}  // namespace nnslim
