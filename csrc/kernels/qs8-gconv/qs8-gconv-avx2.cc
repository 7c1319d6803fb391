// AVX2 grouped int8 conv kernel: 8 output channels per vector (a lane block), int16 inputs and
// weights, one vpmaddwd per pair of a group's input channels (exact: |x * w| <= 2^14) and vpaddd.
// The input operand of lane o is the pair (x[g(o) * cg + 2p], x[g(o) * cg + 2p + 1]):
//  - 8 or more output channels per group ("broadcast"): a block lies in one group, so the pair is
//    one dword broadcast from memory (vpbroadcastd, a load-port op) for all 8 lanes;
//  - 2 or 4 per group ("lane-ordered"): a block spans 2 or 4 groups. The patch stores each run of
//    16 input channels (a super-block: the groups of NR = 2 * coutg / cg blocks) so that each
//    128-bit half of one 256-bit load holds exactly the pairs its lanes need, and an in-lane
//    vpshufd with a constant selector puts pair p of each lane's group under the lane. (vpermd on a
//    plain layout, one lane-crossing shuffle per vpmaddwd, ran at ~0.75x.)
// Register tiles: MR pixels x NR blocks, weights loaded once per tap for all MR pixels. The finish
// (float(acc) * scale + bias, then residual, activation and requantization for an int8 output) is
// the scalar kernel's and the block finisher's, lane for lane.
#include <immintrin.h>

#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "../common/finish-avx2-inl.h"
#include "../common/finish-bounds-inl.h"
#include "qs8-gconv.h"

namespace nnslim {

namespace {

constexpr int kLanes = 8;

// The lane-ordered geometry of (coutg, cg): NR blocks per 16-channel super-block, P pairs.
// coutg 2 or 4: block jb's lanes are output channels 8 jb .. 8 jb + 7 of the super-block, in order.
// coutg 8 (cg 8): each 128-bit half of the load is one group, so the two blocks of a super-block
// (groups g, g + 1) are split by halves: block jb's lanes 0-3 are outputs 4 jb .. 4 jb + 3 of group
// g and lanes 4-7 the same of group g + 1; one vpshufd then serves both blocks (half the shuffles
// of a broadcast per vpmaddwd), and the finish restores channel order (vperm2i128).
template <int COUTG, int CG>
struct Ordered {
  static constexpr int kCoutg = COUTG;
  static constexpr int P = CG / 2;
  static constexpr int NR = 2 * COUTG / CG;
  static constexpr int MR = NR == 4 ? 3 : NR == 2 ? 4 : 6;
  static constexpr bool kHalvesByGroup = COUTG == 8;
  static constexpr int groups_per_half = COUTG == 8 ? 1 : 4 / COUTG;
  // vpshufd selector of block jb, pair p: element e of either half takes the dword of its group.
  static constexpr int imm(int jb, int p) {
    int v = 0;
    for (int e = 0; e < 4; ++e) v |= (kHalvesByGroup ? p : (jb * groups_per_half + e / COUTG) * P + p) << (2 * e);
    return v;
  }
  // Where local channel lc (< 16) of a super-block sits in its 16 patch int16s.
  static constexpr int position(int lc) {
    if (kHalvesByGroup) return lc;
    const int gl = lc / CG, j = lc % CG, o = gl * COUTG;
    const int jb = o / kLanes, h = (o % kLanes) / 4, eg = (o % 4) / COUTG;
    return h * 8 + 2 * ((jb * groups_per_half + eg) * P + j / 2) + j % 2;
  }
};

// What happens to 8 fp32 results (pixel i, channels o.., cn of them valid).
struct StoreF32 {
  float* out;
  size_t ldo;
  void single(int i, int o, int cn, __m256 f) const {
    float* y = out + size_t(i) * ldo + o;
    if (cn == kLanes) return _mm256_storeu_ps(y, f);
    alignas(32) float t[kLanes];
    _mm256_store_ps(t, f);
    std::memcpy(y, t, sizeof(float) * size_t(cn));
  }
};

// The int8 output, as the block finisher (qs8-requant-avx2.cc) computes it; a partial block reads
// its residual through a local copy of its cn values (finish_residual256 reads 8).
struct StoreS8 {
  const DwRequant* q;
  int Cout;
  void single(int i, int o, int cn, __m256 f) const {
    const PostOp& op = *q->post;
    const size_t base = size_t(q->row0 + i) * op.ldr + o;
    if (cn == kLanes) {
      f = finish_residual256(f, op, base);
    } else if (op.has_residual()) {
      alignas(32) float rf[kLanes] = {};
      alignas(16) int8_t rqv[16] = {};
      PostOp local = op;
      if (op.residual) std::memcpy(rf, op.residual + base, sizeof(float) * size_t(cn)), local.residual = rf;
      if (op.residual_q) std::memcpy(rqv, op.residual_q + base, size_t(cn)), local.residual_q = rqv;
      f = finish_residual256(f, local, 0);
    }
    const __m128i v = finish_pack8_s8(finish_requant256(finish_activate256(f, op), *q->rq));
    int8_t* y = q->yq + size_t(i) * Cout + o;
    if (cn == kLanes) return _mm_storel_epi64(reinterpret_cast<__m128i*>(y), v);
    alignas(16) int8_t t[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(t), v);
    std::memcpy(y, t, size_t(cn));
  }
};

// Vectors of a tile past Cout (a padded super-block) are skipped; cn < 8 is the last, partial one.
template <int MR, int NR, class Store>
inline void finish_tile(const __m256i (&acc)[MR][NR], int i0, int o0, int Cout, const float* scale, const float* bias,
                        const Store& store) {
  __m256 f[MR][NR];
  int nv = 0;  // vectors of the tile that hold output channels
  for (int j = 0; j < NR && o0 + j * kLanes < Cout; ++j, ++nv) {
    const int o = o0 + j * kLanes;
    const __m256 s = _mm256_loadu_ps(scale + o);
    const __m256 b = bias ? _mm256_loadu_ps(bias + o) : _mm256_setzero_ps();
    for (int i = 0; i < MR; ++i) f[i][j] = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[i][j]), s), b);
  }
  const bool full = o0 + nv * kLanes <= Cout;
  if (full && nv == NR) return store.template tile<MR, NR>(f, i0, o0);
  for (int j = 0; j < nv; ++j) {
    const int o = o0 + j * kLanes;
    const int cn = Cout - o < kLanes ? Cout - o : kLanes;
    for (int i = 0; i < MR; ++i) store.single(i0 + i, o, cn, f[i][j]);
  }
}

