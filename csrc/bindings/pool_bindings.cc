// Python bindings of the fp32 NCHW max pool (and its reference), the int8 NHWC max and average pools
// and the int8 NHWC global average pool.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>

#include "aligned_array.h"
#include "checks.h"
#include "pool_bindings.h"
#include "nnslim/avgpool.h"
#include "nnslim/channel_mul.h"
#include "nnslim/gavgpool.h"
#include "nnslim/maxpool.h"

namespace nnslim {
namespace py = pybind11;

namespace {

// NCHW (h_dim = 2) or NHWC (h_dim = 1) input.
Pool2dShape shape_arg(const py::array& x, std::pair<int, int> k, std::pair<int, int> s, std::pair<int, int> p,
                      std::pair<int, int> d, bool ceil_mode, int h_dim = 2) {
  for (int i = 0; i < 4; ++i) check_int_range(x.shape(i), "x");
  const int64_t planes = int64_t(x.shape(0)) * x.shape(h_dim == 2 ? 1 : 3);
  if (planes > 0x7fffffff) throw py::value_error("x: batch * channels exceeds 2^31 - 1");
  Pool2dShape sh;
  sh.planes = int(planes);
  sh.H = int(x.shape(h_dim));
  sh.W = int(x.shape(h_dim + 1));
  sh.kh = k.first, sh.kw = k.second, sh.sh = s.first, sh.sw = s.second;
  sh.ph = p.first, sh.pw = p.second, sh.dh = d.first, sh.dw = d.second;
  sh.ceil_mode = ceil_mode;
  try {
    sh.resolve();
  } catch (const std::invalid_argument& e) {
    throw py::value_error(e.what());
  }
  return sh;
}

py::array_t<float> maxpool_py(const py::object& x_obj, std::pair<int, int> k, std::pair<int, int> s,
                              std::pair<int, int> p, std::pair<int, int> d, bool ceil_mode, const py::object& isa,
                              int num_threads, bool reference) {
  auto x = checked<float>(x_obj, "x", 4);
  const Pool2dShape sh = shape_arg(x, k, s, p, d, ceil_mode);
  const Isa target = isa_arg(isa);
  checked_threads(num_threads);
  py::array_t<float> y({x.shape(0), x.shape(1), py::ssize_t(sh.OH), py::ssize_t(sh.OW)});
  const float* xp = x.data();
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    if (reference)
      ref::f32_maxpool2d(sh, xp, yp);
    else
      f32_maxpool2d(sh, xp, yp, target, num_threads);
  }
  return y;
}

py::array_t<int8_t> maxpool_nhwc_py(const py::object& x_obj, std::pair<int, int> k, std::pair<int, int> s,
                                    std::pair<int, int> p, std::pair<int, int> d, bool ceil_mode,
                                    const py::object& isa, int num_threads) {
  auto x = checked<int8_t>(x_obj, "x", 4);
  const Pool2dShape sh = shape_arg(x, k, s, p, d, ceil_mode, 1);
  const Isa target = isa_arg(isa);
  checked_threads(num_threads);
  const int N = int(x.shape(0)), C = int(x.shape(3));
  py::array_t<int8_t> y = aligned_array<int8_t>({x.shape(0), py::ssize_t(sh.OH), py::ssize_t(sh.OW), x.shape(3)});
  const int8_t* xp = x.data();
  int8_t* yp = y.mutable_data();
  if (N > 0 && C > 0) {
    py::gil_scoped_release nogil;
    qs8_maxpool2d_nhwc(sh, N, C, xp, yp, target, num_threads);
  }
  return y;
}

py::array_t<int8_t> avgpool_nhwc_py(const py::object& x_obj, std::pair<int, int> k, std::pair<int, int> s,
                                    std::pair<int, int> p, bool ceil_mode, bool count_include_pad,
                                    const py::object& divisor_override, int zero_point, const py::object& isa,
                                    int num_threads) {
  auto x = checked<int8_t>(x_obj, "x", 4);
  const Pool2dShape sh = shape_arg(x, k, s, p, {1, 1}, ceil_mode, 1);
  int divisor = 0;  // zero_point and the window size are checked by qs8_avgpool2d_nhwc (ValueError here)
  if (!divisor_override.is_none()) {
    divisor = py::cast<int>(divisor_override);
    if (divisor < 1) throw py::value_error("divisor_override: expected None or a positive int, got " + std::to_string(divisor));
  }
  const Isa target = isa_arg(isa);
  checked_threads(num_threads);
  const int N = int(x.shape(0)), C = int(x.shape(3));
  py::array_t<int8_t> y = aligned_array<int8_t>({x.shape(0), py::ssize_t(sh.OH), py::ssize_t(sh.OW), x.shape(3)});
  const int8_t* xp = x.data();
  int8_t* yp = y.mutable_data();
  if (N > 0 && C > 0) {
    py::gil_scoped_release nogil;
    qs8_avgpool2d_nhwc(sh, N, C, xp, zero_point, count_include_pad, divisor, yp, target, num_threads);
  }
  return y;
}

}  // namespace

