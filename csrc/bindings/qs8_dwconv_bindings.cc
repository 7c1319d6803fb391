// Python bindings of the depthwise int8 convolution, its packed weights and its reference.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "checks.h"
#include "conv_args.h"
#include "dwconv_plan.h"
#include "nnslim/dwconv.h"

namespace nnslim {
namespace py = pybind11;

namespace {

// Depthwise weights (C, KH, KW) int8 packed once for one kernel path; freed with the Python object.
class PyPackedDw {
 public:
  PyPackedDw(const py::object& weight, const py::object& isa) {
    auto w = checked_weight<int8_t>(weight, 3, "(channels, kernel_h, kernel_w)");
    if (int64_t(w.shape(1)) * w.shape(2) > 4096)
      throw py::value_error("weight: kernel_h * kernel_w above 4096 taps is not supported, got shape " + shape_str(w));
    const Isa target = isa_arg(isa);
    kh_ = int(w.shape(1));
    kw_ = int(w.shape(2));
    const int8_t* src = w.data();
    const int C = int(w.shape(0)), taps = kh_ * kw_;
    py::gil_scoped_release nogil;
    packed_ = qs8_dwconv_pack(src, C, taps, target);
  }
  const PackedDw& packed() const { return *packed_; }
  int kh() const { return kh_; }
  int kw() const { return kw_; }

