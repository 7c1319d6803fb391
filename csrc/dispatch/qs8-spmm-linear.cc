// The block-sparse int8 linear layer: block-CSR construction and validation, per-ISA weight packing,
// the VNNI start-up check, and the driver (quantize rows, pack activation tiles, split block rows
// between threads by their nonzero blocks).
#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>

#include "../kernels/qs8-quant/qs8-quant.h"
#include "../kernels/qs8-spmm/qs8-spmm.h"
#include "nnslim/gemm.h"
#include "nnslim/qs8_spmm.h"
#include "nnslim/ref.h"
#include "nnslim/spmm.h"

namespace nnslim {

// Rows up to which the AVX2 few-row kernel beats a padded 16-row tile (measured, Zen 3, 2 threads, 90%
// 4x1 blocks: at 1 row 1.6-3.5x dense int8 where tiles give 1.1-2.3x; at 2 rows mixed; from 4, tiles).
constexpr int kSmallRowsAvx2 = 1;

const Qs8SpmmConfig& qs8_spmm_config(Isa isa) {
  static const Qs8SpmmConfig configs[] = {
      {Isa::scalar, 1, 16, 0, nnslim_qs8_spmm_4x1__scalar, nnslim_qs8_spmm_pack_x__scalar, nullptr, 0},
      {Isa::avx2, 2, 16, 2, nnslim_qs8_spmm_4x1__avx2, nnslim_qs8_spmm_pack_x__avx2,
       nnslim_qs8_spmm_4x1_rows__avx2, kSmallRowsAvx2},
      {Isa::avx512vnni, 4, 64, 1, nnslim_qs8_spmm_4x1__avx512vnni, nnslim_qs8_spmm_pack_x__avx512vnni, nullptr, 0},
  };
  const int i = static_cast<int>(isa);
  if (i < 0 || i > 2) throw std::logic_error("qs8_spmm_config: no block-sparse kernel for this ISA");
  return configs[i];
}

Qs8Bsr4 qs8_bsr4_from_dense(const int8_t* w, int rows, int cols) {
  Qs8Bsr4 out;
  out.rows = rows;
  out.cols = cols;
  const int nbr = out.block_rows();
  out.indptr.assign(size_t(nbr) + 1, 0);
  for (int b = 0; b < nbr; ++b) {
    for (int k = 0; k < cols; ++k) {
      int8_t v[kBlockRows] = {0, 0, 0, 0};
      bool any = false;
      for (int r = 0; r < kBlockRows; ++r) {
        const int n = b * kBlockRows + r;
        if (n < rows) v[r] = w[size_t(n) * cols + k];
        any = any || v[r] != 0;
      }
      if (!any) continue;
      out.indices.push_back(k);
      out.values.insert(out.values.end(), v, v + kBlockRows);
    }
    out.indptr[size_t(b) + 1] = out.nblocks();
  }
  return out;
}

Qs8Bsr4 qs8_bsr4_from_arrays(int rows, int cols, const int64_t* indptr, int64_t indptr_len, const int32_t* indices,
                             int64_t indices_len, const int8_t* values, int64_t values_len) {
  if (rows <= 0 || cols <= 0)
    throw std::invalid_argument("shape: expected rows > 0 and cols > 0, got " + std::to_string(rows) + " x " +
                                std::to_string(cols));
  if (cols > kMaxExactK)
    throw std::invalid_argument("shape: in_features " + std::to_string(cols) + " exceeds " +
                                std::to_string(kMaxExactK) + ", the largest K whose int8 sums always fit in int32");
  Qs8Bsr4 out;
  out.rows = rows;
  out.cols = cols;
  const int nbr = out.block_rows();
  if (indptr_len != int64_t(nbr) + 1)
    throw std::invalid_argument("block_indptr: expected ceil(rows / 4) + 1 = " + std::to_string(nbr + 1) +
                                " entries, got " + std::to_string(indptr_len));
  if (indptr[0] != 0) throw std::invalid_argument("block_indptr: must start at 0, got " + std::to_string(indptr[0]));
  for (int b = 0; b < nbr; ++b)
    if (indptr[b + 1] < indptr[b])
      throw std::invalid_argument("block_indptr: must be non-decreasing (entry " + std::to_string(b + 1) + ")");
  if (indptr[nbr] != indices_len)
    throw std::invalid_argument("block_indices: expected block_indptr[-1] = " + std::to_string(indptr[nbr]) +
                                " entries, got " + std::to_string(indices_len));
  if (values_len != indices_len * kBlockRows)
    throw std::invalid_argument("block_values: expected 4 values per block = " +
                                std::to_string(indices_len * kBlockRows) + ", got " + std::to_string(values_len));
  for (int b = 0; b < nbr; ++b)
    for (int64_t p = indptr[b]; p < indptr[b + 1]; ++p) {
      if (indices[p] < 0 || indices[p] >= cols)
        throw std::invalid_argument("block_indices: block_indices[" + std::to_string(p) + "] = " +
                                    std::to_string(indices[p]) + " is outside [0, " + std::to_string(cols) + ")");
      if (p > indptr[b] && indices[p] <= indices[p - 1])
        throw std::invalid_argument("block_indices: must be strictly increasing within block row " + std::to_string(b));
    }
  for (int r = rows; r < nbr * kBlockRows; ++r)
    for (int64_t p = indptr[nbr - 1]; p < indptr[nbr]; ++p)
      if (values[p * kBlockRows + r % kBlockRows] != 0)
        throw std::invalid_argument("block_values: rows beyond out_features must be 0 (block " + std::to_string(p) + ")");
  out.indptr.assign(indptr, indptr + indptr_len);
  out.indices.assign(indices, indices + indices_len);
  out.values.assign(values, values + values_len);
  return out;
}

namespace {

Qs8Bsr4Packed pack_weights(const Qs8Bsr4& w, const Qs8SpmmConfig& cfg) {
  Qs8Bsr4Packed p;
  p.isa = cfg.isa;
  p.N = w.rows;
  p.K = w.cols;
  p.Kq = round_up(w.cols, 16);
  p.group = cfg.group;
  const int G = cfg.group, nbr = w.block_rows();
  p.gptr.assign(size_t(nbr) + 1, 0);
  p.comp.assign(size_t(nbr) * kBlockRows, 0);
  for (int b = 0; b < nbr; ++b) {
    const int64_t p0 = w.indptr[b], p1 = w.indptr[b + 1];
    const int64_t ngroups = (p1 - p0 + G - 1) / G;
    for (int64_t g = 0; g < ngroups; ++g) {
      int32_t packed[kBlockRows] = {0, 0, 0, 0};
      for (int i = 0; i < G; ++i) {
        // A short last group repeats the block row's last column with zero weights.
        const int64_t q = p0 + g * G + i;
        const bool real = q < p1;
        p.cols.push_back(w.indices[real ? q : p1 - 1]);
        for (int r = 0; r < kBlockRows; ++r) {
          const int8_t v = real ? w.values[q * kBlockRows + r] : 0;
          if (G == 1) packed[r] = v;
          else if (G == 2) packed[r] |= int32_t(uint32_t(uint16_t(int16_t(v))) << (16 * i));
          else packed[r] |= int32_t(uint32_t(uint8_t(v)) << (8 * i));
        }
      }
      p.wts.insert(p.wts.end(), packed, packed + kBlockRows);
    }
    p.gptr[size_t(b) + 1] = p.gptr[size_t(b)] + ngroups;
    if (cfg.isa == Isa::avx512vnni)
      for (int r = 0; r < kBlockRows; ++r) {
        int64_t s = 0;
        for (int64_t q = p0; q < p1; ++q) s += w.values[q * kBlockRows + r];
        p.comp[size_t(b) * kBlockRows + r] = int32_t(uint32_t(uint64_t(s * 128)));  // wraps like the kernel
      }
  }
  return p;
}

struct FreeBytes {
  void operator()(void* p) const { std::free(p); }
};

std::unique_ptr<void, FreeBytes> aligned_bytes(size_t n) {
  void* p = std::aligned_alloc(64, (std::max<size_t>(n, 1) + 63) / 64 * 64);
  if (!p) throw std::bad_alloc();
  return std::unique_ptr<void, FreeBytes>(p);
}

// Runs the VNNI kernel once on a small problem with partial tiles, odd groups and an empty block row.
bool vnni_self_test() {
  const int M = 70, N = 11, K = 37;
  std::vector<int8_t> A(size_t(M) * K), B(size_t(N) * K);
  uint32_t s = 2463534242u;
  auto next = [&] { s ^= s << 13; s ^= s >> 17; s ^= s << 5; return int8_t(s >> 24); };
  for (auto& v : A) v = next();
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k) B[size_t(n) * K + k] = (n / 4 == 1 || (k * 7 + n) % 3) ? 0 : next();
  B[0] = -128;
  A[0] = -128;
  Qs8Bsr4 w = qs8_bsr4_from_dense(B.data(), N, K);
  const Qs8SpmmConfig& cfg = qs8_spmm_config(Isa::avx512vnni);
  Qs8Bsr4Packed packed = pack_weights(w, cfg);
  std::vector<int8_t> q(size_t(M) * packed.Kq, 0);
  for (int m = 0; m < M; ++m) std::copy(&A[size_t(m) * K], &A[size_t(m) * K] + K, &q[size_t(m) * packed.Kq]);
  std::vector<int32_t> got(size_t(M) * N, 0), want(size_t(M) * N, 0);
  std::vector<float> gotf(size_t(M) * N, 0.f), a_scale(size_t(round_up(M, cfg.mb)), 0.f), w_scale(N), bias(N);
  for (int m = 0; m < M; ++m) a_scale[m] = 0.001f * float(m + 1);
  for (int n = 0; n < N; ++n) {
    w_scale[n] = 0.01f + 0.003f * float(n);
    bias[n] = 0.25f * float(n % 5) - 0.5f;
  }
  auto xt = aligned_bytes(size_t(packed.Kq) * cfg.mb);
  for (int m0 = 0; m0 < M; m0 += cfg.mb) {
    const int rows = std::min(cfg.mb, M - m0);
    cfg.pack_x(&q[size_t(m0) * packed.Kq], packed.Kq, rows, packed.Kq, xt.get());
    for (int fp32 = 0; fp32 < 2; ++fp32) {  // both stores: int32, and the fp32 epilogue with ReLU
      Qs8SpmmTile t;
      t.N = N;
      t.gptr = packed.gptr.data();
      t.cols = packed.cols.data();
      t.wts = packed.wts.data();
      t.comp = packed.comp.data();
      t.x = xt.get();
      t.m0 = m0;
      t.mvalid = rows;
      t.ldc = N;
      if (fp32) {
        t.Cf = gotf.data();
        t.a_scale = a_scale.data();
        t.w_scale = w_scale.data();
        t.bias = bias.data();
        t.relu = true;
      } else {
        t.C32 = got.data();
      }
      cfg.kernel(t, 0, w.block_rows());
    }
  }
  ref::qs8_bsr4_spmm_s32(w, A.data(), K, M, want.data(), N);
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n)
      if (gotf[size_t(m) * N + n] !=
          ref::dequant_epilogue(want[size_t(m) * N + n], a_scale[m], w_scale[n], bias[n], true))
        return false;
  return got == want;
}

}  // namespace

