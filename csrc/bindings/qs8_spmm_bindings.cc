// Python bindings of the block-sparse int8 linear layer ("4x1" blocks), its block-CSR builder and
// the reference product.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "checks.h"
#include "nnslim/qs8_spmm.h"

namespace nnslim {
namespace py = pybind11;

namespace {

// Checks the block arrays of a rows x cols weight (every invariant, in C++) and copies them.
Qs8Bsr4 bsr_arg(const py::handle& indptr_obj, const py::handle& indices_obj, const py::handle& values_obj,
                std::pair<int64_t, int64_t> shape) {
  const int N = dim_arg(shape.first, "shape[0] (out_features)", 1);
  const int K = dim_arg(shape.second, "shape[1] (in_features)", 1);
  const std::vector<int64_t> indptr = index_array(indptr_obj, "block_indptr");
  const std::vector<int64_t> idx64 = index_array(indices_obj, "block_indices");
  auto values = checked<int8_t>(values_obj, "block_values", 2);
  if (values.shape(1) != kBlockRows)
    throw py::value_error("block_values: expected shape (nblocks, 4), got " + shape_str(values));
  if (indptr.empty()) throw py::value_error("block_indptr: expected ceil(rows / 4) + 1 entries, got 0");
  std::vector<int32_t> idx(idx64.size());
  for (size_t p = 0; p < idx64.size(); ++p) {
    if (idx64[p] < 0 || idx64[p] >= K)
      throw py::value_error("block_indices: block_indices[" + std::to_string(p) + "] = " + std::to_string(idx64[p]) +
                            " is outside [0, " + std::to_string(K) + ")");
    idx[p] = int32_t(idx64[p]);
  }
  const int8_t* vp = values.data();
  const int64_t nv = int64_t(values.shape(0)) * kBlockRows;
  try {
    return qs8_bsr4_from_arrays(N, K, indptr.data(), int64_t(indptr.size()), idx.data(), int64_t(idx.size()), vp, nv);
  } catch (const std::invalid_argument& e) {
    throw py::value_error(e.what());
  }
}

py::tuple bsr_tuple(const Qs8Bsr4& w) {
  py::array_t<int64_t> indptr(py::ssize_t(w.indptr.size()));
  py::array_t<int32_t> indices(py::ssize_t(w.indices.size()));
  py::array_t<int8_t> values({py::ssize_t(w.nblocks()), py::ssize_t(kBlockRows)});
  std::copy(w.indptr.begin(), w.indptr.end(), indptr.mutable_data());
  std::copy(w.indices.begin(), w.indices.end(), indices.mutable_data());
  std::copy(w.values.begin(), w.values.end(), values.mutable_data());
  return py::make_tuple(indptr, indices, values);
}

class PySparseInt8Linear {
 public:
  PySparseInt8Linear(const py::object& indptr, const py::object& indices, const py::object& values,
                     std::pair<int64_t, int64_t> shape, const py::object& isa) {
    const Isa target = isa_arg(isa);
    Qs8Bsr4 w = bsr_arg(indptr, indices, values, shape);
    std::string note;
    qs8_spmm_isa(target, &note);
    note_ = note;
    py::gil_scoped_release nogil;
    op_ = std::make_unique<Qs8SparseLinear>(std::move(w), target);
  }

  py::array_t<float> forward(const py::object& x_obj, float in_scale, int zero_point, const py::object& scale_obj,
                             const py::object& bias_obj, bool relu, int num_threads) const {
    const Qs8Bsr4& w = op_->bsr();
    auto x = checked<float>(x_obj, "x", 2);
    check_dim(x, 1, w.cols, "x", "in_features (x.shape[1])");
    check_int_range(x.shape(0), "x");
    auto scale = checked<float>(scale_obj, "weight_scale", 1);
    check_dim(scale, 0, w.rows, "weight_scale", "out_features");
    py::array_t<float> bias;
    const float* bp = optional_f32_vector(bias_obj, "bias", w.rows, &bias);
    checked_threads(num_threads);
    const int M = int(x.shape(0));
    py::array_t<float> y({py::ssize_t(M), py::ssize_t(w.rows)});
    const float* xp = x.data();
    const float* sp = scale.data();
    float* yp = y.mutable_data();
    {
      py::gil_scoped_release nogil;
      op_->forward_f32(xp, size_t(w.cols), M, in_scale, zero_point, sp, bp, relu, yp, size_t(w.rows), num_threads);
    }
    return y;
  }

  py::array_t<float> linear_dynamic(const py::object& x, const py::object& scale, const py::object& bias, bool relu,
                                     int num_threads) const {
    return forward(x, 0.f, 0, scale, bias, relu, num_threads);
  }

  py::array_t<float> linear_static(const py::object& x, float in_scale, int zero_point, const py::object& scale,
                                    const py::object& bias, bool relu, int num_threads) const {
    check_static_qparams(in_scale, zero_point);
    return forward(x, in_scale, zero_point, scale, bias, relu, num_threads);
  }

  py::array_t<int32_t> gemm_s32(const py::object& a_obj, int num_threads) const {
    const Qs8Bsr4& w = op_->bsr();
    auto a = checked<int8_t>(a_obj, "a", 2);
    check_dim(a, 1, w.cols, "a", "in_features (a.shape[1])");
    check_int_range(a.shape(0), "a");
    checked_threads(num_threads);
    const int M = int(a.shape(0));
    py::array_t<int32_t> c({py::ssize_t(M), py::ssize_t(w.rows)});
    const int8_t* ap = a.data();
    int32_t* cp = c.mutable_data();
    {
      py::gil_scoped_release nogil;
      op_->forward_s32(ap, size_t(w.cols), M, cp, size_t(w.rows), num_threads);
    }
    return c;
  }

