// Element-wise activations: ReLU, LeakyReLU, sigmoid, tanh, for any dimension.
// Contract: y = f(x); dx = dy·f'(x, y). The function object (from kernels/elementwise.hpp) holds
// its options, such as LeakyReLU's negative slope.
#pragma once

#include "semiseg/kernels/elementwise.hpp"
#include "semiseg/nn/layer.hpp"

namespace semiseg::nn {

template <class T, Device D, Dimension Dim, class F>
class Activation {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;

  explicit Activation(F f = {}) : f_(f) {}

  template <class X>
  const Tensor<T, D, Dim>& forward(const X& input, Context context) {
    check_input<Activation, X>();
    const TensorView<const T, D, Dim> x = as_const(input);
    y_.resize(x.shape);
    launch<D>(x.size(), ApplyForward<T, F>{x.data, y_.data(), f_});
    x_ = context.needs_backward ? x : TensorView<const T, D, Dim>{};
    return y_;
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    if (!x_.data) throw error("semiseg: activation: backward without a forward that kept its input");
    expect_shape("activation", "dy", dy.shape, x_.shape);
    dx_.resize(x_.shape);
    launch<D>(x_.size(), ApplyBackward<T, F>{x_.data, y_.data(), dy.data, dx_.data(), f_});
    return dx_;
  }

 private:
  F f_;
  TensorView<const T, D, Dim> x_{};
  Tensor<T, D, Dim> y_, dx_;
};

template <class T, Device D, Dimension Dim>
using ReLU = Activation<T, D, Dim, fn::relu>;
template <class T, Device D, Dimension Dim>
using LeakyReLU = Activation<T, D, Dim, fn::leaky_relu>;
template <class T, Device D, Dimension Dim>
using Sigmoid = Activation<T, D, Dim, fn::sigmoid>;
template <class T, Device D, Dimension Dim>
using Tanh = Activation<T, D, Dim, fn::tanh_fn>;

}  // namespace semiseg::nn
