// The squeeze-excite block of an int8 graph in one call: global average pool of the int8 NHWC x ->
// fc1 (Qs8Conv2dPlan on the 1 x 1 means) -> fc2 (its plan, fp32 gate out) -> x * gate requantized.
// The four bindings it strings together run as they are, so the result is the one the four module
// calls give, bit for bit; what goes is the Python between them (measured on a Zen 3 at batch 1:
// ~20 us a module step after a conv has left the caches cold, four steps per block, eight blocks
// per MobileNetV3-Large image).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "conv_plan.h"
#include "pool_bindings.h"

namespace nnslim {
namespace py = pybind11;

namespace {

py::array_t<int8_t> squeeze_excite(const py::object& x_obj, float pool_scale, int pool_zero_point, const ConvParams& fc1,
                                   const ConvParams& fc2, float x_scale, int x_zero_point, float out_scale,
                                   int out_zero_point, int num_threads) {
  if (!fc2.output_scale.is_none())
    throw py::value_error("fc2: expected a plan with a float output (the gate), got one with output_scale");
  py::array_t<float> means = gavgpool_nhwc_py(x_obj, pool_scale, pool_zero_point, py::none(), num_threads);
  const py::ssize_t n = means.shape(0), c = means.shape(1);
  // (N, C) means are the (N, 1, 1, C) NHWC input of a 1 x 1 conv; the gate comes back (N, 1, 1, C').
  const py::array hidden = conv_run(fc1, means.reshape({n, py::ssize_t(1), py::ssize_t(1), c}), py::none(), num_threads);
  py::array gate = conv_run(fc2, hidden, py::none(), num_threads);
  if (gate.shape(1) != 1 || gate.shape(2) != 1)
    throw py::value_error("fc1, fc2: expected 1 x 1 convs over the pooled means, got an output of " +
                          std::to_string(gate.shape(1)) + " x " + std::to_string(gate.shape(2)) + " pixels");
  return channel_mul_py(x_obj, x_scale, x_zero_point, gate.reshape({gate.shape(0), gate.shape(3)}), out_scale,
                        out_zero_point, py::none(), num_threads);
}

}  // namespace

void bind_qs8_squeeze_excite(py::module_& m) {
  m.def("qs8_squeeze_excite_nhwc", &squeeze_excite, py::arg("x"), py::arg("pool_scale"), py::arg("pool_zero_point"),
        py::arg("fc1"), py::arg("fc2"), py::arg("x_scale"), py::arg("x_zero_point"), py::arg("output_scale"),
        py::arg("output_zero_point"), py::arg("num_threads") = 1,
        "int8 NHWC x -> x * fc2(fc1(mean(x))) requantized to int8 NHWC: qs8_global_avgpool_nhwc, two "
        "Qs8Conv2dPlan calls and qs8_channel_mul_nhwc in one call, with the same result");
}

}  // namespace nnslim
