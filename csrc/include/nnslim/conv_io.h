// What flows in and out of an int8 convolution: fp32 NHWC (quantized on entry with the calibrated
// input scale / zero point) or int8 NHWC already in that quantization; fp32 NHWC out, or int8 NHWC
// requantized with the output scale / zero point the next int8 node reads. Between two int8 nodes
// of a graph the activations never exist in fp32 outside a cache-sized block.
#pragma once
#include <cstddef>
#include <cstdint>

#include "nnslim/gemm.h"
#include "nnslim/postop.h"

namespace nnslim {

struct ConvIO {
  const float* X = nullptr;    // fp32 NHWC input, or
  const int8_t* Xq = nullptr;  // int8 NHWC input quantized with (in_scale, in_zero_point)
  float in_scale = 1.f;
  int32_t in_zero_point = 0;
  float* Y = nullptr;          // fp32 NHWC output, or
  int8_t* Yq = nullptr;        // int8 NHWC output: q = clamp(rne(y / out_scale) + out_zero_point);
                               // NaN -> out_zero_point (int8 carries no NaN: graphs flag such images)
  float out_scale = 1.f;
  int32_t out_zero_point = 0;
  PostOp post;                 // residual add + activation, before the output is stored
};

// Quantizes N images of `img_elems` floats each (NHWC, contiguous) with one scale / zero point into
// xq; img_scale[n] = scale, or NaN when image n holds a non-finite value.
void qs8_quantize_images(const Qs8GemmConfig& cfg, const float* X, int N, int64_t img_elems, float scale,
                         int32_t zero_point, int8_t* xq, float* img_scale, int num_threads);

// Finishes an fp32 output block (rows x cols, row stride ldb; first element = output pixel row0,
// channel col0): post-ops, then, for an int8 output, requantization into io.Yq (row stride ldy).
void qs8_conv_finish_block(const Qs8GemmConfig& cfg, float* block, size_t ldb, int rows, int cols, int64_t row0,
                           int col0, size_t ldy, const ConvIO& io);

// The fused int8-output epilogue (Epilogue::requant_s8) of a GEMM whose problem row m is output
// pixel row0 + m and whose column n is output channel col0 + n; Cq points at that pixel and channel.
void set_requant_epilogue(GemmProblem* p, const ConvIO& io, const Requant& rq, int8_t* Cq, int64_t row0, int col0,
                          size_t ldcq);

// The entry of an int8 graph: N fp32 NCHW images (C planes of HW values each) quantized with one
// scale / zero point straight into int8 NHWC (q holds N * HW * C bytes). nonfinite[n] = whether image
// n holds a non-finite value; such an image's bytes are all the zero point. `isa` picks the kernel
// (AVX-512 for avx512vnni and amx, scalar otherwise).
void qs8_quantize_nchw_images(const float* x, int N, int C, int64_t HW, float scale, int32_t zero_point, int8_t* q,
                              bool* nonfinite, Isa isa, int num_threads);

// The int8 NHWC input once more with its zero point around every image (pad_h rows above and below,
// pad_w columns left and right), so a window's taps are plain strided reads; `slack` bytes of zero
// point follow the last image (for kernels that read a partial tile past it). Returns xq itself when
// there is no padding and no slack; otherwise a thread scratch buffer (or *big, when oversized).
// Rows are copied on `num_threads` threads in static chunks (the caller's choice: the threads that
// will read them).
const int8_t* qs8_pad_input(const int8_t* xq, const Conv2dShape& s, int8_t zero_point, size_t slack, int num_threads,
                            std::vector<int8_t>* big);

// The zero-point-padded input of a stride-2 conv as a space-to-depth image (qs8_conv_s2d_taps):
// (N, Hs, Ws, 4C) with Hs = ceil(Hp / 2), Ws = ceil(Wp / 2) over the padded Hp x Wp image; pixel
// (Y, X) channel (dy * 2 + dx) * C + c holds padded pixel (2Y + dy, 2X + dx) channel c (the zero point
// outside the image, an odd padded edge included). `slack`, threads and the buffer as qs8_pad_input.
const int8_t* qs8_space_to_depth_input(const int8_t* xq, const Conv2dShape& s, int8_t zero_point, size_t slack,
                                       int num_threads, std::vector<int8_t>* big);

}  // namespace nnslim
