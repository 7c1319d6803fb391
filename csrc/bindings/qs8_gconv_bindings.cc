// Python bindings of the grouped int8 convolution, its packed weights and its reference.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>

#include "checks.h"
#include "conv_args.h"
#include "gconv_plan.h"
#include "nnslim/gconv.h"

namespace nnslim {
namespace py = pybind11;

namespace {

// Grouped weights (Cout, C / groups, KH, KW) int8 packed once for one kernel path; freed with the
// Python object.
class PyPackedGconv {
 public:
  PyPackedGconv(const py::object& weight, int groups, const py::object& isa) {
    auto w = checked_weight<int8_t>(weight, 4, "(out_channels, in_channels / groups, kernel_h, kernel_w)");
    const Isa target = isa_arg(isa);
    if (groups < 1) throw py::value_error("groups: expected >= 1, got " + std::to_string(groups));
    const int Cout = int(w.shape(0)), cg = int(w.shape(1)), KH = int(w.shape(2)), KW = int(w.shape(3));
    if (int64_t(cg) * groups > 0x7fffffff) throw py::value_error("groups: groups * weight.shape[1] exceeds 2^31 - 1");
    const int C = cg * groups;
    if (!qs8_gconv_supported(C, Cout, groups))
      throw py::value_error("groups: the grouped kernel takes 1 < groups < in_channels, an even number of input "
                            "channels per group and 2, 4 or a multiple of 8 output channels per group (see "
                            "qs8_gconv_supported); got groups=" + std::to_string(groups) + " for weight shape " +
                            shape_str(w));
    if (int64_t(KH) * KW * cg > 65536)
      throw py::value_error("weight: kernel_h * kernel_w * in_channels / groups above 65536 is not supported, got "
                            "shape " + shape_str(w));
    const int8_t* src = w.data();
    py::gil_scoped_release nogil;
    packed_ = qs8_gconv_pack(src, C, Cout, groups, KH, KW, target);
  }
  const PackedGconv& packed() const { return *packed_; }

