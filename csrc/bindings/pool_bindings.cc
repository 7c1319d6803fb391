// Python bindings of the fp32 NCHW max pool and its reference.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>

#include "checks.h"
#include "nnslim/maxpool.h"

namespace nnslim {
namespace py = pybind11;

namespace {

Pool2dShape shape_arg(const py::array_t<float>& x, std::pair<int, int> k, std::pair<int, int> s, std::pair<int, int> p,
                      std::pair<int, int> d, bool ceil_mode) {
  for (int i = 0; i < 4; ++i) check_int_range(x.shape(i), "x");
  const int64_t planes = int64_t(x.shape(0)) * x.shape(1);
  if (planes > 0x7fffffff) throw py::value_error("x: batch * channels exceeds 2^31 - 1");
  Pool2dShape sh;
  sh.planes = int(planes);
  sh.H = int(x.shape(2));
  sh.W = int(x.shape(3));
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

}  // namespace

void bind_pool(py::module_& m) {
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
