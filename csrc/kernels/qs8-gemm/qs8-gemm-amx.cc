// AMX path: tdpbssd multiplies s8 by s8 directly (no compensation). Weights use the same 4-way K
// interleave as VNNI (unflipped), with K padded to 64 so every B tile is 16 rows of 64 bytes; a
// 16-column tile is read from the 32-column panel with a 128-byte row stride.
// Micro-tile: 32 rows x 32 columns = 4 accumulator tiles, 2 A tiles, 2 B tiles.
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "qs8-epilogue-avx512-inl.h"
#include "qs8-gemm.h"

namespace nnslim {

namespace {

constexpr int kNR = 32, kMR = 32, kKB = 64;

struct alignas(64) TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

void load_tile_config() {
  TileConfig cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
}

// Where K block kb of A's tile row 0 starts: a matrix's rows (a + kb * 64) or a direct
// convolution's taps (tap[kb] + off, a row of output pixels read from the padded input).
struct MatrixRows {
  const int8_t* a;
  const int8_t* at(int kb) const { return a + kb * kKB; }
};
struct TapRows {
  const int8_t* const* tap;
  size_t off;
  const int8_t* at(int kb) const { return tap[kb] + off; }
};

// 32 rows (tile rows 16 apart by lda) x 32 columns: writes the int32 tile block to c (stride 32).
template <class Rows>
void ukernel(Rows a, size_t lda, const uint8_t* w, int kblocks, int32_t* c) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int kb = 0; kb < kblocks; ++kb) {
    const int8_t* ak = a.at(kb);  // once: tile intrinsics count as memory accesses, so tap[kb] would be reloaded
    _tile_loadd(4, ak, lda);
    _tile_loadd(5, ak + 16 * lda, lda);
    _tile_loadd(6, w + size_t(kb) * 16 * 4 * kNR, 4 * kNR);
    _tile_loadd(7, w + size_t(kb) * 16 * 4 * kNR + 64, 4 * kNR);
    _tile_dpbssd(0, 4, 6);
    _tile_dpbssd(1, 4, 7);
    _tile_dpbssd(2, 5, 6);
    _tile_dpbssd(3, 5, 7);
  }
  _tile_stored(0, c, 4 * kNR);
  _tile_stored(1, c + 16, 4 * kNR);
  _tile_stored(2, c + 16 * kNR, 4 * kNR);
  _tile_stored(3, c + 16 * kNR + 16, 4 * kNR);
}

// 16 rows or fewer (a decode batch, a short last block): one A tile, two accumulators; half the
// tile work of the 32-row kernel, which matters once the weight stream is not the only cost.
template <class Rows>
void ukernel16(Rows a, size_t lda, const uint8_t* w, int kblocks, int32_t* c) {
  _tile_zero(0);
  _tile_zero(1);
  for (int kb = 0; kb < kblocks; ++kb) {
    _tile_loadd(4, a.at(kb), lda);
    _tile_loadd(6, w + size_t(kb) * 16 * 4 * kNR, 4 * kNR);
    _tile_loadd(7, w + size_t(kb) * 16 * 4 * kNR + 64, 4 * kNR);
    _tile_dpbssd(0, 4, 6);
    _tile_dpbssd(1, 4, 7);
  }
  _tile_stored(0, c, 4 * kNR);
  _tile_stored(1, c + 16, 4 * kNR);
}

}  // namespace

void nnslim_qs8_conv_direct_row__amx(const GemmProblem& p, const DirectConvRow& row, int p0, int p1) {
  const PackedB& B = *p.B;
  const int kblocks = (p.k1 - p.k0) / kKB;
  alignas(64) int32_t c[kMR * kNR];
  load_tile_config();
  for (int vb = row.v0; vb < row.v1; vb += kMR) {
    const int rows = row.v1 - vb < kMR ? row.v1 - vb : kMR;
    const TapRows a{row.tap, size_t(vb) * row.stride};
    for (int panel = p0; panel < p1; ++panel) {
      const uint8_t* w = B.data + size_t(panel) * B.bytes_per_panel;
      if (rows <= 16)
        ukernel16(a, row.stride, w, kblocks, c);
      else
        ukernel(a, row.stride, w, kblocks, c);
      const int n0 = panel * kNR;
      const int nvalid = B.N - n0 < kNR ? B.N - n0 : kNR;
      // The block's output pixels: runs of one output row each, the padding columns between skipped.
      for (int v = vb; v < vb + rows;) {
        const int col = v % row.vwidth;
        if (col >= row.width) {
          v += row.vwidth - col;
          continue;
        }
        const int run = row.width - col < vb + rows - v ? row.width - col : vb + rows - v;
        qs8_store_block32_avx512(p, row.m0 + (v / row.vwidth) * row.width + col, run, n0, nvalid,
                                 c + (v - vb) * kNR);
        v += run;
      }
    }
  }
  _tile_release();
}

