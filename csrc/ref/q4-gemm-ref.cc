// Naive loops on the portable code layout: the specification every q4 kernel is tested against.
#include <algorithm>
#include <vector>

#include "nnslim/q4.h"
#include "nnslim/ref.h"

namespace nnslim {
namespace ref {

namespace {

inline int code_at(const uint8_t* row, int k) { return (row[k / 2] >> (4 * (k % 2))) & 0xF; }

int64_t group_dot(const int8_t* a, const uint8_t* codes, const int8_t table[16], int k0, int k1) {
  int64_t acc = 0;
  for (int k = k0; k < k1; ++k) acc += int32_t(a[k]) * int32_t(table[code_at(codes, k)]);
  return acc;
}

}  // namespace

void q4_gemm_group_s32(const int8_t* A, size_t lda, int M, const uint8_t* codes, size_t ldc, int N, int K,
                       int group, const int8_t table[16], int32_t* C) {
  const int G = int((int64_t(K) + group - 1) / group);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n)
      for (int g = 0; g < G; ++g) {
        const int k1 = int(std::min<int64_t>(int64_t(g + 1) * group, K));
        C[(size_t(m) * N + n) * G + g] =
            static_cast<int32_t>(group_dot(A + m * lda, codes + n * ldc, table, g * group, k1));
      }
}

void q4_linear_f32(const float* X, size_t ldx, int M, const uint8_t* codes, size_t ldc, const float* scales,
                   int N, int K, int group, const int8_t table[16], const float* bias, float* Y, size_t ldy) {
  const int G = int((int64_t(K) + group - 1) / group);
  std::vector<int8_t> q(K);
  for (int m = 0; m < M; ++m) {
    float a_scale;
    qs8_quantize_row(X + m * ldx, K, K, q.data(), &a_scale);
    for (int n = 0; n < N; ++n) {
      float acc = 0.f;
      for (int g = 0; g < G; ++g) {
        const int k1 = int(std::min<int64_t>(int64_t(g + 1) * group, K));
        const int32_t dot = static_cast<int32_t>(group_dot(q.data(), codes + n * ldc, table, g * group, k1));
        acc = acc + static_cast<float>(dot) * scales[size_t(n) * G + g];
      }
      Y[m * ldy + n] = acc * a_scale + (bias ? bias[n] : 0.f);
    }
  }
}

}  // namespace ref
}  // namespace nnslim
