// Naive loops, deliberately unoptimised: they are the specification the SIMD kernels are tested against.
#include <cmath>
#include <cstdint>

#include "nnslim/ref.h"

namespace nnslim {
namespace ref {

void qs8_gemm_s32(const int8_t* A, size_t lda, const int8_t* B, size_t ldb, int M, int N, int K,
                  int32_t* C, size_t ldc) {
  for (int m = 0; m < M; ++m) {
    for (int n = 0; n < N; ++n) {
      int64_t acc = 0;
      for (int k = 0; k < K; ++k) acc += int32_t(A[m * lda + k]) * int32_t(B[n * ldb + k]);
      C[m * ldc + n] = static_cast<int32_t>(acc);
    }
  }
}

void qs8_quantize_row(const float* x, int K, int Kp, int8_t* q, float* scale) {
  float amax = 0.f;
  bool finite = true;
  for (int k = 0; k < K; ++k) {
    const float a = std::fabs(x[k]);
    if (!(a <= 3.40282347e38f)) finite = false;  // catches Inf and NaN
    if (a > amax) amax = a;
  }
  if (!finite || amax < kTinyAmax) {
    *scale = finite ? 0.f : std::nanf("");
    for (int k = 0; k < Kp; ++k) q[k] = 0;
    return;
  }
  const float inv = 127.f / amax;
  for (int k = 0; k < K; ++k) {
    float v = std::nearbyint(x[k] * inv);
    v = v > 127.f ? 127.f : (v < -127.f ? -127.f : v);
    q[k] = static_cast<int8_t>(v);
  }
  for (int k = K; k < Kp; ++k) q[k] = 0;
  *scale = amax / 127.f;
}

void qs8_quantize_row_q7(const float* x, int K, int Kp, bool unsigned_codes, int8_t* q, float* scale,
                         int32_t* zero_point) {
  float lo = 0.f, hi = 0.f;
  bool finite = true;
  for (int k = 0; k < K; ++k) {
    if (!(std::fabs(x[k]) <= 3.40282347e38f)) finite = false;  // catches Inf and NaN
    if (x[k] < lo) lo = x[k];
    if (x[k] > hi) hi = x[k];
  }
  float inv;
  if (!q7_begin_row(!finite, lo, hi, Kp, q, scale, zero_point, &inv)) return;
  const int32_t zp = *zero_point;
  for (int k = 0; k < K; ++k) {
    int32_t u = static_cast<int32_t>(std::nearbyint(x[k] * inv)) + zp;
    u = u > 127 ? 127 : (u < 0 ? 0 : u);
    q[k] = static_cast<int8_t>(unsigned_codes ? u : u - zp);
  }
  if (!unsigned_codes) *zero_point = 0;
}

void qs8_quantize_row_static(const float* x, int K, int Kp, float scale, float inv_scale, int32_t zero_point,
                             int8_t* q, float* row_scale) {
  bool finite = true;
  for (int k = 0; k < K; ++k) {
    float v = x[k] * inv_scale;
    if (!(std::fabs(x[k]) <= 3.40282347e38f)) finite = false;
    v = v >= -kStaticClamp ? v : -kStaticClamp;  // NaN -> -kStaticClamp, as SIMD max(v, lo)
    v = v <= kStaticClamp ? v : kStaticClamp;
    int32_t r = static_cast<int32_t>(std::nearbyint(v)) + zero_point;
    q[k] = static_cast<int8_t>(r < -128 ? -128 : (r > 127 ? 127 : r));
  }
  for (int k = K; k < Kp; ++k) q[k] = 0;
  if (!finite) {
    for (int k = 0; k < K; ++k) q[k] = static_cast<int8_t>(zero_point);
    *row_scale = std::nanf("");
  } else {
    *row_scale = scale;
  }
}

}  // namespace ref
}  // namespace nnslim