py::array_t<float> gavgpool_nhwc_py(const py::object& x_obj, float scale, int zero_point, const py::object& isa,
                                    int num_threads) {
  auto x = checked<int8_t>(x_obj, "x", 4);
  check_static_qparams(scale, zero_point, "scale", "zero_point");
  const Isa target = isa_arg(isa);
  checked_threads(num_threads);
  const int64_t HW = int64_t(x.shape(1)) * x.shape(2);
  if (x.shape(0) > 0x7fffffff || x.shape(3) > 0x7fffffff) throw py::value_error("x: too large");
  if (HW < 1 || HW > (int64_t(1) << 23)) throw py::value_error("x: expected 1 <= H * W <= 2^23");
  const int N = int(x.shape(0)), C = int(x.shape(3));
  py::array_t<float> y({x.shape(0), x.shape(3)});
  const int8_t* xp = x.data();
  float* yp = y.mutable_data();
  if (N > 0 && C > 0) {
    py::gil_scoped_release nogil;
    qs8_global_avgpool_nhwc(xp, N, HW, C, scale, zero_point, yp, target, num_threads);
  }
  return y;
}

py::array_t<int8_t> channel_mul_py(const py::object& x_obj, float x_scale, int x_zero_point, const py::object& gate_obj,
                                   float out_scale, int out_zero_point, const py::object& isa, int num_threads) {
  auto x = checked<int8_t>(x_obj, "x", 4);
  auto gate = checked<float>(gate_obj, "gate", 2);
  check_static_qparams(x_scale, x_zero_point, "x_scale", "x_zero_point");
  check_static_qparams(out_scale, out_zero_point, "output_scale", "output_zero_point");
  if (gate.shape(0) != x.shape(0) || gate.shape(1) != x.shape(3))
    throw py::value_error("gate: expected shape (N, C) = (" + std::to_string(x.shape(0)) + ", " +
                          std::to_string(x.shape(3)) + ") for x of shape (N, H, W, C)");
  const Isa target = isa_arg(isa);
  checked_threads(num_threads);
  if (x.shape(0) > 0x7fffffff || x.shape(3) > 0x7fffffff) throw py::value_error("x: too large");
  py::array_t<int8_t> y = aligned_array<int8_t>({x.shape(0), x.shape(1), x.shape(2), x.shape(3)});
  const int8_t* xp = x.data();
  const float* gp = gate.data();
  int8_t* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    qs8_channel_mul_nhwc(xp, int(x.shape(0)), int64_t(x.shape(1)) * x.shape(2), int(x.shape(3)), x_scale, x_zero_point,
                         gp, out_scale, out_zero_point, yp, target, num_threads);
  }
  return y;
}


void bind_pool(py::module_& m) {
  m.def("qs8_channel_mul_nhwc", &channel_mul_py, py::arg("x"), py::arg("x_scale"), py::arg("x_zero_point"),
        py::arg("gate"), py::arg("output_scale"), py::arg("output_zero_point"), py::arg("isa") = py::none(),
        py::arg("num_threads") = 1,
        "int8 NHWC x times a per-(image, channel) fp32 gate (N, C), requantized: the squeeze-excite multiply");
  m.def("qs8_global_avgpool_nhwc", &gavgpool_nhwc_py, py::arg("x"), py::arg("scale"), py::arg("zero_point"),
        py::arg("isa") = py::none(), py::arg("num_threads") = 1,
        "int8 NHWC (N, H, W, C) -> fp32 (N, C) channel means, dequantized: an int8 edge's global average pool");
  m.def("qs8_maxpool2d_nhwc", &maxpool_nhwc_py, py::arg("x"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding") = std::pair<int, int>{0, 0}, py::arg("dilation") = std::pair<int, int>{1, 1},
        py::arg("ceil_mode") = false, py::arg("isa") = py::none(), py::arg("num_threads") = 1,
        "max pool of an NHWC int8 array (an int8 graph edge), as torch's max_pool2d on its values");
  m.def("qs8_avgpool2d_nhwc", &avgpool_nhwc_py, py::arg("x"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding") = std::pair<int, int>{0, 0}, py::arg("ceil_mode") = false,
        py::arg("count_include_pad") = true, py::arg("divisor_override") = py::none(), py::arg("zero_point") = 0,
        py::arg("isa") = py::none(), py::arg("num_threads") = 1,
        "average pool of an NHWC int8 array (an int8 graph edge with this zero point), as torch's avg_pool2d on "
        "its values, re-quantized in the same scale and zero point (isa='scalar': the reference)");
  m.def("f32_maxpool2d",
        [](const py::object& x, std::pair<int, int> k, std::pair<int, int> s, std::pair<int, int> p,
           std::pair<int, int> d, bool ceil_mode, const py::object& isa, int num_threads) {
          return maxpool_py(x, k, s, p, d, ceil_mode, isa, num_threads, false);
        },
        py::arg("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding") = std::pair<int, int>{0, 0},
        py::arg("dilation") = std::pair<int, int>{1, 1}, py::arg("ceil_mode") = false, py::arg("isa") = py::none(),
        py::arg("num_threads") = 1, "max pool of an NCHW float32 array, as torch's max_pool2d");
  m.def("ref_f32_maxpool2d",
        [](const py::object& x, std::pair<int, int> k, std::pair<int, int> s, std::pair<int, int> p,
           std::pair<int, int> d, bool ceil_mode) {
          return maxpool_py(x, k, s, p, d, ceil_mode, py::none(), 1, true);
        },
        py::arg("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding") = std::pair<int, int>{0, 0},
        py::arg("dilation") = std::pair<int, int>{1, 1}, py::arg("ceil_mode") = false, "reference max pool");
}

}  // namespace nnslim
