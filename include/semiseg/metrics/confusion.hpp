// Confusion matrix and the segmentation / classification scores made from it. Contract: counts
// accumulate over every add() ("micro": per-class TP, FP, FN are summed over the whole dataset
// before any ratio is taken, as METHODS.md prescribes); pixels whose truth is the ignore label are
// skipped whatever their prediction; any other label outside [0, classes), in truth or
// prediction, is a value_error and leaves the matrix unchanged. A class is *present* when
// TP+FP+FN > 0, i.e. it occurs in the truth or in the prediction; per-class scores of absent
// classes are NaN and the means average over present classes only, so a class that never occurs
// neither rewards nor punishes a model. Host side: label and logit inputs live in host memory.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <concepts>
#include <string>
#include <type_traits>
#include <vector>

#include "semiseg/core/error.hpp"
#include "semiseg/core/tensor.hpp"
#include "semiseg/metrics/label_range.hpp"

namespace semiseg::metrics {

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(index_t classes, std::int32_t ignore_label = -1) : classes_(classes), ignore_(ignore_label) {
    if (classes < 1) throw value_error("semiseg: ConfusionMatrix needs at least one class, got " + std::to_string(classes));
    counts_.assign(static_cast<std::size_t>(classes * classes), 0);
  }

  index_t classes() const { return classes_; }
  std::int32_t ignore_label() const { return ignore_; }

  // Row-major classes×classes counts: row = truth, column = prediction.
  const std::vector<std::int64_t>& counts() const { return counts_; }
  std::int64_t count(index_t truth, index_t prediction) const { return counts_[cell(truth, prediction)]; }
  // Pixels (or samples) counted, ignored ones excluded.
  std::int64_t total() const { return total_; }
  // Pixels skipped because their truth was the ignore label.
  std::int64_t ignored() const { return ignored_; }

  void reset() {
    counts_.assign(counts_.size(), 0);
    total_ = ignored_ = 0;
  }

  // Counts `count` label pairs from host arrays.
  void add(const std::int32_t* prediction, const std::int32_t* truth, std::size_t count) {
    // Validate everything first so a bad label leaves the matrix as it was.
    for (std::size_t i = 0; i < count; ++i) {
      if (truth[i] == ignore_) continue;
      check_label(truth[i], i, "truth");
      check_label(prediction[i], i, "prediction");
    }
    for (std::size_t i = 0; i < count; ++i) {
      if (truth[i] == ignore_) {
        ++ignored_;
        continue;
      }
      ++counts_[cell(truth[i], prediction[i])];
      ++total_;
    }
  }

  // Containers with data() and size(): std::vector, std::span, xt::xtensor label maps, cpu
  // Tensors. When both have a shape() of the same type, the shapes must agree, not only sizes.
  template <LabelRange P, LabelRange T>
  void add(const P& prediction, const T& truth) {
    static_assert(on_host<P>() && on_host<T>(),
                  "semiseg: ConfusionMatrix reads host memory; copy device tensors to a cpu Tensor first");
    if constexpr (requires { prediction.shape() == truth.shape(); }) {
      if (!(prediction.shape() == truth.shape()))
        throw shape_error("semiseg: ConfusionMatrix::add: prediction and truth shapes differ");
    }
    check_sizes(static_cast<std::size_t>(prediction.size()), static_cast<std::size_t>(truth.size()), "add");
    add(prediction.data(), truth.data(), static_cast<std::size_t>(truth.size()));
  }

  template <class P, class T, Dimension Dim>
    requires(std::is_same_v<std::remove_const_t<P>, std::int32_t> && std::is_same_v<std::remove_const_t<T>, std::int32_t>)
  void add(TensorView<P, cpu, Dim> prediction, TensorView<T, cpu, Dim> truth) {
    if (!(prediction.shape == truth.shape))
      throw shape_error("semiseg: ConfusionMatrix::add: prediction shape " + prediction.shape.str() +
                        " differs from truth shape " + truth.shape.str());
    add(prediction.data, truth.data, static_cast<std::size_t>(truth.size()));
  }

  // Arg-max over the channel axis of N×C×spatial (or N×C) logits, ties to the lowest class index,
  // then counted against `truth`: an N×1×spatial (or N×1) label tensor, or any host container of
  // N×spatial (or N) labels in N-major order.
  template <class T, Dimension Dim, class L>
  void add_logits(TensorView<T, cpu, Dim> logits, const L& truth) {
    if constexpr (is_tensor_like<L>::value) {
      static_assert(std::is_same_v<typename L::device, cpu>,
                    "semiseg: ConfusionMatrix reads host memory; copy device tensors to a cpu Tensor first");
      const TensorView<const std::int32_t, cpu, Dim> t = truth;
      if (t.c() != 1 || t.n() != logits.n() || t.plane() != logits.plane())
        throw shape_error("semiseg: ConfusionMatrix::add_logits: truth " + t.shape.str() + " does not fit logits " +
                          logits.shape.str() + " (expected N×1×spatial)");
      add_argmax(logits, t.data, static_cast<std::size_t>(t.size()));
    } else {
      static_assert(LabelRange<L>, "semiseg: ConfusionMatrix::add_logits: truth must be a label tensor or a "
                                           "contiguous container of int32 labels");
      static_assert(on_host<L>(), "semiseg: ConfusionMatrix reads host memory");
      add_argmax(logits, truth.data(), static_cast<std::size_t>(truth.size()));
    }
  }
  template <class T, Dimension Dim, class L>
  void add_logits(const Tensor<T, cpu, Dim>& logits, const L& truth) {
    add_logits(logits.view(), truth);
  }

