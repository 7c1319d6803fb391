# Optional CUDA module nnslim._cuda, built from csrc/cuda.
#   NNSLIM_CUDA=AUTO (default): built when CMake finds a CUDA compiler, else skipped with a message.
#   NNSLIM_CUDA=ON:             a missing CUDA compiler is an error.
#   NNSLIM_CUDA=OFF:            never built.
# The module links only the CUDA runtime, statically (never libtorch, never a shared libcudart), so
# one wheel works next to any torch build; tensors cross as data pointers plus torch's stream.

string(TOUPPER "${NNSLIM_CUDA}" _nnslim_cuda_mode)
if(_nnslim_cuda_mode MATCHES "^(ON|TRUE|YES|1)$")
  set(_nnslim_cuda_mode ON)
elseif(_nnslim_cuda_mode MATCHES "^(OFF|FALSE|NO|0)$")
  set(_nnslim_cuda_mode OFF)
elseif(NOT _nnslim_cuda_mode STREQUAL "AUTO")
  message(FATAL_ERROR "NNSLIM_CUDA must be AUTO, ON or OFF, got '${NNSLIM_CUDA}'")
endif()

if(_nnslim_cuda_mode STREQUAL "OFF")
  message(STATUS "nnslim: CUDA module skipped (NNSLIM_CUDA=OFF)")
  return()
endif()

# sm_80 and sm_90 machine code (sm_86/89 run the sm_80 code), plus compute_90 PTX that newer GPUs
# JIT-compile. Each extra architecture adds a full device compile of every kernel, so the list is
# short; override with -DNNSLIM_CUDA_ARCHITECTURES=... (e.g. "75-real;80-real;90-real;90-virtual"
# adds Turing, which runs the dp4a GEMM).
set(NNSLIM_CUDA_ARCHITECTURES "80-real;90-real;90-virtual" CACHE STRING
    "CUDA architectures of nnslim._cuda (CMake CUDA_ARCHITECTURES syntax)")
if(DEFINED CMAKE_CUDA_ARCHITECTURES)
  # An explicit -DCMAKE_CUDA_ARCHITECTURES=... or CUDAARCHS is the caller's choice: honour it.
  set(_nnslim_cuda_archs "${CMAKE_CUDA_ARCHITECTURES}")
elseif(DEFINED ENV{CUDAARCHS})
  set(_nnslim_cuda_archs "$ENV{CUDAARCHS}")
  set(CMAKE_CUDA_ARCHITECTURES "$ENV{CUDAARCHS}")
else()
  set(_nnslim_cuda_archs "${NNSLIM_CUDA_ARCHITECTURES}")
  # enable_language(CUDA) would otherwise probe nvcc's default architecture, which we never use.
  set(CMAKE_CUDA_ARCHITECTURES "${NNSLIM_CUDA_ARCHITECTURES}")
endif()

include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  if(_nnslim_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "NNSLIM_CUDA=ON but no CUDA compiler was found: put nvcc on PATH or set CUDACXX")
  endif()
  message(STATUS "nnslim: no CUDA compiler found; building the CPU package only (NNSLIM_CUDA=AUTO)")
  return()
endif()

enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
message(STATUS "nnslim: building nnslim._cuda with CUDA ${CMAKE_CUDA_COMPILER_VERSION} for ${_nnslim_cuda_archs}")

file(GLOB NNSLIM_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/csrc/cuda/*.cu)
add_library(nnslim_cuda_kernels STATIC ${NNSLIM_CUDA_SOURCES})
set_target_properties(nnslim_cuda_kernels PROPERTIES
  CUDA_ARCHITECTURES "${_nnslim_cuda_archs}"
  CUDA_STANDARD 17
  CUDA_STANDARD_REQUIRED ON
  CUDA_RUNTIME_LIBRARY Static
  CUDA_SEPARABLE_COMPILATION OFF
  POSITION_INDEPENDENT_CODE ON
  CUDA_VISIBILITY_PRESET hidden
  CXX_VISIBILITY_PRESET hidden)
# No fast-math: the quantizer and the dequant epilogue must round exactly like the CPU reference.
target_compile_options(nnslim_cuda_kernels PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-O3>)
option(NNSLIM_CUDA_PTXAS_VERBOSE "Print ptxas register / spill reports for the CUDA kernels" OFF)
if(NNSLIM_CUDA_PTXAS_VERBOSE)
  target_compile_options(nnslim_cuda_kernels PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xptxas=-v>)
endif()

pybind11_add_module(_cuda ${CMAKE_CURRENT_SOURCE_DIR}/csrc/cuda/bindings.cc)
target_link_libraries(_cuda PRIVATE nnslim_cuda_kernels CUDA::cudart_static)
# The static runtime's symbols stay private to the module: torch's own libcudart (another version,
# possibly loaded RTLD_GLOBAL) must not interpose on them, nor ours on its.
target_link_options(_cuda PRIVATE "LINKER:--exclude-libs,ALL")

install(TARGETS _cuda LIBRARY DESTINATION nnslim)
