// FixMatch (Sohn et al. 2020) and its segmentation form, UniMatch's FixMatch baseline (Yang et
// al. 2023). The weak view is the loader's unlabeled batch, the strong view its second view (the
// trainer's `second_view` transform, required). The weak view's prediction, taken in train mode
// without gradient, gives hard labels and a confidence mask 1[max p ≥ τ]; the strong view learns
// them by cross-entropy summed over the confident samples (pixels) and divided by all of them:
//   L_u = (1/(μB)) Σ 1[max p_weak ≥ τ]·CE(argmax p_weak, strong),  loss = L_x + λ_u·L_u,
// and, for segmentation, (L_x + λ_u·L_u)/2 as UniMatch. μ is the ratio of the loaders' batch
// sizes (the paper: 7). Segmentation also mixes, with probability 0.5 per sample, a box of the
// next sample's strong view into each strong view (UniMatch's CutMix box sampler), with the
// labels and mask mixed alike. The PseudoSeg option (`soft_targets`, `temperature` 0.5 as in
// that paper) replaces the hard labels by soft targets softmax(weak / T) with no threshold; its
// value is reported as KL(target ‖ p_strong), whose gradient is soft cross-entropy's. Evaluation
// uses an EMA of the weights, updated after every step with Mean Teacher's start-up cap; its
// decay is the paper's 0.999 when set, else tied to the run's length (METHODS.md, "Budgets").
// Defaults: τ = 0.95, λ_u = 1. With an embedding loss (EmbedSeg) the weak view's prediction is
// the target of loss::EmbeddingConsistency in its hard form: the seed learns the weak seed map
// thresholded at ½ on the pixels whose seed probability is at least τ from either side, and
// offsets and sigmas are pulled to the weak view's by MSE on its foreground. The strong view must
// then change intensities only, since embeddings are positions. CutMix is off there: a pasted
// box would cut instances whose embeddings point at centres outside it.
#pragma once

#include <optional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "semiseg/data/augment/cutmix.hpp"
#include "semiseg/loss/consistency.hpp"
#include "semiseg/loss/cross_entropy.hpp"
#include "semiseg/loss/embedding_consistency.hpp"
#include "semiseg/optim/ema.hpp"
#include "semiseg/ssl/mixing.hpp"
#include "semiseg/ssl/strategy.hpp"

namespace semiseg::ssl {

struct FixMatchOptions {
  double threshold = 0.95;                 // τ
  double lambda_u = 1.0;                   // λ_u
  bool soft_targets = false;               // PseudoSeg: targets softmax(weak / temperature), no threshold
  double temperature = 0.5;                // of the soft targets
  std::optional<bool> cutmix{};            // unset: on for segmentation, off for classification
  data::aug::UniMatchBoxOptions boxes{};   // CutMix's sampler; boxes.p is the chance per sample (0.5)
  std::optional<bool> average_terms{};     // (L_x + λ_u·L_u)/2; unset: on for segmentation (UniMatch)
  std::optional<double> ema_decay{};       // unset: tied to the run's length
  optim::BufferUpdate buffers = optim::BufferUpdate::copy;
  double warmup_epochs = 0;                // supervised only before this epoch
};

struct FixMatch {
  using Options = FixMatchOptions;
  static constexpr const char* name = "FixMatch";
  static constexpr bool uses_unlabeled = true;
  static constexpr std::uint32_t mask_stream = 0x464D'5300u;  // Philox stream of the CutMix boxes

  static double weight(const Options& o, double epoch) { return epoch < o.warmup_epochs ? 0.0 : o.lambda_u; }
  static double decay(const Options& o, std::size_t total_steps) {
    return o.ema_decay ? *o.ema_decay : optim::run_length_decay(total_steps);
  }

  template <class Model, class Loss>
  class Runner {
   public:
    using T = typename Model::value_type;
    using D = typename Model::device;
    using In = typename Model::input_dim;
    using Out = typename Model::output_dim;
    using Inputs = StepInputs<T, D, In, Out>;
    static constexpr bool segmentation = std::is_same_v<In, Out>;
    static constexpr bool embedding = loss::is_embedding_loss<Loss>;

    Runner(const Options& options, Model& student, const RunnerSetup<Model>& setup)
        : options_(options), student_(student), ema_(setup.model, setup.seed, "ema"), seed_(setup.seed) {
      if (!(options_.threshold >= 0 && options_.threshold <= 1)) throw value_error("FixMatch: threshold must lie in [0, 1]");
      if (!(options_.lambda_u >= 0)) throw value_error("FixMatch: lambda_u must be >= 0");
      if (!(options_.temperature > 0)) throw value_error("FixMatch: temperature must be > 0");
      if (options_.ema_decay && !(*options_.ema_decay >= 0 && *options_.ema_decay <= 1))
        throw value_error("FixMatch: ema_decay must lie in [0, 1]");
      if (!segmentation && options_.cutmix.value_or(false))
        throw value_error("FixMatch: CutMix mixes label maps, so it needs a segmentation backbone");
      if (embedding && (options_.cutmix.value_or(false) || options_.soft_targets))
        throw value_error("FixMatch: with an embedding loss, CutMix and soft targets are not available");
      if constexpr (embedding) {
        typename loss::EmbeddingConsistency<T, D, Out>::Options o;
        o.hard_seed = true;
        o.threshold = std::max(options_.threshold, 0.5);
        embedding_ = loss::EmbeddingConsistency<T, D, Out>(o);
      }
      optim::copy_parameters(ema_.parameters(), student_.parameters());
    }

