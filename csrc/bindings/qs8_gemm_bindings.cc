// Python bindings of the int8 GEMM, its packed weights, the per-row quantizer and their references.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "../kernels/qs8-gemm/qs8-gemm.h"
#include "checks.h"
#include "nnslim/gemm.h"
#include "nnslim/ref.h"

namespace nnslim {
namespace py = pybind11;

namespace {

// Packed weights owned by a Python object; freed with it.
class PyPackedQs8 {
 public:
  PyPackedQs8(const py::object& weight, const py::object& isa) {
    auto w = checked<int8_t>(weight, "weight", 2);
    check_int_range(w.shape(0), "weight");
    check_int_range(w.shape(1), "weight");
    if (w.shape(0) == 0 || w.shape(1) == 0)
      throw py::value_error("weight: expected a non-empty (out_features, in_features) array, got shape " +
                            shape_str(w));
    const Isa target = isa_arg(isa);
    const int8_t* src = w.data();
    const int N = int(w.shape(0)), K = int(w.shape(1));
    py::gil_scoped_release nogil;
    packed_ = qs8_pack_weights(src, N, K, target);
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
                                    const py::object& bias_obj, bool relu, int num_threads) const {
    auto x = checked<float>(x_obj, "x", 2);
    check_dim(x, 1, packed_->K, "x", "in_features (x.shape[1])");
    check_int_range(x.shape(0), "x");
    auto scale = checked<float>(scale_obj, "weight_scale", 1);
    check_dim(scale, 0, packed_->N, "weight_scale", "out_features");
    const float* biasp = nullptr;
    py::array_t<float> bias;
    if (!bias_obj.is_none()) {
      bias = checked<float>(bias_obj, "bias", 1);
      check_dim(bias, 0, packed_->N, "bias", "out_features");
      biasp = bias.data();
    }
    checked_threads(num_threads);
    const int M = int(x.shape(0));
    py::array_t<float> y({py::ssize_t(M), py::ssize_t(packed_->N)});
    const float* xp = x.data();
    const float* sp = scale.data();
    float* yp = y.mutable_data();
    {
      py::gil_scoped_release nogil;
      qs8_linear_dynamic_f32(xp, packed_->K, M, *packed_, sp, biasp, relu, yp, packed_->N, num_threads);
    }
    return y;
  }

  const PackedB& packed() const { return *packed_; }

 private:
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

py::tuple quantize_rows(const py::object& x_obj, const py::object& isa, bool reference) {
  auto x = checked<float>(x_obj, "x", 2);
  check_int_range(x.shape(0), "x");
  check_int_range(x.shape(1), "x");
  const int M = int(x.shape(0)), K = int(x.shape(1));
  py::array_t<int8_t> q({py::ssize_t(M), py::ssize_t(K)});
  py::array_t<float> s{py::ssize_t(M)};
  if (reference) {
    for (int m = 0; m < M; ++m) ref::qs8_quantize_row(x.data() + size_t(m) * K, K, K, q.mutable_data() + size_t(m) * K, s.mutable_data() + m);
  } else {
    const Qs8GemmConfig& cfg = qs8_gemm_config(isa_arg(isa));
    cfg.quantize_rows(x.data(), K, 0, M, K, K, q.mutable_data(), K, s.mutable_data());
  }
  return py::make_tuple(q, s);
}

}  // namespace

void bind_qs8_gemm(py::module_& m) {
  py::class_<PyPackedQs8>(m, "PackedQs8Weights",
                          "int8 weights (out_features, in_features) packed once for one kernel path")
      .def(py::init<const py::object&, const py::object&>(), py::arg("weight"), py::arg("isa") = py::none())
      .def_property_readonly("isa", [](const PyPackedQs8& p) { return std::string(isa_name(p.packed().isa)); })
      .def_property_readonly("out_features", [](const PyPackedQs8& p) { return p.packed().N; })
      .def_property_readonly("in_features", [](const PyPackedQs8& p) { return p.packed().K; })
      .def_property_readonly("nbytes", [](const PyPackedQs8& p) { return p.packed().storage.size(); })
      .def("gemm_s32", &PyPackedQs8::gemm_s32, py::arg("a"), py::arg("num_threads") = 1,
           "int32 C = a @ weight.T for int8 a (M, in_features)")
      .def("linear_dynamic", &PyPackedQs8::linear_dynamic, py::arg("x"), py::arg("weight_scale"),
           py::arg("bias") = py::none(), py::arg("relu") = false, py::arg("num_threads") = 1,
           "fp32 y = dequant(quant_rows(x) @ weight.T) * weight_scale + bias");
  m.def("ref_qs8_gemm_s32", &ref_gemm, py::arg("a"), py::arg("b"), "reference int32 a @ b.T for int8 a, b");
  m.def("qs8_quantize_rows", &quantize_rows, py::arg("x"), py::arg("isa") = py::none(),
        py::arg("reference") = false, "per-row symmetric int8 quantization -> (q, scales)");
  m.attr("MAX_EXACT_K") = kMaxExactK;
}

}  // namespace nnslim