 private:
  std::unique_ptr<PackedDw> packed_;
  int kh_ = 0, kw_ = 0;
};

py::array dwconv2d_static(const py::object& x_obj, const py::object& weights_obj, py::tuple stride,
                          py::tuple padding, py::tuple dilation, float in_scale, int zero_point,
                          const py::object& scale_obj, const py::object& bias_obj, const py::object& residual,
                          const std::string& activation, float act_lo, float act_hi, int num_threads,
                          float residual_scale, int residual_zero_point, const py::object& output_scale,
                          int output_zero_point) {
  ConvIO io;
  py::array x = conv_input_arg(x_obj, &io);
  check_static_qparams(in_scale, zero_point);
  io.in_scale = in_scale;
  io.in_zero_point = zero_point;
  checked_threads(num_threads);
  const PyPackedDw& pw = weights_obj.cast<const PyPackedDw&>();
  py::object keep_weights = weights_obj;  // alive while the GIL is released
  const PackedDw& w = pw.packed();
  Conv2dShape s = conv_shape_args(x, py::make_tuple(pw.kh(), pw.kw()), stride, padding, dilation, w.C);
  if (s.C != w.C)
    throw py::value_error("x: expected " + std::to_string(w.C) + " channels (x.shape[3]) for these depthwise weights, "
                          "got shape " + shape_str(x));
  s.Cout = s.C;
  conv_output_size(x, &s);
  auto scale = checked<float>(scale_obj, "weight_scale", 1);
  check_dim(scale, 0, s.C, "weight_scale", "channels");
  py::array_t<float> bias;
  py::array res_keep;
  const float* biasp = optional_f32_vector(bias_obj, "bias", s.C, &bias);
  io.post = postop_args(residual, activation, act_lo, act_hi, s, s.C, &res_keep, residual_scale, residual_zero_point);
  py::array y = conv_output_arg(s, s.C, output_scale, output_zero_point, &io);
  const float* sp = scale.data();
  {
    py::gil_scoped_release nogil;
    qs8_dwconv2d_static(io, s, w, sp, biasp, num_threads);
  }
  return y;
}

}  // namespace

py::array dw_conv_run(const DwConvParams& P, const py::object& x_obj, const py::object& residual, int num_threads) {
  return dwconv2d_static(x_obj, P.weights, P.stride, P.padding, P.dilation, P.in_scale, P.zero_point, P.scale, P.bias,
                         residual, P.activation, P.act_lo, P.act_hi, num_threads, P.residual_scale,
                         P.residual_zero_point, P.output_scale, P.output_zero_point);
}

namespace {

py::array_t<int32_t> ref_dwconv(const py::object& x_obj, const py::object& w_obj, py::tuple stride,
                                py::tuple padding, py::tuple dilation, int zero_point) {
  auto xq = checked<int8_t>(x_obj, "x", 4);
  auto w = checked<int8_t>(w_obj, "weight", 3);
  if (w.shape(0) != xq.shape(3)) throw py::value_error("weight: expected one (kh, kw) filter per channel of x");
  if (zero_point < -128 || zero_point > 127) throw py::value_error("zero_point: expected an int in [-128, 127]");
  py::array shape_probe = xq;
  Conv2dShape s = conv_shape_args(shape_probe, py::make_tuple(int(w.shape(1)), int(w.shape(2))), stride, padding,
                                  dilation, int(xq.shape(3)));
  s.Cout = s.C;
  conv_output_size(shape_probe, &s);
  py::array_t<int32_t> acc({py::ssize_t(s.N), py::ssize_t(s.OH), py::ssize_t(s.OW), py::ssize_t(s.C)});
  ref::qs8_dwconv_s32(xq.data(), s, w.data(), int8_t(zero_point), acc.mutable_data());
  return acc;
}

}  // namespace

void bind_qs8_dwconv(py::module_& m) {
  py::class_<PyPackedDw>(m, "PackedQs8DwWeights", "depthwise int8 weights (channels, kh, kw) packed for one path")
      .def(py::init<const py::object&, const py::object&>(), py::arg("weight"), py::arg("isa") = py::none())
      .def_property_readonly("isa", [](const PyPackedDw& p) { return std::string(isa_name(p.packed().isa)); })
      .def_property_readonly("channels", [](const PyPackedDw& p) { return p.packed().C; })
      .def_property_readonly("nbytes", [](const PyPackedDw& p) { return p.packed().data.size() * sizeof(int16_t); });
  m.def("qs8_dwconv2d_static", &dwconv2d_static, py::arg("x_nhwc"), py::arg("weights"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("input_scale"), py::arg("input_zero_point"),
        py::arg("weight_scale"), py::arg("bias") = py::none(), py::arg("residual") = py::none(),
        py::arg("activation") = "none", py::arg("act_lo") = 0.f, py::arg("act_hi") = 0.f,
        py::arg("num_threads") = 1, py::arg("residual_scale") = 1.f, py::arg("residual_zero_point") = 0,
        py::arg("output_scale") = py::none(), py::arg("output_zero_point") = 0,
        "static int8 depthwise conv2d on NHWC fp32 or int8 input -> NHWC fp32 output (or int8 with "
        "output_scale), optional fused residual (fp32 or int8) + activation");
  py::class_<DwConvParams>(m, "Qs8DwConv2dPlan",
                           "qs8_dwconv2d_static with everything but (x_nhwc, residual, num_threads) bound")
      .def(py::init([](const py::object& weights, py::tuple stride, py::tuple padding, py::tuple dilation,
                       float in_scale, int zero_point, const py::object& scale, const py::object& bias,
                       const std::string& activation, float act_lo, float act_hi, float residual_scale,
                       int residual_zero_point, const py::object& output_scale, int output_zero_point) {
             weights.cast<const PyPackedDw&>();  // a TypeError now, not on the first call
             return DwConvParams{weights, stride, padding, dilation, in_scale, zero_point, scale, bias, activation,
                                 act_lo, act_hi, residual_scale, residual_zero_point, output_scale, output_zero_point};
           }),
           py::arg("weights"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("input_scale"),
           py::arg("input_zero_point"), py::arg("weight_scale"), py::arg("bias") = py::none(),
           py::arg("activation") = "none", py::arg("act_lo") = 0.f, py::arg("act_hi") = 0.f,
           py::arg("residual_scale") = 1.f, py::arg("residual_zero_point") = 0, py::arg("output_scale") = py::none(),
           py::arg("output_zero_point") = 0)
      .def("__call__", &dw_conv_run, py::arg("x_nhwc"), py::arg("residual") = py::none(), py::arg("num_threads") = 1);
  m.def("ref_qs8_dwconv_s32", &ref_dwconv, py::arg("x_nhwc"), py::arg("weight"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("zero_point"),
        "reference int32 depthwise conv of int8 NHWC x (zero point outside the image)");
}

}  // namespace nnslim
