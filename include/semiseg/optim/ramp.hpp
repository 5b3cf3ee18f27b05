// Ramps: weights in [0, 1] of an epoch (or step) count t, for consistency weights, learning rates
// and Adam's beta1. Contract: requires lengths >= 0 (value_error otherwise); t may be any real and
// is clipped to the ramp, so each function is constant outside it. Ensures the forms of the
// reference code named below (METHODS.md). A zero-length ramp is finished from the start, except
// gaussian_rampdown, which is then 1 (its limit).
#pragma once

#include <algorithm>
#include <cmath>
#include <numbers>

#include "semiseg/optim/check.hpp"

namespace semiseg::optim {

// exp(-5 (1 - clip(t / length, 0, 1))^2): from exp(-5) at t = 0 to 1 at t = length (Laine &
// Aila; Mean Teacher's ramps.sigmoid_rampup). 1 when length is 0.
inline double sigmoid_rampup(double t, double length) {
  detail::require(length >= 0, "sigmoid_rampup", "length", "must be >= 0", length);
  if (length == 0) return 1.0;
  const double phase = 1.0 - std::clamp(t / length, 0.0, 1.0);
  return std::exp(-5.0 * phase * phase);
}

// clip(t / length, 0, 1) (Mean Teacher's ramps.linear_rampup). 1 when length is 0.
inline double linear_rampup(double t, double length) {
  detail::require(length >= 0, "linear_rampup", "length", "must be >= 0", length);
  if (length == 0) return 1.0;
  return std::clamp(t / length, 0.0, 1.0);
}

// 0 before `begin`, linear to 1 at `end`, 1 after: Pseudo-Label's alpha(t) / alpha_f between T1
// and T2. A step from 0 to 1 at `begin` when end == begin.
inline double linear_ramp(double t, double begin, double end) {
  detail::require(end >= begin, "linear_ramp", "end", "must be >= begin", end);
  if (end == begin) return t >= begin ? 1.0 : 0.0;
  return std::clamp((t - begin) / (end - begin), 0.0, 1.0);
}

// 0.5 (cos(pi clip(t / length, 0, 1)) + 1): from 1 at t = 0 to 0 at t = length (Mean Teacher's
// ramps.cosine_rampdown, which asserts 0 <= t <= length; here t is clipped). 0 when length is 0.
inline double cosine_rampdown(double t, double length) {
  detail::require(length >= 0, "cosine_rampdown", "length", "must be >= 0", length);
  if (length == 0) return 0.0;
  return 0.5 * (std::cos(std::numbers::pi * std::clamp(t / length, 0.0, 1.0)) + 1.0);
}

// Laine & Aila's ramp-down over the last `length` epochs of `total`, as METHODS.md states it and
// as their train.py computes it: 1 before total - length, then
// exp(-((t - (total - length)) * 0.5)^2 / length), with t clipped at `total`. The 0.5 does not
// scale with the length, so the final value is exp(-length / 4): exp(-12.5) ≈ 3.7e-6 for the
// paper's 50 epochs (its exp(-12.5 T^2), T the fraction of the ramp done), but exp(-1) for a
// length of 4. Hence 1 when length is 0: the limit, and no ramp-down at all.
inline double gaussian_rampdown(double t, double total, double length) {
  detail::require(length >= 0, "gaussian_rampdown", "length", "must be >= 0", length);
  const double start = total - length;
  if (length == 0 || t < start) return 1.0;
  const double e = (std::min(t, total) - start) * 0.5;
  return std::exp(-(e * e) / length);
}

}  // namespace semiseg::optim
