// A run of int8 convolutions in one call: each plan (Qs8Conv2dPlan, Qs8DwConv2dPlan or
// Qs8GconvConv2dPlan) reads the previous one's int8 NHWC output, and optionally a residual that is
// the chain's input or an earlier plan's output (MobileNetV2's inverted residual: expand -> depthwise -> project + input). Each plan
// runs as its own call would, so the result is the module-by-module one, bit for bit; what goes is
// the Python between the convs (nnslim.graph.lowered hands it its runs of Int8Conv2d steps).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <string>
#include <vector>

#include "conv_plan.h"
#include "dwconv_plan.h"
#include "gconv_plan.h"

namespace nnslim {
namespace py = pybind11;

namespace {

// residual_from[i]: -2 none, -1 the chain's input x, j (< i) the output of plan j.
py::object conv_chain(const py::object& x, const py::list& plans, const std::vector<int>& residual_from,
                      int num_threads) {
  const size_t n = py::len(plans);
  if (n == 0) throw py::value_error("plans: expected at least one conv plan");
  if (residual_from.size() != n)
    throw py::value_error("residual_from: expected one entry per plan (" + std::to_string(n) + "), got " +
                          std::to_string(residual_from.size()));
  // last_use[j]: the last plan that reads output j (the next one, or a later residual); an output is
  // released after it, so a long chain holds what a module-by-module run would (two or three
  // activations), not all of them.
  std::vector<size_t> last_use(n);
  for (size_t i = 0; i < n; ++i) {
    const int r = residual_from[i];
    if (r < -2 || r >= int(i))
      throw py::value_error("residual_from[" + std::to_string(i) + "]: expected -2 (none), -1 (the input) or an "
                            "earlier plan's index, got " + std::to_string(r));
    last_use[i] = i + 1;
    if (r >= 0) last_use[size_t(r)] = std::max(last_use[size_t(r)], i);
  }
  std::vector<py::object> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int r = residual_from[i];
    const py::object& in = i == 0 ? x : out.back();
    const py::object res = r == -2 ? py::object(py::none()) : r == -1 ? x : out[size_t(r)];
    const py::handle plan = plans[i];
    if (py::isinstance<ConvParams>(plan))
      out.push_back(conv_run(plan.cast<const ConvParams&>(), in, res, num_threads));
    else if (py::isinstance<DwConvParams>(plan))
      out.push_back(dw_conv_run(plan.cast<const DwConvParams&>(), in, res, num_threads));
    else if (py::isinstance<GconvParams>(plan))
      out.push_back(gconv_run(plan.cast<const GconvParams&>(), in, res, num_threads));
    else
      throw py::type_error("plans[" + std::to_string(i) + "]: expected a Qs8Conv2dPlan, Qs8DwConv2dPlan or Qs8GconvConv2dPlan, got " +
                           std::string(py::str(py::type::handle_of(plan).attr("__name__"))));
    for (size_t j = 0; j < i; ++j)
      if (last_use[j] <= i) out[j] = py::none();
  }
  return out.back();
}

}  // namespace

void bind_qs8_conv_chain(py::module_& m) {
  m.def("qs8_conv_chain", &conv_chain, py::arg("x"), py::arg("plans"), py::arg("residual_from"),
        py::arg("num_threads") = 1,
        "runs conv plans in sequence, each on the previous output (plan i's residual: residual_from[i] = -2 "
        "none, -1 the input x, j an earlier plan's output); returns the last output");
}

}  // namespace nnslim
