// Softmax cross-entropy over logits. Contract: for logits N×C×spatial (or N×C) and int32 labels
// N×1×spatial (or N×1) it returns torch.nn.functional.cross_entropy(logits, target,
// weight=class_weights, ignore_index, label_smoothing, reduction='mean') and writes its gradient
// with respect to the logits. Per pixel ℓ = (1−ε)·ω_y·(−log p_y) + (ε/C)·Σ_c ω_c·(−log p_c); the
// mean divides Σ ℓ by Σ ω_y over the non-ignored pixels, as PyTorch does (the count of such
// pixels without class weights). Optional per-pixel weights N×1×spatial multiply each pixel's ℓ
// and leave that normaliser alone, so a 0/1 confidence mask gives FixMatch's (ce·mask).mean()
// form. Two deliberate differences from PyTorch: the ignore index defaults to our masks' −1
// (PyTorch: −100), and a batch with no labeled pixel gives 0 with a zero gradient (PyTorch: NaN),
// so a semi-supervised batch without labels does not poison training.
#pragma once

#include "semiseg/loss/common.hpp"

namespace semiseg::loss {

namespace detail {
template <class T>
struct CrossEntropyParams {
  const T* x;
  const std::int32_t* y;
  const T* pixel_weight;  // null: all ones
  const T* class_weight;  // null: all ones
  index_t channels, plane;
  std::int32_t ignore;
  T smoothing;

  SEMISEG_HD T class_w(index_t c) const { return class_weight ? class_weight[c] : T(1); }
  SEMISEG_HD T pixel_w(index_t p) const { return pixel_weight ? pixel_weight[p] : T(1); }
  // 0 valid, 1 ignored, 2 out of range.
  SEMISEG_HD int status(std::int32_t label) const {
    if (label == ignore) return 1;
    return label >= 0 && label < channels ? 0 : 2;
  }
};

// Per position: {pixel weight · ℓ, ω_y, 1 if the label is out of range}.
template <class T>
struct CrossEntropyTerm {
  CrossEntropyParams<T> q;
  SEMISEG_HD Sums<3> operator()(index_t, index_t p) const {
    Sums<3> s;
    const std::int32_t label = q.y[p];
    const int st = q.status(label);
    if (st == 2) s[2] = 1;
    if (st != 0) return s;
    const index_t base = at(p, 0, q.channels, q.plane);
    const LogSumExp<T> l = log_sum_exp(q.x, base, q.channels, q.plane);
    const T wy = q.class_w(label);
    T loss = (T(1) - q.smoothing) * wy * (l.max + l.log_sum - q.x[base + label * q.plane]);
    if (q.smoothing != T(0)) {
      T smooth = 0;
      for (index_t c = 0; c < q.channels; ++c) smooth += q.class_w(c) * (l.max + l.log_sum - q.x[base + c * q.plane]);
      loss += q.smoothing / T(q.channels) * smooth;
    }
    s[0] = static_cast<double>(q.pixel_w(p) * loss);
    s[1] = static_cast<double>(wy);
    return s;
  }
};

// dℓ/dz_c = (1−ε)·ω_y·(p_c − δ_yc) + (ε/C)·(W·p_c − ω_c), W = Σ ω, times pixel weight / normaliser.
template <class T>
struct CrossEntropyGrad {
  CrossEntropyParams<T> q;
  T* dx;
  T inv_norm, weight_sum;
  SEMISEG_HD void operator()(index_t p) const {
    const std::int32_t label = q.y[p];
    const index_t base = at(p, 0, q.channels, q.plane);
    if (q.status(label) != 0) {
      for (index_t c = 0; c < q.channels; ++c) dx[base + c * q.plane] = T(0);
      return;
    }
    const LogSumExp<T> l = log_sum_exp(q.x, base, q.channels, q.plane);
    const T scale = q.pixel_w(p) * inv_norm;
    const T hard = (T(1) - q.smoothing) * q.class_w(label);
    const T soft = q.smoothing / T(q.channels);
    for (index_t c = 0; c < q.channels; ++c) {
      const T pc = math::exp(q.x[base + c * q.plane] - l.max - l.log_sum);
      T g = hard * (pc - (c == label ? T(1) : T(0)));
      if (soft != T(0)) g += soft * (weight_sum * pc - q.class_w(c));
      dx[base + c * q.plane] = scale * g;
    }
  }
};
}  // namespace detail

template <class T, Device D, Dimension Dim>
class CrossEntropy {
 public:
  static constexpr const char* name = "CrossEntropy";
  using value_type = T;
  using device = D;
  using dim = Dim;

  struct Options {
    std::int32_t ignore_index = default_ignore_index;  // −1, our masks' mark (PyTorch: −100)
    std::vector<double> class_weights = {};            // one per class; empty = all ones
    double label_smoothing = 0.0;                      // ε in [0, 1]
  };

  CrossEntropy() = default;
  explicit CrossEntropy(Options options) : options_(std::move(options)) {
    if (!(options_.label_smoothing >= 0.0 && options_.label_smoothing <= 1.0))
      throw value_error("semiseg: cross_entropy: label_smoothing must be in [0, 1], got " +
                        std::to_string(options_.label_smoothing));
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
    constexpr const char* name = "cross_entropy";
    detail::check_logits(name, logits);
    detail::expect_same_spatial<Dim>(name, "target", logits.shape, target.shape, 1);
    detail::check_weights(name, logits.shape, weights);
    detail::check_class_vector(name, "class_weights", options_.class_weights, logits.c());
    const detail::CrossEntropyParams<T> q{logits.data, target.data, weights.data,
                                          class_weights_.upload(options_.class_weights), logits.c(), logits.plane(),
                                          options_.ignore_index, static_cast<T>(options_.label_smoothing)};
    const index_t positions = logits.n() * logits.plane();
    const std::vector<double>& s = reducer_.template segmented_sum<3>(1, positions, detail::CrossEntropyTerm<T>{q});
    if (s[2] > 0) detail::throw_bad_labels(name, s[2], logits.c(), options_.ignore_index);
    const double norm = s[1];
    if (dlogits) {
      dlogits->resize(logits.shape);
      double weight_sum = 0;
      for (index_t c = 0; c < logits.c(); ++c)
        weight_sum += options_.class_weights.empty() ? 1.0 : options_.class_weights[static_cast<std::size_t>(c)];
      launch<D>(positions,
                detail::CrossEntropyGrad<T>{q, dlogits->data(), static_cast<T>(norm > 0 ? 1.0 / norm : 0.0),
                                            static_cast<T>(weight_sum)},
                grain_for(logits.c()));
    }
    return norm > 0 ? s[0] / norm : 0.0;
  }

  Options options_{};
  detail::ClassVector<T, D> class_weights_;
  Reducer<D> reducer_;
};

}  // namespace semiseg::loss
