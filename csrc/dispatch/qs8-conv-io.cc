// Entry quantization and block finishing shared by the int8 convolution drivers (nnslim/conv_io.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "../kernels/qs8-quant-nchw/qs8-quant-nchw.h"
#include "nnslim/conv_io.h"

namespace nnslim {

void qs8_quantize_images(const Qs8GemmConfig& cfg, const float* X, int N, int64_t img_elems, float scale,
                         int32_t zero_point, int8_t* xq, float* img_scale, int num_threads) {
  // Chunks of up to 16K values quantized as one long row each: the quantizer's per-row work (and its
  // scalar tail) is paid per chunk, not per pixel (3 values for an RGB stem conv). Static
  // quantization is value by value, so chunk borders do not matter.
  constexpr int64_t kChunk = 16384;
  const int64_t chunks_per_img = std::max<int64_t>(1, (img_elems + kChunk - 1) / kChunk);
  const int64_t total = int64_t(N) * chunks_per_img;
  if (total > 0x7fffffff) throw std::invalid_argument("qs8_quantize_images: input too large");
  std::vector<float> chunk_scale(size_t(total), scale);
  const float inv = 1.f / scale;
  parallel_for(int(total), int64_t(N) * img_elems >= (1 << 16) ? num_threads : 1, [&](int t) {
    const int64_t n = t / chunks_per_img, c = t % chunks_per_img;
    const int64_t e0 = img_elems * c / chunks_per_img, e1 = img_elems * (c + 1) / chunks_per_img;
    if (e1 == e0) return;
    const int64_t off = n * img_elems + e0;
    const int len = int(e1 - e0);
    cfg.quantize_rows_static(X + off, len, 0, 1, len, len, scale, inv, zero_point, xq + off, len, &chunk_scale[t]);
  });
  for (int n = 0; n < N; ++n) {
    img_scale[n] = scale;
    for (int64_t c = 0; c < chunks_per_img; ++c)
      if (std::isnan(chunk_scale[size_t(n * chunks_per_img + c)])) img_scale[n] = std::nanf("");
  }
}

void qs8_conv_finish_block(const Qs8GemmConfig& cfg, float* block, size_t ldb, int rows, int cols, int64_t row0,
                           int col0, size_t ldy, const ConvIO& io) {
  if (!io.Yq) {
    if (!io.post.empty()) cfg.finish_block(block, ldb, rows, cols, io.post, row0, col0, nullptr, nullptr, 0);
    return;
  }
  // Value by value, so the result does not depend on how columns were split across threads: NaN
  // becomes the zero point, +-Inf saturates (the row quantizer would zero a whole row-block).
  const Requant rq{1.f / io.out_scale, io.out_zero_point};
  cfg.finish_block(block, ldb, rows, cols, io.post, row0, col0, &rq, io.Yq + size_t(row0) * ldy + col0, ldy);
}

void qs8_quantize_nchw_images(const float* x, int N, int C, int64_t HW, float scale, int32_t zero_point, int8_t* q,
                              bool* nonfinite, Isa isa, int num_threads) {
  require_isa(isa);
  const auto kernel = isa == Isa::avx512vnni || isa == Isa::amx ? nnslim_qs8_quant_nchw__avx512
                      : isa == Isa::avx2                         ? nnslim_qs8_quant_nchw__avx2
                                                                 : nnslim_qs8_quant_nchw__scalar;
  // Chunks of pixels (a multiple of 16: only an image's last chunk has a SIMD tail).
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = std::max<int64_t>(1, (HW + kChunk - 1) / kChunk);
  if (int64_t(N) * chunks > 0x7fffffff) throw std::invalid_argument("qs8_quantize_nchw_images: input too large");
  const int tasks = int(int64_t(N) * chunks);
  std::vector<char> bad(size_t(tasks), 0);
  const float inv = 1.f / scale;
  parallel_for(tasks, int64_t(N) * HW * C >= (1 << 16) ? num_threads : 1, [&](int t) {
    const int64_t n = t / chunks, c = t % chunks;
    const int64_t p0 = c * kChunk, p1 = std::min(HW, p0 + kChunk);
    bool b = false;
    if (p1 > p0) kernel(x + n * C * HW, C, HW, p0, p1, inv, zero_point, q + n * HW * C, &b);
    bad[size_t(t)] = b;
  });
  for (int n = 0; n < N; ++n) {
    bool b = false;
    for (int64_t c = 0; c < chunks; ++c) b = b || bad[size_t(n * chunks + c)];
    nonfinite[n] = b;
    // As the row quantizer does for a row: an image with a non-finite value is all zero point.
    if (b) std::memset(q + size_t(n) * HW * C, int8_t(zero_point), size_t(HW) * C);
  }
}

const int8_t* qs8_pad_input(const int8_t* xq, const Conv2dShape& s, int8_t zp, size_t slack, int num_threads,
                            std::vector<int8_t>* big) {
  if (s.pad_h == 0 && s.pad_w == 0 && slack == 0) return xq;
  const int64_t Hp = s.H + 2 * int64_t(s.pad_h), Wp = s.W + 2 * int64_t(s.pad_w);
  const size_t img_bytes = size_t(Hp * Wp) * s.C;
  const size_t total = size_t(s.N) * img_bytes + slack;
  int8_t* xp = thread_scratch<int8_t, 3>(total, big);
  const int64_t padded_rows = int64_t(s.N) * Hp;
  if (padded_rows > 0x7fffffff) throw std::invalid_argument("qs8_pad_input: N * (H + 2 * pad) exceeds 2^31 - 1");
  parallel_for(int(padded_rows), num_threads, [&](int t) {
    const int64_t n = t / Hp, hp = t % Hp, h = hp - s.pad_h;
    int8_t* dst = xp + size_t(n) * img_bytes + size_t(hp * Wp) * s.C;
    if (h < 0 || h >= s.H) {
      std::memset(dst, zp, size_t(Wp) * s.C);
      return;
    }
    std::memset(dst, zp, size_t(s.pad_w) * s.C);
    std::memcpy(dst + size_t(s.pad_w) * s.C, xq + size_t((n * s.H + h) * s.W) * s.C, size_t(s.W) * s.C);
    std::memset(dst + size_t(s.pad_w + s.W) * s.C, zp, size_t(s.pad_w) * s.C);
  });
  if (slack) std::memset(xp + size_t(s.N) * img_bytes, zp, slack);
  return xp;
}

namespace {
// count pixel pairs of 2C bytes from src (contiguous) to dst (stride 4C).
template <int C>
void copy_pairs(int8_t* dst, const int8_t* src, int64_t count) {
  for (int64_t i = 0; i < count; ++i, dst += 4 * C, src += 2 * C) std::memcpy(dst, src, 2 * C);
}
}  // namespace

const int8_t* qs8_space_to_depth_input(const int8_t* xq, const Conv2dShape& s, int8_t zp, size_t slack,
                                       int num_threads, std::vector<int8_t>* big) {
  const int64_t Hp = s.H + 2 * int64_t(s.pad_h), Wp = s.W + 2 * int64_t(s.pad_w);
  const int64_t Hs = (Hp + 1) / 2, Ws = (Wp + 1) / 2;
  const size_t C = size_t(s.C), C4 = 4 * C;
  const size_t img_bytes = size_t(Hs * Ws) * C4;
  int8_t* xs = thread_scratch<int8_t, 3>(size_t(s.N) * img_bytes + slack, big);
  const int64_t rows = int64_t(s.N) * Hs;
  if (rows > 0x7fffffff) throw std::invalid_argument("qs8_space_to_depth_input: N * ceil(Hp / 2) exceeds 2^31 - 1");
  // Input columns [x_in0, x_in1) of s2d pixels whose two source pixels both lie inside the image.
  const int64_t x_in0 = (s.pad_w + 1) / 2, x_in1 = std::max<int64_t>(x_in0, (s.pad_w + s.W) / 2);
  parallel_for(int(rows), num_threads, [&](int t) {
    const int64_t n = t / Hs, Y = t % Hs;
    int8_t* drow = xs + size_t(n) * img_bytes + size_t(Y * Ws) * C4;
    for (int dy = 0; dy < 2; ++dy) {
      const int64_t ih = 2 * Y + dy - s.pad_h;
      int8_t* d = drow + size_t(dy) * 2 * C;  // (dy, dx = 0) of pixel X = 0
      if (ih < 0 || ih >= s.H) {
        for (int64_t X = 0; X < Ws; ++X) std::memset(d + size_t(X) * C4, zp, 2 * C);
        continue;
      }
      const int8_t* src = xq + size_t((n * s.H + ih) * s.W) * C;
      auto one = [&](int64_t X, int dx) {  // a pixel at the border: the zero point outside the image
        const int64_t iw = 2 * X + dx - s.pad_w;
        int8_t* o = d + size_t(X) * C4 + size_t(dx) * C;
        if (iw < 0 || iw >= s.W)
          std::memset(o, zp, C);
        else
          std::memcpy(o, src + size_t(iw) * C, C);
      };
      for (int64_t X = 0; X < std::min(x_in0, Ws); ++X) one(X, 0), one(X, 1);
      // Inside: the two source pixels are 2C adjacent bytes (fixed-size copies for RGB-like C: a
      // libc call per 6 bytes cost more than the stem's tile work saved).
      const int64_t X0 = x_in0, X1 = std::min(x_in1, Ws);
      const int8_t* sp = src + size_t(2 * X0 - s.pad_w) * C;
      switch (C) {
        case 1: copy_pairs<1>(d + size_t(X0) * C4, sp, X1 - X0); break;
        case 2: copy_pairs<2>(d + size_t(X0) * C4, sp, X1 - X0); break;
        case 3: copy_pairs<3>(d + size_t(X0) * C4, sp, X1 - X0); break;
        case 4: copy_pairs<4>(d + size_t(X0) * C4, sp, X1 - X0); break;
        default:
          for (int64_t X = X0; X < X1; ++X) std::memcpy(d + size_t(X) * C4, src + size_t(2 * X - s.pad_w) * C, 2 * C);
      }
      for (int64_t X = std::max(x_in0, std::min(x_in1, Ws)); X < Ws; ++X) one(X, 0), one(X, 1);
    }
  });
  if (slack) std::memset(xs + size_t(s.N) * img_bytes, zp, slack);
  return xs;
}

}  // namespace nnslim
