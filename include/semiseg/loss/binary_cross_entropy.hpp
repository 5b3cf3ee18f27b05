// Binary cross-entropy over logits, one independent binary problem per channel. Contract: for
// logits N×C×spatial (or N×C) and int32 targets of the same shape holding 0, 1 or the ignore
// index, it returns torch.nn.functional.binary_cross_entropy_with_logits(logits, target,
// pos_weight) averaged over the non-ignored elements, and its gradient with respect to the logits.
// Per element ℓ = pw_c·y·softplus(−x) + (1−y)·softplus(x), the stable form PyTorch uses. Targets
// are integers so that the ignore index means the same as in the other hard-label losses (for a
// one-channel mask, the target is the N×1×spatial label map itself); soft float targets belong to
// the consistency losses. Optional per-pixel weights N×1×spatial multiply every channel of their
// pixel and leave the normaliser (the count of non-ignored elements) alone. No labeled element
// gives 0 and a zero gradient.
#pragma once

#include "semiseg/loss/common.hpp"

namespace semiseg::loss {

namespace detail {
template <class T>
struct BinaryCrossEntropyParams {
  const T* x;
  const std::int32_t* y;
  const T* pixel_weight;  // null: all ones
  const T* pos_weight;    // null: all ones
  index_t channels, plane;
  std::int32_t ignore;

  SEMISEG_HD index_t position(index_t i) const { return (i / (channels * plane)) * plane + i % plane; }
  SEMISEG_HD index_t channel(index_t i) const { return (i / plane) % channels; }
  SEMISEG_HD T scale(index_t i) const { return pixel_weight ? pixel_weight[position(i)] : T(1); }
  SEMISEG_HD T pos(index_t i) const { return pos_weight ? pos_weight[channel(i)] : T(1); }
};

template <class T>
SEMISEG_HD inline T softplus(T x) {
  const T ax = x < T(0) ? -x : x;
  return (x > T(0) ? x : T(0)) + log1p(math::exp(-ax));
}

// Per element: {pixel weight · ℓ, 1 if labeled, 1 if the target is not 0, 1 or ignored}.
template <class T>
struct BinaryCrossEntropyTerm {
  BinaryCrossEntropyParams<T> q;
  SEMISEG_HD Sums<3> operator()(index_t, index_t i) const {
    Sums<3> s;
    const std::int32_t y = q.y[i];
    if (y == q.ignore) return s;
    if (y != 0 && y != 1) {
      s[2] = 1;
      return s;
    }
    const T x = q.x[i];
    const T l = y == 1 ? q.pos(i) * softplus(-x) : softplus(x);
    s[0] = static_cast<double>(q.scale(i) * l);
    s[1] = 1;
    return s;
  }
};

// dℓ/dx = (1−y)·σ(x) − pw·y·(1−σ(x)).
template <class T>
struct BinaryCrossEntropyGrad {
  BinaryCrossEntropyParams<T> q;
  T* dx;
  T inv_norm;
  SEMISEG_HD void operator()(index_t i) const {
    const std::int32_t y = q.y[i];
    if (y != 0 && y != 1) {
      dx[i] = T(0);
      return;
    }
    const T x = q.x[i];
    const T e = math::exp(-(x < T(0) ? -x : x));
    const T sigma = x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
    const T g = y == 1 ? -q.pos(i) * (T(1) - sigma) : sigma;
    dx[i] = q.scale(i) * inv_norm * g;
  }
};
}  // namespace detail

template <class T, Device D, Dimension Dim>
class BinaryCrossEntropy {
 public:
  static constexpr const char* name = "BinaryCrossEntropy";
  using value_type = T;
  using device = D;
  using dim = Dim;

  struct Options {
    std::int32_t ignore_index = default_ignore_index;  // −1, our masks' mark
    std::vector<double> pos_weight = {};               // per channel weight of the positives; empty = ones
  };

  BinaryCrossEntropy() = default;
  explicit BinaryCrossEntropy(Options options) : options_(std::move(options)) {
    if (options_.ignore_index == 0 || options_.ignore_index == 1)
      throw value_error("semiseg: binary_cross_entropy: the ignore index cannot be a class (0 or 1)");
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
    constexpr const char* name = "binary_cross_entropy";
    detail::check_logits(name, logits);
    detail::expect_same_spatial<Dim>(name, "target", logits.shape, target.shape, logits.c());
    detail::check_weights(name, logits.shape, weights);
    detail::check_class_vector(name, "pos_weight", options_.pos_weight, logits.c());
    const detail::BinaryCrossEntropyParams<T> q{logits.data, target.data, weights.data,
                                                pos_weight_.upload(options_.pos_weight), logits.c(), logits.plane(),
                                                options_.ignore_index};
    const std::vector<double>& s = reducer_.template segmented_sum<3>(1, logits.size(), detail::BinaryCrossEntropyTerm<T>{q});
    if (s[2] > 0)
      throw value_error("semiseg: binary_cross_entropy: " + std::to_string(static_cast<long long>(s[2])) +
                        " targets are neither 0, 1 nor the ignore index " + std::to_string(options_.ignore_index));
    const double norm = s[1];
    if (dlogits) {
      dlogits->resize(logits.shape);
      launch<D>(logits.size(), detail::BinaryCrossEntropyGrad<T>{q, dlogits->data(), static_cast<T>(norm > 0 ? 1.0 / norm : 0.0)});
    }
    return norm > 0 ? s[0] / norm : 0.0;
  }

  Options options_{};
  detail::ClassVector<T, D> pos_weight_;
  Reducer<D> reducer_;
};

}  // namespace semiseg::loss
