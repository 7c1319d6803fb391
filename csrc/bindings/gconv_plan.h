// A static int8 grouped conv call with everything but its input, residual and thread count bound
// (Qs8GconvConv2dPlan), shared by the grouped conv binding and the conv chain binding. Its fields
// are the depthwise plan's (one packed weight object, the conv geometry, the qparams).
#pragma once
#include "dwconv_plan.h"

namespace nnslim {

struct GconvParams : DwConvParams {};

// qs8_gconv2d_static with P's arguments (every one checked there, on each call).
py::array gconv_run(const GconvParams& P, const py::object& x_obj, const py::object& residual, int num_threads);

}  // namespace nnslim