// Stores of a whole tile one vector at a time (Base::single).
template <class Base>
struct PerVector : Base {
  template <int MR, int NR>
  void tile(const __m256 (&f)[MR][NR], int i0, int o0) const {
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) this->single(i0 + i, o0 + j * kLanes, kLanes, f[i][j]);
  }
};

// The int8 output of runs whose every value is finite (DwRequant::columns_bounded and a bounded
// residual), two vectors per saturating pack as the depthwise kernel's StoreS8Finite: 16 channels
// of one pixel where a tile has two blocks, else the same 8 channels of two pixels; IntAct: a ReLU /
// clamp (after the residual add) run on the rounded int16 values (finish_requant256_finite_pair_clamped).
template <bool IntAct>
struct StoreS8Finite : StoreS8 {
  __m256i lo16, hi16;
  __m128i pair(__m256 f0, __m256 f1) const {
    const PostOp& op = *q->post;
    if (IntAct) return finish_requant256_finite_pair_clamped(f0, f1, *q->rq, lo16, hi16);
    return finish_pair_s16_to_s8_256(
        finish_pack_pair_s16_256(finish_activate256(f0, op), finish_activate256(f1, op), *q->rq), *q->rq);
  }
  __m256 residual(__m256 f, int i, int o) const {
    const PostOp& op = *q->post;
    return finish_residual256(f, op, size_t(q->row0 + i) * op.ldr + o);
  }
  template <int MR, int NR>
  void tile(const __m256 (&f)[MR][NR], int i0, int o0) const {
    if constexpr (NR >= 2) {
      for (int i = 0; i < MR; ++i)
        for (int j = 0; j + 1 < NR; j += 2) {
          const int o = o0 + j * kLanes;
          const __m128i v = pair(residual(f[i][j], i0 + i, o), residual(f[i][j + 1], i0 + i, o + kLanes));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(q->yq + size_t(i0 + i) * Cout + o), v);
        }
    } else {
      int i = 0;
      for (; i + 1 < MR; i += 2) {
        const __m128i v = pair(residual(f[i][0], i0 + i, o0), residual(f[i + 1][0], i0 + i + 1, o0));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(q->yq + size_t(i0 + i) * Cout + o0), v);
        _mm_storel_epi64(reinterpret_cast<__m128i*>(q->yq + size_t(i0 + i + 1) * Cout + o0), _mm_unpackhi_epi64(v, v));
      }
      if (i < MR) single(i0 + i, o0, kLanes, f[i][0]);
    }
  }
};

