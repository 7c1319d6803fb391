// Python bindings of the int8 GEMM, its packed weights, the per-row quantizer and their references.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>

#include "../kernels/qs8-gemm/qs8-gemm.h"
#include "aligned_array.h"
#include "checks.h"
#include "conv_args.h"
#include "conv_plan.h"
#include "nnslim/conv_io.h"
#include "nnslim/gemm.h"
#include "nnslim/ref.h"

namespace nnslim {
namespace py = pybind11;

namespace {


// Packed weights owned by a Python object; freed with it.
class PyPackedQs8 {
 public:
  PyPackedQs8(const py::object& weight, const py::object& isa, const py::object& signed_activations) {
    auto w = checked_weight<int8_t>(weight, 2, "(out_features, in_features)");
    const Isa target = isa_arg(isa);
    if (!py::isinstance<py::bool_>(signed_activations))
      throw py::type_error("signed_activations: expected a bool, got " +
                           std::string(py::str(py::type::of(signed_activations).attr("__name__"))));
    const PackHint hint = signed_activations.cast<bool>() ? PackHint::signed_activations : PackHint::none;
    const int8_t* src = w.data();
    const int N = int(w.shape(0)), K = int(w.shape(1));
    py::gil_scoped_release nogil;
    packed_ = qs8_pack_weights(src, N, K, target, hint);
  }

  py::array_t<int32_t> gemm_s32(const py::object& a_obj, int num_threads) const {
    auto a = checked<int8_t>(a_obj, "a", 2);
    check_dim(a, 1, packed_->K, "a", "in_features (a.shape[1])");
    check_int_range(a.shape(0), "a");
    checked_threads(num_threads);
    const int M = int(a.shape(0));
    py::array_t<int32_t> c({py::ssize_t(M), py::ssize_t(packed_->N)});
    const int8_t* ap = a.data();
    int32_t* cp = c.mutable_data();
    {
      py::gil_scoped_release nogil;
      qs8_gemm_s32(ap, packed_->K, M, *packed_, cp, packed_->N, num_threads);
    }
    return c;
  }

  py::array_t<float> linear_dynamic(const py::object& x_obj, const py::object& scale_obj,
                                    const py::object& bias_obj, bool relu, int num_threads,
                                    int activation_bits) const {
    if (activation_bits != 8 && activation_bits != 7)
      throw py::value_error("activation_bits: expected 8 or 7, got " + std::to_string(activation_bits));
    return run_linear(x_obj, scale_obj, bias_obj, num_threads,
                      [&](const float* x, int M, const float* s, const float* b, float* y) {
                        qs8_linear_dynamic_f32(x, packed_->K, M, *packed_, s, b, relu, y, packed_->N, num_threads,
                                               activation_bits);
                      });
  }

  py::array_t<float> linear_static(const py::object& x_obj, float in_scale, int zero_point,
                                   const py::object& scale_obj, const py::object& bias_obj, bool relu,
                                   int num_threads) const {
    check_static_qparams(in_scale, zero_point);
    return run_linear(x_obj, scale_obj, bias_obj, num_threads,
                      [&](const float* x, int M, const float* s, const float* b, float* y) {
                        qs8_linear_static_f32(x, packed_->K, M, *packed_, in_scale, zero_point, s, b, relu, y,
                                              packed_->N, num_threads);
                      });
  }

  const PackedB& packed() const { return *packed_; }

 private:
  // Validates x (M, K), weight_scale (N,), the optional bias and num_threads, allocates y (M, N), and
  // runs kernel(x, M, weight_scale, bias_or_null, y) without the GIL.
  template <typename Kernel>
  py::array_t<float> run_linear(const py::object& x_obj, const py::object& scale_obj, const py::object& bias_obj,
                                int num_threads, Kernel kernel) const {
    auto x = checked<float>(x_obj, "x", 2);
    check_dim(x, 1, packed_->K, "x", "in_features (x.shape[1])");
    check_int_range(x.shape(0), "x");
    auto scale = checked<float>(scale_obj, "weight_scale", 1);
    check_dim(scale, 0, packed_->N, "weight_scale", "out_features");
    py::array_t<float> bias;
    const float* biasp = optional_f32_vector(bias_obj, "bias", packed_->N, &bias);
    checked_threads(num_threads);
    const int M = int(x.shape(0));
    py::array_t<float> y({py::ssize_t(M), py::ssize_t(packed_->N)});
    const float* xp = x.data();
    const float* sp = scale.data();
    float* yp = y.mutable_data();
    {
      py::gil_scoped_release nogil;
      kernel(xp, M, sp, biasp, yp);
    }
    return y;
  }

