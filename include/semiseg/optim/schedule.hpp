// Learning-rate schedules. Contract: a schedule is a small value type whose `operator()(step)`
// returns the factor that multiplies the optimizer's base lr at that step (step 0 is the first
// optimizer step), so a trainer calls `optimizer.set_lr(base_lr * schedule(step))` before each
// step. Factors equal PyTorch 1.13's schedulers in closed form, counting steps as their
// `last_epoch`. A schedule with invalid fields, or a negative step, throws value_error when called.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <numbers>

#include "semiseg/config.hpp"
#include "semiseg/optim/check.hpp"

namespace semiseg::optim {

template <class S>
concept Schedule = std::copyable<S> && requires(const S& s, index_t step) {
  { s(step) } -> std::convertible_to<double>;
};

namespace detail {
inline double check_step(index_t step, const char* owner) {
  require(step >= 0, owner, "step", "must be >= 0", static_cast<double>(step));
  return static_cast<double>(step);
}
}  // namespace detail

// The base lr throughout.
struct Constant {
  double operator()(index_t step) const {
    detail::check_step(step, "constant schedule");
    return 1.0;
  }
};

// torch StepLR: gamma^(step / step_size), integer division. step_size has no default there
// either; 0 is rejected.
struct StepDecay {
  index_t step_size = 0;
  double gamma = 0.1;
  double operator()(index_t step) const {
    detail::check_step(step, "step schedule");
    detail::require(step_size >= 1, "step schedule", "step_size", "must be >= 1", static_cast<double>(step_size));
    detail::require(gamma >= 0, "step schedule", "gamma", "must be >= 0", gamma);
    return std::pow(gamma, static_cast<double>(step / step_size));
  }
};

// torch PolynomialLR: (1 - step / total)^power, and 0 from step `total` on.
struct Poly {
  index_t total = 5;
  double power = 1.0;
  double operator()(index_t step) const {
    const double t = detail::check_step(step, "poly schedule");
    detail::require(total >= 1, "poly schedule", "total", "must be >= 1", static_cast<double>(total));
    detail::require(power >= 0, "poly schedule", "power", "must be >= 0", power);
    const double n = static_cast<double>(total);
    return std::pow(1.0 - std::min(t, n) / n, power);
  }
};

// torch CosineAnnealingLR: min + (1 - min)(1 + cos(pi step / t_max)) / 2, with min_factor =
// eta_min / base_lr. Past t_max the factor rises again, as torch's does (its recursive form
// and this closed form agree there to rounding); choose t_max = the run's length to avoid that.
struct Cosine {
  index_t t_max = 0;
  double min_factor = 0.0;
  double operator()(index_t step) const {
    const double t = detail::check_step(step, "cosine schedule");
    detail::require(t_max >= 1, "cosine schedule", "t_max", "must be >= 1", static_cast<double>(t_max));
    detail::require(min_factor >= 0, "cosine schedule", "min_factor", "must be >= 0", min_factor);
    return min_factor + (1.0 - min_factor) * (1.0 + std::cos(std::numbers::pi * t / static_cast<double>(t_max))) / 2.0;
  }
};

// torch LinearLR (defaults included): start_factor to end_factor linearly over `total` steps,
// then end_factor. A warm-up when end_factor is 1; total 0 means no warm-up.
struct LinearWarmup {
  double start_factor = 1.0 / 3.0;
  double end_factor = 1.0;
  index_t total = 5;
  double operator()(index_t step) const {
    const double t = detail::check_step(step, "linear warm-up");
    // torch's ranges: a start of 0 would make its recursive form divide by zero.
    detail::require(start_factor > 0 && start_factor <= 1, "linear warm-up", "start_factor", "must be in (0, 1]",
                    start_factor);
    detail::require(end_factor >= 0 && end_factor <= 1, "linear warm-up", "end_factor", "must be in [0, 1]",
                    end_factor);
    detail::require(total >= 0, "linear warm-up", "total", "must be >= 0", static_cast<double>(total));
    if (total == 0) return end_factor;
    const double n = static_cast<double>(total);
    return start_factor + (end_factor - start_factor) * std::min(t, n) / n;
  }
};

// `first` for steps before `milestone`, then `then` restarted at step 0, like torch SequentialLR.
// The factors multiply the same base lr, so a warm-up ending at 1 hands over without a jump to a
// schedule that starts at 1.
template <Schedule First, Schedule Then>
struct Sequential {
  First first{};
  index_t milestone = 0;
  Then then{};
  double operator()(index_t step) const {
    detail::check_step(step, "sequential schedule");
    detail::require(milestone >= 0, "sequential schedule", "milestone", "must be >= 0", static_cast<double>(milestone));
    return step < milestone ? first(step) : then(step - milestone);
  }
};

// A linear warm-up over warmup.total steps, then `then` from its step 0.
template <Schedule Then>
Sequential<LinearWarmup, Then> warmup_then(const LinearWarmup& warmup, const Then& then) {
  return {warmup, warmup.total, then};
}

}  // namespace semiseg::optim
