// nnslim._C: the CPU kernels. No libtorch here: buffers cross as numpy arrays.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "nnslim/hw.h"

namespace py = pybind11;

namespace nnslim {
void bind_qs8_gemm(py::module_& m);
void bind_spmm(py::module_& m);
void bind_q4(py::module_& m);
void bind_qs8_dwconv(py::module_& m);
void bind_qs8_gconv(py::module_& m);
void bind_qs8_spmm(py::module_& m);
void bind_pool(py::module_& m);
void bind_qs8_squeeze_excite(py::module_& m);
void bind_qs8_conv_chain(py::module_& m);
}

PYBIND11_MODULE(_C, m) {
  m.doc() = "nnslim CPU kernels";
  m.def("cpu_info", [] {
    py::dict d;
    py::list avail;
    for (nnslim::Isa i : nnslim::available_isas()) avail.append(nnslim::isa_name(i));
    d["available"] = avail;
    d["selected"] = nnslim::isa_name(nnslim::selected_isa());
    const auto& f = nnslim::cpu_features();
    if (!f.amx) d["amx_note"] = f.amx_note;
    return d;
  });
  m.def("selected_isa", [] { return std::string(nnslim::isa_name(nnslim::selected_isa())); });
  nnslim::bind_qs8_gemm(m);
  nnslim::bind_spmm(m);
  nnslim::bind_q4(m);
  nnslim::bind_qs8_dwconv(m);
  nnslim::bind_qs8_gconv(m);
  nnslim::bind_qs8_spmm(m);
  nnslim::bind_pool(m);
  nnslim::bind_qs8_squeeze_excite(m);
  nnslim::bind_qs8_conv_chain(m);
}
