// Adam (torch.optim.Adam, L2 penalty added to the gradient) and AdamW (torch.optim.AdamW, decay
// decoupled from the gradient). Contract: requires valid options (value_error otherwise) and, on
// every step, the same number of parameters n with device pointers of device D. Ensures each step
// applies PyTorch 1.13's update exactly, element by element in one launch, with t the step count
// after increment:
//   Adam:  g = grad + weight_decay * p          AdamW: p = p * (1 - lr * weight_decay), g = grad
//   m = beta1 * m + (1 - beta1) * g,  v = beta2 * v + (1 - beta2) * g * g
//   p = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The moments start at zero on the first step and are public through state(), with the step
// count, so a checkpoint can save and restore them.
#pragma once

#include <cmath>
#include <concepts>
#include <string>

#include "semiseg/core/launch.hpp"
#include "semiseg/core/math.hpp"
#include "semiseg/core/parameters.hpp"
#include "semiseg/core/tensor.hpp"
#include "semiseg/optim/check.hpp"

namespace semiseg::optim {

// PyTorch's defaults for torch.optim.Adam.
struct AdamOptions {
  static constexpr bool decoupled = false;
  static constexpr const char* name = "adam";
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

// PyTorch's defaults for torch.optim.AdamW. A separate type rather than a flag, so that
// `AdamWOptions{}` carries AdamW's weight decay of 1e-2 and the two cannot be mixed up.
struct AdamWOptions {
  static constexpr bool decoupled = true;
  static constexpr const char* name = "adamw";
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

template <class O>
concept AdamLikeOptions = std::same_as<O, AdamOptions> || std::same_as<O, AdamWOptions>;

template <AdamLikeOptions O>
void validate(const O& o) {
  detail::require(o.lr >= 0, O::name, "lr", "must be >= 0", o.lr);
  detail::require(o.beta1 >= 0 && o.beta1 < 1, O::name, "beta1", "must be in [0, 1)", o.beta1);
  detail::require(o.beta2 >= 0 && o.beta2 < 1, O::name, "beta2", "must be in [0, 1)", o.beta2);
  detail::require(o.eps >= 0, O::name, "eps", "must be >= 0", o.eps);
  detail::require(o.weight_decay >= 0, O::name, "weight_decay", "must be >= 0", o.weight_decay);
}

template <class T>
struct AdamKernel {
  T* p;
  const T* grad;
  T* m;
  T* v;
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
  T weight_decay;  // Adam's L2 term; 0 for AdamW
  T decay;         // AdamW's factor 1 - lr * weight_decay; 1 for Adam
  T step_size;     // lr / (1 - beta1^t)
  T bias_correction2_sqrt;

  SEMISEG_HD void operator()(index_t i) const {
    T x = p[i] * decay;
    T g = grad[i];
    if (weight_decay != T(0)) g += weight_decay * x;
    const T mi = beta1 * m[i] + one_minus_beta1 * g;
    const T vi = beta2 * v[i] + one_minus_beta2 * g * g;
    m[i] = mi;
    v[i] = vi;
    // Bias corrections folded into step_size and the denominator, in PyTorch's order, so
    // float results round like torch's.
    const T denom = math::sqrt(vi) / bias_correction2_sqrt + eps;
    p[i] = x - step_size * (mi / denom);
  }
};

template <class T, Device D, AdamLikeOptions O>
class BasicAdam {
 public:
  using Options = O;
  // `exp_avg` and `exp_avg_sq` are PyTorch's names for the first and second moments; `steps`
  // is its `step`, the count of steps taken, which the bias corrections need.
  struct State {
    Tensor<T, D, flat> exp_avg, exp_avg_sq;
    index_t steps = 0;
  };

  explicit BasicAdam(const O& options = {}) : o_(options) { validate(o_); }

  void step(T* values, const T* grads, index_t n) {
    detail::require(n >= 0, O::name, "parameter count", "must be >= 0", static_cast<double>(n));
    if (s_.steps == 0) {
      s_.exp_avg.resize(flat_shape(1, n));
      s_.exp_avg_sq.resize(flat_shape(1, n));
      s_.exp_avg.zero();
      s_.exp_avg_sq.zero();
    } else if (s_.exp_avg.size() != n || s_.exp_avg_sq.size() != n) {
      throw shape_error(std::string("semiseg: ") + O::name + ": step over " + std::to_string(n) +
                        " parameters, but the moments hold " + std::to_string(s_.exp_avg.size()) + " and " +
                        std::to_string(s_.exp_avg_sq.size()));
    }
    const double t = static_cast<double>(s_.steps + 1);
    const double bias_correction1 = 1.0 - std::pow(o_.beta1, t);
    const double bias_correction2 = 1.0 - std::pow(o_.beta2, t);
    const double l2 = O::decoupled ? 0.0 : o_.weight_decay;
    const double decay = O::decoupled ? 1.0 - o_.lr * o_.weight_decay : 1.0;
    launch<D>(n, AdamKernel<T>{values, grads, s_.exp_avg.data(), s_.exp_avg_sq.data(), static_cast<T>(o_.beta1),
                               static_cast<T>(1.0 - o_.beta1), static_cast<T>(o_.beta2),
                               static_cast<T>(1.0 - o_.beta2), static_cast<T>(o_.eps), static_cast<T>(l2),
                               static_cast<T>(decay), static_cast<T>(o_.lr / bias_correction1),
                               static_cast<T>(std::sqrt(bias_correction2))});
    ++s_.steps;
  }
  void step(Parameters<T, D>& params) { step(params.values().data(), params.grads().data(), params.size()); }

  double lr() const { return o_.lr; }
  void set_lr(double lr) {
    detail::require(lr >= 0, O::name, "lr", "must be >= 0", lr);
    o_.lr = lr;
  }
  const O& options() const { return o_; }
  // For schedules of other hyper-parameters (Laine & Aila ramp beta1 down with the lr);
  // validated like the constructor's options.
  void set_options(const O& options) {
    validate(options);
    o_ = options;
  }
  State& state() { return s_; }
  const State& state() const { return s_; }

 private:
  O o_;
  State s_;
};

template <class T, Device D>
using Adam = BasicAdam<T, D, AdamOptions>;
template <class T, Device D>
using AdamW = BasicAdam<T, D, AdamWOptions>;

}  // namespace semiseg::optim
