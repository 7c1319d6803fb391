// Portable block-sparse path: reads the quantized rows directly (no packing), one row at a time.
#include "nnslim/ref.h"
#include "qs8-spmm.h"

namespace nnslim {

void qs8_spmm_store_tile_scalar(const Qs8SpmmTile& t, int n0, const int32_t* acc, int mb) {
  const int N = t.N;
  for (int r = 0; r < kBlockRows && n0 + r < N; ++r) {
    const int n = n0 + r;
    for (int i = 0; i < t.mvalid; ++i) {
      const int m = t.m0 + i;
      const int32_t a = acc[r * mb + i];
      if (t.C32) {
        t.C32[size_t(m) * t.ldc + n] = a;
      } else {
        t.Cf[size_t(m) * t.ldc + n] =
            ref::dequant_epilogue(a, t.a_scale[m], t.w_scale[n], t.bias ? t.bias[n] : 0.f, t.relu);
      }
    }
  }
}

void nnslim_qs8_spmm_pack_x__scalar(const int8_t*, size_t, int, int, void*) {}

void nnslim_qs8_spmm_4x1__scalar(const Qs8SpmmTile& t, int b0, int b1) {
  const int8_t* q = static_cast<const int8_t*>(t.x);
  constexpr int kMB = 1;
  for (int b = b0; b < b1; ++b) {
    for (int i = 0; i < t.mvalid; ++i) {
      const int8_t* x = q + size_t(i) * t.ldx;
      // Unsigned arithmetic wraps where int32 would overflow (undefined); the true sum fits.
      uint32_t acc[kBlockRows] = {0, 0, 0, 0};
      for (int64_t g = t.gptr[b]; g < t.gptr[b + 1]; ++g) {
        const uint32_t xv = uint32_t(int32_t(x[t.cols[g]]));
        for (int r = 0; r < kBlockRows; ++r) acc[r] += xv * uint32_t(t.wts[4 * g + r]);
      }
      int32_t out[kBlockRows];
      for (int r = 0; r < kBlockRows; ++r) out[r] = int32_t(acc[r]);
      Qs8SpmmTile row = t;
      row.m0 = t.m0 + i;
      row.mvalid = 1;
      qs8_spmm_store_tile_scalar(row, b * kBlockRows, out, kMB);
    }
  }
}

}  // namespace nnslim
