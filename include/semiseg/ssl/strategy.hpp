// The strategy contract. A strategy policy S names `Options` and a class template
// `Runner<Model, Loss>` built as Runner(options, student, setup). Its `step(inputs, loss)` runs
// the forward and backward passes of one (micro-)batch and adds gradients into the student's
// parameters (the trainer zeroes them and steps the optimizer); it returns the loss parts it
// computed. `after_update(step, total_steps, lr)` runs after each optimizer step (an EMA teacher,
// CPS's second optimizer), and `evaluation_model()` names a second model worth evaluating (the
// teacher, CPS's second network), or nullptr; the trainer checkpoints that model's weights. A
// runner with more state (an ensemble, a second optimizer) also has `save(SafeTensors&)` and
// `load(const SafeTensors&, path)`. Strategies see only model outputs and their gradients, so each
// works with every backbone, loss, dimension and device that fit.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "semiseg/core/launch.hpp"
#include "semiseg/core/tensor.hpp"
#include "semiseg/loss/common.hpp"
#include "semiseg/loss/loss.hpp"
#include "semiseg/optim/optimizer.hpp"

namespace semiseg::ssl {

// What a runner is built with besides its own options.
template <class Model>
struct RunnerSetup {
  typename Model::Options model{};      // to build more models of the student's architecture
  std::uint64_t seed = 0;               // the trainer's seed
  optim::OptimizerOptions optimizer{};  // the trainer's optimizer, for a second trained model (CPS)
};

// One training step's data on the device, and where the run stands.
template <class T, Device D, Dimension In, Dimension Out>
struct StepInputs {
  TensorView<const T, D, In> labeled;                 // N_l × C × spatial
  TensorView<const std::int32_t, D, Out> targets;     // N_l × 1 (× spatial)
  TensorView<const T, D, In> unlabeled;               // N_u × C × spatial; empty for Supervised
  TensorView<const T, D, In> unlabeled_second_view;   // a second augmentation, when the loader makes one
  double epoch = 0;          // epochs completed, with the fraction of the current one
  double progress = 0;       // fraction of the whole run completed, in [0, 1]
  std::size_t step = 0;      // optimizer steps taken so far
  std::size_t total_steps = 1;
  double grad_scale = 1;     // 1/k when k micro-batches are accumulated into one step
  std::span<const std::size_t> labeled_indices{};    // each sample's index in its dataset
  std::span<const std::size_t> unlabeled_indices{};
  std::size_t labeled_count = 0;     // the sizes of the labeled and unlabeled datasets
  std::size_t unlabeled_count = 0;
};

// Named loss parts of a step, for logs: ("supervised", v), ("unlabeled", v), ("weight", w), ...
// A fixed-capacity list of (name, value) pairs, so a step returns its parts without allocating;
// names are string literals.
class LossParts {
 public:
  using value_type = std::pair<const char*, double>;
  static constexpr std::size_t capacity = 8;

  LossParts() = default;
  LossParts(std::initializer_list<value_type> parts) {
    for (const value_type& p : parts) push_back(p);
  }

  void push_back(const value_type& p) {
    if (size_ == capacity) throw value_error("semiseg: LossParts holds at most 8 parts");
    parts_[size_++] = p;
  }
  void emplace_back(const char* name, double value) { push_back({name, value}); }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  value_type* begin() { return parts_.data(); }
  value_type* end() { return parts_.data() + size_; }
  const value_type* begin() const { return parts_.data(); }
  const value_type* end() const { return parts_.data() + size_; }

