// Portable q4 path: a panel is one weight row (codes as in the portable layout, then its scales);
// the shared packing and group-sum store helpers of the SIMD paths live here too.
#include <cstring>
#include <vector>

#include "q4-gemm.h"

namespace nnslim {

void q4_alloc_panels(PackedQ4* out, int nr, size_t bytes_per_panel) {
  out->nr = nr;
  out->num_panels = (out->N + nr - 1) / nr;
  out->bytes_per_panel = bytes_per_panel;
  out->storage.assign(size_t(out->num_panels) * bytes_per_panel + 64, 0);
  const uintptr_t base = reinterpret_cast<uintptr_t>(out->storage.data());
  out->data = out->storage.data() + ((64 - base % 64) % 64);
}

void q4_pack_quad_panels(const uint8_t* codes, size_t ldc, const float* scales, PackedQ4* out, int nr) {
  const int N = out->N, K = out->K, G = out->G, group = out->group, half = nr / 2;
  const size_t group_bytes = q4_quad_group_bytes(group, nr);
  q4_alloc_panels(out, nr, group_bytes * G);
  auto code = [&](int n, int k) { return (n < N && k < K) ? q4_code_at(codes, ldc, n, k) : 0; };
  for (int p = 0; p < out->num_panels; ++p) {
    for (int g = 0; g < G; ++g) {
      uint8_t* dst = out->data + size_t(p) * out->bytes_per_panel + size_t(g) * group_bytes;
      for (int b = 0; b < group / 4; ++b)
        for (int c = 0; c < half; ++c)
          for (int i = 0; i < 4; ++i) {
            const int n = p * nr + c, k = g * group + 4 * b + i;
            dst[(size_t(b) * half + c) * 4 + i] = uint8_t(code(n, k) | (code(n + half, k) << 4));
          }
      float* s = reinterpret_cast<float*>(dst + size_t(group) / 4 * 2 * nr);
      for (int c = 0; c < nr; ++c) {
        const int n = p * nr + c;
        s[c] = n < N ? scales[size_t(n) * G + g] : 0.f;
      }
    }
  }
}

void q4_store_group_s32(const Q4Problem& p, int m, int rows, int n0, int nvalid, int g, const int32_t* acc,
                        int stride) {
  const PackedQ4& B = *p.B;
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < nvalid; ++j) p.C32[(size_t(m + r) * B.N + n0 + j) * B.G + g] = acc[r * stride + j];
}

void nnslim_q4_gemm_pack__scalar(const uint8_t* codes, size_t ldc, const float* scales, PackedQ4* out) {
  const size_t code_bytes = size_t(out->Kp) / 2;  // Kp is a multiple of 32: the scales stay aligned
  q4_alloc_panels(out, 1, code_bytes + sizeof(float) * out->G);
  const size_t row_bytes = (size_t(out->K) + 1) / 2;
  for (int n = 0; n < out->N; ++n) {
    uint8_t* dst = out->data + size_t(n) * out->bytes_per_panel;
    std::memcpy(dst, codes + size_t(n) * ldc, row_bytes);
    if (out->K % 2) dst[row_bytes - 1] &= 0x0F;  // the unused high nibble: code 0, like the SIMD packs
    std::memcpy(dst + code_bytes, scales + size_t(n) * out->G, sizeof(float) * out->G);
  }
}

void nnslim_q4_gemm__scalar(const Q4Problem& p, int m0, int m1, int p0, int p1) {
  const PackedQ4& B = *p.B;
  std::vector<int8_t> w(B.Kp);
  for (int n = p0; n < p1; ++n) {
    const uint8_t* row = B.data + size_t(n) * B.bytes_per_panel;
    const float* scale = reinterpret_cast<const float*>(row + B.Kp / 2);
    // Decoded once per weight row, reused by every activation row.
    for (int k = 0; k < B.Kp; ++k) w[k] = B.table[(row[k / 2] >> (4 * (k & 1))) & 0xF];
    for (int m = m0; m < m1; ++m) {
      const int8_t* a = p.A + m * p.lda;
      float acc = 0.f;
      for (int g = 0; g < B.G; ++g) {
        int32_t dot = 0;
        for (int k = g * B.group; k < (g + 1) * B.group; ++k) dot += int32_t(a[k]) * int32_t(w[k]);
        if (p.C32) {
          q4_store_group_s32(p, m, 1, n, 1, g, &dot, 1);
        } else {
          acc = acc + static_cast<float>(dot) * scale[g];
        }
      }
      if (!p.C32) p.Y[m * p.ldy + n] = acc * p.a_scale[m] + (p.bias ? p.bias[n] : 0.f);
    }
  }
}

}  // namespace nnslim
