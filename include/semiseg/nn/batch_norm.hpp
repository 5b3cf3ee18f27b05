// Batch normalization over N and the spatial axes, per channel, for flat, 2D and 3D tensors.
// Contract: matches PyTorch's BatchNormNd. In train mode it normalises with the batch statistics
// and updates the running statistics (running = (1 − momentum)·running + momentum·batch, with the
// unbiased variance); in eval mode it uses the running statistics. Backward is exact in both.
#pragma once

#include <string>

#include "semiseg/kernels/normalization.hpp"
#include "semiseg/nn/layer.hpp"

namespace semiseg::nn {

struct BatchNormOptions {
  index_t channels = 1;
  double eps = 1e-5;
  double momentum = 0.1;
  bool affine = true;
  bool track_running_stats = true;  // false: batch statistics in eval mode too
};

namespace detail {
template <class T>
struct UpdateRunning {
  T* running_mean;
  T* running_var;
  const T* mean;
  const T* variance;
  T momentum, unbias;
  SEMISEG_HD void operator()(index_t c) const {
    running_mean[c] = (T(1) - momentum) * running_mean[c] + momentum * mean[c];
    running_var[c] = (T(1) - momentum) * running_var[c] + momentum * variance[c] * unbias;
  }
};
template <class T>
struct RunningStats {
  const T* running_mean;
  const T* running_var;
  T* mean;
  T* invstd;
  T eps;
  SEMISEG_HD void operator()(index_t c) const {
    mean[c] = running_mean[c];
    invstd[c] = T(1) / math::sqrt(running_var[c] + eps);
  }
};
// dx = dy·gamma·invstd: the gradient when the statistics are constants.
template <class T>
struct ScaleGrad {
  const T* dy;
  T* dx;
  const T* gamma;
  const T* invstd;
  index_t channels, plane;
  SEMISEG_HD void operator()(index_t i) const {
    const index_t c = (i / plane) % channels;
    dx[i] = dy[i] * invstd[c] * (gamma ? gamma[c] : T(1));
  }
};
}  // namespace detail

template <class T, Device D, Dimension Dim>
class BatchNorm {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;
  using Options = BatchNormOptions;

  BatchNorm(Parameters<T, D>& parameters, const Options& options, const std::string& name = "batch_norm")
      : o_(options) {
    if (o_.channels < 1) throw value_error("semiseg: batch_norm: channels must be positive");
    if (!(o_.eps > 0) || !(o_.momentum >= 0 && o_.momentum <= 1))
      throw value_error("semiseg: batch_norm: eps must be positive and momentum in [0, 1]");
    if (o_.affine) {
      gamma_ = parameters.add(name + ".weight", o_.channels, Init::ones());
      beta_ = parameters.add(name + ".bias", o_.channels, Init::zeros());
    }
    if (o_.track_running_stats) {
      running_mean_ = parameters.add_buffer(name + ".running_mean", o_.channels, Init::zeros());
      running_var_ = parameters.add_buffer(name + ".running_var", o_.channels, Init::ones());
    }
  }

  const ParamRef<T, D>& weight() const { return gamma_; }
  const ParamRef<T, D>& bias() const { return beta_; }
  const ParamRef<T, D>& running_mean() const { return running_mean_; }
  const ParamRef<T, D>& running_var() const { return running_var_; }

  template <class X>
  const Tensor<T, D, Dim>& forward(const X& input, Context context) {
    check_input<BatchNorm, X>();
    const TensorView<const T, D, Dim> x = as_const(input);
    expect_channels("batch_norm", x.shape, o_.channels);
    batch_stats_ = context.train || !o_.track_running_stats;
    const index_t C = o_.channels, plane = x.plane(), count = x.n() * plane;
    if (batch_stats_ && count < 2 && context.train)
      throw shape_error("semiseg: batch_norm: train mode needs more than one value per channel, got " + x.shape.str());
    T* stats = scratch(stats_, 5 * C);
    T *mean = stats, *invstd = stats + C, *variance = stats + 2 * C;
    if (batch_stats_) {
      launch<D>(C, SegmentMoments<T>{x.data, mean, invstd, variance, segments(x), T(o_.eps)}, grain_for(count));
      if (context.train && o_.track_running_stats)
        launch<D>(C, detail::UpdateRunning<T>{running_mean_.value(), running_var_.value(), mean, variance,
                                              T(o_.momentum), T(count) / T(count - 1)});
    } else {
      launch<D>(C, detail::RunningStats<T>{running_mean_.value(), running_var_.value(), mean, invstd, T(o_.eps)});
    }
    y_.resize(x.shape);
    launch_planes<D>(x.size(), x.plane(), layout(x, y_.data()));
    x_ = context.needs_backward ? x : TensorView<const T, D, Dim>{};
    return y_;
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    if (!x_.data) throw error("semiseg: batch_norm: backward without a forward that kept its input");
    expect_shape("batch_norm", "dy", dy.shape, x_.shape);
    const index_t C = o_.channels, count = x_.n() * x_.plane();
    T* stats = stats_.data();
    T *mean = stats, *invstd = stats + C, *sum_g = stats + 3 * C, *sum_gx = stats + 4 * C;
    const T* gamma = o_.affine ? gamma_.value() : nullptr;
    dx_.resize(x_.shape);
    const NormalizeAffine<T> l = layout(x_, dx_.data());
    if (o_.affine)
      launch<D>(C, AffineGrad<T>{x_.data, dy.data, mean, invstd, gamma_.grad(), beta_.grad(), l, x_.n()}, grain_for(count));
    if (batch_stats_) {
      launch<D>(C, SegmentGradSums<T>{x_.data, dy.data, mean, invstd, gamma, sum_g, sum_gx, segments(x_), C, x_.plane()},
                grain_for(count));
      launch_planes<D>(x_.size(), x_.plane(), NormalizeBackward<T>{x_.data, dy.data, dx_.data(), mean, invstd, gamma, sum_g, sum_gx, l,
                                                x_.n() * x_.plane()});
    } else {
      launch<D>(x_.size(), detail::ScaleGrad<T>{dy.data, dx_.data(), gamma, invstd, C, x_.plane()});
    }
    return dx_;
  }

 private:
  Segments segments(const TensorView<const T, D, Dim>& x) const {
    return {x.n(), x.plane(), o_.channels * x.plane(), x.plane()};
  }
  NormalizeAffine<T> layout(const TensorView<const T, D, Dim>& x, T* out) {
    const T* gamma = o_.affine ? gamma_.value() : nullptr;
    const T* beta = o_.affine ? beta_.value() : nullptr;
    return {x.data, out, stats_.data(), stats_.data() + o_.channels, gamma, beta, o_.channels, x.plane(), 1, 0, true};
  }

  Options o_;
  ParamRef<T, D> gamma_, beta_, running_mean_, running_var_;
  bool batch_stats_ = true;
  TensorView<const T, D, Dim> x_{};
  Tensor<T, D, Dim> y_, dx_;
  Tensor<T, D, flat> stats_;  // mean, invstd, variance, Σg, Σg·x̂ per channel
};

}  // namespace semiseg::nn