 private:
  std::array<value_type, capacity> parts_{};
  std::size_t size_ = 0;
};

inline double total_of(const LossParts& parts, std::initializer_list<std::string_view> names) {
  double total = 0;
  for (const auto& [name, value] : parts)
    for (std::string_view n : names)
      if (n == name) total += value;
  return total;
}

namespace detail {

// Arg-max class per position, set to `ignore` where the top softmax probability is below
// `threshold`; one position per work item.
template <class T>
struct PseudoLabels {
  const T* logits;
  std::int32_t* labels;
  index_t channels, plane;
  T threshold;
  std::int32_t ignore;
  SEMISEG_HD void operator()(index_t p) const {
    const index_t base = loss::detail::at(p, 0, channels, plane);
    index_t best = 0;
    for (index_t c = 1; c < channels; ++c)
      if (logits[base + c * plane] > logits[base + best * plane]) best = c;
    const loss::detail::LogSumExp<T> l = loss::detail::log_sum_exp(logits, base, channels, plane);
    // p(best) = exp(x_best - max - log Σ) = exp(-log Σ), since x_best is the max.
    const bool confident = threshold <= T(0) || math::exp(-l.log_sum) >= threshold;
    labels[p] = confident ? static_cast<std::int32_t>(best) : ignore;
  }
};

// 1 where the top softmax probability reaches the threshold, else 0; one position per work item.
template <class T>
struct ConfidenceMask {
  const T* logits;
  T* mask;
  index_t channels, plane;
  T threshold;
  SEMISEG_HD void operator()(index_t p) const {
    const index_t base = loss::detail::at(p, 0, channels, plane);
    const loss::detail::LogSumExp<T> l = loss::detail::log_sum_exp(logits, base, channels, plane);
    mask[p] = math::exp(-l.log_sum) >= threshold ? T(1) : T(0);
  }
};

// softmax(x / temperature) per position.
template <class T>
struct SharpenedSoftmax {
  const T* x;
  T* y;
  index_t channels, plane;
  T inv_temperature;
  SEMISEG_HD void operator()(index_t p) const {
    const index_t base = loss::detail::at(p, 0, channels, plane);
    T m = x[base];
    for (index_t c = 1; c < channels; ++c) m = x[base + c * plane] > m ? x[base + c * plane] : m;
    T sum = 0;
    for (index_t c = 0; c < channels; ++c) sum += math::exp((x[base + c * plane] - m) * inv_temperature);
    for (index_t c = 0; c < channels; ++c) y[base + c * plane] = math::exp((x[base + c * plane] - m) * inv_temperature) / sum;
  }
};

}  // namespace detail

// Hard pseudo labels (N × 1 × spatial) from logits, with an optional confidence threshold.
template <class T, Device D, Dimension Dim>
void pseudo_labels(TensorView<const T, D, Dim> logits, Tensor<std::int32_t, D, Dim>& labels, double threshold,
                   std::int32_t ignore) {
  shape_of<Dim> s = logits.shape;
  s[1] = 1;
  labels.resize(s);
  const index_t plane = logits.plane(), positions = logits.n() * plane;
  launch<D>(positions, detail::PseudoLabels<T>{logits.data, labels.data(), logits.c(), plane, static_cast<T>(threshold),
                                               ignore});
}

// N × 1 × spatial weights: 1 where the top softmax probability of the logits reaches `threshold`.
template <class T, Device D, Dimension Dim>
void confidence_mask(TensorView<const T, D, Dim> logits, Tensor<T, D, Dim>& mask, double threshold) {
  shape_of<Dim> s = logits.shape;
  s[1] = 1;
  mask.resize(s);
  launch<D>(logits.n() * logits.plane(),
            detail::ConfidenceMask<T>{logits.data, mask.data(), logits.c(), logits.plane(), static_cast<T>(threshold)});
}

// Class probabilities softmax(logits / temperature), the shape of the logits.
template <class T, Device D, Dimension Dim>
void sharpened_softmax(TensorView<const T, D, Dim> logits, Tensor<T, D, Dim>& probabilities, double temperature) {
  if (!(temperature > 0)) throw value_error("semiseg: the softmax temperature must be > 0");
  probabilities.resize(logits.shape);
  launch<D>(logits.n() * logits.plane(), detail::SharpenedSoftmax<T>{logits.data, probabilities.data(), logits.c(),
                                                                       logits.plane(), static_cast<T>(1.0 / temperature)});
}

// dst += a·src, element-wise (gradients of one loss added into another's).
template <class T, Device D, Dimension Dim>
void add_scaled(TensorView<T, D, Dim> dst, T a, TensorView<const T, D, Dim> src) {
  if (dst.size() != src.size()) throw shape_error("semiseg: add_scaled: sizes differ: " + dst.shape.str() + " and " + src.shape.str());
  launch<D>(dst.size(), loss::detail::Axpy<T>{a, src.data, dst.data});
}

template <class T, Device D, Dimension Dim>
void scale(TensorView<T, D, Dim> t, T a) {
  if (a != T(1)) launch<D>(t.size(), loss::detail::Scale<T>{a, t.data});
}

// Samples [begin, begin + count) of a batch, as a view.
template <class T, Device D, Dimension Dim>
TensorView<T, D, Dim> samples(TensorView<T, D, Dim> t, index_t begin, index_t count) {
  shape_of<Dim> s = t.shape;
  s[0] = count;
  return {t.data + begin * (t.size() / std::max<index_t>(t.n(), 1)), s};
}

// The first `count` samples of a batch, as a view.
template <class T, Device D, Dimension Dim>
TensorView<T, D, Dim> first_samples(TensorView<T, D, Dim> t, index_t count) {
  shape_of<Dim> s = t.shape;
  s[0] = count;
  return {t.data, s};
}

// a and b stacked along N into out (same C × spatial).
template <class T, Device D, Dimension Dim>
void concat_samples(TensorView<const T, D, Dim> a, TensorView<const T, D, Dim> b, Tensor<T, D, Dim>& out) {
  shape_of<Dim> s = a.shape;
  for (int i = 1; i < s.rank; ++i)
    if (b.shape[i] != s[i])
      throw shape_error("semiseg: the labeled and unlabeled batches differ in shape: " + a.shape.str() + " and " +
                        b.shape.str());
  s[0] = a.n() + b.n();
  out.resize(s);
  copy<D, D>(out.data(), a.data, a.size());
  copy<D, D>(out.data() + a.size(), b.data, b.size());
}

}  // namespace semiseg::ssl
