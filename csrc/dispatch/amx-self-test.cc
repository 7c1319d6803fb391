// AMX is only offered after it reproduces the reference on a small problem with partial row, column
// and K blocks: a guard for a path that cannot be exercised on every build machine.
#include <string>
#include <vector>

#include "../kernels/qs8-gemm/qs8-gemm.h"
#include "nnslim/ref.h"

namespace nnslim {

bool amx_self_test(std::string* note) {
  const int M = 37, N = 45, K = 200;
  std::vector<int8_t> A(M * K), B(N * K);
  uint32_t s = 12345;
  auto next = [&] { s = s * 1664525u + 1013904223u; return int8_t(s >> 24); };
  for (auto& v : A) v = next();
  for (auto& v : B) v = next();
  PackedB packed;
  packed.isa = Isa::amx;
  nnslim_qs8_gemm_pack__amx(B.data(), N, K, &packed);
  std::vector<int8_t> a(size_t(M) * packed.Kp, 0);
  for (int m = 0; m < M; ++m)
    for (int k = 0; k < K; ++k) a[size_t(m) * packed.Kp + k] = A[m * K + k];
  std::vector<int32_t> got(M * N, 0), want(M * N, 0);
  GemmProblem p;
  p.M = M;
  p.k0 = 0;
  p.k1 = packed.Kp;
  p.A = a.data();
  p.lda = packed.Kp;
  p.B = &packed;
  p.epilogue = Epilogue::store_s32;
  p.C32 = got.data();
  p.ldc = N;
  nnslim_qs8_gemm__amx(p, 0, M, 0, packed.num_panels);
  ref::qs8_gemm_s32(A.data(), K, B.data(), K, M, N, K, want.data(), N);
  if (got != want) {
    *note = "AMX kernel self-test disagreed with the reference; AMX disabled";
    return false;
  }
  return true;
}

}  // namespace nnslim
