// Python bindings of the 4-bit weight-only linear kernels, their packed weights and references.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "checks.h"
#include "nnslim/q4.h"

namespace nnslim {
namespace py = pybind11;

namespace {

// The 16-entry code table: None means linear int4 ([-8, 7]).
struct Table {
  int8_t v[16];
};

Table table_arg(const py::object& obj) {
  Table t;
  if (obj.is_none()) {
    std::copy(kQ4LinearTable, kQ4LinearTable + 16, t.v);
    return t;
  }
  auto a = checked<int8_t>(obj, "table", 1);
  check_dim(a, 0, 16, "table", "16 entries");
  std::copy(a.data(), a.data() + 16, t.v);
  return t;
}

int checked_group(int group) {
  if (group <= 0 || group % kQ4GroupQuantum != 0 || group > kQ4MaxGroup)
    throw py::value_error("group_size: expected a positive multiple of " + std::to_string(kQ4GroupQuantum) +
                          " up to " + std::to_string(kQ4MaxGroup) + ", got " + std::to_string(group));
  return group;
}

py::ssize_t groups(py::ssize_t K, int group) { return (K + group - 1) / group; }

// codes (N, ceil(K / 2)) uint8 for in_features K.
py::array_t<uint8_t> checked_codes(const py::object& obj, py::ssize_t K) {
  if (K <= 0 || K > 0x7fffffff) throw py::value_error("in_features: expected 1 .. 2^31 - 1, got " + std::to_string(K));
  auto c = checked<uint8_t>(obj, "codes", 2);
  check_int_range(c.shape(0), "codes");
  if (c.shape(0) == 0) throw py::value_error("codes: expected at least one output row, got shape " + shape_str(c));
  check_dim(c, 1, (K + 1) / 2, "codes", "ceil(in_features / 2) bytes per row (codes.shape[1])");
  return c;
}

class PyPackedQ4 {
 public:
  PyPackedQ4(const py::object& codes_obj, const py::object& scales_obj, int in_features, int group_size,
             const py::object& table_obj, const py::object& isa) {
    auto codes = checked_codes(codes_obj, in_features);
    const int group = checked_group(group_size);
    const int N = int(codes.shape(0)), K = in_features;
    auto scales = checked<float>(scales_obj, "scales", 2);
    check_dim(scales, 0, N, "scales", "out_features (scales.shape[0])");
    check_dim(scales, 1, groups(K, group), "scales", "ceil(in_features / group_size) (scales.shape[1])");
    const Table t = table_arg(table_obj);
    const Isa target = isa_arg(isa);
    const uint8_t* cp = codes.data();
    const float* sp = scales.data();
    const size_t ldc = size_t(codes.shape(1));
    py::gil_scoped_release nogil;
    packed_ = q4_pack_weights(cp, ldc, sp, N, K, group, t.v, target);
  }

  py::array_t<float> linear(const py::object& x_obj, const py::object& bias_obj, int num_threads) const {
    auto x = checked<float>(x_obj, "x", 2);
    check_dim(x, 1, packed_->K, "x", "in_features (x.shape[1])");
    check_int_range(x.shape(0), "x");
    py::array_t<float> bias;
    const float* biasp = optional_f32_vector(bias_obj, "bias", packed_->N, &bias);
    checked_threads(num_threads);
    const int M = int(x.shape(0));
    py::array_t<float> y({py::ssize_t(M), py::ssize_t(packed_->N)});
    const float* xp = x.data();
    float* yp = y.mutable_data();
    {
      py::gil_scoped_release nogil;
      q4_linear_f32(xp, packed_->K, M, *packed_, biasp, yp, packed_->N, num_threads);
    }
    return y;
  }

  py::array_t<int32_t> gemm_group_s32(const py::object& a_obj, int num_threads) const {
    auto a = checked<int8_t>(a_obj, "a", 2);
    check_dim(a, 1, packed_->K, "a", "in_features (a.shape[1])");
    check_int_range(a.shape(0), "a");
    checked_threads(num_threads);
    const int M = int(a.shape(0));
    py::array_t<int32_t> c({py::ssize_t(M), py::ssize_t(packed_->N), py::ssize_t(packed_->G)});
    const int8_t* ap = a.data();
    int32_t* cp = c.mutable_data();
    {
      py::gil_scoped_release nogil;  // std::invalid_argument (A holds -128) arrives as ValueError
      q4_gemm_group_s32(ap, packed_->K, M, *packed_, cp, num_threads);
    }
    return c;
  }

  const PackedQ4& packed() const { return *packed_; }

