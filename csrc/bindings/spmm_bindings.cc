// Python bindings of the fp32 CSR kernels: the CSR builder/validator, the sparse linear and
// convolution operators (weights converted once, per kernel path) and their references.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <limits>
#include <string>
#include <vector>

#include "../kernels/f32-spmm/f32-spmm.h"
#include "checks.h"
#include "nnslim/spmm.h"

namespace nnslim {
namespace py = pybind11;

namespace {

std::vector<int> int_list(const std::vector<int64_t>& v, size_t n, const char* name, int64_t lo) {
  if (v.size() != n)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(n) + " integers, got " +
                          std::to_string(v.size()));
  std::vector<int> out;
  for (int64_t x : v) out.push_back(dim_arg(x, name, lo));
  return out;
}

// Checks the CSR arrays of a rows x cols matrix (all invariants, in C++) and copies them.
Csr csr_arg(const py::handle& indptr_obj, const py::handle& indices_obj, const py::handle& values_obj, int rows,
            int cols) {
  const std::vector<int64_t> indptr = index_array(indptr_obj, "indptr");
  const std::vector<int64_t> idx64 = index_array(indices_obj, "indices");
  auto values = checked<float>(values_obj, "values", 1);
  if (indptr.empty()) throw py::value_error("indptr: expected rows + 1 = " + std::to_string(rows + 1) + " entries, got 0");
  std::vector<int32_t> idx(idx64.size());
  for (size_t p = 0; p < idx64.size(); ++p) {
    if (idx64[p] < 0 || idx64[p] >= cols)
      throw py::value_error("indices: indices[" + std::to_string(p) + "] = " + std::to_string(idx64[p]) +
                            " is outside [0, " + std::to_string(cols) + ")");
    idx[p] = int32_t(idx64[p]);
  }
  const float* vp = values.data();
  const int64_t nv = values.shape(0);
  py::gil_scoped_release nogil;
  return csr_from_arrays(rows, cols, indptr.data(), int64_t(indptr.size()), idx.data(), int64_t(idx.size()), vp, nv);
}

const float* bias_arg(const py::object& obj, int n, py::array_t<float>* keep) {
  if (obj.is_none()) return nullptr;
  *keep = checked<float>(obj, "bias", 1);
  check_dim(*keep, 0, n, "bias", "out features");
  return keep->data();
}

Conv2dGeometry geometry_arg(const std::vector<int64_t>& weight_shape, const std::vector<int64_t>& stride,
                            const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation) {
  const std::vector<int> ws = int_list(weight_shape, 4, "weight_shape", 1);
  const std::vector<int> st = int_list(stride, 2, "stride", 1);
  const std::vector<int> pd = int_list(padding, 4, "padding (top, bottom, left, right)", 0);
  const std::vector<int> dl = int_list(dilation, 2, "dilation", 1);
  Conv2dGeometry g;
  g.out_channels = ws[0];
  g.in_channels = ws[1];
  g.kh = ws[2];
  g.kw = ws[3];
  g.stride_h = st[0];
  g.stride_w = st[1];
  g.pad_top = pd[0];
  g.pad_bottom = pd[1];
  g.pad_left = pd[2];
  g.pad_right = pd[3];
  g.dilation_h = dl[0];
  g.dilation_w = dl[1];
  g.validate();
  return g;
}

py::tuple csr_tuple(const Csr& c) {
  py::array_t<int64_t> indptr(py::ssize_t(c.indptr.size()));
  py::array_t<int32_t> indices(py::ssize_t(c.indices.size()));
  py::array_t<float> values(py::ssize_t(c.values.size()));
  std::copy(c.indptr.begin(), c.indptr.end(), indptr.mutable_data());
  std::copy(c.indices.begin(), c.indices.end(), indices.mutable_data());
  std::copy(c.values.begin(), c.values.end(), values.mutable_data());
  return py::make_tuple(indptr, indices, values);
}

class PySparseLinear {
 public:
  PySparseLinear(const py::object& indptr, const py::object& indices, const py::object& values,
                 std::pair<int64_t, int64_t> shape, const py::object& isa, const std::string& format) {
    const int N = dim_arg(shape.first, "shape[0] (out_features)"), K = dim_arg(shape.second, "shape[1] (in_features)");
    const Isa target = isa_arg(isa);
    SpmmFormat f;
    if (format == "auto") f = SpmmFormat::automatic;
    else if (format == "csr") f = SpmmFormat::csr;
    else if (format == "4x1") f = SpmmFormat::blocks4x1;
    else throw py::value_error("format: expected 'auto', 'csr' or '4x1', got '" + format + "'");
    Csr c = csr_arg(indptr, indices, values, N, K);
    py::gil_scoped_release nogil;
    op_ = std::make_unique<F32SparseLinear>(std::move(c), target, f);
  }

