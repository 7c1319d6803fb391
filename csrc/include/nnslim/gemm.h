// Int8 GEMM: C[M,N] = A[M,K] . B[N,K]^T with int32 accumulation, and the fused dynamic-quantized
// linear layer built on it. B (weights, nn.Linear layout) is packed once per ISA.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "nnslim/hw.h"
#include "nnslim/postop.h"

namespace nnslim {

// Largest K whose exact s8 x s8 dot product always fits in int32: K * 128 * 128 <= 2^31 - 1.
constexpr int64_t kMaxExactK = 131071;
// fp32-output paths split longer K into chunks of this size (a multiple of every ISA's K padding)
// and add the dequantized partial sums, so any K works there.
constexpr int kChunkK = 65536;

enum class Epilogue : int {
  store_s32,  // C32 = acc
  store_f32,  // Cf = acc * (a_scale[m] * b_scale[n]) + bias[n], then optional ReLU
  accum_f32,  // Cf += acc * (a_scale[m] * b_scale[n])
  // store_f32's value, then post (residual of output row post_row0 + m, column post_col0 + n;
  // activation) and requantization into Cq (row stride ldcq): an int8 node's output in one pass.
  // Only kernels whose config has fuses_requant implement it.
  requant_s8,
};

struct WinogradWeights;  // kernels/qs8-winograd/qs8-winograd.h

// What the packer may assume about the activations the weights will meet, to pick among an ISA's
// layouts. Only a speed hint: every layout is exact for every int8 activation. AVX2 packs its s16
// layout for signed_activations (8-bit activations, negative codes common: 1.05-1.14x the s8 sign
// kernel on ResNet-50's 1x1 convs, Zen 3) and otherwise the compact s8 one, whose sign-free kernel
// takes 7-bit activations (all codes in [0, 127]). Other ISAs have one layout.
enum class PackHint : int { none = 0, signed_activations = 1 };

// Weights packed for one ISA. The layout is private to that ISA's kernel; only `isa` says which.
struct PackedB {
  Isa isa = Isa::scalar;
  int N = 0, K = 0;
  int Kp = 0;         // K rounded up to the ISA's K granularity (zero padding)
  int nr = 1;         // columns per panel
  int num_panels = 0;
  std::vector<uint8_t, std::allocator<uint8_t>> storage;  // over-allocated for 64-byte alignment
  uint8_t* data = nullptr;                                 // aligned start inside storage
  size_t bytes_per_panel = 0;
  int layout = 0;     // ISA-specific variant of the layout (AVX2: 0 = s16 pairs, 1 = s8 quads, see its file)
  PackHint hint = PackHint::none;  // what the packer was told (set before `pack` runs)
  // AVX2 layout 1 only: sum_k B[n, k] per column (N of them), for activations stored as unsigned
  // codes with a per-row zero point (GemmProblem::a_zero_point); empty for other layouts.
  std::vector<int32_t> colsum;
  // The same weights transformed for the Winograd path of a 3x3 conv, built on its first call
  // (qs8_winograd_weights, under its lock); null until then.
  mutable std::shared_ptr<const WinogradWeights> winograd;
};

// One GEMM call on the K range [k0, k1) of the packed weights; k1 is already rounded up to the ISA's
// K granularity (A and the packed weights are zero in the padding). A is int8, row stride lda,
// indexed from column 0 (kernels add k0).
struct GemmProblem {
  int M = 0;
  int k0 = 0, k1 = 0;
  const int8_t* A = nullptr;
  size_t lda = 0;
  const int32_t* a_rowsum = nullptr;  // sum over the range of A[m, k]; kernels that bias A need it
  const PackedB* B = nullptr;
  Epilogue epilogue = Epilogue::store_s32;
  int32_t* C32 = nullptr;
  float* Cf = nullptr;
  size_t ldc = 0;
  const float* a_scale = nullptr;
  const float* b_scale = nullptr;
  const float* bias = nullptr;  // may be null
  bool relu = false;
  // store_f32 / accum_f32: row m's activation zero point (null: none); a_zero_point[m] * B->colsum[n]
  // is subtracted from the accumulators before dequantizing. Only with an AVX2 layout-1 B.
  const int32_t* a_zero_point = nullptr;
  // Epilogue::requant_s8 only
  const PostOp* post = nullptr;
  const Requant* rq = nullptr;
  int8_t* Cq = nullptr;
  size_t ldcq = 0;
  int64_t post_row0 = 0;
  int post_col0 = 0;
};

// A run of output pixels of a convolution read straight from a zero-point-padded NHWC input, as
// "virtual rows": K block kb of virtual row v starts at tap[kb] + v * stride (C % 64 == 0, so a
// 64-wide K block never crosses a tap). Every vwidth virtual rows make one output row, whose first
// `width` are output pixels and whose rest run through the padding (computed, never stored): a
// stride-1 conv runs an image's rows on through the padded width (vwidth = padded W), so tiles fill
// across output rows; a strided one runs one output row (vwidth = width). Virtual row v is problem
// row m0 + (v / vwidth) * width + v % vwidth. The input must have 32 * stride + 64 readable bytes past
// the last pixel any block starts at (tile rows past v1 are computed, never stored).
struct DirectConvRow {
  const int8_t* const* tap = nullptr;
  size_t stride = 0;
  int v0 = 0, v1 = 0;
  int vwidth = 0;
  int width = 0;
  int m0 = 0;
};

// Everything one ISA contributes, chosen together so layout, padding and kernel always agree.
struct Qs8GemmConfig {
  Isa isa;
  int nr;              // panel width
  int kr;              // K padding granularity
  int mr;              // rows of the micro-tile (task row boundaries fall on multiples of it)
  // Row sums of A over [k0, k1) for kernels that bias an operand and subtract a compensation;
  // null when the kernel needs none.
  void (*row_sums)(const int8_t* A, size_t lda, int M, int k0, int k1, int32_t* out);
  void (*pack)(const int8_t* B, int N, int K, PackedB* out);
  // Rows [m0, m1), panels [p0, p1) of the problem.
  void (*gemm)(const GemmProblem& p, int m0, int m1, int p0, int p1);
  // Per-row symmetric quantization of rows [m0, m1): Q is row stride ldq with columns K..Kp zeroed.
  void (*quantize_rows)(const float* X, size_t ldx, int m0, int m1, int K, int Kp, int8_t* Q,
                        size_t ldq, float* scales);
  // Its 7-bit asymmetric form (ref::qs8_quantize_row_q7); zero_points written with unsigned_codes.
  void (*quantize_rows_q7)(const float* X, size_t ldx, int m0, int m1, int K, int Kp, bool unsigned_codes,
                           int8_t* Q, size_t ldq, float* scales, int32_t* zero_points);
  // Static quantization with one scale / zero point; row_scales = scale, or NaN for non-finite rows.
  void (*quantize_rows_static)(const float* X, size_t ldx, int m0, int m1, int K, int Kp, float scale,
                               float inv_scale, int32_t zero_point, int8_t* Q, size_t ldq, float* row_scales);
  // Post-op (and, with rq, requantization into yq) of an fp32 output block in one pass
  // (kernels/qs8-requant/qs8-requant.h).
  void (*finish_block)(float* block, size_t ldb, int rows, int cols, const PostOp& op, int64_t row0, int col0,
                       const Requant* rq, int8_t* yq, size_t ldy);
  bool fuses_requant;  // gemm implements Epilogue::requant_s8
  // Direct convolution of one output row without im2col (AMX only, else null): see DirectConvRow.
  void (*conv_direct_row)(const GemmProblem& p, const DirectConvRow& row, int p0, int p1);
};

const Qs8GemmConfig& qs8_gemm_config(Isa isa);

// out[m] = sum of A[m, k0..k1) (portable version; the VNNI file has a vpsadbw one).
void qs8_row_sums(const int8_t* A, size_t lda, int M, int k0, int k1, int32_t* out);
inline int round_up(int x, int m) { return (x + m - 1) / m * m; }

// Packs B[N, K] (row-major int8) for `isa`.
std::unique_ptr<PackedB> qs8_pack_weights(const int8_t* B, int N, int K, Isa isa, PackHint hint = PackHint::none);

// C32[M, N] (ldc) = A[M, K] (lda) . B^T. Throws when K > kMaxExactK.
void qs8_gemm_s32(const int8_t* A, size_t lda, int M, const PackedB& B, int32_t* C, size_t ldc,
                  int num_threads);

// Y[M, N] = dequant(quant_rows(X) . Bq^T) * b_scale + bias, with dynamic per-row activation scales.
// activation_bits 7: rows quantized asymmetrically onto [0, 127] (ref::qs8_quantize_row_q7); on
// AVX2's s8 layout (K <= kChunkK) the unsigned codes go in, so the GEMM runs its sign-free kernel,
// and zp * B.colsum comes back out: the same int32 results, hence the same outputs, on every ISA.
void qs8_linear_dynamic_f32(const float* X, size_t ldx, int M, const PackedB& B, const float* b_scale,
                            const float* bias, bool relu, float* Y, size_t ldy, int num_threads,
                            int activation_bits = 8);

// Y[M, N] = in_scale * b_scale * (quant_static(X) . Bq^T) + bias. The zero point's contribution
// (zero_point * sum_k Bq[n, k]) must already be folded into `bias` by the caller.
void qs8_linear_static_f32(const float* X, size_t ldx, int M, const PackedB& B, float in_scale,
                           int32_t zero_point, const float* b_scale, const float* bias, bool relu, float* Y,
                           size_t ldy, int num_threads);

struct Conv2dShape {
  int N, H, W, C;          // input, NHWC
  int Cout, KH, KW;
  int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
  int OH, OW;
};

// Static int8 convolution (nnslim/conv_io.h says what goes in and out). Weights: one PackedB per
// group, each (Cout / groups) x (KH * KW * C / groups) in (kh, kw, c) order. Padding reads the input
// zero point. `bias` has the zero-point term folded in, as for the linear layer. A non-finite value
// in an fp32 input image makes that image's whole output NaN (int8 inputs carry no NaN).
// "Row taps": convs over few channels (KW * C < 64, the RGB stems) on ISAs with a direct row path
// (AMX) may pack their weights as KH blocks of 64, block kh holding tap row kh's KW * C weights in
// (kw, c) order, then zeros. Every block is then one 64-byte read of the zero-point-padded input at
// the window's start, so the conv needs no im2col (the extra bytes read meet zero weights).
// A packed K of KH * 64 with KW * C < 64 can only mean this layout.
bool qs8_conv_row_taps(const Conv2dShape& s, int packed_k, Isa isa);
// "Space-to-depth taps": a stride-2 conv over few channels ((KW + 1) / 2 * 4C <= 64, the RGB stems)
// on the same ISAs may pack its weights as ceil(KH / 2) blocks of 64: the stride-1 conv of kernel
// ceil(KH / 2) x ceil(KW / 2) over the 2x2 space-to-depth input (qs8_space_to_depth_input), block a
// holding w[2a + dy][2b + dx][c] at byte b * 4C + (dy * 2 + dx) * C + c (zero past the kernel and
// from ceil(KW / 2) * 4C to 64). Fewer, fuller K blocks than row taps (a 7x7 RGB stem: 4 of 48 bytes
// instead of 7 of 21), and stride 1, so tiles fill across output rows. Never the layout when its K
// equals the im2col one (KH * KW * C) or KH < 2.
bool qs8_conv_s2d_taps(const Conv2dShape& s, int packed_k, Isa isa);

struct ConvIO;
enum class WinogradMode : int;  // nnslim/winograd.h
void qs8_conv2d_static(const ConvIO& io, const Conv2dShape& s, const PackedB* const* group_weights,
                       const float* b_scale, const float* bias, bool relu, int num_threads,
                       WinogradMode winograd = WinogradMode(0));

// Per-thread reusable scratch, one buffer per (type, slot). Big per-call buffers would otherwise be
// fresh mmaps each call, and their page faults cost as much as a conv's GEMM when calls alternate
// with other large allocations (measured: 1.6 -> 3.7 ms at batch 8). Contents are stale: callers
// write everything they read. Requests above 64 MiB are not kept. 64-byte aligned: a vector's
// malloc'd data is only 16-byte aligned, and then every 64-byte row an AMX tile or a zmm load reads
// from it straddles two cache lines (the AMX direct conv ran at 0.6x).
template <typename T, int Slot>
T* thread_scratch(size_t n, std::vector<T>* oversized) {
  static_assert(64 % sizeof(T) == 0, "thread_scratch: element size must divide 64");
  constexpr size_t kSlack = 64 / sizeof(T);
  auto aligned = [](T* p) {
    return reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
  };
  thread_local std::vector<T> buf;
  if (n * sizeof(T) > (size_t(64) << 20)) {
    oversized->resize(n + kSlack);
    return aligned(oversized->data());
  }
  if (buf.size() < n + kSlack) buf.resize(n + kSlack);
  return aligned(buf.data());
}

// Runs fn(task) for task in [0, ntasks) on up to num_threads threads (the caller included).
void parallel_for(int ntasks, int num_threads, const std::function<void(int)>& fn);

// num_threads clamped to [1, 4 x the machine's hardware threads], parallel_for's own limit: drivers
// that size task counts from a thread count clamp first, so an absurd request cannot overflow them.
int clamp_threads(int num_threads);

}  // namespace nnslim