struct Geometry {
  const int16_t* w;       // the first block's packed weights (block b + 1 at w + block_stride)
  size_t block_stride;    // int16 between two blocks' weights: taps * P * 16
  const size_t* tap_off;  // int16 from a window's origin to tap t
  int taps;
};

// ---- broadcast: coutg a multiple of 8 ----

// The accumulators live in a local array, copied out once: accumulating into the caller's array
// (by reference) kept every one in memory, a store per vpmaddwd.
template <int MR, int NR, int PC>
inline void broadcast_tile(const Geometry& g, const int16_t* x, size_t pixel_step, int P_rt, __m256i (&out)[MR][NR]) {
  __m256i acc[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_setzero_si256();
  const int P = PC > 0 ? PC : P_rt;
  const int16_t* wt = g.w;
  const size_t bs = g.block_stride;
  for (int k = 0; k < g.taps; ++k) {
    const int16_t* xk = x + g.tap_off[k];
#pragma GCC unroll 8
    for (int p = 0; p < P; ++p, wt += 16) {
      __m256i w[NR];
      for (int j = 0; j < NR; ++j) w[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wt + j * bs));
      for (int i = 0; i < MR; ++i) {
        int32_t pair;
        std::memcpy(&pair, xk + i * pixel_step + 2 * p, sizeof pair);
        const __m256i a = _mm256_set1_epi32(pair);
        for (int j = 0; j < NR; ++j) acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(a, w[j]));
      }
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) out[i][j] = acc[i][j];
}

template <int MR, int NR, int PC, class Store>
void broadcast_blocks(const PackedGconv& w, const GconvRun& r, Geometry g, int b, const int16_t* x, const float* scale,
                      const float* bias, const Store& store) {
  g.w += size_t(b) * g.block_stride;
  const int P = w.cg / 2;
  int i = 0;
  for (; i + MR <= r.count; i += MR) {
    __m256i acc[MR][NR];
    broadcast_tile<MR, NR, PC>(g, x + size_t(i) * r.pixel_step, r.pixel_step, P, acc);
    finish_tile<MR, NR>(acc, i, b * kLanes, w.Cout, scale, bias, store);
  }
  for (; i < r.count; ++i) {
    __m256i acc[1][NR];
    broadcast_tile<1, NR, PC>(g, x + size_t(i) * r.pixel_step, r.pixel_step, P, acc);
    finish_tile<1, NR>(acc, i, b * kLanes, w.Cout, scale, bias, store);
  }
}

template <int PC, class Store>
void run_broadcast(const PackedGconv& w, const GconvRun& r, const Geometry& g, const float* scale, const float* bias,
                   const Store& store) {
  const int per_group = w.coutg / kLanes;
  for (int grp = r.group0; grp < r.group1; ++grp) {
    const int16_t* x = r.patch + size_t(grp) * w.cg;
    int b = grp * per_group;
    const int end = b + per_group;
    for (; b + 2 <= end; b += 2) broadcast_blocks<4, 2, PC>(w, r, g, b, x, scale, bias, store);
    if (b < end) broadcast_blocks<8, 1, PC>(w, r, g, b, x, scale, bias, store);
  }
}

// ---- lane-ordered: coutg 2 or 4 ----

template <class O, int MR, int K>
inline void ordered_step(const __m256i (&v)[MR], const int16_t* wt, size_t block_stride, __m256i (&acc)[MR][O::NR]) {
  constexpr int jb = K / O::P, p = K % O::P;
  const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wt + jb * block_stride + p * 16));
  for (int i = 0; i < MR; ++i)
    acc[i][jb] = _mm256_add_epi32(acc[i][jb], _mm256_madd_epi16(_mm256_shuffle_epi32(v[i], O::imm(jb, p)), w));
}

template <class O, int MR, size_t... K>
inline void ordered_tap(const __m256i (&v)[MR], const int16_t* wt, size_t block_stride, __m256i (&acc)[MR][O::NR],
                        std::index_sequence<K...>) {
  (ordered_step<O, MR, int(K)>(v, wt, block_stride, acc), ...);
}