  py::array_t<float> forward(const py::object& x_obj, const py::object& bias_obj, int num_threads) const {
    auto x = checked<float>(x_obj, "x", 2);
    const Csr& w = op_->csr();
    check_dim(x, 1, w.cols, "x", "in_features (x.shape[1])");
    check_int_range(x.shape(0), "x");
    py::array_t<float> bias;
    const float* bp = bias_arg(bias_obj, w.rows, &bias);
    checked_threads(num_threads);
    const int M = int(x.shape(0));
    py::array_t<float> y({py::ssize_t(M), py::ssize_t(w.rows)});
    const float* xp = x.data();
    float* yp = y.mutable_data();
    {
      py::gil_scoped_release nogil;
      op_->forward(xp, size_t(w.cols), M, bp, yp, size_t(w.rows), num_threads);
    }
    return y;
  }

  const F32SparseLinear& op() const { return *op_; }

 private:
  std::unique_ptr<F32SparseLinear> op_;
};

class PySparseConv2d {
 public:
  PySparseConv2d(const py::object& indptr, const py::object& indices, const py::object& values,
                 const std::vector<int64_t>& weight_shape, const std::vector<int64_t>& stride,
                 const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation, const py::object& isa) {
    const Conv2dGeometry g = geometry_arg(weight_shape, stride, padding, dilation);
    const Isa target = isa_arg(isa);
    Csr c = csr_arg(indptr, indices, values, g.out_channels, g.in_channels * g.kh * g.kw);
    py::gil_scoped_release nogil;
    op_ = std::make_unique<F32SparseConv2d>(std::move(c), g, target);
  }

  py::array_t<float> forward(const py::object& x_obj, const py::object& bias_obj, int num_threads) const {
    auto x = checked<float>(x_obj, "x", 4);
    const Conv2dGeometry& g = op_->geometry();
    check_dim(x, 1, g.in_channels, "x", "in_channels (x.shape[1])");
    for (int d = 0; d < 4; ++d) check_int_range(x.shape(d), "x");
    py::array_t<float> bias;
    const float* bp = bias_arg(bias_obj, g.out_channels, &bias);
    checked_threads(num_threads);
    const int B = int(x.shape(0)), H = int(x.shape(2)), W = int(x.shape(3));
    int Ho = 0, Wo = 0;
    if (H < 1 || W < 1) throw py::value_error("x: expected spatial size >= 1, got shape " + shape_str(x));
    g.output_size(H, W, &Ho, &Wo);
    py::array_t<float> y({py::ssize_t(B), py::ssize_t(g.out_channels), py::ssize_t(Ho), py::ssize_t(Wo)});
    const float* xp = x.data();
    float* yp = y.mutable_data();
    {
      py::gil_scoped_release nogil;
      op_->forward(xp, B, H, W, bp, yp, num_threads);
    }
    return y;
  }

  py::tuple output_size(int64_t H, int64_t W) const {
    int Ho, Wo;
    op_->geometry().output_size(dim_arg(H, "H", 1), dim_arg(W, "W", 1), &Ho, &Wo);
    return py::make_tuple(Ho, Wo);
  }

  const F32SparseConv2d& op() const { return *op_; }

