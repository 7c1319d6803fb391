// Runtime CPU feature detection. Compiled with baseline flags only: this file must run everywhere.
#include "nnslim/hw.h"

#include <cpuid.h>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <sys/syscall.h>
#include <unistd.h>

namespace nnslim {

namespace {

void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

unsigned long long xgetbv0() {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

// Linux refuses AMX tile data to a process until it asks (kernel >= 5.16); without the grant the
// first tile instruction faults, so the request is part of deciding whether AMX is usable.
bool request_amx_permission(std::string* note) {
#if defined(__linux__) && defined(SYS_arch_prctl)
  constexpr long kArchGetXcompPerm = 0x1022;
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) {
    *note = "the kernel refused the AMX tile-data permission request (arch_prctl)";
    return false;
  }
  unsigned long long bitmask = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &bitmask) != 0 ||
      !(bitmask & (1ULL << kXfeatureXtiledata))) {
    *note = "AMX tile-data permission not granted";
    return false;
  }
  return true;
#else
  *note = "AMX needs Linux's arch_prctl permission request";
  return false;
#endif
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned r[4];
  cpuid(0, 0, r);
  const unsigned max_leaf = r[0];
  if (max_leaf < 7) return f;
  cpuid(1, 0, r);
  const bool osxsave = r[2] & (1u << 27);
  const bool fma = r[2] & (1u << 12);
  if (!osxsave) return f;
  const unsigned long long xcr0 = xgetbv0();
  const bool ymm_os = (xcr0 & 0x6) == 0x6;
  const bool zmm_os = (xcr0 & 0xE6) == 0xE6;
  const bool tile_os = (xcr0 & (3ULL << 17)) == (3ULL << 17);
  cpuid(7, 0, r);
  const unsigned ebx = r[1], ecx = r[2], edx = r[3];
  const bool avx2 = ebx & (1u << 5);
  const bool avx512f = ebx & (1u << 16), avx512dq = ebx & (1u << 17), avx512bw = ebx & (1u << 30),
             avx512vl = ebx & (1u << 31);
  const bool vnni = ecx & (1u << 11);
  const bool amx_tile = edx & (1u << 24), amx_int8 = edx & (1u << 25);
  f.avx2 = avx2 && fma && ymm_os;
  // DQ too: the AVX-512 files are compiled with -mavx512dq (cmake/isa.cmake) and use it.
  f.avx512vnni = f.avx2 && avx512f && avx512dq && avx512bw && avx512vl && vnni && zmm_os;
  if (amx_tile && amx_int8) {
    if (!f.avx512vnni) {
      f.amx_note = "AMX present but AVX-512 (used by its epilogue) is not";
    } else if (!tile_os) {
      f.amx_note = "the OS does not enable AMX tile state (XCR0)";
    } else {
      f.amx = request_amx_permission(&f.amx_note) && amx_self_test(&f.amx_note);
    }
  } else {
    f.amx_note = "CPU has no AMX-INT8";
  }
  return f;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar: return "scalar";
    case Isa::avx2: return "avx2";
    case Isa::avx512vnni: return "avx512_vnni";
    case Isa::amx: return "amx";
  }
  return "unknown";
}

bool parse_isa(const std::string& s, Isa* out) {
  for (Isa i : {Isa::scalar, Isa::avx2, Isa::avx512vnni, Isa::amx}) {
    if (s == isa_name(i)) { *out = i; return true; }
  }
  if (s == "avx512vnni") { *out = Isa::avx512vnni; return true; }
  return false;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

std::vector<Isa> available_isas() {
  const CpuFeatures& f = cpu_features();
  std::vector<Isa> v{Isa::scalar};
  if (f.avx2) v.push_back(Isa::avx2);
  if (f.avx512vnni) v.push_back(Isa::avx512vnni);
  if (f.amx) v.push_back(Isa::amx);
  return v;
}

void require_isa(Isa isa) {
  for (Isa a : available_isas())
    if (a == isa) return;
  std::string msg = std::string("kernel path '") + isa_name(isa) + "' is not supported on this CPU/OS";
  if (isa == Isa::amx && !cpu_features().amx_note.empty()) msg += " (" + cpu_features().amx_note + ")";
  msg += "; available: ";
  for (Isa a : available_isas()) msg += std::string(isa_name(a)) + " ";
  throw std::runtime_error(msg);
}

Isa selected_isa() {
  const char* env = std::getenv("NNSLIM_ISA");
  if (env && *env) {
    Isa forced;
    if (!parse_isa(env, &forced))
      throw std::runtime_error(std::string("NNSLIM_ISA='") + env +
                               "' is not a kernel path; expected one of scalar, avx2, avx512_vnni, amx");
    require_isa(forced);
    return forced;
  }
  return available_isas().back();
}

}  // namespace nnslim
