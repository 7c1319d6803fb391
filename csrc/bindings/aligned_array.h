// Output arrays on 64-byte boundaries. numpy's own allocations are only 16-byte aligned, so an
// int8 NHWC activation the next layer reads whole rows of (AMX tile rows, zmm loads) would have
// every 64-byte row straddle two cache lines.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdlib>
#include <limits>
#include <new>
#include <vector>

namespace nnslim {
namespace py = pybind11;

template <typename T>
py::array_t<T> aligned_array(const std::vector<py::ssize_t>& shape) {
  size_t n = 1;
  for (py::ssize_t d : shape) {
    if (d < 0) throw py::value_error("aligned_array: negative dimension");
    if (d && n > std::numeric_limits<size_t>::max() / sizeof(T) / size_t(d))
      throw py::value_error("aligned_array: the output's size overflows");
    n *= size_t(d);
  }
  const size_t bytes = (n * sizeof(T) + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
  void* p = std::aligned_alloc(64, bytes ? bytes : 64);
  if (!p) throw std::bad_alloc();
  py::capsule owner(p, [](void* q) { std::free(q); });
  return py::array_t<T>(shape, static_cast<T*>(p), owner);
}

}  // namespace nnslim