 private:
  std::unique_ptr<F32SparseConv2d> op_;
};

py::tuple csr_from_dense_py(const py::object& w_obj) {
  auto w = checked<float>(w_obj, "weight", 2);
  const int N = dim_arg(w.shape(0), "weight.shape[0]"), K = dim_arg(w.shape(1), "weight.shape[1]");
  const float* wp = w.data();
  Csr c;
  {
    py::gil_scoped_release nogil;
    c = csr_from_dense(wp, N, K, size_t(K));
  }
  return csr_tuple(c);
}

py::tuple csr_validate_py(const py::object& indptr, const py::object& indices, const py::object& values,
                          std::pair<int64_t, int64_t> shape) {
  const int N = dim_arg(shape.first, "shape[0]"), K = dim_arg(shape.second, "shape[1]");
  return csr_tuple(csr_arg(indptr, indices, values, N, K));
}

py::array_t<float> ref_spmm_py(const py::object& indptr, const py::object& indices, const py::object& values,
                               std::pair<int64_t, int64_t> shape, const py::object& x_obj, const py::object& bias_obj) {
  const int N = dim_arg(shape.first, "shape[0]"), K = dim_arg(shape.second, "shape[1]");
  const Csr c = csr_arg(indptr, indices, values, N, K);
  auto x = checked<float>(x_obj, "x", 2);
  check_dim(x, 1, K, "x", "in_features (x.shape[1])");
  check_int_range(x.shape(0), "x");
  py::array_t<float> bias;
  const float* bp = bias_arg(bias_obj, N, &bias);
  const int M = int(x.shape(0));
  py::array_t<float> y({py::ssize_t(M), py::ssize_t(N)});
  ref::f32_spmm(c, x.data(), size_t(K), M, bp, y.mutable_data(), size_t(N));
  return y;
}

py::array_t<float> ref_spconv_py(const py::object& indptr, const py::object& indices, const py::object& values,
                                 const std::vector<int64_t>& weight_shape, const py::object& x_obj,
                                 const py::object& bias_obj, const std::vector<int64_t>& stride,
                                 const std::vector<int64_t>& padding, const std::vector<int64_t>& dilation) {
  const Conv2dGeometry g = geometry_arg(weight_shape, stride, padding, dilation);
  const Csr c = csr_arg(indptr, indices, values, g.out_channels, g.in_channels * g.kh * g.kw);
  auto x = checked<float>(x_obj, "x", 4);
  check_dim(x, 1, g.in_channels, "x", "in_channels (x.shape[1])");
  py::array_t<float> bias;
  const float* bp = bias_arg(bias_obj, g.out_channels, &bias);
  const int B = int(x.shape(0)), H = int(x.shape(2)), W = int(x.shape(3));
  int Ho, Wo;
  g.output_size(H, W, &Ho, &Wo);
  py::array_t<float> y({py::ssize_t(B), py::ssize_t(g.out_channels), py::ssize_t(Ho), py::ssize_t(Wo)});
  ref::f32_spconv2d(c, g, x.data(), B, H, W, bp, y.mutable_data());
  return y;
}

}  // namespace

