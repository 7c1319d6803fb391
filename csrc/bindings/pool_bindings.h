// The int8 NHWC global average pool and squeeze-excite multiply bindings, which the fused
// squeeze-excite binding (qs8_squeeze_excite_bindings.cc) calls as they are.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace nnslim {
namespace py = pybind11;

// int8 NHWC (N, H, W, C) -> fp32 (N, C) channel means, dequantized.
py::array_t<float> gavgpool_nhwc_py(const py::object& x_obj, float scale, int zero_point, const py::object& isa,
                                    int num_threads);

// int8 NHWC x times a per-(image, channel) fp32 gate (N, C), requantized to int8 NHWC.
py::array_t<int8_t> channel_mul_py(const py::object& x_obj, float x_scale, int x_zero_point, const py::object& gate_obj,
                                   float out_scale, int out_zero_point, const py::object& isa, int num_threads);

}  // namespace nnslim