    LossParts step(const Inputs& in, Loss& loss) {
      const auto step = static_cast<std::uint32_t>(in.step);
      const double w = weight(options_, in.epoch);
      const bool unlabeled = w > 0 && in.unlabeled.size() != 0;
      const double half = unlabeled && options_.average_terms.value_or(segmentation) ? 0.5 : 1.0;

      const auto& logits = student_.forward(in.labeled, Context::training_on_data(step));
      const double supervised = loss.value_and_grad(logits.view(), in.targets, grad_);
      scale(grad_.view(), static_cast<T>(half * in.grad_scale));
      student_.backward(grad_.view());
      if (!unlabeled) return {{"supervised", supervised}, {"unlabeled", 0.0}, {"confident", 0.0}, {"weight", w}};
      if (in.unlabeled_second_view.size() == 0)
        throw value_error("FixMatch: needs a strong view; set the trainer's second_view transform");

      // The weak view's prediction, in train mode without gradient (other dropout draws).
      const auto& weak = student_.forward(in.unlabeled, Context{true, false, step + 0x8000'0000u});
      if constexpr (embedding) {
        assign(weak_, TensorView<const T, D, Out>(weak.view()));
        const auto& s_out = student_.forward(in.unlabeled_second_view, Context::training_on_data(step + 0x4000'0000u));
        const double value = embedding_.value_and_grad(s_out.view(), weak_.view(), grad_);
        scale(grad_.view(), static_cast<T>(w * half * in.grad_scale));
        student_.backward(grad_.view());
        return {{"supervised", supervised}, {"unlabeled", value}, {"confident", embedding_.parts().fraction}, {"weight", w}};
      }
      if (options_.soft_targets) {
        sharpened_softmax(weak.view(), soft_, options_.temperature);
      } else {
        pseudo_labels(weak.view(), labels_, 0.0, loss::default_ignore_index);
        confidence_mask(weak.view(), mask_, options_.threshold);
      }
      TensorView<const T, D, In> strong = in.unlabeled_second_view;
      if constexpr (segmentation) {
        if (options_.cutmix.value_or(true)) {
          mix(in, step);
          strong = mixed_.view();
        }
      }
      const auto& s_logits = student_.forward(strong, Context::training_on_data(step + 0x4000'0000u));
      double value = 0, confident = 1;
      if (options_.soft_targets) {
        value = kl_.value_and_grad(s_logits.view(), soft_.view(), grad_);
      } else {
        value = ce_.value_and_grad(s_logits.view(), labels_.view(), grad_, mask_.view());
        host_mask_.resize(static_cast<std::size_t>(mask_.size()));
        copy<cpu, D>(host_mask_.data(), mask_.data(), mask_.size());
        double sum = 0;
        for (T v : host_mask_) sum += static_cast<double>(v);
        confident = host_mask_.empty() ? 0.0 : sum / static_cast<double>(host_mask_.size());
      }
      scale(grad_.view(), static_cast<T>(w * half * in.grad_scale));
      student_.backward(grad_.view());
      return {{"supervised", supervised}, {"unlabeled", value}, {"confident", confident}, {"weight", w}};
    }

    void after_update(std::size_t step, std::size_t total_steps, double) {
      optim::ema_update(ema_.parameters(), student_.parameters(),
                        optim::mean_teacher_decay(step, decay(options_, total_steps)), options_.buffers);
    }
    Model* evaluation_model() { return &ema_; }
    Model& ema() { return ema_; }

   private:
    // CutMix of the strong views with the next sample's, and the targets mixed alike.
    void mix(const Inputs& in, std::uint32_t step) {
      const data::aug::UniMatchBoxOptions boxes = options_.boxes;
      draw_masks<In>(in.unlabeled.n(), spatial_shape(in.unlabeled), seed_, mask_stream, step,
                     [&](data::Rng& rng, const data::SpatialShape<In>& shape, std::int32_t* mask) {
                       data::aug::paint_cutmix_mask_unimatch<In>(mask, shape, rng, boxes);
                     },
                     boxes_, host_boxes_);
      const TensorView<const std::int32_t, D, In> m = boxes_.view();
      mix_with_next(in.unlabeled_second_view, m, mixed_);
      if (options_.soft_targets) {
        mix_with_next(TensorView<const T, D, Out>(soft_.view()), m, scratch_);
        std::swap(soft_, scratch_);
      } else {
        mix_with_next(TensorView<const std::int32_t, D, Out>(labels_.view()), m, mixed_labels_);
        std::swap(labels_, mixed_labels_);
        mix_with_next(TensorView<const T, D, Out>(mask_.view()), m, scratch_);
        std::swap(mask_, scratch_);
      }
    }

    Options options_;
    Model& student_;
    Model ema_;
    std::uint64_t seed_;
    Tensor<T, D, In> mixed_;
    Tensor<T, D, Out> grad_, mask_, soft_, scratch_, weak_;
    Tensor<std::int32_t, D, Out> labels_, mixed_labels_;
    Tensor<std::int32_t, D, In> boxes_;
    std::vector<std::int32_t> host_boxes_;  // CutMix masks drawn on the host
    std::vector<T> host_mask_;              // the confidence mask, counted on the host
    loss::CrossEntropy<T, D, Out> ce_;
    loss::SoftmaxKL<T, D, Out> kl_{{.target = loss::Target::probabilities}};
    std::conditional_t<embedding, loss::EmbeddingConsistency<T, D, Out>, std::monostate> embedding_;
  };
};

}  // namespace semiseg::ssl