void bind_spmm(py::module_& m) {
  py::class_<PySparseLinear>(m, "SparseLinearF32",
                             "fp32 y = x @ W.T + bias for a CSR weight W (out_features, in_features), "
                             "converted once for one kernel path")
      .def(py::init<const py::object&, const py::object&, const py::object&, std::pair<int64_t, int64_t>,
                    const py::object&, const std::string&>(),
           py::arg("indptr"), py::arg("indices"), py::arg("values"), py::arg("shape"), py::arg("isa") = py::none(),
           py::arg("format") = "auto")
      .def("forward", &PySparseLinear::forward, py::arg("x"), py::arg("bias") = py::none(),
           py::arg("num_threads") = 1, "x (M, in_features) float32 -> y (M, out_features)")
      .def_property_readonly("isa", [](const PySparseLinear& p) { return std::string(isa_name(p.op().isa())); })
      .def_property_readonly("kernel",
                             [](const PySparseLinear& p) {
                               std::string k = f32_spmm_config(p.op().isa()).kernel;
                               return p.op().blocked() ? k.replace(0, 8, "f32-bspmm 4x1") : k;
                             })
      .def_property_readonly("blocked", [](const PySparseLinear& p) { return p.op().blocked(); })
      .def_property_readonly("out_features", [](const PySparseLinear& p) { return p.op().csr().rows; })
      .def_property_readonly("in_features", [](const PySparseLinear& p) { return p.op().csr().cols; })
      .def_property_readonly("nnz", [](const PySparseLinear& p) { return p.op().csr().nnz(); });

  py::class_<PySparseConv2d>(m, "SparseConv2dF32",
                             "fp32 2-D convolution (groups=1) with a CSR weight over (out_channels, "
                             "in_channels * kh * kw), converted once for one kernel path")
      .def(py::init<const py::object&, const py::object&, const py::object&, const std::vector<int64_t>&,
                    const std::vector<int64_t>&, const std::vector<int64_t>&, const std::vector<int64_t>&,
                    const py::object&>(),
           py::arg("indptr"), py::arg("indices"), py::arg("values"), py::arg("weight_shape"),
           py::arg("stride") = std::vector<int64_t>{1, 1}, py::arg("padding") = std::vector<int64_t>{0, 0, 0, 0},
           py::arg("dilation") = std::vector<int64_t>{1, 1}, py::arg("isa") = py::none())
      .def("forward", &PySparseConv2d::forward, py::arg("x"), py::arg("bias") = py::none(),
           py::arg("num_threads") = 1, "x (N, C, H, W) float32 -> y (N, out_channels, Ho, Wo)")
      .def("output_size", &PySparseConv2d::output_size, py::arg("H"), py::arg("W"))
      .def_property_readonly("isa", [](const PySparseConv2d& p) { return std::string(isa_name(p.op().isa())); })
      .def_property_readonly("kernel",
                             [](const PySparseConv2d& p) { return std::string(f32_spmm_config(p.op().isa()).kernel); })
      .def_property_readonly("pointwise", [](const PySparseConv2d& p) { return p.op().is_pointwise(); })
      .def_property_readonly("nnz", [](const PySparseConv2d& p) { return p.op().csr().nnz(); });

  m.def("csr_from_dense", &csr_from_dense_py, py::arg("weight"),
        "nonzeros of a 2-D float32 array -> (indptr int64, indices int32, values float32)");
  m.def("csr_validate", &csr_validate_py, py::arg("indptr"), py::arg("indices"), py::arg("values"), py::arg("shape"),
        "checks CSR arrays (raises ValueError/TypeError naming the argument); returns the canonical dtypes");
  m.def("partition_rows_by_nnz",
        [](const py::object& indptr, int parts, int align) {
          if (parts < 1) throw py::value_error("parts: expected >= 1, got " + std::to_string(parts));
          if (align < 1) throw py::value_error("align: expected >= 1, got " + std::to_string(align));
          const std::vector<int64_t> ip = index_array(indptr, "indptr");
          if (ip.empty()) throw py::value_error("indptr: expected at least 1 entry");
          for (size_t i = 1; i < ip.size(); ++i)
            if (ip[i] < ip[i - 1]) throw py::value_error("indptr: must be non-decreasing");
          return partition_rows_by_nnz(ip, parts, align);
        },
        py::arg("indptr"), py::arg("parts"), py::arg("align") = 1,
        "row boundaries splitting a CSR matrix into `parts` ranges of near-equal nonzeros");
  m.def("ref_f32_spmm", &ref_spmm_py, py::arg("indptr"), py::arg("indices"), py::arg("values"), py::arg("shape"),
        py::arg("x"), py::arg("bias") = py::none(), "reference y = x @ W.T + bias");
  m.def("ref_f32_spconv2d", &ref_spconv_py, py::arg("indptr"), py::arg("indices"), py::arg("values"),
        py::arg("weight_shape"), py::arg("x"), py::arg("bias") = py::none(),
        py::arg("stride") = std::vector<int64_t>{1, 1}, py::arg("padding") = std::vector<int64_t>{0, 0, 0, 0},
        py::arg("dilation") = std::vector<int64_t>{1, 1}, "reference sparse 2-D convolution");
}

}  // namespace nnslim
