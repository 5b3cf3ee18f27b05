// Joining two branches: channel concatenation (U-Net skips) and addition (residual blocks).
// Contract: both inputs share N and the spatial size (and C, for addition). Concat's backward
// splits dy into the two input gradients; Add's backward hands dy to both inputs unchanged.
#pragma once

#include "semiseg/kernels/elementwise.hpp"
#include "semiseg/nn/layer.hpp"

namespace semiseg::nn {

namespace detail {
template <class T>
struct ConcatChannels {
  const T* a;
  const T* b;
  T* y;
  index_t ca, cb, plane;
  SEMISEG_HD void operator()(index_t i) const {
    const index_t c = (i / plane) % (ca + cb), n = i / (plane * (ca + cb)), p = i % plane;
    y[i] = c < ca ? a[(n * ca + c) * plane + p] : b[(n * cb + c - ca) * plane + p];
  }
  SEMISEG_HD void over_plane(index_t q) const {
    const index_t c = q % (ca + cb), n = q / (ca + cb);
    const T* src = c < ca ? a + (n * ca + c) * plane : b + (n * cb + c - ca) * plane;
    T* dst = y + q * plane;
    for (index_t p = 0; p < plane; ++p) dst[p] = src[p];
  }
};
template <class T>
struct SplitChannels {
  const T* dy;
  T* da;
  T* db;
  index_t ca, cb, plane;
  SEMISEG_HD void operator()(index_t i) const {
    const index_t c = (i / plane) % (ca + cb), n = i / (plane * (ca + cb)), p = i % plane;
    if (c < ca) da[(n * ca + c) * plane + p] = dy[i];
    else db[(n * cb + c - ca) * plane + p] = dy[i];
  }
  SEMISEG_HD void over_plane(index_t q) const {
    const index_t c = q % (ca + cb), n = q / (ca + cb);
    T* dst = c < ca ? da + (n * ca + c) * plane : db + (n * cb + c - ca) * plane;
    const T* src = dy + q * plane;
    for (index_t p = 0; p < plane; ++p) dst[p] = src[p];
  }
};

template <int R>
bool same_except_channels(const Shape<R>& a, const Shape<R>& b) {
  for (int i = 0; i < R; ++i)
    if (i != 1 && a[i] != b[i]) return false;
  return true;
}
}  // namespace detail

template <class T, Device D, Dimension Dim>
class Concat {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;

  template <class A, class B>
  const Tensor<T, D, Dim>& forward(const A& first, const B& second, Context context) {
    check_input<Concat, A>();
    check_input<Concat, B>();
    const TensorView<const T, D, Dim> a = as_const(first), b = as_const(second);
    if (!detail::same_except_channels(a.shape, b.shape))
      throw shape_error("semiseg: concat: inputs " + a.shape.str() + " and " + b.shape.str() +
                        " differ outside the channel axis");
    auto shape = a.shape;
    shape[1] = a.c() + b.c();
    y_.resize(shape);
    launch_planes<D>(y_.size(), a.plane(), detail::ConcatChannels<T>{a.data, b.data, y_.data(), a.c(), b.c(), a.plane()});
    a_shape_ = a.shape;
    b_shape_ = b.shape;
    kept_ = context.needs_backward;
    return y_;
  }

  // Returns the gradient of the first input; the second's is in second_grad().
  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    if (!kept_) throw error("semiseg: concat: backward without a forward with needs_backward");
    expect_shape("concat", "dy", dy.shape, y_.shape());
    da_.resize(a_shape_);
    db_.resize(b_shape_);
    launch_planes<D>(dy.size(), a_shape_.plane(), detail::SplitChannels<T>{dy.data, da_.data(), db_.data(), a_shape_.c(), b_shape_.c(),
                                                  a_shape_.plane()});
    return da_;
  }
  const Tensor<T, D, Dim>& first_grad() const { return da_; }
  const Tensor<T, D, Dim>& second_grad() const { return db_; }

 private:
  bool kept_ = false;
  shape_of<Dim> a_shape_{}, b_shape_{};
  Tensor<T, D, Dim> y_, da_, db_;
};

template <class T, Device D, Dimension Dim>
class Add {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;

  template <class A, class B>
  const Tensor<T, D, Dim>& forward(const A& first, const B& second, Context) {
    check_input<Add, A>();
    check_input<Add, B>();
    const TensorView<const T, D, Dim> a = as_const(first), b = as_const(second);
    expect_shape("add", "second input", b.shape, a.shape);
    y_.resize(a.shape);
    launch<D>(y_.size(), Sum2<T>{a.data, b.data, y_.data()});
    return y_;
  }

  // The gradient of either input is dy itself.
  TensorView<const T, D, Dim> backward(TensorView<const T, D, Dim> dy) {
    expect_shape("add", "dy", dy.shape, y_.shape());
    return dy;
  }

 private:
  Tensor<T, D, Dim> y_;
};

}  // namespace semiseg::nn