 private:
  std::unique_ptr<PackedQ4> packed_;
};

py::array_t<int32_t> ref_group_s32(const py::object& a_obj, const py::object& codes_obj, int group_size,
                                   const py::object& table_obj) {
  auto a = checked<int8_t>(a_obj, "a", 2);
  check_int_range(a.shape(0), "a");
  auto codes = checked_codes(codes_obj, a.shape(1));
  const int group = checked_group(group_size);
  const Table t = table_arg(table_obj);
  const int M = int(a.shape(0)), N = int(codes.shape(0)), K = int(a.shape(1));
  const py::ssize_t G = groups(K, group);
  py::array_t<int32_t> c({py::ssize_t(M), py::ssize_t(N), py::ssize_t(G)});
  ref::q4_gemm_group_s32(a.data(), K, M, codes.data(), size_t(codes.shape(1)), N, K, group, t.v, c.mutable_data());
  return c;
}

py::array_t<float> ref_linear(const py::object& x_obj, const py::object& codes_obj, const py::object& scales_obj,
                              int group_size, const py::object& table_obj, const py::object& bias_obj) {
  auto x = checked<float>(x_obj, "x", 2);
  check_int_range(x.shape(0), "x");
  auto codes = checked_codes(codes_obj, x.shape(1));
  const int group = checked_group(group_size);
  const int M = int(x.shape(0)), N = int(codes.shape(0)), K = int(x.shape(1));
  auto scales = checked<float>(scales_obj, "scales", 2);
  check_dim(scales, 0, N, "scales", "out_features (scales.shape[0])");
  check_dim(scales, 1, groups(K, group), "scales", "ceil(in_features / group_size) (scales.shape[1])");
  const Table t = table_arg(table_obj);
  const float* biasp = nullptr;
  py::array_t<float> bias;
  if (!bias_obj.is_none()) {
    bias = checked<float>(bias_obj, "bias", 1);
    check_dim(bias, 0, N, "bias", "out_features");
    biasp = bias.data();
  }
  py::array_t<float> y({py::ssize_t(M), py::ssize_t(N)});
  ref::q4_linear_f32(x.data(), K, M, codes.data(), size_t(codes.shape(1)), scales.data(), N, K, group, t.v, biasp,
                     y.mutable_data(), N);
  return y;
}

}  // namespace

void bind_q4(py::module_& m) {
  py::class_<PyPackedQ4>(m, "PackedQ4Weights",
                         "4-bit codes (out_features, ceil(in_features / 2)), two per byte (low nibble = even "
                         "column), with fp32 scales (out_features, ceil(in_features / group_size)) and a "
                         "16-entry int8 code table (None: linear int4, code - 8), packed once for one kernel path")
      .def(py::init<const py::object&, const py::object&, int, int, const py::object&, const py::object&>(),
           py::arg("codes"), py::arg("scales"), py::arg("in_features"), py::arg("group_size"),
           py::arg("table") = py::none(), py::arg("isa") = py::none())
      .def_property_readonly("isa", [](const PyPackedQ4& p) { return std::string(isa_name(p.packed().isa)); })
      .def_property_readonly("out_features", [](const PyPackedQ4& p) { return p.packed().N; })
      .def_property_readonly("in_features", [](const PyPackedQ4& p) { return p.packed().K; })
      .def_property_readonly("group_size", [](const PyPackedQ4& p) { return p.packed().group; })
      .def_property_readonly("linear_table", [](const PyPackedQ4& p) { return p.packed().linear_table; })
      .def_property_readonly("nbytes", [](const PyPackedQ4& p) { return p.packed().storage.size(); })
      .def("linear", &PyPackedQ4::linear, py::arg("x"), py::arg("bias") = py::none(), py::arg("num_threads") = 1,
           "fp32 y = x @ dequant(W).T + bias, activations quantized per row to int8")
      .def("gemm_group_s32", &PyPackedQ4::gemm_group_s32, py::arg("a"), py::arg("num_threads") = 1,
           "int32 C[m, n, g] = sum over group g of a[m, k] * table[code[n, k]], int8 a in [-127, 127]");
  m.def("ref_q4_gemm_group_s32", &ref_group_s32, py::arg("a"), py::arg("codes"), py::arg("group_size"),
        py::arg("table") = py::none(), "reference of PackedQ4Weights.gemm_group_s32");
  m.def("ref_q4_linear", &ref_linear, py::arg("x"), py::arg("codes"), py::arg("scales"), py::arg("group_size"),
        py::arg("table") = py::none(), py::arg("bias") = py::none(), "reference of PackedQ4Weights.linear");
  m.attr("Q4_GROUP_QUANTUM") = kQ4GroupQuantum;
  m.attr("Q4_MAX_GROUP") = kQ4MaxGroup;
}

}  // namespace nnslim
