// CPU feature detection and the instruction-set paths nnslim can run.
#pragma once
#include <string>
#include <vector>

namespace nnslim {

// Ordered from least to most capable: a forced ISA may only go down this list.
enum class Isa : int { scalar = 0, avx2 = 1, avx512vnni = 2, amx = 3 };

const char* isa_name(Isa isa);                 // "scalar", "avx2", "avx512_vnni", "amx"
bool parse_isa(const std::string& s, Isa* out);

struct CpuFeatures {
  bool avx2 = false;        // AVX2 + FMA, with OS support for YMM state
  bool avx512vnni = false;  // AVX-512 F/BW/VL/VNNI, with OS support for ZMM/opmask state
  bool amx = false;         // AMX-TILE + AMX-INT8, OS support for tile state, and permission granted
  std::string amx_note;     // why AMX is not offered, when the CPU has it
};

// Runs the AMX GEMM on a small problem against the reference (dispatch/amx-self-test.cc).
bool amx_self_test(std::string* note);

// Detected once per process (cpuid, xgetbv, and the Linux arch_prctl AMX permission request).
const CpuFeatures& cpu_features();

// Paths this machine can run, scalar first.
std::vector<Isa> available_isas();

// The path the kernels use by default: the best available, or NNSLIM_ISA if set.
// Throws std::runtime_error when NNSLIM_ISA names an unknown path or one this CPU/OS lacks.
Isa selected_isa();

// Throws std::runtime_error naming `isa` when this machine cannot run it.
void require_isa(Isa isa);

}  // namespace nnslim
