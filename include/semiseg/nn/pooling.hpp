// Pooling: max (keeping the winner's index for backward), average, and global average, in 2D
// and 3D. Contract: max and average match PyTorch's MaxPoolNd/AvgPoolNd in floor mode
// (count_include_pad as an option, default true like PyTorch); GlobalAvgPool maps N×C×spatial to
// the flat N×C, as AdaptiveAvgPool(1) followed by flatten.
#pragma once

#include <optional>
#include <string>

#include "semiseg/kernels/pooling.hpp"
#include "semiseg/nn/layer.hpp"

namespace semiseg::nn {

template <SpatialDimension Dim>
struct PoolOptions {
  static constexpr int S = Dim::spatial;
  Small<index_t, S> kernel = all<S, 2>;
  std::optional<Small<index_t, S>> stride{};  // default: the kernel
  Small<index_t, S> padding = all<S, 0>;
  bool count_include_pad = true;  // average pooling only
};

template <class T, Device D, SpatialDimension Dim, bool Max>
class Pool {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;
  using Options = PoolOptions<Dim>;
  static constexpr int S = Dim::spatial;

  explicit Pool(const Options& options = {}) : o_(options) {
    const auto stride = o_.stride.value_or(o_.kernel);
    validate_window<S>("pool", o_.kernel, stride, fill<S>(1));
    for (int d = 0; d < S; ++d)
      if (o_.padding[d] < 0 || 2 * o_.padding[d] > o_.kernel[d])
        throw value_error("semiseg: pool: padding must be between 0 and half the kernel");
  }

  PoolGeometry<S> geometry(const shape_of<Dim>& in) const {
    PoolGeometry<S> g;
    g.in = in.spatial();
    g.kernel = o_.kernel;
    g.stride = o_.stride.value_or(o_.kernel);
    g.pad = o_.padding;
    g.count_include_pad = o_.count_include_pad;
    for (int d = 0; d < S; ++d) {
      const index_t span = g.in[d] + 2 * g.pad[d] - g.kernel[d];
      if (span < 0) throw shape_error("semiseg: pool: input " + in.str() + " is smaller than the kernel");
      g.out[d] = span / g.stride[d] + 1;
    }
    return g;
  }

  template <class X>
  const Tensor<T, D, Dim>& forward(const X& input, Context context) {
    check_input<Pool, X>();
    const TensorView<const T, D, Dim> x = as_const(input);
    const PoolGeometry<S> g = geometry(x.shape);
    y_.resize(make_shape<S>(x.n(), x.c(), g.out));
    if constexpr (Max) {
      argmax_.resize(y_.shape());
      launch_planes<D>(y_.size(), g.out_size(), MaxPoolForward<T, S>{x.data, y_.data(), argmax_.data(), g});
    } else {
      launch<D>(y_.size(), AvgPoolForward<T, S>{x.data, y_.data(), g});
    }
    in_shape_ = x.shape;
    kept_ = context.needs_backward;
    return y_;
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    if (!kept_) throw error("semiseg: pool: backward without a forward with needs_backward");
    expect_shape("pool", "dy", dy.shape, y_.shape());
    const PoolGeometry<S> g = geometry(in_shape_);
    dx_.resize(in_shape_);
    if constexpr (Max)
      launch_planes<D>(dx_.size(), g.in_size(), MaxPoolBackward<T, S>{dy.data, argmax_.data(), dx_.data(), g});
    else
      launch<D>(dx_.size(), AvgPoolBackward<T, S>{dy.data, dx_.data(), g});
    return dx_;
  }

 private:
  Options o_;
  bool kept_ = false;
  shape_of<Dim> in_shape_{};
  Tensor<T, D, Dim> y_, dx_;
  Tensor<index_t, D, Dim> argmax_;
};

template <class T, Device D, SpatialDimension Dim>
using MaxPool = Pool<T, D, Dim, true>;
template <class T, Device D, SpatialDimension Dim>
using AvgPool = Pool<T, D, Dim, false>;

namespace detail {
template <class T>
struct PlaneMean {
  const T* x;
  T* y;
  index_t plane;
  SEMISEG_HD void operator()(index_t i) const {
    T s = 0;
    for (index_t p = 0; p < plane; ++p) s += x[i * plane + p];
    y[i] = s / T(plane);
  }
};
template <class T>
struct SpreadMean {
  const T* dy;
  T* dx;
  index_t plane;
  SEMISEG_HD void operator()(index_t i) const { dx[i] = dy[i / plane] / T(plane); }
};
}  // namespace detail

template <class T, Device D, SpatialDimension Dim>
class GlobalAvgPool {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;

  template <class X>
  const Tensor<T, D, flat>& forward(const X& input, Context context) {
    check_input<GlobalAvgPool, X>();
    const TensorView<const T, D, Dim> x = as_const(input);
    y_.resize(flat_shape(x.n(), x.c()));
    launch<D>(y_.size(), detail::PlaneMean<T>{x.data, y_.data(), x.plane()});
    in_shape_ = x.shape;
    kept_ = context.needs_backward;
    return y_;
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, flat> dy) {
    if (!kept_) throw error("semiseg: global_avg_pool: backward without a forward with needs_backward");
    expect_shape("global_avg_pool", "dy", dy.shape, y_.shape());
    dx_.resize(in_shape_);
    launch<D>(dx_.size(), detail::SpreadMean<T>{dy.data, dx_.data(), in_shape_.plane()});
    return dx_;
  }

 private:
  bool kept_ = false;
  shape_of<Dim> in_shape_{};
  Tensor<T, D, flat> y_;
  Tensor<T, D, Dim> dx_;
};

}  // namespace semiseg::nn
