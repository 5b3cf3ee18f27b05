// Softmax focal loss (Lin et al. 2017, multi-class form). Contract: per labeled pixel
// ℓ = −α_y·(1 − p_y)^γ·log p_y with p = softmax(logits); the value is Σ w·ℓ over the labeled
// pixels divided by their count (not by Σ α: α re-weights classes without changing the scale, as
// in the paper and in kornia's focal_loss with reduction='mean'), and the gradient is with
// respect to the logits. γ = 0 with no α is the cross-entropy. Optional per-pixel weights
// N×1×spatial multiply ℓ. A batch without labeled pixels gives 0 and a zero gradient.
#pragma once

#include "semiseg/loss/common.hpp"

namespace semiseg::loss {

namespace detail {
template <class T>
struct FocalParams {
  const T* x;
  const std::int32_t* y;
  const T* pixel_weight;
  const T* alpha;
  index_t channels, plane;
  std::int32_t ignore;
  T gamma;

  SEMISEG_HD int status(std::int32_t label) const {
    if (label == ignore) return 1;
    return label >= 0 && label < channels ? 0 : 2;
  }
  SEMISEG_HD T scale(index_t pos, std::int32_t label) const {
    return (pixel_weight ? pixel_weight[pos] : T(1)) * (alpha ? alpha[label] : T(1));
  }
};

template <class T>
struct FocalTerm {
  FocalParams<T> q;
  SEMISEG_HD Sums<3> operator()(index_t, index_t pos) const {
    Sums<3> s;
    const std::int32_t label = q.y[pos];
    const int st = q.status(label);
    if (st == 2) s[2] = 1;
    if (st != 0) return s;
    const index_t base = at(pos, 0, q.channels, q.plane);
    const LogSumExp<T> l = log_sum_exp(q.x, base, q.channels, q.plane);
    const T logp = q.x[base + label * q.plane] - l.max - l.log_sum;
    const T one_minus = T(1) - math::exp(logp);
    s[0] = static_cast<double>(-q.scale(pos, label) * pow_nonneg(one_minus, q.gamma) * logp);
    s[1] = 1;
    return s;
  }
};

// dℓ/dz_c = K·(p_c − δ_yc), K = α·((1−p)^γ − γ·p·(1−p)^(γ−1)·log p).
template <class T>
struct FocalGrad {
  FocalParams<T> q;
  T* dx;
  T inv_norm;
  SEMISEG_HD void operator()(index_t pos) const {
    const std::int32_t label = q.y[pos];
    const index_t base = at(pos, 0, q.channels, q.plane);
    if (q.status(label) != 0) {
      for (index_t c = 0; c < q.channels; ++c) dx[base + c * q.plane] = T(0);
      return;
    }
    const LogSumExp<T> l = log_sum_exp(q.x, base, q.channels, q.plane);
    const T logp = q.x[base + label * q.plane] - l.max - l.log_sum;
    const T p = math::exp(logp);
    const T one_minus = T(1) - p;
    const T focal = pow_nonneg(one_minus, q.gamma);
    // (1−p)^(γ−1)·p written as (1−p)^γ·p/(1−p) so γ < 1 stays finite; its limit at p = 1 is 0
    // for γ > 0.
    const T tail = q.gamma != T(0) && one_minus > T(0) ? q.gamma * focal * p / one_minus * logp : T(0);
    const T k = q.scale(pos, label) * (focal - tail) * inv_norm;
    for (index_t c = 0; c < q.channels; ++c) {
      const T pc = math::exp(q.x[base + c * q.plane] - l.max - l.log_sum);
      dx[base + c * q.plane] = k * (pc - (c == label ? T(1) : T(0)));
    }
  }
};
}  // namespace detail

template <class T, Device D, Dimension Dim>
class Focal {
 public:
  static constexpr const char* name = "Focal";
  using value_type = T;
  using device = D;
  using dim = Dim;

  struct Options {
    std::int32_t ignore_index = default_ignore_index;  // −1, our masks' mark
    double gamma = 2.0;                                // focusing parameter (paper's default)
    std::vector<double> alpha = {};                    // per class; empty = all ones
  };

  Focal() = default;
  explicit Focal(Options options) : options_(std::move(options)) {
    if (!(options_.gamma >= 0.0) || !std::isfinite(options_.gamma))
      throw value_error("semiseg: focal: gamma must be finite and non-negative, got " + std::to_string(options_.gamma));
  }
  const Options& options() const { return options_; }

  double value_and_grad(TensorView<const T, D, Dim> logits, TensorView<const std::int32_t, D, Dim> target,
                        Tensor<T, D, Dim>& dlogits, TensorView<const T, D, Dim> weights = {}) {
    return run(logits, target, &dlogits, weights);
  }
  double value(TensorView<const T, D, Dim> logits, TensorView<const std::int32_t, D, Dim> target,
               TensorView<const T, D, Dim> weights = {}) {
    return run(logits, target, nullptr, weights);
  }

 private:
  double run(TensorView<const T, D, Dim> logits, TensorView<const std::int32_t, D, Dim> target,
             Tensor<T, D, Dim>* dlogits, TensorView<const T, D, Dim> weights) {
    constexpr const char* name = "focal";
    detail::check_logits(name, logits);
    detail::expect_same_spatial<Dim>(name, "target", logits.shape, target.shape, 1);
    detail::check_weights(name, logits.shape, weights);
    detail::check_class_vector(name, "alpha", options_.alpha, logits.c());
    const detail::FocalParams<T> q{logits.data, target.data, weights.data, alpha_.upload(options_.alpha),
                                   logits.c(), logits.plane(), options_.ignore_index, static_cast<T>(options_.gamma)};
    const index_t positions = logits.n() * logits.plane();
    const std::vector<double>& s = reducer_.template segmented_sum<3>(1, positions, detail::FocalTerm<T>{q});
    if (s[2] > 0) detail::throw_bad_labels(name, s[2], logits.c(), options_.ignore_index);
    const double norm = s[1];
    if (dlogits) {
      dlogits->resize(logits.shape);
      launch<D>(positions, detail::FocalGrad<T>{q, dlogits->data(), static_cast<T>(norm > 0 ? 1.0 / norm : 0.0)},
                grain_for(logits.c()));
    }
    return norm > 0 ? s[0] / norm : 0.0;
  }

  Options options_{};
  detail::ClassVector<T, D> alpha_;
  Reducer<D> reducer_;
};

}  // namespace semiseg::loss
