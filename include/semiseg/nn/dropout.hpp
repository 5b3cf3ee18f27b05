// Dropout, element-wise or per channel (spatial dropout), and Gaussian input noise.
// Contract: in train mode an element (or a whole channel plane) is zeroed with probability p and
// the rest scaled by 1/(1 − p); the mask is a Philox draw keyed by (seed, stream, context.step,
// element), so backward recomputes it instead of storing it, and results do not depend on the
// device or thread count. Gaussian noise adds σ·N(0, 1) in train mode. Both are the identity in
// eval mode.
#pragma once

#include <cstdint>

#include "semiseg/core/philox.hpp"
#include "semiseg/kernels/elementwise.hpp"
#include "semiseg/nn/layer.hpp"

namespace semiseg::nn {

struct DropoutOptions {
  double p = 0.5;
  bool channelwise = false;  // drop whole channel planes (Dropout2d/3d)
  std::uint64_t seed = 0;
  std::uint32_t stream = 1;  // distinct per layer, so layers draw independent masks
};

namespace detail {
template <class T>
struct DropoutMask {
  const T* in;
  T* out;
  Philox rng;
  T p, scale;
  index_t plane;  // 1 for element-wise; the plane size for channel-wise
  index_t size;
  // Item q decides units 4q..4q+3 (elements, or planes when channel-wise) from the four words of
  // one Philox block, and scales or zeroes their elements.
  SEMISEG_HD void operator()(index_t q) const {
    const PhiloxResult r = rng.bits(static_cast<std::uint64_t>(q));
    for (int lane = 0; lane < 4; ++lane) {
      const index_t begin = (4 * q + lane) * plane;
      if (begin >= size) return;
      const bool keep = float(r.v[lane] >> 8) * (1.0f / 16777216.0f) >= float(p);
      for (index_t i = begin; i < begin + plane; ++i) out[i] = keep ? in[i] * scale : T(0);
    }
  }
  static index_t items(index_t size, index_t plane) { return plane > 0 ? (size / plane + 3) / 4 : 0; }
};
template <class T>
struct AddNoise {
  const T* x;
  T* y;
  Philox rng;
  T sigma;
  SEMISEG_HD void operator()(index_t i) const { y[i] = x[i] + sigma * rng.normal<T>(static_cast<std::uint64_t>(i)); }
};
}  // namespace detail

template <class T, Device D, Dimension Dim>
class Dropout {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;
  using Options = DropoutOptions;

  explicit Dropout(const Options& options = {}) : o_(options) {
    if (!(o_.p >= 0 && o_.p < 1)) throw value_error("semiseg: dropout: p must be in [0, 1)");
  }

  template <class X>
  const Tensor<T, D, Dim>& forward(const X& input, Context context) {
    check_input<Dropout, X>();
    const TensorView<const T, D, Dim> x = as_const(input);
    y_.resize(x.shape);
    active_ = context.train && o_.p > 0;
    step_ = context.step;
    plane_ = o_.channelwise ? x.plane() : 1;
    if (active_)
      launch<D>(detail::DropoutMask<T>::items(x.size(), plane_),
                detail::DropoutMask<T>{x.data, y_.data(), rng(), T(o_.p), T(1.0 / (1.0 - o_.p)), plane_, x.size()},
                grain_for(4 * plane_));
    else
      launch<D>(x.size(), Copy<T>{x.data, y_.data()});
    kept_ = context.needs_backward;
    return y_;
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    if (!kept_) throw error("semiseg: dropout: backward without a forward with needs_backward");
    expect_shape("dropout", "dy", dy.shape, y_.shape());
    dx_.resize(dy.shape);
    if (active_)
      launch<D>(detail::DropoutMask<T>::items(dy.size(), plane_),
                detail::DropoutMask<T>{dy.data, dx_.data(), rng(), T(o_.p), T(1.0 / (1.0 - o_.p)), plane_, dy.size()},
                grain_for(4 * plane_));
    else
      launch<D>(dy.size(), Copy<T>{dy.data, dx_.data()});
    return dx_;
  }

 private:
  Philox rng() const { return {o_.seed, o_.stream, step_}; }

  Options o_;
  bool active_ = false, kept_ = false;
  std::uint32_t step_ = 0;
  index_t plane_ = 1;
  Tensor<T, D, Dim> y_, dx_;
};

struct GaussianNoiseOptions {
  double sigma = 0.15;  // the Π-model and Mean Teacher input noise
  std::uint64_t seed = 0;
  std::uint32_t stream = 2;
};

template <class T, Device D, Dimension Dim>
class GaussianNoise {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;
  using Options = GaussianNoiseOptions;

  explicit GaussianNoise(const Options& options = {}) : o_(options) {
    if (!(o_.sigma >= 0)) throw value_error("semiseg: gaussian_noise: sigma must be non-negative");
  }

  template <class X>
  const Tensor<T, D, Dim>& forward(const X& input, Context context) {
    check_input<GaussianNoise, X>();
    const TensorView<const T, D, Dim> x = as_const(input);
    y_.resize(x.shape);
    if (context.train && o_.sigma > 0)
      launch<D>(x.size(), detail::AddNoise<T>{x.data, y_.data(), Philox{o_.seed, o_.stream, context.step}, T(o_.sigma)});
    else
      launch<D>(x.size(), Copy<T>{x.data, y_.data()});
    return y_;
  }

  // The noise is additive, so the gradient passes through unchanged.
  TensorView<const T, D, Dim> backward(TensorView<const T, D, Dim> dy) {
    expect_shape("gaussian_noise", "dy", dy.shape, y_.shape());
    return dy;
  }

 private:
  Options o_;
  Tensor<T, D, Dim> y_;
};

}  // namespace semiseg::nn
