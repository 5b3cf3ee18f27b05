// Group normalization (Wu & He 2018) for 2D and 3D tensors. Contract: matches PyTorch's
// GroupNorm: statistics per image over each group of channels and the spatial axes, then a
// per-channel affine transform. Identical in train and eval mode.
#pragma once

#include <string>

#include "semiseg/kernels/normalization.hpp"
#include "semiseg/nn/layer.hpp"

namespace semiseg::nn {

struct GroupNormOptions {
  index_t channels = 1;
  index_t groups = 1;
  double eps = 1e-5;
  bool affine = true;
};

template <class T, Device D, SpatialDimension Dim>
class GroupNorm {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;
  using Options = GroupNormOptions;

  GroupNorm(Parameters<T, D>& parameters, const Options& options, const std::string& name = "group_norm")
      : o_(options) {
    if (o_.channels < 1 || o_.groups < 1 || o_.channels % o_.groups != 0)
      throw value_error("semiseg: group_norm: channels (" + std::to_string(o_.channels) +
                        ") must be positive and divisible by groups (" + std::to_string(o_.groups) + ")");
    if (!(o_.eps > 0)) throw value_error("semiseg: group_norm: eps must be positive");
    if (o_.affine) {
      gamma_ = parameters.add(name + ".weight", o_.channels, Init::ones());
      beta_ = parameters.add(name + ".bias", o_.channels, Init::zeros());
    }
  }

  const ParamRef<T, D>& weight() const { return gamma_; }
  const ParamRef<T, D>& bias() const { return beta_; }

  template <class X>
  const Tensor<T, D, Dim>& forward(const X& input, Context context) {
    check_input<GroupNorm, X>();
    const TensorView<const T, D, Dim> x = as_const(input);
    expect_channels("group_norm", x.shape, o_.channels);
    const index_t stats = x.n() * o_.groups;
    T* s = scratch(stats_, 4 * stats);
    launch<D>(stats, SegmentMoments<T>{x.data, s, s + stats, nullptr, segments(x), T(o_.eps)}, grain_for(segments(x).count()));
    y_.resize(x.shape);
    launch_planes<D>(x.size(), x.plane(), layout(x, y_.data()));
    x_ = context.needs_backward ? x : TensorView<const T, D, Dim>{};
    return y_;
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    if (!x_.data) throw error("semiseg: group_norm: backward without a forward that kept its input");
    expect_shape("group_norm", "dy", dy.shape, x_.shape);
    const index_t stats = x_.n() * o_.groups;
    T* s = stats_.data();
    T *mean = s, *invstd = s + stats, *sum_g = s + 2 * stats, *sum_gx = s + 3 * stats;
    const T* gamma = o_.affine ? gamma_.value() : nullptr;
    dx_.resize(x_.shape);
    const NormalizeAffine<T> l = layout(x_, dx_.data());
    if (o_.affine)
      launch<D>(o_.channels, AffineGrad<T>{x_.data, dy.data, mean, invstd, gamma_.grad(), beta_.grad(), l, x_.n()},
                grain_for(x_.n() * x_.plane()));
    launch<D>(stats, SegmentGradSums<T>{x_.data, dy.data, mean, invstd, gamma, sum_g, sum_gx, segments(x_), o_.channels,
                                        x_.plane()},
              grain_for(segments(x_).count()));
    launch_planes<D>(x_.size(), x_.plane(), NormalizeBackward<T>{x_.data, dy.data, dx_.data(), mean, invstd, gamma, sum_g, sum_gx, l,
                                              o_.channels / o_.groups * x_.plane()});
    return dx_;
  }

 private:
  // Segment (n, g) is the contiguous run of its channels' planes.
  Segments segments(const TensorView<const T, D, Dim>& x) const {
    const index_t run = o_.channels / o_.groups * x.plane();
    return {1, run, run, run};
  }
  NormalizeAffine<T> layout(const TensorView<const T, D, Dim>& x, T* out) {
    const index_t stats = x.n() * o_.groups;
    const T* gamma = o_.affine ? gamma_.value() : nullptr;
    const T* beta = o_.affine ? beta_.value() : nullptr;
    return {x.data,    out,        stats_.data(), stats_.data() + stats, gamma, beta, o_.channels,
            x.plane(), o_.channels / o_.groups,   o_.groups,             false};
  }

  Options o_;
  ParamRef<T, D> gamma_, beta_;
  TensorView<const T, D, Dim> x_{};
  Tensor<T, D, Dim> y_, dx_;
  Tensor<T, D, flat> stats_;  // mean, invstd, Σg, Σg·x̂ per (image, group)
};

}  // namespace semiseg::nn