  const Qs8SparseLinear& op() const { return *op_; }
  const std::string& note() const { return note_; }
  void set_row_kernel(const std::string& mode) {
    if (mode == "auto") op_->set_row_kernel(Qs8SparseLinear::RowKernel::automatic);
    else if (mode == "always") op_->set_row_kernel(Qs8SparseLinear::RowKernel::always);
    else if (mode == "never") op_->set_row_kernel(Qs8SparseLinear::RowKernel::never);
    else throw py::value_error("row_kernel: expected 'auto', 'always' or 'never', got '" + mode + "'");
  }

 private:
  std::unique_ptr<Qs8SparseLinear> op_;
  std::string note_;
};

py::tuple bsr4_from_dense_py(const py::object& w_obj) {
  auto w = checked<int8_t>(w_obj, "weight", 2);
  const int N = dim_arg(w.shape(0), "weight.shape[0]", 1), K = dim_arg(w.shape(1), "weight.shape[1]", 1);
  const int8_t* wp = w.data();
  Qs8Bsr4 b;
  {
    py::gil_scoped_release nogil;
    b = qs8_bsr4_from_dense(wp, N, K);
  }
  return bsr_tuple(b);
}

py::array_t<int32_t> ref_spmm_py(const py::object& indptr, const py::object& indices, const py::object& values,
                                 std::pair<int64_t, int64_t> shape, const py::object& a_obj) {
  const Qs8Bsr4 w = bsr_arg(indptr, indices, values, shape);
  auto a = checked<int8_t>(a_obj, "a", 2);
  check_dim(a, 1, w.cols, "a", "in_features (a.shape[1])");
  check_int_range(a.shape(0), "a");
  const int M = int(a.shape(0));
  py::array_t<int32_t> c({py::ssize_t(M), py::ssize_t(w.rows)});
  const int8_t* ap = a.data();
  int32_t* cp = c.mutable_data();
  {
    py::gil_scoped_release nogil;
    ref::qs8_bsr4_spmm_s32(w, ap, size_t(w.cols), M, cp, size_t(w.rows));
  }
  return c;
}

}  // namespace

void bind_qs8_spmm(py::module_& m) {
  py::class_<PySparseInt8Linear>(m, "SparseInt8LinearOp",
                                 "int8 y = dequant(quant(x) @ W.T) + bias for a 4x1 block-sparse int8 weight "
                                 "(out_features, in_features), packed once for one kernel path")
      .def(py::init<const py::object&, const py::object&, const py::object&, std::pair<int64_t, int64_t>,
                    const py::object&>(),
           py::arg("block_indptr"), py::arg("block_indices"), py::arg("block_values"), py::arg("shape"),
           py::arg("isa") = py::none())
      .def("linear_dynamic", &PySparseInt8Linear::linear_dynamic, py::arg("x"), py::arg("weight_scale"),
           py::arg("bias") = py::none(), py::arg("relu") = false, py::arg("num_threads") = 1,
           "x (M, in_features) float32, activations quantized per row -> y (M, out_features)")
      .def("linear_static", &PySparseInt8Linear::linear_static, py::arg("x"), py::arg("input_scale"),
           py::arg("input_zero_point"), py::arg("weight_scale"), py::arg("bias") = py::none(),
           py::arg("relu") = false, py::arg("num_threads") = 1,
           "static activations; the zero point's term must be folded into bias")
      .def("gemm_s32", &PySparseInt8Linear::gemm_s32, py::arg("a"), py::arg("num_threads") = 1,
           "a (M, in_features) int8 -> a @ W.T in int32")
      .def_property_readonly("isa", [](const PySparseInt8Linear& p) { return std::string(isa_name(p.op().isa())); })
      .def_property_readonly("note", &PySparseInt8Linear::note)
      .def("set_row_kernel", &PySparseInt8Linear::set_row_kernel, py::arg("mode"),
           "'auto' (few-row kernel up to its row limit), 'always' or 'never'")
      .def_property_readonly("nblocks", [](const PySparseInt8Linear& p) { return p.op().bsr().nblocks(); });
  m.def("bsr4_from_dense", &bsr4_from_dense_py, py::arg("weight"),
        "blocks (4 rows x 1 column) of a 2-D int8 array holding a nonzero -> (block_indptr int64, "
        "block_indices int32, block_values int8 (nblocks, 4))");
  m.def("bsr4_validate",
        [](const py::object& i, const py::object& j, const py::object& v, std::pair<int64_t, int64_t> shape) {
          return bsr_tuple(bsr_arg(i, j, v, shape));
        },
        py::arg("block_indptr"), py::arg("block_indices"), py::arg("block_values"), py::arg("shape"),
        "checks block arrays (raises ValueError/TypeError naming the array); returns them in canonical dtypes");
  m.def("ref_qs8_bsr4_spmm_s32", &ref_spmm_py, py::arg("block_indptr"), py::arg("block_indices"),
        py::arg("block_values"), py::arg("shape"), py::arg("a"), "reference int32 a @ W.T");
}

}  // namespace nnslim