template <class O, int MR>
inline void ordered_tile(const Geometry& g, const int16_t* x, size_t pixel_step, __m256i (&out)[MR][O::NR]) {
  __m256i acc[MR][O::NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < O::NR; ++j) acc[i][j] = _mm256_setzero_si256();
  const int16_t* wt = g.w;
  for (int k = 0; k < g.taps; ++k, wt += O::P * 16) {
    __m256i v[MR];
    for (int i = 0; i < MR; ++i)
      v[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i * pixel_step + g.tap_off[k]));
    ordered_tap<O, MR>(v, wt, g.block_stride, acc, std::make_index_sequence<size_t(O::NR * O::P)>());
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < O::NR; ++j) out[i][j] = acc[i][j];
}

// Blocks split by halves (Ordered::kHalvesByGroup) -> blocks of 8 output channels in order.
template <class O, int MR>
inline void in_channel_order(__m256i (&acc)[MR][O::NR]) {
  if constexpr (O::kHalvesByGroup)
    for (int i = 0; i < MR; ++i) {
      const __m256i a = acc[i][0], b = acc[i][1];
      acc[i][0] = _mm256_permute2x128_si256(a, b, 0x20);
      acc[i][1] = _mm256_permute2x128_si256(a, b, 0x31);
    }
}

template <class O, class Store>
void run_ordered(const PackedGconv& w, const GconvRun& r, Geometry g, const float* scale, const float* bias,
                 const Store& store) {
  constexpr int MR = O::MR;
  // Super-blocks [sb0, sb1) hold the run's groups (group0 starts one: Qs8GconvConfig::lane_block).
  constexpr int groups_per_sb = kLanes * O::NR / O::kCoutg;
  const int sb0 = r.group0 / groups_per_sb, sb1 = (r.group1 + groups_per_sb - 1) / groups_per_sb;
  const int16_t* w0 = g.w;
  for (int sb = sb0; sb < sb1; ++sb) {
    const int b = sb * O::NR;
    g.w = w0 + size_t(b) * g.block_stride;
    const int16_t* x = r.patch + size_t(sb) * 16;
    int i = 0;
    for (; i + MR <= r.count; i += MR) {
      __m256i acc[MR][O::NR];
      ordered_tile<O, MR>(g, x + size_t(i) * r.pixel_step, r.pixel_step, acc);
      in_channel_order<O>(acc);
      finish_tile<MR, O::NR>(acc, i, b * kLanes, w.Cout, scale, bias, store);
    }
    for (; i < r.count; ++i) {
      __m256i acc[1][O::NR];
      ordered_tile<O, 1>(g, x + size_t(i) * r.pixel_step, r.pixel_step, acc);
      in_channel_order<O>(acc);
      finish_tile<1, O::NR>(acc, i, b * kLanes, w.Cout, scale, bias, store);
    }
  }
}

template <class Store>
void run(const PackedGconv& w, const GconvRun& r, const float* scale, const float* bias, const Store& store) {
  const int taps = w.KH * w.KW, P = w.cg / 2;
  size_t tap_off_small[64];
  std::vector<size_t> tap_off_big;
  size_t* off = taps <= 64 ? tap_off_small : (tap_off_big.resize(size_t(taps)), tap_off_big.data());
  for (int kh = 0; kh < w.KH; ++kh)
    for (int kw = 0; kw < w.KW; ++kw) off[kh * w.KW + kw] = kh * r.row_stride + kw * r.tap_step;
  const Geometry g{w.data.data(), size_t(taps) * P * 16, off, taps};
  if (w.coutg == 8 && w.cg == 8) return run_ordered<Ordered<8, 8>>(w, r, g, scale, bias, store);
  if (w.coutg % kLanes == 0) {
    switch (P) {
      case 1: return run_broadcast<1>(w, r, g, scale, bias, store);
      case 2: return run_broadcast<2>(w, r, g, scale, bias, store);
      case 4: return run_broadcast<4>(w, r, g, scale, bias, store);
      case 8: return run_broadcast<8>(w, r, g, scale, bias, store);
      default: return run_broadcast<0>(w, r, g, scale, bias, store);
    }
  }
  // qs8_gconv_supported: coutg 2 or 4 with cg <= 2 * coutg.
  if (w.coutg == 4) {
    if (w.cg == 2) return run_ordered<Ordered<4, 2>>(w, r, g, scale, bias, store);
    if (w.cg == 4) return run_ordered<Ordered<4, 4>>(w, r, g, scale, bias, store);
    return run_ordered<Ordered<4, 8>>(w, r, g, scale, bias, store);
  }
  if (w.cg == 2) return run_ordered<Ordered<2, 2>>(w, r, g, scale, bias, store);
  return run_ordered<Ordered<2, 4>>(w, r, g, scale, bias, store);
}