Isa qs8_spmm_isa(Isa requested, std::string* note) {
  require_isa(requested);
  Isa isa = requested == Isa::amx ? Isa::avx512vnni : requested;
  if (isa == Isa::avx512vnni) {
    static std::once_flag once;
    static bool ok = false;
    std::call_once(once, [] { ok = vnni_self_test(); });
    if (!ok) {
      if (note) *note = "the AVX-512 VNNI block-sparse kernel disagreed with the reference at start-up; using AVX2";
      return Isa::avx2;
    }
  }
  if (note && isa != requested) *note = "AMX runs the AVX-512 VNNI block-sparse kernel (4x1 blocks map onto no tile)";
  return isa;
}

Qs8SparseLinear::Qs8SparseLinear(Qs8Bsr4 w, Isa isa) : w_(std::move(w)) {
  if (w_.cols > kMaxExactK)
    throw std::invalid_argument("shape: in_features " + std::to_string(w_.cols) + " exceeds " +
                                std::to_string(kMaxExactK));
  packed_ = pack_weights(w_, qs8_spmm_config(qs8_spmm_isa(isa, nullptr)));
}

namespace {

// Dense quantizer of the same ISA family (identical results on every path).
const Qs8GemmConfig& quant_config(Isa spmm_isa) { return qs8_gemm_config(spmm_isa); }

// Small problems are not worth waking threads for (as in the dense GEMM).
constexpr int64_t kMinParallelWork = int64_t(1) << 21;

}  // namespace

