// A static int8 conv call with everything but its input, residual and thread count bound
// (Qs8Conv2dPlan), shared by the conv binding and the fused squeeze-excite one.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "nnslim/gemm.h"
#include "nnslim/winograd.h"

namespace nnslim {
namespace py = pybind11;

// Everything of a static int8 conv call but its input, residual and thread count, checked once:
// Int8Conv2d binds one (Qs8Conv2dPlan) per layer, since parsing ~20 arguments on every call of an
// int8 graph's ~50 nodes cost microseconds each at batch 1.
struct ConvParams {
  py::tuple kernel, stride, padding, dilation;
  int groups = 1;
  float in_scale = 1.f;
  int zero_point = 0;
  std::vector<py::object> keep_alive;  // the packed weights: the kernel runs without the GIL
  std::vector<const PackedB*> packed;
  int coutg = 0, cout = 0;
  py::array_t<float> scale, bias;
  const float* biasp = nullptr;
  bool relu = false;
  std::string activation;
  float act_lo = 0.f, act_hi = 0.f, residual_scale = 1.f;
  int residual_zero_point = 0;
  py::object output_scale;
  int output_zero_point = 0;
  WinogradMode winograd = WinogradMode::automatic;  // stride-1 3x3 convs (nnslim/winograd.h)
};

// Runs the conv on x (NHWC float32 or int8) with an optional residual: the output array, float32
// NHWC or (output_scale bound) int8 NHWC. Checks x and the residual against the plan.
py::array conv_run(const ConvParams& P, const py::object& x_obj, const py::object& residual, int num_threads);

}  // namespace nnslim
