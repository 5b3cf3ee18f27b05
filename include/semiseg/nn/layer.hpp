// What every layer shares. Contract of a layer: `forward(x, context)` returns a reference to an
// output the layer owns, valid until its next forward; `backward(dy)` returns dx (owned, or dy
// itself for identity layers) and adds parameter gradients into the flat gradient buffer. A
// layer reads its input again in backward, so the caller keeps x alive in between.
#pragma once

#include <concepts>
#include <string>
#include <type_traits>

#include "semiseg/core/context.hpp"
#include "semiseg/core/launch.hpp"
#include "semiseg/core/parameters.hpp"
#include "semiseg/core/tensor.hpp"

namespace semiseg::nn {

// The one-line compile error for a tensor of the wrong dimension or device.
template <class Layer, class X>
constexpr void check_input() {
  using Input = std::remove_cvref_t<X>;
  static_assert(is_tensor_like<Input>::value, "semiseg: layer input must be a semiseg::Tensor or TensorView");
  if constexpr (is_tensor_like<Input>::value) {
    static_assert(std::same_as<typename Input::dim, typename Layer::dim>,
                  "semiseg: tensor dimension does not match the layer's dimension (dim2, dim3 or flat)");
    static_assert(std::same_as<typename Input::device, typename Layer::device>,
                  "semiseg: tensor device does not match the layer's device (cpu or cuda)");
    static_assert(std::same_as<typename Input::value_type, typename Layer::value_type>,
                  "semiseg: tensor element type does not match the layer's (float or double)");
  }
}

template <class T, Device D, Dimension Dim>
TensorView<const T, D, Dim> as_const(const Tensor<T, D, Dim>& t) {
  return t.view();
}
template <class T, Device D, Dimension Dim>
TensorView<const T, D, Dim> as_const(TensorView<T, D, Dim> t) {
  return t;
}

// Throws a shape_error naming the layer when `actual` differs from `expected`.
template <int R>
void expect_shape(const char* layer, const char* what, const Shape<R>& actual, const Shape<R>& expected) {
  if (!(actual == expected))
    throw shape_error(std::string("semiseg: ") + layer + ": " + what + " has shape " + actual.str() + ", expected " +
                      expected.str());
}

// Throws a shape_error naming the layer when the input's channel count is not `expected`.
template <int R>
void expect_channels(const char* layer, const Shape<R>& input, index_t expected) {
  if (input.c() != expected)
    throw shape_error(std::string("semiseg: ") + layer + ": input " + input.str() + " has " +
                      std::to_string(input.c()) + " channels, expected " + std::to_string(expected));
}

template <int S>
constexpr Small<index_t, S> fill(index_t v) {
  Small<index_t, S> s{};
  for (int i = 0; i < S; ++i) s[i] = v;
  return s;
}

// The same value on every axis, as a constant: option defaults use it, because calling fill in a
// default member initializer crashes GCC 12 when the options are built inside another class.
template <int S, index_t V>
inline constexpr Small<index_t, S> all = fill<S>(V);

template <int S>
void validate_window(const char* layer, const Small<index_t, S>& kernel, const Small<index_t, S>& stride,
                     const Small<index_t, S>& dilation) {
  for (int d = 0; d < S; ++d)
    if (kernel[d] < 1 || stride[d] < 1 || dilation[d] < 1)
      throw value_error(std::string("semiseg: ") + layer + ": kernel, stride and dilation must be positive");
}

inline void validate_groups(const char* layer, index_t in, index_t out, index_t groups) {
  if (in < 1 || out < 1 || groups < 1 || in % groups != 0 || out % groups != 0)
    throw value_error(std::string("semiseg: ") + layer + ": channels (" + std::to_string(in) + " in, " +
                      std::to_string(out) + " out) must be positive and divisible by groups (" +
                      std::to_string(groups) + ")");
}

// A flat scratch buffer of at least `count` elements that keeps its capacity.
template <class T, Device D>
T* scratch(Tensor<T, D, flat>& buffer, index_t count) {
  buffer.resize(flat_shape(1, count));
  return buffer.data();
}

// The column buffer of convolutions, one per thread and element type, shared by every layer: a
// layer uses it only inside one forward or backward call, so the buffer of the largest layer
// serves them all and a network holds one instead of one per layer.
template <class T, Device D>
T* column_workspace(index_t count) {
  thread_local Tensor<T, D, flat> buffer;
  return scratch(buffer, count);
}

}  // namespace semiseg::nn
