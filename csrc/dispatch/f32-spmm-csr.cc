// Building and checking CSR weights, and splitting their rows into equal-work ranges.
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "nnslim/spmm.h"

namespace nnslim {

namespace {

constexpr int64_t kMaxNnz = std::numeric_limits<int32_t>::max();

[[noreturn]] void bad(const std::string& what) { throw std::invalid_argument(what); }

}  // namespace

Csr csr_from_dense(const float* w, int rows, int cols, size_t ldw) {
  if (rows < 0 || cols < 0) bad("weight: dimensions must be non-negative");
  Csr c;
  c.rows = rows;
  c.cols = cols;
  c.indptr.assign(size_t(rows) + 1, 0);
  int64_t nnz = 0;
  for (int n = 0; n < rows; ++n) {
    for (int k = 0; k < cols; ++k) nnz += w[n * ldw + k] != 0.f;  // NaN != 0: kept
    c.indptr[n + 1] = nnz;
  }
  if (nnz > kMaxNnz) bad("weight: more than 2^31 - 1 nonzeros");
  c.indices.resize(size_t(nnz));
  c.values.resize(size_t(nnz));
  int64_t p = 0;
  for (int n = 0; n < rows; ++n)
    for (int k = 0; k < cols; ++k) {
      const float v = w[n * ldw + k];
      if (v != 0.f) {
        c.indices[p] = k;
        c.values[p] = v;
        ++p;
      }
    }
  return c;
}

Csr csr_from_arrays(int rows, int cols, const int64_t* indptr, int64_t indptr_len, const int32_t* indices,
                    int64_t indices_len, const float* values, int64_t values_len) {
  if (rows < 0 || cols < 0) bad("shape: dimensions must be non-negative");
  if (indptr_len != int64_t(rows) + 1)
    bad("indptr: expected rows + 1 = " + std::to_string(int64_t(rows) + 1) + " entries, got " +
        std::to_string(indptr_len));
  if (indptr[0] != 0) bad("indptr: indptr[0] must be 0, got " + std::to_string(indptr[0]));
  for (int n = 0; n < rows; ++n)
    if (indptr[n + 1] < indptr[n])
      bad("indptr: must be non-decreasing, but indptr[" + std::to_string(n) + "] = " + std::to_string(indptr[n]) +
          " > indptr[" + std::to_string(n + 1) + "] = " + std::to_string(indptr[n + 1]));
  const int64_t nnz = indptr[rows];
  if (nnz != indices_len)
    bad("indices: expected indptr[-1] = " + std::to_string(nnz) + " entries, got " + std::to_string(indices_len));
  if (values_len != indices_len)
    bad("values: expected as many entries as indices (" + std::to_string(indices_len) + "), got " +
        std::to_string(values_len));
  if (nnz > kMaxNnz) bad("indices: more than 2^31 - 1 nonzeros");
  for (int n = 0; n < rows; ++n)
    for (int64_t p = indptr[n]; p < indptr[n + 1]; ++p) {
      const int32_t k = indices[p];
      if (k < 0 || k >= cols)
        bad("indices: indices[" + std::to_string(p) + "] = " + std::to_string(k) + " (row " + std::to_string(n) +
            ") is outside [0, " + std::to_string(cols) + ")");
      if (p > indptr[n] && k <= indices[p - 1])
        bad("indices: column indices must be strictly increasing within a row, but row " + std::to_string(n) +
            " has " + std::to_string(indices[p - 1]) + " then " + std::to_string(k));
    }
  Csr c;
  c.rows = rows;
  c.cols = cols;
  c.indptr.assign(indptr, indptr + indptr_len);
  c.indices.assign(indices, indices + indices_len);
  c.values.assign(values, values + values_len);
  return c;
}

std::vector<int> partition_rows_by_nnz(const std::vector<int64_t>& indptr, int parts, int align) {
  // A row also costs its bias, its store and (row-major) its share of a transpose: about as much as
  // a few nonzeros, which matters for nearly empty rows.
  constexpr int64_t kRowCost = 4;
  const int rows = int(indptr.size()) - 1;
  parts = std::max(1, parts);
  align = std::max(1, align);
  auto cost = [&](int n) { return indptr[n] + kRowCost * n; };
  const int64_t total = cost(rows);
  std::vector<int> b(size_t(parts) + 1, rows);
  b[0] = 0;
  for (int t = 1; t < parts; ++t) {
    // 128-bit product: indptr arrays validated only as non-decreasing can hold totals near 2^63.
    const int64_t target = int64_t(static_cast<__int128>(total) * t / parts);
    int lo = b[t - 1], hi = rows;  // first row whose prefix cost reaches the target
    while (lo < hi) {
      const int mid = lo + (hi - lo) / 2;
      if (cost(mid) < target) lo = mid + 1; else hi = mid;
    }
    int n = (lo + align / 2) / align * align;
    b[t] = std::min(rows, std::max(b[t - 1], n));
  }
  return b;
}

}  // namespace nnslim
