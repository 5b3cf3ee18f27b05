// Typed errors. Contract: every failure the library reports is a semiseg::error; the message says
// what was expected and what was found.
#pragma once

#include <stdexcept>
#include <string>

namespace semiseg {

struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A tensor's shape does not fit the operation.
struct shape_error : error {
  using error::error;
};
// An option or argument is out of its valid range.
struct value_error : error {
  using error::error;
};
// A file could not be read or written.
struct io_error : error {
  using error::error;
};
// The CUDA runtime or cuBLAS reported a failure.
struct device_error : error {
  using error::error;
};

}  // namespace semiseg