void nnslim_qs8_gemm_pack__amx(const int8_t* B, int N, int K, PackedB* out) {
  const int Kp = round_up(K, kKB);
  qs8_alloc_panels(out, N, K, Kp, kNR, size_t(Kp) * kNR);
  qs8_pack_k4_panels(B, N, K, out, 0x00);
}

namespace {
// Rows copied out of A for a block shorter than a tile, with internal linkage. std::vector here would
// instantiate inline code (e.g. vector<int8_t>::_M_fill_assign) that baseline files instantiate too;
// the linker keeps one copy, and if it keeps this AMX-compiled one the scalar path runs AVX-512 code
// (SIGILL on older CPUs). Zeroed when it grows, never after: the rows past the block's own hold
// earlier rows (initialized garbage whose results are computed and never stored).
struct TailRows {
  int8_t* p = nullptr;
  size_t n = 0;
  ~TailRows() { delete[] p; }
  int8_t* get(size_t size) {
    if (size > n) {
      delete[] p;
      p = new int8_t[size];
      n = size;
      std::memset(p, 0, size);
    }
    return p;
  }
};
}  // namespace

void nnslim_qs8_gemm__amx(const GemmProblem& p, int m0, int m1, int p0, int p1) {
  const PackedB& B = *p.B;
  const int klen = p.k1 - p.k0;
  const int kblocks = klen / kKB;
  // Tiles of up to kGroup panels are stored first and run through the epilogue after: reading a
  // tile right after its tilestored stalls on the store (measured ~2x per tile at short K).
  constexpr int kGroup = 8;
  alignas(64) int32_t c[kGroup * kMR * kNR];
  static thread_local TailRows tail;  // a copy of the rows of a block's last partial 16-row tile
  load_tile_config();
  for (int m = m0; m < m1; m += kMR) {
    const int rows = m1 - m < kMR ? m1 - m : kMR;
    // A 32-row block as one 32-row tile pair or, when partial, as up to two 16-row tiles: the full
    // one read in place, only the partial one (< 16 rows) copied. (Zero-padding a partial 32-row
    // block copied up to 32 rows x K: at 7x7 maps, 49 = 32 + 17 rows, that cost ~25% of a
    // 512-channel 3x3 conv.)
    const int8_t* a = p.A + m * p.lda + p.k0;
    const int full16 = rows == kMR ? 0 : rows / 16, rest = rows == kMR ? 0 : rows % 16;
    const int8_t* a_rest = nullptr;
    if (rest) {
      int8_t* t = tail.get(size_t(16) * klen);
      for (int r = 0; r < rest; ++r) std::memcpy(t + size_t(r) * klen, a + (full16 * 16 + r) * p.lda, klen);
      a_rest = t;
    }
    for (int g0 = p0; g0 < p1; g0 += kGroup) {
      const int g1 = p1 - g0 < kGroup ? p1 : g0 + kGroup;
      for (int panel = g0; panel < g1; ++panel) {
        const uint8_t* w = B.data + size_t(panel) * B.bytes_per_panel + size_t(p.k0 / 4) * 4 * kNR;
        int32_t* cp = c + size_t(panel - g0) * kMR * kNR;
        if (rows == kMR) {
          ukernel(MatrixRows{a}, p.lda, w, kblocks, cp);
          continue;
        }
        if (full16) ukernel16(MatrixRows{a}, p.lda, w, kblocks, cp);
        if (rest) ukernel16(MatrixRows{a_rest}, klen, w, kblocks, cp + full16 * 16 * kNR);
      }
      for (int panel = g0; panel < g1; ++panel) {
        const int32_t* cp = c + size_t(panel - g0) * kMR * kNR;
        const int n0 = panel * kNR;
        const int nvalid = B.N - n0 < kNR ? B.N - n0 : kNR;
        qs8_store_block32_avx512(p, m, rows, n0, nvalid, cp);
      }
    }
  }
  _tile_release();
}

}  // namespace nnslim