 private:
  std::unique_ptr<PackedGconv> packed_;
};

py::array gconv2d_static(const py::object& x_obj, const py::object& weights_obj, py::tuple stride, py::tuple padding,
                         py::tuple dilation, float in_scale, int zero_point, const py::object& scale_obj,
                         const py::object& bias_obj, const py::object& residual, const std::string& activation,
                         float act_lo, float act_hi, int num_threads, float residual_scale, int residual_zero_point,
                         const py::object& output_scale, int output_zero_point) {
  ConvIO io;
  py::array x = conv_input_arg(x_obj, &io);
  check_static_qparams(in_scale, zero_point);
  io.in_scale = in_scale;
  io.in_zero_point = zero_point;
  checked_threads(num_threads);
  const PyPackedGconv& pw = weights_obj.cast<const PyPackedGconv&>();
  py::object keep_weights = weights_obj;  // alive while the GIL is released
  const PackedGconv& w = pw.packed();
  Conv2dShape s = conv_shape_args(x, py::make_tuple(w.KH, w.KW), stride, padding, dilation, w.groups);
  if (s.C != w.groups * w.cg)
    throw py::value_error("x: expected " + std::to_string(w.groups * w.cg) + " channels (x.shape[3]) for these "
                          "grouped weights, got shape " + shape_str(x));
  s.Cout = w.Cout;
  conv_output_size(x, &s);
  auto scale = checked<float>(scale_obj, "weight_scale", 1);
  check_dim(scale, 0, s.Cout, "weight_scale", "out_channels");
  py::array_t<float> bias;
  py::array res_keep;
  const float* biasp = optional_f32_vector(bias_obj, "bias", s.Cout, &bias);
  io.post = postop_args(residual, activation, act_lo, act_hi, s, s.Cout, &res_keep, residual_scale,
                        residual_zero_point);
  py::array y = conv_output_arg(s, s.Cout, output_scale, output_zero_point, &io);
  const float* sp = scale.data();
  {
    py::gil_scoped_release nogil;
    qs8_gconv2d_static(io, s, w, sp, biasp, num_threads);
  }
  return y;
}

py::array_t<int32_t> ref_conv(const py::object& x_obj, const py::object& w_obj, py::tuple stride, py::tuple padding,
                              py::tuple dilation, int groups, int zero_point) {
  auto xq = checked<int8_t>(x_obj, "x", 4);
  auto w = checked<int8_t>(w_obj, "weight", 4);
  if (groups < 1 || xq.shape(3) != int64_t(w.shape(1)) * groups || w.shape(0) % groups)
    throw py::value_error("groups: expected x.shape[3] == groups * weight.shape[1] and groups dividing "
                          "weight.shape[0]");
  if (zero_point < -128 || zero_point > 127) throw py::value_error("zero_point: expected an int in [-128, 127]");
  py::array shape_probe = xq;
  Conv2dShape s = conv_shape_args(shape_probe, py::make_tuple(int(w.shape(2)), int(w.shape(3))), stride, padding,
                                  dilation, groups);
  s.Cout = int(w.shape(0));
  conv_output_size(shape_probe, &s);
  py::array_t<int32_t> acc({py::ssize_t(s.N), py::ssize_t(s.OH), py::ssize_t(s.OW), py::ssize_t(s.Cout)});
  ref::qs8_conv_s32(xq.data(), s, w.data(), int8_t(zero_point), acc.mutable_data());
  return acc;
}

}  // namespace

py::array gconv_run(const GconvParams& P, const py::object& x_obj, const py::object& residual, int num_threads) {
  return gconv2d_static(x_obj, P.weights, P.stride, P.padding, P.dilation, P.in_scale, P.zero_point, P.scale, P.bias,
                        residual, P.activation, P.act_lo, P.act_hi, num_threads, P.residual_scale,
                        P.residual_zero_point, P.output_scale, P.output_zero_point);
}

void bind_qs8_gconv(py::module_& m) {
  py::class_<PyPackedGconv>(m, "PackedQs8GroupedWeights",
                            "grouped int8 conv weights (out, in / groups, kh, kw) packed for one path")
      .def(py::init<const py::object&, int, const py::object&>(), py::arg("weight"), py::arg("groups"),
           py::arg("isa") = py::none())
      .def_property_readonly("isa", [](const PyPackedGconv& p) { return std::string(isa_name(p.packed().isa)); })
      .def_property_readonly("groups", [](const PyPackedGconv& p) { return p.packed().groups; })
      .def_property_readonly("nbytes", [](const PyPackedGconv& p) { return p.packed().data.size() * sizeof(int16_t); });
  m.def("qs8_gconv_supported", &qs8_gconv_supported, py::arg("in_channels"), py::arg("out_channels"),
        py::arg("groups"), "whether the direct grouped int8 conv kernels take this channel geometry");
  m.def("qs8_gconv2d_static", &gconv2d_static, py::arg("x_nhwc"), py::arg("weights"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("input_scale"), py::arg("input_zero_point"),
        py::arg("weight_scale"), py::arg("bias") = py::none(), py::arg("residual") = py::none(),
        py::arg("activation") = "none", py::arg("act_lo") = 0.f, py::arg("act_hi") = 0.f,
        py::arg("num_threads") = 1, py::arg("residual_scale") = 1.f, py::arg("residual_zero_point") = 0,
        py::arg("output_scale") = py::none(), py::arg("output_zero_point") = 0,
        "static int8 grouped conv2d on NHWC fp32 or int8 input -> NHWC fp32 output (or int8 with "
        "output_scale), optional fused residual (fp32 or int8) + activation");
  py::class_<GconvParams>(m, "Qs8GconvConv2dPlan",
                          "qs8_gconv2d_static with everything but (x_nhwc, residual, num_threads) bound")
      .def(py::init([](const py::object& weights, py::tuple stride, py::tuple padding, py::tuple dilation,
                       float in_scale, int zero_point, const py::object& scale, const py::object& bias,
                       const std::string& activation, float act_lo, float act_hi, float residual_scale,
                       int residual_zero_point, const py::object& output_scale, int output_zero_point) {
             if (!py::isinstance<PyPackedGconv>(weights))  // a TypeError now, not on the first call
               throw py::type_error("weights: expected PackedQs8GroupedWeights, got " +
                                    std::string(py::str(py::type::handle_of(weights).attr("__name__"))));
             GconvParams p;
             static_cast<DwConvParams&>(p) =
                 DwConvParams{weights, stride, padding, dilation, in_scale, zero_point, scale, bias, activation,
                              act_lo, act_hi, residual_scale, residual_zero_point, output_scale, output_zero_point};
             return p;
           }),
           py::arg("weights"), py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("input_scale"),
           py::arg("input_zero_point"), py::arg("weight_scale"), py::arg("bias") = py::none(),
           py::arg("activation") = "none", py::arg("act_lo") = 0.f, py::arg("act_hi") = 0.f,
           py::arg("residual_scale") = 1.f, py::arg("residual_zero_point") = 0, py::arg("output_scale") = py::none(),
           py::arg("output_zero_point") = 0)
      .def("__call__", &gconv_run, py::arg("x_nhwc"), py::arg("residual") = py::none(), py::arg("num_threads") = 1);
  m.def("ref_qs8_conv_s32", &ref_conv, py::arg("x_nhwc"), py::arg("weight"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("groups"), py::arg("zero_point"),
        "reference int32 (grouped) conv of int8 NHWC x with torch-layout weights (zero point outside the image)");
}

}  // namespace nnslim