void Qs8SparseLinear::forward_f32(const float* x, size_t ldx, int M, float static_scale, int32_t zero_point,
                                  const float* w_scale, const float* bias, bool relu, float* y, size_t ldy,
                                  int num_threads) const {
  if (M <= 0) return;
  const int K = packed_.K, Kq = packed_.Kq;
  const int mb = qs8_spmm_config(packed_.isa).mb;
  const Qs8GemmConfig& qc = quant_config(packed_.isa);
  std::vector<int8_t> q_big;
  std::vector<float> s_big;
  int8_t* q = thread_scratch<int8_t, 4>(size_t(M) * Kq, &q_big);
  const size_t Mp = size_t(round_up(M, mb));
  float* a_scale = thread_scratch<float, 4>(Mp, &s_big);
  std::fill(a_scale + M, a_scale + Mp, 0.f);  // tiles read whole rows of scales
  num_threads = clamp_threads(num_threads);
  const int qthreads = int64_t(M) * K >= (1 << 16) ? num_threads : 1;
  const int qtasks = std::min(M, qthreads * 4);
  const float inv = static_scale > 0.f ? 1.f / static_scale : 0.f;
  parallel_for(qtasks, qthreads, [&](int t) {
    const int m0 = int(int64_t(M) * t / qtasks), m1 = int(int64_t(M) * (t + 1) / qtasks);
    if (static_scale > 0.f)
      qc.quantize_rows_static(x, ldx, m0, m1, K, Kq, static_scale, inv, zero_point, q, Kq, a_scale);
    else
      qc.quantize_rows(x, ldx, m0, m1, K, Kq, q, Kq, a_scale);
  });
  run(q, Kq, M, a_scale, w_scale, bias, relu, y, nullptr, ldy, num_threads);
}

