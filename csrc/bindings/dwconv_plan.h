// A static int8 depthwise conv call with everything but its input, residual and thread count bound
// (Qs8DwConv2dPlan), shared by the depthwise binding and the conv chain binding.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

namespace nnslim {
namespace py = pybind11;

struct DwConvParams {
  py::object weights;  // PackedQs8DwWeights
  py::tuple stride, padding, dilation;
  float in_scale = 1.f;
  int zero_point = 0;
  py::object scale, bias;
  std::string activation;
  float act_lo = 0.f, act_hi = 0.f, residual_scale = 1.f;
  int residual_zero_point = 0;
  py::object output_scale;
  int output_zero_point = 0;
};

// qs8_dwconv2d_static with P's arguments (every one checked there, on each call).
py::array dw_conv_run(const DwConvParams& P, const py::object& x_obj, const py::object& residual, int num_threads);

}  // namespace nnslim
