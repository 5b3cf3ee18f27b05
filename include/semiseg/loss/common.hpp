// Shared pieces of the losses: input checks, per-position softmax, and a device copy of
// per-class option vectors. Contract: every check throws shape_error for tensors that do not
// fit together and value_error for options or labels out of range, before any kernel writes.
// Kernels here read labels defensively (an out-of-range label touches no memory), so a loss can
// count bad labels in the same pass that computes its value and throw afterwards.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "semiseg/core/error.hpp"
#include "semiseg/core/math.hpp"
#include "semiseg/core/tensor.hpp"
#include "semiseg/kernels/reduce.hpp"

namespace semiseg::loss {

// Our data loaders mark unlabeled pixels with -1 (data::ignore_label); PyTorch's default is -100.
inline constexpr std::int32_t default_ignore_index = -1;

namespace detail {

template <class T>
SEMISEG_HD inline T log1p(T x) {
  if constexpr (sizeof(T) == 4)
    return ::log1pf(x);
  else
    return ::log1p(x);
}

// x^g for x ≥ 0; integer exponents up to 8 by multiplication (exact for the default γ = 2),
// others through exp/log; 0^0 = 1 as in torch.pow.
template <class T>
SEMISEG_HD inline T pow_nonneg(T x, T g) {
  const int gi = static_cast<int>(g);
  if (static_cast<T>(gi) == g && gi >= 0 && gi <= 8) {
    T r = 1;
    for (int k = 0; k < gi; ++k) r *= x;
    return r;
  }
  if (x <= T(0)) return g == T(0) ? T(1) : T(0);
  return math::exp(g * math::log(x));
}

// Channel c of position p (p over N·plane) of an N×C×spatial tensor.
SEMISEG_HD inline index_t at(index_t p, index_t c, index_t channels, index_t plane) {
  return ((p / plane) * channels + c) * plane + p % plane;
}

// The maximum and log Σ exp(x − max) over the channels of one position.
template <class T>
struct LogSumExp {
  T max, log_sum;
};
template <class T>
SEMISEG_HD inline LogSumExp<T> log_sum_exp(const T* x, index_t base, index_t channels, index_t plane) {
  T m = x[base];
  for (index_t c = 1; c < channels; ++c) m = x[base + c * plane] > m ? x[base + c * plane] : m;
  T s = 0;
  for (index_t c = 0; c < channels; ++c) s += math::exp(x[base + c * plane] - m);
  return {m, math::log(s)};
}

template <Dimension Dim, int R>
void expect_same_spatial(const char* loss, const char* what, const Shape<R>& logits, const Shape<R>& other,
                         index_t channels) {
  bool ok = other[0] == logits[0] && other[1] == channels;
  for (int i = 2; i < R; ++i) ok = ok && other[i] == logits[i];
  if (!ok) {
    Shape<R> expected = logits;
    expected[1] = channels;
    throw shape_error(std::string("semiseg: ") + loss + ": " + what + " must have shape " + expected.str() +
                      " for logits " + logits.str() + ", got " + other.str());
  }
}

template <class T, Device D, Dimension Dim>
void check_logits(const char* loss, TensorView<const T, D, Dim> logits) {
  if (logits.size() > 0 && logits.data == nullptr)
    throw shape_error(std::string("semiseg: ") + loss + ": logits have no data");
  if (logits.c() < 1) throw shape_error(std::string("semiseg: ") + loss + ": logits need at least one channel");
}

// Optional per-position weights: empty (no data) or N×1×spatial.
template <class T, Device D, Dimension Dim>
void check_weights(const char* loss, const shape_of<Dim>& logits, TensorView<const T, D, Dim> weights) {
  if (weights.data == nullptr && weights.size() == 0) return;
  expect_same_spatial<Dim>(loss, "weights", logits, weights.shape, 1);
}

inline void check_class_vector(const char* loss, const char* what, const std::vector<double>& v, index_t channels) {
  if (v.empty()) return;
  if (static_cast<index_t>(v.size()) != channels)
    throw shape_error(std::string("semiseg: ") + loss + ": " + what + " has " + std::to_string(v.size()) +
                      " entries, the logits have " + std::to_string(channels) + " classes");
  for (double x : v)
    if (!std::isfinite(x) || x < 0)
      throw value_error(std::string("semiseg: ") + loss + ": " + what + " must be finite and non-negative, got " +
                        std::to_string(x));
}

inline void throw_bad_labels(const char* loss, double bad, index_t channels, std::int32_t ignore_index) {
  throw value_error(std::string("semiseg: ") + loss + ": " + std::to_string(static_cast<long long>(bad)) +
                    " target labels outside [0, " + std::to_string(channels) + ") that are not the ignore index " +
                    std::to_string(ignore_index));
}

// A per-class option vector kept on the device, re-uploaded only when its host values change.
template <class T, Device D>
class ClassVector {
 public:
  // Returns the device pointer, or nullptr when `values` is empty (meaning all ones).
  const T* upload(const std::vector<double>& values) {
    if (values.empty()) return nullptr;
    if (values != host_) {
      host_ = values;
      device_.resize(flat_shape(1, static_cast<index_t>(values.size())));
      from_host(device_.view(), std::vector<T>(values.begin(), values.end()));
    }
    return device_.data();
  }

 private:
  std::vector<double> host_;
  Tensor<T, D, flat> device_;
};

// Softmax over the channels into y, one position per work item.
template <class T>
struct SoftmaxPositions {
  const T* x;
  T* y;
  index_t channels, plane;
  SEMISEG_HD void operator()(index_t p) const {
    const index_t base = at(p, 0, channels, plane);
    const LogSumExp<T> l = log_sum_exp(x, base, channels, plane);
    for (index_t c = 0; c < channels; ++c)
      y[base + c * plane] = math::exp(x[base + c * plane] - l.max - l.log_sum);
  }
};

// y = a·x + y
template <class T>
struct Axpy {
  T a;
  const T* x;
  T* y;
  SEMISEG_HD void operator()(index_t i) const { y[i] = a * x[i] + y[i]; }
};

template <class T>
struct Scale {
  T a;
  T* y;
  SEMISEG_HD void operator()(index_t i) const { y[i] = a * y[i]; }
};

}  // namespace detail
}  // namespace semiseg::loss