void Qs8SparseLinear::forward_s32(const int8_t* A, size_t lda, int M, int32_t* C, size_t ldc, int num_threads) const {
  if (M <= 0) return;
  const int K = packed_.K, Kq = packed_.Kq;
  std::vector<int8_t> q(size_t(M) * Kq, 0);
  for (int m = 0; m < M; ++m) std::copy(A + size_t(m) * lda, A + size_t(m) * lda + K, q.begin() + size_t(m) * Kq);
  run(q.data(), Kq, M, nullptr, nullptr, nullptr, false, nullptr, C, ldc, num_threads);
}

void Qs8SparseLinear::run(const int8_t* q, size_t ldq, int M, const float* a_scale, const float* w_scale,
                          const float* bias, bool relu, float* y, int32_t* c32, size_t ldc, int num_threads) const {
  const Qs8SpmmConfig& base_cfg = qs8_spmm_config(packed_.isa);
  Qs8SpmmConfig cfg = base_cfg;
  const bool few = row_kernel_ == RowKernel::automatic && M <= cfg.rows_max;
  if (cfg.rows_kernel && (few || row_kernel_ == RowKernel::always)) {  // few rows: no packing, no padded tile
    cfg.kernel = cfg.rows_kernel;
    cfg.x_elem_bytes = 0;
  }
  const int mb = cfg.mb, Kq = packed_.Kq, nbr = w_.block_rows();
  const int ntiles = (M + mb - 1) / mb;
  const int64_t work = int64_t(M) * (w_.nblocks() + 2 * nbr) * kBlockRows;
  const int threads = work < kMinParallelWork ? 1 : clamp_threads(num_threads);
  const size_t tile_bytes = size_t(Kq) * mb * cfg.x_elem_bytes;
  // Reused per-thread scratch (fresh buffers per call cost page faults), aligned for the kernels' loads.
  std::vector<char> xt_big;
  char* base = nullptr;
  if (cfg.x_elem_bytes) {
    char* raw = thread_scratch<char, 5>(tile_bytes * ntiles + 64, &xt_big);
    base = raw + (64 - reinterpret_cast<uintptr_t>(raw) % 64) % 64;
    const int pack_tasks = std::min(ntiles, 4 * threads);
    parallel_for(pack_tasks, std::min(threads, ntiles), [&](int c) {
      for (int i = int(int64_t(ntiles) * c / pack_tasks), ie = int(int64_t(ntiles) * (c + 1) / pack_tasks); i < ie; ++i)
        cfg.pack_x(q + size_t(i) * mb * ldq, ldq, std::min(mb, M - i * mb), Kq, base + tile_bytes * i);
    });
  }
  // Tasks are (block-row range) x (tile range). Block rows are split by nonzero blocks into ranges
  // whose packed weights stay in L2 while a task sweeps its tiles (a 2 MB weight re-streamed for
  // every tile halved the speed of 768x3072 layers at 512 rows), and further when there are too few
  // tiles to share between threads. Tiles go in ranges (one task per small tile cost more in
  // scheduling than in work: K = 64 layers ran at 5 GMAC/s).
  constexpr int64_t kWeightChunkBytes = 192 << 10;
  const int64_t weight_bytes = int64_t(packed_.wts.size() + packed_.cols.size()) * 4;
  int parts = int(std::min<int64_t>(nbr, (weight_bytes + kWeightChunkBytes - 1) / kWeightChunkBytes));
  if (threads > 1 && ntiles < 2 * threads) parts = std::max(parts, std::min(2 * threads, nbr));
  parts = std::max(1, parts);
  const int tile_tasks = threads == 1 ? 1 : std::min(ntiles, 4 * threads);
  const std::vector<int> bounds = partition_rows_by_nnz(packed_.gptr, parts, 1);
  parallel_for(tile_tasks * parts, threads, [&](int task) {
    const int part = task / tile_tasks, chunk = task % tile_tasks;  // neighbouring tasks share weights
    if (bounds[part] >= bounds[part + 1]) return;
    for (int i = int(int64_t(ntiles) * chunk / tile_tasks), ie = int(int64_t(ntiles) * (chunk + 1) / tile_tasks);
         i < ie; ++i) {
      Qs8SpmmTile t;
      t.N = packed_.N;
      t.gptr = packed_.gptr.data();
      t.cols = packed_.cols.data();
      t.wts = packed_.wts.data();
      t.comp = packed_.comp.data();
      t.m0 = i * mb;
      t.mvalid = std::min(mb, M - t.m0);
      if (cfg.x_elem_bytes) {
        t.x = base + tile_bytes * i;
      } else {
        t.x = q + size_t(t.m0) * ldq;
        t.ldx = ldq;
      }
      t.a_scale = a_scale;
      t.w_scale = w_scale;
      t.bias = bias;
      t.relu = relu;
      t.Cf = y;
      t.C32 = c32;
      t.ldc = ldc;
      cfg.kernel(t, bounds[part], bounds[part + 1]);
    }
  });
}

}  // namespace nnslim