  // Adds another matrix's counts, e.g. one filled by another thread or process.
  void merge(const ConfusionMatrix& other) {
    if (other.classes_ != classes_ || other.ignore_ != ignore_)
      throw value_error("semiseg: ConfusionMatrix::merge: " + std::to_string(other.classes_) + " classes (ignore " +
                        std::to_string(other.ignore_) + ") into " + std::to_string(classes_) + " classes (ignore " +
                        std::to_string(ignore_) + ")");
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    ignored_ += other.ignored_;
  }

  std::int64_t true_positives(index_t c) const { return count(c, c); }
  // Predicted as c, truth another class.
  std::int64_t false_positives(index_t c) const {
    std::int64_t s = 0;
    for (index_t t = 0; t < classes_; ++t) s += t == c ? 0 : count(t, c);
    return s;
  }
  // Truth c, predicted as another class.
  std::int64_t false_negatives(index_t c) const {
    std::int64_t s = 0;
    for (index_t p = 0; p < classes_; ++p) s += p == c ? 0 : count(c, p);
    return s;
  }
  bool present(index_t c) const { return true_positives(c) + false_positives(c) + false_negatives(c) > 0; }

  // TP/(TP+FP+FN) per class; NaN for absent classes.
  std::vector<double> iou() const {
    return per_class([](double tp, double fp, double fn) { return tp / (tp + fp + fn); });
  }
  // 2TP/(2TP+FP+FN) per class; NaN for absent classes.
  std::vector<double> dice() const {
    return per_class([](double tp, double fp, double fn) { return 2 * tp / (2 * tp + fp + fn); });
  }
  // Means over present classes; NaN when nothing was counted.
  double mean_iou() const { return mean_present(iou()); }
  double mean_dice() const { return mean_present(dice()); }
  // Correct pixels over counted pixels; NaN when nothing was counted.
  double pixel_accuracy() const {
    if (total_ == 0) return std::numeric_limits<double>::quiet_NaN();
    std::int64_t correct = 0;
    for (index_t c = 0; c < classes_; ++c) correct += count(c, c);
    return static_cast<double>(correct) / static_cast<double>(total_);
  }
  // Classification: one label per sample, so top-1 accuracy is pixel accuracy over samples.
  double top1() const { return pixel_accuracy(); }
  double top1_error() const { return 1.0 - top1(); }

 private:
  template <class T, Dimension Dim>
  void add_argmax(TensorView<T, cpu, Dim> logits, const std::int32_t* truth, std::size_t count) {
    if (logits.c() != classes_)
      throw shape_error("semiseg: ConfusionMatrix::add_logits: logits " + logits.shape.str() + " have " +
                        std::to_string(logits.c()) + " channels, expected " + std::to_string(classes_) + " classes");
    const index_t plane = logits.plane();
    const auto pixels = static_cast<std::size_t>(logits.n() * plane);
    check_sizes(pixels, count, "add_logits");
    std::vector<std::int32_t> prediction(pixels);
    for (index_t n = 0; n < logits.n(); ++n)
      for (index_t p = 0; p < plane; ++p) {
        const auto* x = logits.data + n * classes_ * plane + p;
        std::int32_t best = 0;
        for (index_t c = 0; c < classes_; ++c) {
          // A NaN would make the arg-max depend on channel order; it means the model diverged.
          if (std::isnan(static_cast<double>(x[c * plane])))
            throw value_error("semiseg: ConfusionMatrix::add_logits: NaN logit at sample " + std::to_string(n) +
                              ", class " + std::to_string(c));
          if (x[c * plane] > x[best * plane]) best = static_cast<std::int32_t>(c);  // strict: ties keep the lowest
        }
        prediction[static_cast<std::size_t>(n * plane + p)] = best;
      }
    add(prediction.data(), truth, pixels);
  }
  std::size_t cell(index_t truth, index_t prediction) const {
    return static_cast<std::size_t>(truth * classes_ + prediction);
  }
  void check_label(std::int32_t label, std::size_t at, const char* what) const {
    if (label < 0 || label >= classes_)
      throw value_error("semiseg: ConfusionMatrix: " + std::string(what) + " label " + std::to_string(label) +
                        " at index " + std::to_string(at) + " is outside [0, " + std::to_string(classes_) +
                        ") and is not the ignore label " + std::to_string(ignore_));
  }
  static void check_sizes(std::size_t prediction, std::size_t truth, const char* what) {
    if (prediction != truth)
      throw shape_error("semiseg: ConfusionMatrix::" + std::string(what) + ": " + std::to_string(prediction) +
                        " predictions for " + std::to_string(truth) + " truth labels");
  }
  template <class F>
  std::vector<double> per_class(F score) const {
    std::vector<double> out(static_cast<std::size_t>(classes_));
    for (index_t c = 0; c < classes_; ++c)
      out[static_cast<std::size_t>(c)] =
          present(c) ? score(static_cast<double>(true_positives(c)), static_cast<double>(false_positives(c)),
                             static_cast<double>(false_negatives(c)))
                     : std::numeric_limits<double>::quiet_NaN();
    return out;
  }
  static double mean_present(const std::vector<double>& scores) {
    double sum = 0;
    int n = 0;
    for (double s : scores) {
      if (std::isnan(s)) continue;
      sum += s;
      ++n;
    }
    return n == 0 ? std::numeric_limits<double>::quiet_NaN() : sum / n;
  }

  index_t classes_;
  std::int32_t ignore_;
  std::vector<std::int64_t> counts_;
  std::int64_t total_ = 0, ignored_ = 0;
};

}  // namespace semiseg::metrics
