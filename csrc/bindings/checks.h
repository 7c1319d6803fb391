// Argument checks shared by the bindings: every buffer is validated before any kernel touches it,
// and every failure names the argument and what was expected.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "nnslim/hw.h"

namespace nnslim {
namespace py = pybind11;

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

template <typename T>
const char* dtype_name();
template <> inline const char* dtype_name<float>() { return "float32"; }
template <> inline const char* dtype_name<int8_t>() { return "int8"; }
template <> inline const char* dtype_name<int32_t>() { return "int32"; }
template <> inline const char* dtype_name<int64_t>() { return "int64"; }
template <> inline const char* dtype_name<uint8_t>() { return "uint8"; }

// Checks dtype, rank and C-contiguity; returns the array unchanged (no silent copies or casts).
template <typename T>
py::array_t<T> checked(const py::handle& obj, const char* name, int ndim) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + ": expected a numpy array of " + dtype_name<T>() + ", got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (!a.dtype().is(py::dtype::of<T>()))
    throw py::type_error(std::string(name) + ": expected dtype " + dtype_name<T>() + ", got " +
                         std::string(py::str(a.dtype())));
  if (a.ndim() != ndim)
    throw py::value_error(std::string(name) + ": expected " + std::to_string(ndim) + " dimensions, got shape " +
                          shape_str(a));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + ": expected a C-contiguous array");
  return py::reinterpret_borrow<py::array_t<T>>(a);
}

inline void check_dim(const py::array& a, int axis, py::ssize_t want, const char* name, const char* what) {
  if (a.shape(axis) != want)
    throw py::value_error(std::string(name) + ": expected " + what + " = " + std::to_string(want) + ", got shape " +
                          shape_str(a));
}

// An optional float32 vector of length n (e.g. a bias): null when obj is None. `keep` holds the array
// so its data pointer stays valid after the GIL is released.
inline const float* optional_f32_vector(const py::object& obj, const char* name, py::ssize_t n,
                                        py::array_t<float>* keep) {
  if (obj.is_none()) return nullptr;
  *keep = checked<float>(obj, name, 1);
  check_dim(*keep, 0, n, name, "out_features");
  return keep->data();
}

inline void check_int_range(py::ssize_t v, const char* name) {
  if (v > py::ssize_t(0x7fffffff))
    throw py::value_error(std::string(name) + ": dimension " + std::to_string(v) + " exceeds 2^31 - 1");
}

// A weight array: dtype, rank and contiguity as checked<T>, every dimension non-zero and within int.
// `layout` names the dimensions for the error, e.g. "(out_features, in_features)".
template <typename T>
py::array_t<T> checked_weight(const py::handle& obj, int ndim, const char* layout) {
  auto w = checked<T>(obj, "weight", ndim);
  for (int i = 0; i < ndim; ++i) check_int_range(w.shape(i), "weight");
  for (int i = 0; i < ndim; ++i)
    if (w.shape(i) == 0)
      throw py::value_error(std::string("weight: expected a non-empty ") + layout + " array, got shape " + shape_str(w));
  return w;
}

inline int checked_threads(int n) {
  if (n < 1) throw py::value_error("num_threads: expected >= 1, got " + std::to_string(n));
  return n;
}

inline Isa isa_arg(const py::object& isa) {
  if (isa.is_none()) return selected_isa();
  const std::string s = py::str(isa);
  Isa out;
  if (!parse_isa(s, &out))
    throw py::value_error("isa: '" + s + "' is not a kernel path; expected scalar, avx2, avx512_vnni or amx");
  require_isa(out);
  return out;
}

// Static activation quantization parameters: a finite positive scale (finite inverse too) and an int8 zero point.
// The names are the Python arguments' (the input's by default).
inline void check_static_qparams(float in_scale, int zero_point, const char* scale_name = "input_scale",
                                 const char* zero_point_name = "input_zero_point") {
  if (!(in_scale > 0.f) || !std::isfinite(in_scale) || !std::isfinite(1.f / in_scale))
    throw py::value_error(std::string(scale_name) + ": expected a finite positive float with a finite inverse, got " +
                          std::to_string(in_scale));
  if (zero_point < -128 || zero_point > 127)
    throw py::value_error(std::string(zero_point_name) + ": expected an int in [-128, 127], got " +
                          std::to_string(zero_point));
}

// Index arrays may come as int32 or int64 (torch's CSR tensors use either); anything else is refused.
inline std::vector<int64_t> index_array(const py::handle& obj, const char* name) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + ": expected a numpy array of int32 or int64, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (a.ndim() != 1)
    throw py::value_error(std::string(name) + ": expected 1 dimension, got shape " + shape_str(a));
  std::vector<int64_t> out(size_t(a.shape(0)));
  if (a.dtype().is(py::dtype::of<int64_t>())) {
    auto v = a.unchecked<int64_t, 1>();
    for (py::ssize_t i = 0; i < a.shape(0); ++i) out[size_t(i)] = v(i);
  } else if (a.dtype().is(py::dtype::of<int32_t>())) {
    auto v = a.unchecked<int32_t, 1>();
    for (py::ssize_t i = 0; i < a.shape(0); ++i) out[size_t(i)] = v(i);
  } else {
    throw py::type_error(std::string(name) + ": expected dtype int32 or int64, got " + std::string(py::str(a.dtype())));
  }
  return out;
}

inline int dim_arg(int64_t v, const char* name, int64_t lo = 0) {
  if (v < lo || v > std::numeric_limits<int32_t>::max())
    throw py::value_error(std::string(name) + ": expected a value in [" + std::to_string(lo) + ", 2^31 - 1], got " +
                          std::to_string(v));
  return int(v);
}

}  // namespace nnslim
