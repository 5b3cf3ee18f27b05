// The loss concepts. Contract: a loss maps logits N×C(×spatial) and a target to a scalar and
// writes d(loss)/d(logits), resized to the logits' shape, with optional per-pixel weights
// N×1×spatial (an empty view means all ones). Hard-label losses take int32 labels with an ignore
// index (CrossEntropy, BinaryCrossEntropy, Dice, DiceCE, Focal); soft-target losses take a
// teacher's logits or probabilities of the logits' shape and treat them as constants (SoftmaxMSE,
// SoftmaxKL). Both also offer value(...) without the gradient. Each loss is a class template over
// <T, Device, Dimension> exposing value_type, device and dim.
#pragma once

#include <concepts>
#include <cstdint>

#include "semiseg/core/tensor.hpp"

namespace semiseg::loss {

template <class L>
concept HardLabelLoss = requires(L& loss, TensorView<const typename L::value_type, typename L::device, typename L::dim> x,
                                 TensorView<const std::int32_t, typename L::device, typename L::dim> y,
                                 Tensor<typename L::value_type, typename L::device, typename L::dim>& dx) {
  { loss.value_and_grad(x, y, dx, x) } -> std::convertible_to<double>;
  { loss.value_and_grad(x, y, dx) } -> std::convertible_to<double>;
  { loss.value(x, y) } -> std::convertible_to<double>;
};

template <class L>
concept SoftTargetLoss = requires(L& loss, TensorView<const typename L::value_type, typename L::device, typename L::dim> x,
                                  Tensor<typename L::value_type, typename L::device, typename L::dim>& dx) {
  { loss.value_and_grad(x, x, dx, x) } -> std::convertible_to<double>;
  { loss.value_and_grad(x, x, dx) } -> std::convertible_to<double>;
  { loss.value(x, x) } -> std::convertible_to<double>;
};

template <class L>
concept Loss = HardLabelLoss<L> || SoftTargetLoss<L>;

// A loss over spatial embeddings (SpatialEmbedding): its targets are instance maps with centres,
// and semi-supervised strategies compare predictions with EmbeddingConsistency instead of softmax.
template <class L>
constexpr bool is_embedding_loss = requires { requires static_cast<bool>(L::embedding); };

// For strategies that only make sense with class scores (pseudo-labels, softmax consistency).
template <class L>
constexpr bool require_class_loss() {
  static_assert(!is_embedding_loss<L>,
                "semiseg: this strategy compares class scores; with an embedding loss use Supervised, MeanTeacher<> or "
                "FixMatch");
  return true;
}

// For a trainer's static_assert: fires with one sentence when L is not a supervised loss.
template <class L>
constexpr bool require_hard_label_loss() {
  static_assert(HardLabelLoss<L>,
                "semiseg: the supervised loss must provide value_and_grad(logits, int32 labels, dlogits, weights) "
                "returning the loss as a double, like semiseg::loss::CrossEntropy");
  return true;
}

template <class L>
constexpr bool require_soft_target_loss() {
  static_assert(SoftTargetLoss<L>,
                "semiseg: the consistency loss must provide value_and_grad(logits, teacher, dlogits, weights) "
                "returning the loss as a double, like semiseg::loss::SoftmaxMSE");
  return true;
}

}  // namespace semiseg::loss
