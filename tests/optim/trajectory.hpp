// Shared by the optimizer tests: replays a PyTorch fixture's five steps through an optimizer and
// compares every step's parameters with the recorded trajectory.
#pragma once

#include "support/harness.hpp"

namespace semiseg::test {

inline std::vector<double> row(const NpyArray& a, std::size_t r) {
  REQUIRE(a.shape.size() == 2);
  const auto width = static_cast<std::size_t>(a.shape[1]);
  const auto begin = a.data.begin() + static_cast<std::ptrdiff_t>(r * width);
  return {begin, begin + static_cast<std::ptrdiff_t>(width)};
}

template <class T>
void write_row(T* device_data, const NpyArray& a, std::size_t r) {
  const auto values = row(a, r);
  const std::vector<T> v(values.begin(), values.end());
  copy<device, cpu>(device_data, v.data(), static_cast<index_t>(v.size()));
}

// What a checkpoint does with a state buffer. Not `assign`: its const view trips nvcc's
// warning 554 on TensorView's conversion operator.
template <class T>
void copy_state(Tensor<T, device, flat>& dst, const Tensor<T, device, flat>& src) {
  dst.resize(src.shape());
  copy<device, device>(dst.data(), src.data(), src.size());
}

// `use_parameters` picks step(Parameters&) or step(values, grads, n); both must give the trajectory.
template <class T, class Optimizer>
void check_trajectory(const std::string& name, Optimizer& optimizer, bool use_parameters) {
  const auto p0 = fixture("optim", name, "p0");
  const auto grads = fixture("optim", name, "grads");
  const auto trajectory = fixture("optim", name, "trajectory");
  const auto n = static_cast<index_t>(p0.data.size());
  REQUIRE(grads.shape.size() == 2);
  REQUIRE(grads.shape == trajectory.shape);
  REQUIRE(grads.shape[1] == n);

  Parameters<T, device> params;
  params.add("p", n, Init::zeros());
  params.finalize(1);
  write_values(params.values().data(), p0);
  for (std::size_t s = 0; s < static_cast<std::size_t>(grads.shape[0]); ++s) {
    CAPTURE(s);
    write_row(params.grads().data(), grads, s);
    if (use_parameters)
      optimizer.step(params);
    else
      optimizer.step(params.values().data(), params.grads().data(), n);
    const double err = relative_error(read_values(params.values().data(), n), row(trajectory, s));
    INFO("relative error " << err);
    CHECK(err <= parity_tolerance<T>());
  }
  CHECK(optimizer.state().steps == grads.shape[0]);
}

}  // namespace semiseg::test

TYPE_TO_STRING_AS("float", float);
TYPE_TO_STRING_AS("double", double);
