// Portable reference of the Winograd F(2x2, 3x3) kernels (qs8-winograd.h): the same integer
// transforms, one value at a time. Sums are unsigned so that wrapping is defined; the result is exact.
#include <cstring>

#include "../qs8-gemm/qs8-gemm.h"
#include "qs8-winograd.h"

namespace nnslim {

void nnslim_qs8_winograd_input_tile__scalar(const int8_t* const* d, int C, int Cp, int16_t* v, size_t pos_stride) {
  for (int c = 0; c < Cp; ++c) {
    int x[4][4];
    for (int i = 0; i < 16; ++i) x[i / 4][i % 4] = c < C ? d[i][c] : 0;
    int r[4][4];  // B^T x: the rows
    for (int j = 0; j < 4; ++j) {
      r[0][j] = x[0][j] - x[2][j];
      r[1][j] = x[1][j] + x[2][j];
      r[2][j] = x[2][j] - x[1][j];
      r[3][j] = x[1][j] - x[3][j];
    }
    for (int i = 0; i < 4; ++i) {  // (B^T x) B: the columns
      v[(4 * i + 0) * pos_stride + c] = int16_t(r[i][0] - r[i][2]);
      v[(4 * i + 1) * pos_stride + c] = int16_t(r[i][1] + r[i][2]);
      v[(4 * i + 2) * pos_stride + c] = int16_t(r[i][2] - r[i][1]);
      v[(4 * i + 3) * pos_stride + c] = int16_t(r[i][1] - r[i][3]);
    }
  }
}

void nnslim_qs8_winograd_tile_block__scalar(const int16_t* v, size_t v_pos_stride, size_t ldv, int rows,
                                            const int16_t* u, size_t u_pos_stride, int kpairs, int32_t* out) {
  for (int r = 0; r < rows; ++r)
    for (int n = 0; n < kWinogradNR; ++n) {
      uint32_t m[4][4];
      for (int i = 0; i < 16; ++i) {
        const int16_t* a = v + i * v_pos_stride + r * ldv;
        const int16_t* w = u + i * u_pos_stride;
        uint32_t acc = 0;
        for (int k = 0; k < 2 * kpairs; ++k)
          acc += uint32_t(int32_t(a[k]) * int32_t(w[(k / 2) * 2 * kWinogradNR + n * 2 + k % 2]));
        m[i / 4][i % 4] = acc;
      }
      uint32_t s[2][4];  // A^T m
      for (int j = 0; j < 4; ++j) {
        s[0][j] = m[0][j] + m[1][j] + m[2][j];
        s[1][j] = m[1][j] - m[2][j] - m[3][j];
      }
      for (int a = 0; a < 2; ++a) {  // (A^T m) A, then / 4 (exact: 4 * the accumulator)
        out[(r * 4 + 2 * a + 0) * kWinogradNR + n] = int32_t(s[a][0] + s[a][1] + s[a][2]) >> 2;
        out[(r * 4 + 2 * a + 1) * kWinogradNR + n] = int32_t(s[a][1] - s[a][2] - s[a][3]) >> 2;
      }
    }
}

void nnslim_qs8_store_acc__scalar(const GemmProblem& p, int m0, int rows, int n0, int nvalid, const int32_t* c) {
  for (int r = 0; r < rows; ++r) qs8_store_row_scalar(p, m0 + r, n0, nvalid, c + size_t(r) * kWinogradNR);
}

}  // namespace nnslim
