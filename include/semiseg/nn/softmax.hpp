// Softmax and log-softmax over the channel axis, for any dimension.
// Contract: matches PyTorch's softmax/log_softmax with dim=1. Each position subtracts its channel
// maximum first, so large logits do not overflow.
#pragma once

#include "semiseg/core/math.hpp"
#include "semiseg/nn/layer.hpp"

namespace semiseg::nn {

namespace detail {
template <class T, bool Log>
struct SoftmaxForward {
  const T* x;
  T* y;
  index_t channels, plane;
  SEMISEG_HD void operator()(index_t i) const {
    const index_t base = (i / plane) * channels * plane + i % plane;
    T m = x[base];
    for (index_t c = 1; c < channels; ++c) m = x[base + c * plane] > m ? x[base + c * plane] : m;
    T sum = 0;
    for (index_t c = 0; c < channels; ++c) sum += math::exp(x[base + c * plane] - m);
    const T log_sum = math::log(sum);
    for (index_t c = 0; c < channels; ++c) {
      const T z = x[base + c * plane] - m;
      y[base + c * plane] = Log ? z - log_sum : math::exp(z) / sum;
    }
  }
};

// softmax: dx = y·(dy − Σ dy·y); log-softmax: dx = dy − exp(y)·Σ dy.
template <class T, bool Log>
struct SoftmaxBackward {
  const T* y;
  const T* dy;
  T* dx;
  index_t channels, plane;
  SEMISEG_HD void operator()(index_t i) const {
    const index_t base = (i / plane) * channels * plane + i % plane;
    T s = 0;
    for (index_t c = 0; c < channels; ++c) s += Log ? dy[base + c * plane] : dy[base + c * plane] * y[base + c * plane];
    for (index_t c = 0; c < channels; ++c) {
      const index_t j = base + c * plane;
      dx[j] = Log ? dy[j] - math::exp(y[j]) * s : y[j] * (dy[j] - s);
    }
  }
};
}  // namespace detail

template <class T, Device D, Dimension Dim, bool Log>
class ChannelSoftmax {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;

  template <class X>
  const Tensor<T, D, Dim>& forward(const X& input, Context context) {
    check_input<ChannelSoftmax, X>();
    const TensorView<const T, D, Dim> x = as_const(input);
    y_.resize(x.shape);
    launch<D>(x.n() * x.plane(), detail::SoftmaxForward<T, Log>{x.data, y_.data(), x.c(), x.plane()});
    kept_ = context.needs_backward;
    return y_;
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    if (!kept_) throw error("semiseg: softmax: backward without a forward with needs_backward");
    expect_shape("softmax", "dy", dy.shape, y_.shape());
    dx_.resize(y_.shape());
    launch<D>(y_.n() * y_.plane(), detail::SoftmaxBackward<T, Log>{y_.data(), dy.data, dx_.data(), y_.c(), y_.plane()});
    return dx_;
  }

 private:
  bool kept_ = false;
  Tensor<T, D, Dim> y_, dx_;
};

template <class T, Device D, Dimension Dim>
using Softmax = ChannelSoftmax<T, D, Dim, false>;
template <class T, Device D, Dimension Dim>
using LogSoftmax = ChannelSoftmax<T, D, Dim, true>;

}  // namespace semiseg::nn
