// Chooses the fp32 sparse kernels of one ISA together: the dense-dimension tile, the X packing that
// matches it and the three output variants. f32 needs only AVX-512F, so the VNNI and AMX paths use
// the AVX-512 kernels.
#include "../kernels/f32-spmm/f32-spmm.h"

namespace nnslim {

const F32SpmmConfig& f32_spmm_config(Isa isa) {
  static const F32SpmmConfig scalar{Isa::scalar,           "f32-spmm scalar",        16,
                                    nnslim_f32_pack_xt__scalar, nnslim_f32_spmm_cm__scalar,
                                    nnslim_f32_spmm_rm__scalar, nnslim_f32_spconv_grid__scalar,
                                    nnslim_f32_spmm_gather__scalar, 0};
  static const F32SpmmConfig avx2{Isa::avx2,              "f32-spmm avx2",          64,
                                  nnslim_f32_pack_xt__avx2, nnslim_f32_spmm_cm__avx2,
                                  nnslim_f32_spmm_rm__avx2, nnslim_f32_spconv_grid__avx2,
                                  nnslim_f32_spmm_gather__avx2, 1};
  static const F32SpmmConfig avx512{Isa::avx512vnni,         "f32-spmm avx512",        128,
                                    nnslim_f32_pack_xt__avx512, nnslim_f32_spmm_cm__avx512,
                                    nnslim_f32_spmm_rm__avx512, nnslim_f32_spconv_grid__avx512,
                                    nnslim_f32_spmm_gather__avx512, 1};
  switch (isa) {
    case Isa::scalar: return scalar;
    case Isa::avx2: return avx2;
    default: return avx512;
  }
}

}  // namespace nnslim
