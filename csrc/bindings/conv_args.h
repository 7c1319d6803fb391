// Argument parsing shared by the int8 convolution bindings: the shape (all arithmetic in int64, so
// sizes near 2^31 are rejected instead of wrapping) and the optional fused residual / activation.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>
#include <vector>

#include "aligned_array.h"
#include "checks.h"
#include "nnslim/conv_io.h"
#include "nnslim/gemm.h"
#include "nnslim/postop.h"

namespace nnslim {
namespace py = pybind11;

// Fills everything but Cout / OH / OW from x (NHWC) and the conv parameters.
inline Conv2dShape conv_shape_args(const py::array& x, const py::tuple& kernel, const py::tuple& stride,
                                   const py::tuple& padding, const py::tuple& dilation, int groups) {
  for (int i = 0; i < 4; ++i) check_int_range(x.shape(i), "x");
  Conv2dShape s{};
  s.N = int(x.shape(0));
  s.H = int(x.shape(1));
  s.W = int(x.shape(2));
  s.C = int(x.shape(3));
  s.KH = kernel[0].cast<int>();
  s.KW = kernel[1].cast<int>();
  s.stride_h = stride[0].cast<int>();
  s.stride_w = stride[1].cast<int>();
  s.pad_h = padding[0].cast<int>();
  s.pad_w = padding[1].cast<int>();
  s.dil_h = dilation[0].cast<int>();
  s.dil_w = dilation[1].cast<int>();
  s.groups = groups;
  if (s.KH < 1 || s.KW < 1 || s.stride_h < 1 || s.stride_w < 1 || s.dil_h < 1 || s.dil_w < 1 || s.pad_h < 0 ||
      s.pad_w < 0)
    throw py::value_error("kernel/stride/dilation must be >= 1 and padding >= 0");
  return s;
}

// Sets OH / OW; throws when the dilated kernel does not fit the padded input.
inline void conv_output_size(const py::array& x, Conv2dShape* s) {
  constexpr int64_t kIntMax = 0x7fffffff;
  const int64_t eh = int64_t(s->dil_h) * (s->KH - 1) + 1, ew = int64_t(s->dil_w) * (s->KW - 1) + 1;
  const int64_t hp = s->H + 2 * int64_t(s->pad_h), wp = s->W + 2 * int64_t(s->pad_w);
  if (hp > kIntMax || wp > kIntMax || eh > kIntMax || ew > kIntMax)
    throw py::value_error("padding/dilation: padded input or dilated kernel exceeds 2^31 - 1");
  if (hp < eh || wp < ew)
    throw py::value_error("x: input " + shape_str(x) + " is smaller than the dilated kernel");
  s->OH = int((hp - eh) / s->stride_h + 1);
  s->OW = int((wp - ew) / s->stride_w + 1);
}

// The fused residual (None, or an NHWC float32 / int8 array of the output's shape; int8 reads as
// (q - residual_zero_point) * residual_scale) and activation ("none", "relu", "clamp" with lo <= hi,
// "hardswish", "hardsigmoid"). `keep` holds the residual array.
inline PostOp postop_args(const py::object& residual, const std::string& act, float lo, float hi,
                          const Conv2dShape& s, int cout, py::array* keep, float res_scale = 1.f,
                          int res_zero_point = 0) {
  PostOp op;
  if (act == "none") op.act = Activation::none;
  else if (act == "relu") op.act = Activation::relu;
  else if (act == "clamp") op.act = Activation::clamp;
  else if (act == "hardswish") op.act = Activation::hardswish;
  else if (act == "hardsigmoid") op.act = Activation::hardsigmoid;
  else throw py::value_error("activation: expected 'none', 'relu', 'clamp', 'hardswish' or 'hardsigmoid', got '" +
                             act + "'");
  if (op.act == Activation::clamp && !(lo <= hi))
    throw py::value_error("activation 'clamp': expected lo <= hi, got " + std::to_string(lo) + ", " + std::to_string(hi));
  op.lo = lo;
  op.hi = hi;
  if (!residual.is_none()) {
    const bool q = py::isinstance<py::array>(residual) &&
                   py::reinterpret_borrow<py::array>(residual).dtype().is(py::dtype::of<int8_t>());
    if (q) {
      if (!(res_scale > 0.f) || !std::isfinite(res_scale))
        throw py::value_error("residual_scale: expected a finite positive float for an int8 residual, got " +
                              std::to_string(res_scale));
      if (res_zero_point < -128 || res_zero_point > 127)
        throw py::value_error("residual_zero_point: expected an int in [-128, 127], got " +
                              std::to_string(res_zero_point));
      *keep = checked<int8_t>(residual, "residual", 4);
    } else {
      *keep = checked<float>(residual, "residual", 4);
    }
    const py::ssize_t want[4] = {s.N, s.OH, s.OW, cout};
    for (int i = 0; i < 4; ++i)
      if (keep->shape(i) != want[i])
        throw py::value_error("residual: expected the output's NHWC shape (" + std::to_string(s.N) + ", " +
                              std::to_string(s.OH) + ", " + std::to_string(s.OW) + ", " + std::to_string(cout) +
                              "), got " + shape_str(*keep));
    if (q) {
      op.residual_q = static_cast<const int8_t*>(keep->data());
      op.res_scale = res_scale;
      op.res_zero_point = res_zero_point;
    } else {
      op.residual = static_cast<const float*>(keep->data());
    }
    op.ldr = size_t(cout);
  }
  return op;
}

// x: NHWC float32 (quantized on entry) or int8 (already in the input quantization).
inline py::array conv_input_arg(const py::object& x_obj, ConvIO* io) {
  if (py::isinstance<py::array>(x_obj) && py::reinterpret_borrow<py::array>(x_obj).dtype().is(py::dtype::of<int8_t>())) {
    auto x = checked<int8_t>(x_obj, "x", 4);
    io->Xq = x.data();
    return std::move(x);
  }
  auto x = checked<float>(x_obj, "x", 4);
  io->X = x.data();
  return std::move(x);
}

// The output: float32 NHWC, or int8 NHWC when output_scale is given (with output_zero_point).
inline py::array conv_output_arg(const Conv2dShape& s, int cout, const py::object& out_scale, int out_zero_point,
                                 ConvIO* io) {
  const std::vector<py::ssize_t> shape{s.N, s.OH, s.OW, cout};
  if (out_scale.is_none()) {
    py::array_t<float> y = aligned_array<float>(shape);
    io->Y = y.mutable_data();
    return std::move(y);
  }
  const float scale = out_scale.cast<float>();
  if (!(scale > 0.f) || !std::isfinite(scale) || !std::isfinite(1.f / scale))
    throw py::value_error("output_scale: expected a finite positive float with a finite inverse, got " +
                          std::to_string(scale));
  if (out_zero_point < -128 || out_zero_point > 127)
    throw py::value_error("output_zero_point: expected an int in [-128, 127], got " + std::to_string(out_zero_point));
  py::array_t<int8_t> y = aligned_array<int8_t>(shape);
  io->Yq = y.mutable_data();
  io->out_scale = scale;
  io->out_zero_point = out_zero_point;
  return std::move(y);
}

}  // namespace nnslim
