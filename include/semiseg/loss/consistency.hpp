// Consistency losses between a student's logits and a teacher's prediction (Mean Teacher, Π-model,
// temporal ensembling). Contract: the target is a constant, so only d(loss)/d(student logits) is
// written. The teacher is given as logits by default (softmax is applied here); with
// `Options::target = Target::probabilities` it is taken as class probabilities already (temporal
// ensembling's Z), which the caller keeps non-negative and summing to one per position.
// - SoftmaxMSE: Σ_positions Σ_c w·(softmax_s − p_t)² / (C·|B|), METHODS.md's normalisation with
//   |B| = N·plane, the number of predictions; so it is the mean over all N·C·plane elements: Mean
//   Teacher's softmax_mse_loss / |B| for classification and the CPS baseline's F.mse_loss for
//   segmentation.
// - SoftmaxKL: Σ_positions w·KL(p_t ‖ softmax_s) / |B|, summed over classes and averaged over
//   positions (F.kl_div(log_softmax(s), p_t, reduction='batchmean') for N×C); 0·log 0 = 0.
// Optional per-pixel weights N×1×spatial (say a confidence mask) multiply each position's term
// and leave the normaliser alone.
#pragma once

#include "semiseg/loss/common.hpp"

namespace semiseg::loss {

enum class Target { logits, probabilities };

namespace detail {
template <class T>
struct ConsistencyParams {
  const T* x;  // student logits
  const T* t;  // teacher probabilities
  const T* pixel_weight;
  index_t channels, plane;
  SEMISEG_HD T pixel_w(index_t pos) const { return pixel_weight ? pixel_weight[pos] : T(1); }
};

template <class T, bool KL>
struct ConsistencyTerm {
  ConsistencyParams<T> q;
  SEMISEG_HD double operator()(index_t pos) const {
    const index_t base = at(pos, 0, q.channels, q.plane);
    const LogSumExp<T> l = log_sum_exp(q.x, base, q.channels, q.plane);
    T s = 0;
    for (index_t c = 0; c < q.channels; ++c) {
      const index_t j = base + c * q.plane;
      const T logp = q.x[j] - l.max - l.log_sum;
      if constexpr (KL) {
        if (q.t[j] > T(0)) s += q.t[j] * (math::log(q.t[j]) - logp);
      } else {
        const T d = math::exp(logp) - q.t[j];
        s += d * d;
      }
    }
    return static_cast<double>(q.pixel_w(pos) * s);
  }
};

// MSE: dp = 2·(p − t), then back through softmax. KL: dz = p·Σ t − t.
template <class T, bool KL>
struct ConsistencyGrad {
  ConsistencyParams<T> q;
  T* dx;
  T inv_norm;
  SEMISEG_HD void operator()(index_t pos) const {
    const index_t base = at(pos, 0, q.channels, q.plane);
    const LogSumExp<T> l = log_sum_exp(q.x, base, q.channels, q.plane);
    const T scale = q.pixel_w(pos) * inv_norm;
    T dot = 0;
    for (index_t c = 0; c < q.channels; ++c) {
      const index_t j = base + c * q.plane;
      const T p = math::exp(q.x[j] - l.max - l.log_sum);
      dot += KL ? q.t[j] : T(2) * (p - q.t[j]) * p;
    }
    for (index_t c = 0; c < q.channels; ++c) {
      const index_t j = base + c * q.plane;
      const T p = math::exp(q.x[j] - l.max - l.log_sum);
      dx[j] = scale * (KL ? p * dot - q.t[j] : p * (T(2) * (p - q.t[j]) - dot));
    }
  }
};

template <class T, Device D, Dimension Dim, bool KL>
class SoftmaxConsistency {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;

  struct Options {
    Target target = Target::logits;  // what the second argument holds
  };

  SoftmaxConsistency() = default;
  explicit SoftmaxConsistency(Options options) : options_(options) {}
  const Options& options() const { return options_; }

  double value_and_grad(TensorView<const T, D, Dim> logits, TensorView<const T, D, Dim> target,
                        Tensor<T, D, Dim>& dlogits, TensorView<const T, D, Dim> weights = {}) {
    return run(logits, target, &dlogits, weights);
  }
  double value(TensorView<const T, D, Dim> logits, TensorView<const T, D, Dim> target,
               TensorView<const T, D, Dim> weights = {}) {
    return run(logits, target, nullptr, weights);
  }

 private:
  double run(TensorView<const T, D, Dim> logits, TensorView<const T, D, Dim> target, Tensor<T, D, Dim>* dlogits,
             TensorView<const T, D, Dim> weights) {
    const char* name = KL ? "softmax_kl" : "softmax_mse";
    check_logits(name, logits);
    expect_same_spatial<Dim>(name, "target", logits.shape, target.shape, logits.c());
    check_weights(name, logits.shape, weights);
    const index_t positions = logits.n() * logits.plane();
    const T* t = target.data;
    if (options_.target == Target::logits) {
      teacher_.resize(logits.shape);
      launch<D>(positions, SoftmaxPositions<T>{target.data, teacher_.data(), logits.c(), logits.plane()},
                grain_for(logits.c()));
      t = teacher_.data();
    }
    const ConsistencyParams<T> q{logits.data, t, weights.data, logits.c(), logits.plane()};
    const double norm = KL ? double(positions) : double(logits.size());
    const double sum = reducer_.sum(positions, ConsistencyTerm<T, KL>{q});
    if (dlogits) {
      dlogits->resize(logits.shape);
      launch<D>(positions, ConsistencyGrad<T, KL>{q, dlogits->data(), static_cast<T>(norm > 0 ? 1.0 / norm : 0.0)},
                grain_for(logits.c()));
    }
    return norm > 0 ? sum / norm : 0.0;
  }

  Options options_{};
  Tensor<T, D, Dim> teacher_;
  Reducer<D> reducer_;
};
}  // namespace detail

template <class T, Device D, Dimension Dim>
using SoftmaxMSE = detail::SoftmaxConsistency<T, D, Dim, false>;
template <class T, Device D, Dimension Dim>
using SoftmaxKL = detail::SoftmaxConsistency<T, D, Dim, true>;

}  // namespace semiseg::loss
