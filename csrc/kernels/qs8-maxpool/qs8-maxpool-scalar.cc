// Portable int8 max over a window's pixel rows: the definition the AVX2 kernel reproduces.
#include "qs8-maxpool.h"

namespace nnslim {

void nnslim_qs8_maxpool_pixel__scalar(const int8_t* const* rows, int count, int C, int8_t* out) {
  for (int c = 0; c < C; ++c) {
    int8_t m = rows[0][c];
    for (int i = 1; i < count; ++i) m = rows[i][c] > m ? rows[i][c] : m;
    out[c] = m;
  }
}

}  // namespace nnslim
