// Soft Dice loss on softmax probabilities against one-hot labels. Contract: follows MONAI's
// DiceLoss(softmax=True, to_onehot_y=True): with p = softmax(logits) and g = one-hot(target),
// per class (and per sample unless `batch`) it takes 1 − (2·Σ p·g + smooth_nr)/(Σ p + Σ g +
// smooth_dr) and returns the mean over the classes (and samples), together with its gradient with
// respect to the logits. The sums run over the spatial axes (and the batch when `batch`).
// Ignored pixels are left out of all three sums; optional per-pixel weights N×1×spatial multiply
// each pixel's share of them (a weight of 0 is the same as ignoring the pixel). The smooths are
// MONAI's defaults, 1e-5, which keep an absent class from dividing by zero without biasing
// present ones.
#pragma once

#include "semiseg/loss/common.hpp"

namespace semiseg::loss {

namespace detail {
template <class T>
struct DiceParams {
  const T* p;  // softmax probabilities
  const std::int32_t* y;
  const T* pixel_weight;
  index_t channels, plane;
  std::int32_t ignore;
  bool batch;

  SEMISEG_HD T pixel_w(index_t pos) const { return pixel_weight ? pixel_weight[pos] : T(1); }
  SEMISEG_HD bool labeled(std::int32_t label) const { return label != ignore && label >= 0 && label < channels; }
};

// Segment = (n, c), or c when `batch`; index = pixel of that sample (of the whole batch).
// Returns {Σ w·p·g, Σ w·p, Σ w·g, bad labels (counted in class-0 segments only)}.
template <class T>
struct DiceTerm {
  DiceParams<T> q;
  SEMISEG_HD Sums<4> operator()(index_t segment, index_t i) const {
    Sums<4> s;
    const index_t c = q.batch ? segment : segment % q.channels;
    const index_t pos = q.batch ? i : (segment / q.channels) * q.plane + i;
    const std::int32_t label = q.y[pos];
    if (!q.labeled(label)) {
      if (c == 0 && label != q.ignore) s[3] = 1;
      return s;
    }
    const T w = q.pixel_w(pos);
    const T p = q.p[at(pos, c, q.channels, q.plane)];
    const T g = label == c ? T(1) : T(0);
    s[0] = static_cast<double>(w * p * g);
    s[1] = static_cast<double>(w * p);
    s[2] = static_cast<double>(w * g);
    return s;
  }
};

// dL/dp_c = w·(u_s − g_c·v_s) with u = A/(B²·terms), v = 2/(B·terms); then back through softmax.
template <class T>
struct DiceGrad {
  DiceParams<T> q;
  const T* uv;  // per segment: u, v
  T* dx;
  index_t first_class;
  SEMISEG_HD void operator()(index_t pos) const {
    const index_t base = at(pos, 0, q.channels, q.plane);
    const std::int32_t label = q.y[pos];
    if (!q.labeled(label)) {
      for (index_t c = 0; c < q.channels; ++c) dx[base + c * q.plane] = T(0);
      return;
    }
    const T w = q.pixel_w(pos);
    const index_t n = pos / q.plane;
    T dot = 0;
    for (index_t c = 0; c < q.channels; ++c) {
      T d = 0;
      if (c >= first_class) {
        const index_t s = q.batch ? c : n * q.channels + c;
        d = w * (uv[2 * s] - (label == c ? uv[2 * s + 1] : T(0)));
      }
      dx[base + c * q.plane] = d;
      dot += d * q.p[base + c * q.plane];
    }
    for (index_t c = 0; c < q.channels; ++c)
      dx[base + c * q.plane] = q.p[base + c * q.plane] * (dx[base + c * q.plane] - dot);
  }
};
}  // namespace detail

template <class T, Device D, Dimension Dim>
class Dice {
 public:
  static constexpr const char* name = "Dice";
  using value_type = T;
  using device = D;
  using dim = Dim;

  struct Options {
    std::int32_t ignore_index = default_ignore_index;  // −1, our masks' mark
    bool include_background = true;                    // class 0 counts in the mean (MONAI default)
    bool batch = false;                                // false: per sample, then mean (MONAI default)
    double smooth_nr = 1e-5;                           // added to the numerator (MONAI default)
    double smooth_dr = 1e-5;                           // added to the denominator (MONAI default)
  };

  Dice() = default;
  explicit Dice(Options options) : options_(options) {
    if (!(options_.smooth_nr >= 0.0) || !(options_.smooth_dr >= 0.0))
      throw value_error("semiseg: dice: smooth_nr and smooth_dr must be non-negative");
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
    constexpr const char* name = "dice";
    detail::check_logits(name, logits);
    detail::expect_same_spatial<Dim>(name, "target", logits.shape, target.shape, 1);
    detail::check_weights(name, logits.shape, weights);
    const index_t classes = logits.c(), first = options_.include_background ? 0 : 1;
    if (classes - first < 1)
      throw value_error("semiseg: dice: include_background = false needs at least two classes, got " +
                        std::to_string(classes));
    const index_t positions = logits.n() * logits.plane();
    probs_.resize(logits.shape);
    launch<D>(positions, detail::SoftmaxPositions<T>{logits.data, probs_.data(), classes, logits.plane()},
              grain_for(classes));
    const detail::DiceParams<T> q{probs_.data(), target.data, weights.data, classes, logits.plane(),
                                  options_.ignore_index, options_.batch};
    const index_t segments = options_.batch ? classes : logits.n() * classes;
    const index_t length = options_.batch ? positions : logits.plane();
    const std::vector<double>& s = reducer_.template segmented_sum<4>(segments, length, detail::DiceTerm<T>{q});
    double bad = 0;
    for (index_t k = 0; k < segments; ++k) bad += s[static_cast<std::size_t>(4 * k + 3)];
    if (bad > 0) detail::throw_bad_labels(name, bad, classes, options_.ignore_index);

    const index_t terms = segments / classes * (classes - first);
    double total = 0;
    uv_host_.assign(static_cast<std::size_t>(2 * segments), T(0));
    for (index_t k = 0; k < segments; ++k) {
      if (k % classes < first) continue;
      const double inter = s[static_cast<std::size_t>(4 * k)];
      const double a = 2.0 * inter + options_.smooth_nr;
      const double b = s[static_cast<std::size_t>(4 * k + 1)] + s[static_cast<std::size_t>(4 * k + 2)] + options_.smooth_dr;
      total += b > 0 ? 1.0 - a / b : 0.0;
      if (b > 0) {
        uv_host_[static_cast<std::size_t>(2 * k)] = static_cast<T>(a / (b * b * double(terms)));
        uv_host_[static_cast<std::size_t>(2 * k + 1)] = static_cast<T>(2.0 / (b * double(terms)));
      }
    }
    if (dlogits) {
      uv_.resize(flat_shape(1, 2 * segments));
      from_host(uv_.view(), uv_host_);
      dlogits->resize(logits.shape);
      launch<D>(positions, detail::DiceGrad<T>{q, uv_.data(), dlogits->data(), first}, grain_for(classes));
    }
    return total / double(terms);
  }

  Options options_{};
  Tensor<T, D, Dim> probs_;
  Tensor<T, D, flat> uv_;
  std::vector<T> uv_host_;
  Reducer<D> reducer_;
};

}  // namespace semiseg::loss
