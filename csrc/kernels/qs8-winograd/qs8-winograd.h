// Integer Winograd F(2x2, 3x3) pieces of a stride-1 3x3 int8 convolution (dispatch/qs8-conv2d-winograd.cc
// drives them). Every 2x2 block of output pixels (a "tile") reads a 4x4 window d of the input and is
//   4 * Y = A^T [ (G2 g G2^T) . (B^T d B) ] A,   G2 = 2 G (integer), so every step is an integer one:
// B^T d B of int8 d lies in [-510, 510] (int16), G2 g G2^T of int8 g in [-1152, 1152] (int16); their
// products summed over channels are the 16 "positions" M of a tile, and the output transform of the
// M gives 4 * the direct convolution's int32 accumulators exactly. Sums may wrap in int32 on the way
// (two's complement is exact modulo 2^32), and 4 * the result fits for C <= kWinogradMaxC, so the
// final >> 2 returns the very accumulators the im2col GEMM produces: 16 products per 2x2 tile and
// channel pair instead of 36, done as s16 x s16 (vpmaddwd) whatever the activations' range.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "nnslim/gemm.h"

namespace nnslim {

// Largest input channel count with 4 * 9 * C * 128 * 128 < 2^31 (exactness of the final >> 2).
constexpr int kWinogradMaxC = 2048;
// Output channels per weight panel and tiles per micro-kernel call.
constexpr int kWinogradNR = 16;
constexpr int kWinogradMR = 6;

// Transformed weights, U = G2 g G2^T for every (output channel, input channel): panels of 16 output
// channels, each panel the 16 positions in order, each position [Cp / 2][16 columns][2 channels]
// int16 (channels C..Cp and columns past Cout zero). Cp = C rounded up to 2.
struct WinogradWeights {
  int C = 0, Cp = 0, Cout = 0, num_panels = 0;
  // Over-allocated for 64-byte alignment. Not a std::vector<int16_t>: baseline code instantiating
  // one would share its weak symbols with the AVX2 GEMM's (.ci/check_isa_symbols.py).
  std::unique_ptr<int16_t[]> storage;
  size_t storage_size = 0;
  const int16_t* data = nullptr;
  size_t pos_stride() const { return size_t(Cp) * kWinogradNR; }
  size_t panel_stride() const { return 16 * pos_stride(); }
};

// One ISA's kernels.
struct Qs8WinogradKernels {
  // V = B^T d B of one tile for channels [0, Cp): d holds the 16 window pixels row-major, each
  // pointing at C int8 channels; position i goes to v + i * pos_stride (int16, zeros for C..Cp).
  void (*input_tile)(const int8_t* const* d, int C, int Cp, int16_t* v, size_t pos_stride);
  // `rows` (1..kWinogradMR) tiles x one weight panel: tile r's position i reads V row
  // v + i * v_pos_stride + r * ldv (kpairs channel pairs), the panel's position i at u + i * u_pos_stride.
  // out[r][pixel][16]: the int32 accumulators of the tile's pixels (0, 0), (0, 1), (1, 0), (1, 1).
  void (*tile_block)(const int16_t* v, size_t v_pos_stride, size_t ldv, int rows, const int16_t* u,
                     size_t u_pos_stride, int kpairs, int32_t* out);
  // The GEMM epilogue (p.epilogue: store_f32, or requant_s8 where the ISA fuses it) of rows [m0,
  // m0 + rows) x columns [n0, n0 + nvalid) whose accumulators sit in c (row stride 16).
  void (*store_acc)(const GemmProblem& p, int m0, int rows, int n0, int nvalid, const int32_t* c);
};

// The ISA's Winograd kernels, or null where it has none (AVX-512 VNNI and AMX multiply 64 int8
// products per instruction directly: Winograd's s16 products would not pay there).
const Qs8WinogradKernels* qs8_winograd_kernels(Isa isa);

#define NNSLIM_DECLARE_QS8_WINOGRAD(isa)                                                                        \
  void nnslim_qs8_winograd_input_tile__##isa(const int8_t* const* d, int C, int Cp, int16_t* v, size_t pos_stride); \
  void nnslim_qs8_winograd_tile_block__##isa(const int16_t* v, size_t v_pos_stride, size_t ldv, int rows,       \
                                             const int16_t* u, size_t u_pos_stride, int kpairs, int32_t* out); \
  void nnslim_qs8_store_acc__##isa(const GemmProblem& p, int m0, int rows, int n0, int nvalid, const int32_t* c);
NNSLIM_DECLARE_QS8_WINOGRAD(scalar)
NNSLIM_DECLARE_QS8_WINOGRAD(avx2)
#undef NNSLIM_DECLARE_QS8_WINOGRAD

}  // namespace nnslim