  std::unique_ptr<PackedB> packed_;
};

py::array_t<int32_t> ref_gemm(const py::object& a_obj, const py::object& b_obj) {
  auto a = checked<int8_t>(a_obj, "a", 2);
  auto b = checked<int8_t>(b_obj, "b", 2);
  check_dim(b, 1, a.shape(1), "b", "in_features (a.shape[1])");
  if (a.shape(1) > kMaxExactK) throw py::value_error("a: K exceeds the exact int32 limit");
  const int M = int(a.shape(0)), N = int(b.shape(0)), K = int(a.shape(1));
  py::array_t<int32_t> c({py::ssize_t(M), py::ssize_t(N)});
  ref::qs8_gemm_s32(a.data(), K, b.data(), K, M, N, K, c.mutable_data(), N);
  return c;
}

py::tuple quantize_rows(const py::object& x_obj, const py::object& isa, bool reference, int activation_bits,
                        bool unsigned_codes) {
  if (activation_bits != 8 && activation_bits != 7)
    throw py::value_error("activation_bits: expected 8 or 7, got " + std::to_string(activation_bits));
  if (unsigned_codes && activation_bits != 7) throw py::value_error("unsigned_codes: only with activation_bits=7");
  auto x = checked<float>(x_obj, "x", 2);
  check_int_range(x.shape(0), "x");
  check_int_range(x.shape(1), "x");
  const int M = int(x.shape(0)), K = int(x.shape(1));
  py::array_t<int8_t> q = aligned_array<int8_t>({py::ssize_t(M), py::ssize_t(K)});
  py::array_t<float> s{py::ssize_t(M)};
  py::array_t<int32_t> zp{py::ssize_t(M)};
  if (reference) {
    for (int m = 0; m < M; ++m) {
      int8_t* qm = q.mutable_data() + size_t(m) * K;
      if (activation_bits == 7)
        ref::qs8_quantize_row_q7(x.data() + size_t(m) * K, K, K, unsigned_codes, qm, s.mutable_data() + m,
                                 zp.mutable_data() + m);
      else
        ref::qs8_quantize_row(x.data() + size_t(m) * K, K, K, qm, s.mutable_data() + m);
    }
  } else {
    const Qs8GemmConfig& cfg = qs8_gemm_config(isa_arg(isa));
    if (activation_bits == 7)
      cfg.quantize_rows_q7(x.data(), K, 0, M, K, K, unsigned_codes, q.mutable_data(), K, s.mutable_data(),
                           zp.mutable_data());
    else
      cfg.quantize_rows(x.data(), K, 0, M, K, K, q.mutable_data(), K, s.mutable_data());
  }
  if (activation_bits == 7) return py::make_tuple(q, s, zp);
  return py::make_tuple(q, s);
}

py::tuple quantize_rows_static(const py::object& x_obj, float scale, int zero_point, const py::object& isa,
                               bool reference) {
  auto x = checked<float>(x_obj, "x", 2);
  check_int_range(x.shape(0), "x");
  check_int_range(x.shape(1), "x");
  check_static_qparams(scale, zero_point);
  const int M = int(x.shape(0)), K = int(x.shape(1));
  py::array_t<int8_t> q = aligned_array<int8_t>({py::ssize_t(M), py::ssize_t(K)});
  py::array_t<float> s{py::ssize_t(M)};
  if (reference) {
    for (int m = 0; m < M; ++m)
      ref::qs8_quantize_row_static(x.data() + size_t(m) * K, K, K, scale, 1.f / scale, zero_point,
                                   q.mutable_data() + size_t(m) * K, s.mutable_data() + m);
  } else {
    qs8_gemm_config(isa_arg(isa)).quantize_rows_static(x.data(), K, 0, M, K, K, scale, 1.f / scale, zero_point,
                                                       q.mutable_data(), K, s.mutable_data());
  }
  return py::make_tuple(q, s);
}

py::tuple quantize_nchw_to_nhwc(const py::object& x_obj, float scale, int zero_point, const py::object& isa,
                                int num_threads) {
  auto x = checked<float>(x_obj, "x", 4);
  check_static_qparams(scale, zero_point);
  checked_threads(num_threads);
  for (int d = 0; d < 4; ++d) check_int_range(x.shape(d), "x");
  const int N = int(x.shape(0)), C = int(x.shape(1));
  const int64_t H = x.shape(2), W = x.shape(3);
  const Isa target = isa_arg(isa);
  py::array_t<int8_t> q = aligned_array<int8_t>({py::ssize_t(N), py::ssize_t(H), py::ssize_t(W), py::ssize_t(C)});
  py::array_t<bool> bad{py::ssize_t(N)};
  {
    const float* xp = x.data();
    int8_t* qp = q.mutable_data();
    bool* bp = bad.mutable_data();
    py::gil_scoped_release nogil;
    qs8_quantize_nchw_images(xp, N, C, H * W, scale, zero_point, qp, bp, target, num_threads);
  }
  return py::make_tuple(q, bad);
}

}  // namespace

namespace {

ConvParams conv_params(const py::list& weights, py::tuple kernel, py::tuple stride, py::tuple padding,
                       py::tuple dilation, int groups, float in_scale, int zero_point, const py::object& scale_obj,
                       const py::object& bias_obj, bool relu, const std::string& activation, float act_lo,
                       float act_hi, float residual_scale, int residual_zero_point, const py::object& output_scale,
                       int output_zero_point) {
  ConvParams P;
  check_static_qparams(in_scale, zero_point);
  P.kernel = kernel;
  P.stride = stride;
  P.padding = padding;
  P.dilation = dilation;
  P.groups = groups;
  P.in_scale = in_scale;
  P.zero_point = zero_point;
  if (groups < 1 || int(py::len(weights)) != groups)
    throw py::value_error("groups: expected a divisor of the input channels and one packed weight per group");
  for (auto w : weights) {
    const PyPackedQs8& pw = w.cast<const PyPackedQs8&>();
    P.keep_alive.push_back(py::reinterpret_borrow<py::object>(w));
    P.packed.push_back(&pw.packed());
  }
  P.coutg = P.packed[0]->N;
  for (const PackedB* pb : P.packed) {
    if (pb->N != P.coutg || pb->isa != P.packed[0]->isa)
      throw py::value_error("weights: every group needs the same out_features and kernel path");
    if (pb->K > kMaxExactK) throw py::value_error("weights: K exceeds the exact int32 limit");
  }
  const int64_t cout = int64_t(P.coutg) * groups;
  if (cout > 0x7fffffff) throw py::value_error("weights: out_channels = out_features * groups exceeds 2^31 - 1");
  P.cout = int(cout);
  P.scale = checked<float>(scale_obj, "weight_scale", 1);
  check_dim(P.scale, 0, P.cout, "weight_scale", "out_channels");
  P.biasp = optional_f32_vector(bias_obj, "bias", P.cout, &P.bias);
  P.relu = relu;
  P.activation = activation;
  P.act_lo = act_lo;
  P.act_hi = act_hi;
  P.residual_scale = residual_scale;
  P.residual_zero_point = residual_zero_point;
  P.output_scale = output_scale;
  P.output_zero_point = output_zero_point;
  return P;
}

}  // namespace

py::array conv_run(const ConvParams& P, const py::object& x_obj, const py::object& residual, int num_threads) {
  ConvIO io;
  py::array x = conv_input_arg(x_obj, &io);
  io.in_scale = P.in_scale;
  io.in_zero_point = P.zero_point;
  checked_threads(num_threads);
  Conv2dShape s = conv_shape_args(x, P.kernel, P.stride, P.padding, P.dilation, P.groups);
  if (s.C % P.groups != 0)
    throw py::value_error("groups: expected a divisor of the input channels and one packed weight per group");
  const int64_t k_expected = int64_t(s.KH) * s.KW * (s.C / P.groups);
  for (const PackedB* pb : P.packed)
    if (pb->K != k_expected && !qs8_conv_row_taps(s, pb->K, pb->isa) && !qs8_conv_s2d_taps(s, pb->K, pb->isa))
      throw py::value_error("weights: expected in_features = kernel_h * kernel_w * channels_per_group = " +
                            std::to_string(k_expected) + " (or kernel_h * 64 for row-tap weights of a "
                            "few-channel conv on AMX, ceil(kernel_h / 2) * 64 for space-to-depth ones of a "
                            "stride-2 one), got " + std::to_string(pb->K));
  s.Cout = P.cout;
  conv_output_size(x, &s);
  py::array res_keep;
  io.post = postop_args(residual, P.activation, P.act_lo, P.act_hi, s, s.Cout, &res_keep, P.residual_scale,
                        P.residual_zero_point);
  if (P.relu && io.post.act != Activation::none) throw py::value_error("relu: set either relu or activation, not both");
  py::array y = conv_output_arg(s, s.Cout, P.output_scale, P.output_zero_point, &io);
  const float* sp = P.scale.data();
  {
    py::gil_scoped_release nogil;
    qs8_conv2d_static(io, s, P.packed.data(), sp, P.biasp, P.relu, num_threads, P.winograd);
  }
  return y;
}


py::array conv2d_static(const py::object& x_obj, const py::list& weights, py::tuple kernel, py::tuple stride,
                        py::tuple padding, py::tuple dilation, int groups, float in_scale, int zero_point,
                        const py::object& scale_obj, const py::object& bias_obj, bool relu, int num_threads,
                        const py::object& residual, const std::string& activation, float act_lo, float act_hi,
                        float residual_scale, int residual_zero_point, const py::object& output_scale,
                        int output_zero_point) {
  ConvIO probe;
  conv_input_arg(x_obj, &probe);  // x's errors first, as before the parameters were split out
  const ConvParams P = conv_params(weights, kernel, stride, padding, dilation, groups, in_scale, zero_point, scale_obj,
                                   bias_obj, relu, activation, act_lo, act_hi, residual_scale, residual_zero_point,
                                   output_scale, output_zero_point);
  return conv_run(P, x_obj, residual, num_threads);
}

// Test entry for the block finisher (kernels/qs8-requant): columns [col0, col0 + cols) of every
// pixel of y (NHWC float32) through post-op and, with output_scale, requantization.
py::array finish_block(const py::object& y_obj, const py::object& isa, int col0, int cols, const py::object& residual,
                       const std::string& act, float lo, float hi, float res_scale, int res_zp,
                       const py::object& out_scale, int out_zp) {
  auto y = checked<float>(y_obj, "y", 4);
  Conv2dShape s{};
  s.N = int(y.shape(0));
  s.OH = int(y.shape(1));
  s.OW = int(y.shape(2));
  const int C = int(y.shape(3));
  if (cols < 0) cols = C - col0;
  if (col0 < 0 || col0 + cols > C)
    throw py::value_error("col0, cols: expected 0 <= col0 <= col0 + cols <= channels");
  py::array keep;
  const PostOp op = postop_args(residual, act, lo, hi, s, C, &keep, res_scale, res_zp);
  const Qs8GemmConfig& cfg = qs8_gemm_config(isa_arg(isa));
  const int rows = s.N * s.OH * s.OW;
  py::array_t<float> out(std::vector<py::ssize_t>{s.N, s.OH, s.OW, C});
  std::copy(y.data(), y.data() + size_t(rows) * C, out.mutable_data());
  if (out_scale.is_none()) {
    cfg.finish_block(out.mutable_data() + col0, C, rows, cols, op, 0, col0, nullptr, nullptr, 0);
    return std::move(out);
  }
  const float sc = out_scale.cast<float>();
  if (!(sc > 0.f) || !std::isfinite(sc)) throw py::value_error("output_scale: expected a finite positive float");
  if (out_zp < -128 || out_zp > 127) throw py::value_error("output_zero_point: expected an int in [-128, 127]");
  py::array_t<int8_t> q = aligned_array<int8_t>({s.N, s.OH, s.OW, C});
  std::fill(q.mutable_data(), q.mutable_data() + size_t(rows) * C, int8_t(0));
  const Requant rq{1.f / sc, out_zp};
  cfg.finish_block(out.mutable_data() + col0, C, rows, cols, op, 0, col0, &rq, q.mutable_data() + col0, C);
  return std::move(q);
}

void bind_qs8_gemm(py::module_& m) {
  py::class_<PyPackedQs8>(m, "PackedQs8Weights",
                          "int8 weights (out_features, in_features) packed once for one kernel path")
      .def(py::init<const py::object&, const py::object&, const py::object&>(), py::arg("weight"),
           py::arg("isa") = py::none(), py::arg("signed_activations") = false,
           "signed_activations: the activations will hold negative codes (8-bit); on AVX2 that packs the "
           "s16 layout, faster for them (a speed hint: every layout is exact for any input)")
      .def_property_readonly("isa", [](const PyPackedQs8& p) { return std::string(isa_name(p.packed().isa)); })
      .def_property_readonly("out_features", [](const PyPackedQs8& p) { return p.packed().N; })
      .def_property_readonly("in_features", [](const PyPackedQs8& p) { return p.packed().K; })
      .def_property_readonly("nbytes", [](const PyPackedQs8& p) { return p.packed().storage.size(); })
      .def_property_readonly("layout", [](const PyPackedQs8& p) { return p.packed().layout; },
                             "the ISA's layout variant (AVX2: 0 = s16 pairs, 1 = s8 quads; others 0)")
      .def("gemm_s32", &PyPackedQs8::gemm_s32, py::arg("a"), py::arg("num_threads") = 1,
           "int32 C = a @ weight.T for int8 a (M, in_features)")
      .def("linear_dynamic", &PyPackedQs8::linear_dynamic, py::arg("x"), py::arg("weight_scale"),
           py::arg("bias") = py::none(), py::arg("relu") = false, py::arg("num_threads") = 1,
           py::arg("activation_bits") = 8,
           "fp32 y = dequant(quant_rows(x) @ weight.T) * weight_scale + bias; activation_bits=7 quantizes "
           "rows asymmetrically onto [0, 127] (AVX2 then multiplies without sign steps; the same outputs on "
           "every path)")
      .def("linear_static", &PyPackedQs8::linear_static, py::arg("x"), py::arg("input_scale"),
           py::arg("input_zero_point"), py::arg("weight_scale"), py::arg("bias") = py::none(),
           py::arg("relu") = false, py::arg("num_threads") = 1,
           "fp32 y with calibrated (static) activation quantization; bias must fold the zero point");
  m.def("qs8_finish_block", &finish_block, py::arg("y"), py::arg("isa") = py::none(), py::arg("col0") = 0,
        py::arg("cols") = -1, py::arg("residual") = py::none(), py::arg("activation") = "none",
        py::arg("act_lo") = 0.f, py::arg("act_hi") = 0.f, py::arg("residual_scale") = 1.f,
        py::arg("residual_zero_point") = 0, py::arg("output_scale") = py::none(), py::arg("output_zero_point") = 0,
        "post-op (+ requantization) of columns [col0, col0 + cols) of an NHWC float32 block: int8 node outputs");
  m.def("qs8_quantize_nchw_to_nhwc", &quantize_nchw_to_nhwc, py::arg("x"), py::arg("scale"), py::arg("zero_point"),
        py::arg("isa") = py::none(), py::arg("num_threads") = 1,
        "fp32 NCHW images -> (int8 NHWC, per-image non-finite flags): the entry of an int8 graph");
  m.def("qs8_quantize_rows_static", &quantize_rows_static, py::arg("x"), py::arg("scale"), py::arg("zero_point"),
        py::arg("isa") = py::none(), py::arg("reference") = false,
        "static int8 quantization with one scale / zero point -> (q, row_scales)");
  m.def("qs8_conv2d_static", &conv2d_static, py::arg("x_nhwc"), py::arg("weights"), py::arg("kernel"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"), py::arg("input_scale"),
        py::arg("input_zero_point"), py::arg("weight_scale"), py::arg("bias"), py::arg("relu"),
        py::arg("num_threads") = 1, py::arg("residual") = py::none(), py::arg("activation") = "none",
        py::arg("act_lo") = 0.f, py::arg("act_hi") = 0.f, py::arg("residual_scale") = 1.f,
        py::arg("residual_zero_point") = 0, py::arg("output_scale") = py::none(), py::arg("output_zero_point") = 0,
        "static int8 conv2d on NHWC fp32 or int8 input -> NHWC fp32 output (or int8 with output_scale), "
        "optional fused residual add (fp32 or int8) + activation");
  py::class_<ConvParams>(m, "Qs8Conv2dPlan",
                         "qs8_conv2d_static with everything but (x_nhwc, residual, num_threads) bound and checked once")
      .def(py::init([](const py::list& weights, py::tuple kernel, py::tuple stride, py::tuple padding,
                       py::tuple dilation, int groups, float in_scale, int zero_point, const py::object& scale,
                       const py::object& bias, bool relu, const std::string& activation, float act_lo, float act_hi,
                       float residual_scale, int residual_zero_point, const py::object& output_scale,
                       int output_zero_point, const std::string& winograd) {
             const WinogradMode mode = winograd_mode_arg(winograd, "winograd");
             ConvParams P = conv_params(weights, kernel, stride, padding, dilation, groups, in_scale, zero_point,
                                        scale, bias, relu, activation, act_lo, act_hi, residual_scale,
                                        residual_zero_point, output_scale, output_zero_point);
             P.winograd = mode;
             return P;
           }),
           py::arg("weights"), py::arg("kernel"), py::arg("stride"), py::arg("padding"),
           py::arg("dilation"), py::arg("groups"), py::arg("input_scale"), py::arg("input_zero_point"),
           py::arg("weight_scale"), py::arg("bias"), py::arg("relu"), py::arg("activation") = "none",
           py::arg("act_lo") = 0.f, py::arg("act_hi") = 0.f, py::arg("residual_scale") = 1.f,
           py::arg("residual_zero_point") = 0, py::arg("output_scale") = py::none(), py::arg("output_zero_point") = 0,
           py::arg("winograd") = "auto")
      .def_property_readonly("winograd", [](const ConvParams& P) {
        return std::string(P.winograd == WinogradMode::always ? "always" : P.winograd == WinogradMode::never ? "never" : "auto");
      })
      .def("uses_winograd",
           [](const ConvParams& P, const py::object& x_obj) {
             ConvIO io;
             py::array x = conv_input_arg(x_obj, &io);
             Conv2dShape s = conv_shape_args(x, P.kernel, P.stride, P.padding, P.dilation, P.groups);
             s.Cout = P.cout;
             conv_output_size(x, &s);
             return qs8_conv_takes_winograd(s, *P.packed[0], P.winograd);
           },
           py::arg("x_nhwc"), "whether a call on x runs the integer Winograd path (stride-1 3x3 convs)")
      .def("__call__", &conv_run, py::arg("x_nhwc"), py::arg("residual") = py::none(), py::arg("num_threads") = 1);
  m.def(
      "qs8_winograd_candidate",
      [](py::tuple kernel, py::tuple stride, py::tuple dilation, int groups, int in_channels, const py::object& isa) {
        if (kernel.size() != 2 || stride.size() != 2 || dilation.size() != 2)
          throw py::value_error("kernel, stride, dilation: expected (h, w) pairs");
        if (groups < 1 || in_channels < 1)
          throw py::value_error("groups, in_channels: expected >= 1, got " + std::to_string(groups) + ", " +
                                std::to_string(in_channels));
        Isa target = selected_isa();  // any path by name, runnable here or not: the rule is data
        if (!isa.is_none() && !parse_isa(py::str(isa), &target))
          throw py::value_error("isa: '" + std::string(py::str(isa)) +
                                "' is not a kernel path; expected scalar, avx2, avx512_vnni or amx");
        return qs8_winograd_candidate(kernel[0].cast<int>(), kernel[1].cast<int>(), stride[0].cast<int>(),
                                      stride[1].cast<int>(), dilation[0].cast<int>(), dilation[1].cast<int>(), groups,
                                      in_channels, target);
      },
      py::arg("kernel"), py::arg("stride"), py::arg("dilation"), py::arg("groups"), py::arg("in_channels"),
      py::arg("isa") = py::none(),
      "whether a conv of this geometry can run integer Winograd under winograd='auto' on isa (the number of "
      "output tiles decides the rest per call): such convs keep the compact im2col weight layout");
  m.def("ref_qs8_gemm_s32", &ref_gemm, py::arg("a"), py::arg("b"), "reference int32 a @ b.T for int8 a, b");
  m.def("qs8_quantize_rows", &quantize_rows, py::arg("x"), py::arg("isa") = py::none(),
        py::arg("reference") = false, py::arg("activation_bits") = 8, py::arg("unsigned_codes") = false,
        "per-row symmetric int8 quantization -> (q, scales); activation_bits=7: asymmetric onto [0, 127] -> "
        "(q, scales, zero_points), q = code - zero point (s8), or with unsigned_codes the code itself");
  m.attr("MAX_EXACT_K") = kMaxExactK;
}

}  // namespace nnslim
