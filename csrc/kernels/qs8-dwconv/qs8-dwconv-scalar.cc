// Scalar depthwise int8 kernel: weights as int16 [tap][C], one int32 accumulator per channel.
#include <vector>

#include "qs8-dwconv.h"

namespace nnslim {

void nnslim_qs8_dwconv_pack__scalar(const int8_t* w, int C, int taps, PackedDw* out) {
  for (int c = 0; c < C; ++c)
    for (int t = 0; t < taps; ++t) out->data[size_t(t) * C + c] = w[size_t(c) * taps + t];
}

void nnslim_qs8_dwconv_ukernel__scalar(const PackedDw& w, const DwRun& r, const float* scale, const float* bias,
                                       float* out, size_t ldo) {
  const int C = w.C, taps = w.taps;
  std::vector<int32_t> acc(C);
  for (int i = 0; i < r.count; ++i) {
    std::fill(acc.begin(), acc.end(), 0);
    for (int t = 0; t < taps; ++t) {
      const int16_t* wt = w.data.data() + size_t(t) * C;
      const int8_t* x = r.tap[t] + size_t(i) * r.step;
      for (int c = 0; c < C; ++c) acc[c] += int32_t(wt[c]) * x[c];
    }
    float* y = out + size_t(i) * ldo;
    for (int c = 0; c < C; ++c) y[c] = float(acc[c]) * scale[c] + (bias ? bias[c] : 0.f);
  }
}

}  // namespace nnslim