template <class O>
void widen_ordered(const int8_t* src, int pixels, int C, int Cpad, int16_t* dst) {
  constexpr auto pos = [] {
    std::array<int, 16> a{};
    for (int lc = 0; lc < 16; ++lc) a[size_t(lc)] = O::position(lc);
    return a;
  }();
  for (int i = 0; i < pixels; ++i, src += C, dst += Cpad) {
    int c0 = 0;
    for (; c0 + 16 <= C; c0 += 16)
      for (int lc = 0; lc < 16; ++lc) dst[c0 + pos[size_t(lc)]] = src[c0 + lc];
    if (c0 < Cpad) {
      for (int lc = 0; lc < 16; ++lc) dst[c0 + pos[size_t(lc)]] = c0 + lc < C ? src[c0 + lc] : 0;
    }
  }
}

// Whether (coutg, cg) runs the lane-ordered path (a patch in runs of 16 channels) or the broadcast one.
bool lane_ordered(int coutg, int cg) { return coutg % kLanes != 0 || (coutg == 8 && cg == 8); }

}  // namespace

int nnslim_qs8_gconv_patch_channels__avx2(int C, int coutg, int cg) {
  return lane_ordered(coutg, cg) ? (C + 15) / 16 * 16 : C;
}

void nnslim_qs8_gconv_widen__avx2(const PackedGconv& w, const int8_t* src, int pixels, int16_t* dst) {
  const int C = w.groups * w.cg, Cpad = w.patch_c;
  if (w.coutg == 8 && w.cg == 8) return widen_ordered<Ordered<8, 8>>(src, pixels, C, Cpad, dst);
  if (w.coutg % kLanes == 0) {
    for (size_t k = 0, e = size_t(pixels) * C; k < e; ++k) dst[k] = src[k];
    return;
  }
  if (w.coutg == 4) {
    if (w.cg == 2) return widen_ordered<Ordered<4, 2>>(src, pixels, C, Cpad, dst);
    if (w.cg == 4) return widen_ordered<Ordered<4, 4>>(src, pixels, C, Cpad, dst);
    return widen_ordered<Ordered<4, 8>>(src, pixels, C, Cpad, dst);
  }
  if (w.cg == 2) return widen_ordered<Ordered<2, 2>>(src, pixels, C, Cpad, dst);
  widen_ordered<Ordered<2, 4>>(src, pixels, C, Cpad, dst);
}

int nnslim_qs8_gconv_lane_block__avx2(int coutg, int cg) {
  return lane_ordered(coutg, cg) ? kLanes * 2 * coutg / cg : kLanes;
}

int nnslim_qs8_gconv_block_lane_output__avx2(int coutg, int cg, int b, int l) {
  if (coutg == 8 && cg == 8) return (b / 2) * 16 + (l / 4) * 8 + (b % 2) * 4 + l % 4;
  return b * kLanes + l;
}

void nnslim_qs8_gconv_ukernel__avx2(const PackedGconv& w, const GconvRun& r, const float* scale, const float* bias,
                                    float* out, size_t ldo) {
  run(w, r, scale, bias, PerVector<StoreF32>{{out, ldo}});
}

void nnslim_qs8_gconv_ukernel_requant__avx2(const PackedGconv& w, const GconvRun& r, const float* scale,
                                            const float* bias, const DwRequant& q) {
  const PostOp& op = *q.post;
  if (!(q.columns_bounded && finish_residual_bounded(op))) return run(w, r, scale, bias, PerVector<StoreS8>{{&q, w.Cout}});
  int16_t lo, hi;
  if (requant_act_bounds_s16(op.act, op.lo, op.hi, false, *q.rq, &lo, &hi))
    return run(w, r, scale, bias, StoreS8Finite<true>{{&q, w.Cout}, _mm256_set1_epi16(lo), _mm256_set1_epi16(hi)});
  const __m256i zero = _mm256_setzero_si256();
  run(w, r, scale, bias, StoreS8Finite<false>{{&q, w.Cout}, zero, zero});
}

}  // namespace nnslim
