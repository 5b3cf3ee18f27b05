// Cross Pseudo Supervision, CPS (Chen et al., CVPR 2021). Two networks of the same architecture
// with different initialisation (the second is built from another seed) and their own optimizers
// (the second a copy of the trainer's, stepped after it with the same learning rate). Each
// learns from the labels and from the other's hard arg-max labels, which carry no gradient and
// no confidence threshold:
//   loss = L(p1, y) + L(p2, y) + λ·[L(p1, argmax p2) + L(p2, argmax p1)],
// with L the trainer's loss (cross-entropy in the paper). Without CutMix, both networks see the
// concatenated [labeled, unlabeled] batch and the cross terms cover all of it, as the reference
// code does. With CutMix, both predict the unlabeled batch u without gradient, each sample is
// mixed with the next one in the batch under CPS's box mask M (data::aug::cutmix_mask_cps:
// 3 boxes of area U(0.25, 0.5)/3, toggling), u0·(1 − M) + u1·M, the predictions are mixed the
// same way, and the cross terms are taken on the mixed images. λ = 1.5 without CutMix and 1 with
// it (the paper's VOC values; Cityscapes uses 6 and 5). The second network is the evaluation
// model: the trainer reports and checkpoints it beside the first.
#pragma once

#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "semiseg/data/augment/cutmix.hpp"
#include "semiseg/ssl/mixing.hpp"
#include "semiseg/ssl/strategy.hpp"

namespace semiseg::ssl {

struct CrossPseudoOptions {
  std::optional<double> weight{};     // λ; unset: 1.5, or 1 with CutMix
  bool cutmix = false;
  data::aug::CpsBoxOptions boxes{};   // the CutMix box sampler's options
  double warmup_epochs = 0;           // supervised only before this epoch
};

struct CrossPseudo {
  using Options = CrossPseudoOptions;
  static constexpr const char* name = "CrossPseudo";
  static constexpr bool uses_unlabeled = true;
  static constexpr std::uint32_t mask_stream = 0x4350'5300u;  // Philox stream of the CutMix boxes

  static double weight(const Options& o, double epoch) {
    if (epoch < o.warmup_epochs) return 0.0;
    return o.weight ? *o.weight : (o.cutmix ? 1.0 : 1.5);
  }
  // The second network's seed: another initialisation and other dropout draws.
  static std::uint64_t second_seed(std::uint64_t seed) { return seed ^ 0x9E37'79B9'7F4A'7C15ull; }

  template <class Model, class Loss>
  class Runner {
   public:
    using T = typename Model::value_type;
    using D = typename Model::device;
    using In = typename Model::input_dim;
    using Out = typename Model::output_dim;
    using Inputs = StepInputs<T, D, In, Out>;
    using Labels = Tensor<std::int32_t, D, Out>;

    static_assert(loss::require_class_loss<Loss>());

    Runner(const Options& options, Model& first, const RunnerSetup<Model>& setup)
        : options_(options), a_(first), b_(setup.model, second_seed(setup.seed), "model_b"), optimizer_b_(setup.optimizer),
          seed_(setup.seed) {
      if (options_.weight && !(*options_.weight >= 0)) throw value_error("CrossPseudo: weight (lambda) must be >= 0");
      if (!(options_.warmup_epochs >= 0)) throw value_error("CrossPseudo: warmup_epochs must be >= 0");
      if (options_.cutmix && !std::is_same_v<In, Out>)
        throw value_error("CrossPseudo: CutMix mixes label maps, so it needs a segmentation backbone");
      b_.parameters().zero_grad();
    }

    LossParts step(const Inputs& in, Loss& loss) {
      const double lambda = weight(options_, in.epoch);
      const auto step = static_cast<std::uint32_t>(in.step);
      const Context ctx = Context::training_on_data(step);
      if (lambda == 0.0 || in.unlabeled.size() == 0) {
        const double sup_a = supervised(a_, in, loss, ctx), sup_b = supervised(b_, in, loss, ctx);
        return {{"supervised", sup_a}, {"supervised_b", sup_b}, {"cps", 0.0}, {"weight", lambda}};
      }
      if constexpr (std::is_same_v<In, Out>)
        if (options_.cutmix) return cutmix_step(in, loss, lambda);

      concat_samples(in.labeled, in.unlabeled, batch_);
      const index_t n_l = in.labeled.n();
      const auto& la = a_.forward(batch_.view(), ctx);
      const auto& lb = b_.forward(batch_.view(), ctx);
      pseudo_labels(la.view(), labels_a_, 0.0, loss::default_ignore_index);
      pseudo_labels(lb.view(), labels_b_, 0.0, loss::default_ignore_index);
      double sup_a = 0, sup_b = 0;
      const double cps_a = cross_backward(a_, la.view(), labels_b_, n_l, in, loss, lambda, sup_a);
      const double cps_b = cross_backward(b_, lb.view(), labels_a_, n_l, in, loss, lambda, sup_b);
      return {{"supervised", sup_a}, {"supervised_b", sup_b}, {"cps", cps_a + cps_b}, {"weight", lambda}};
    }

    // The second optimizer follows the trainer's step with the same learning rate.
    void after_update(std::size_t, std::size_t, double lr) {
      optimizer_b_.set_lr(lr);
      optimizer_b_.step(b_.parameters());
      b_.parameters().zero_grad();
    }
    Model* evaluation_model() { return &b_; }
    Model& second() { return b_; }

    void save(train::SafeTensors& st) const { optimizer_b_.save(st, "cps.optimizer_b"); }
    void load(const train::SafeTensors& st, const std::string& path) {
      optimizer_b_.load(st, path, b_.parameters().size(), "cps.optimizer_b");
    }

   private:
    double supervised(Model& m, const Inputs& in, Loss& loss, Context ctx) {
      const auto& logits = m.forward(in.labeled, ctx);
      const double value = loss.value_and_grad(logits.view(), in.targets, sup_grad_);
      scale(sup_grad_.view(), static_cast<T>(in.grad_scale));
      m.backward(sup_grad_.view());
      return value;
    }

    // Backward of L(logits[:n_l], y) + λ·L(logits, other's labels) through `m`; returns the cross
    // term and writes the supervised one.
    double cross_backward(Model& m, TensorView<const T, D, Out> logits, const Labels& others, index_t n_l,
                          const Inputs& in, Loss& loss, double lambda, double& sup) {
      sup = loss.value_and_grad(first_samples(logits, n_l), in.targets, sup_grad_);
      const double cross = loss.value_and_grad(logits, others.view(), grad_);
      scale(grad_.view(), static_cast<T>(lambda));
      add_scaled(first_samples(grad_.view(), n_l), T(1), TensorView<const T, D, Out>(sup_grad_.view()));
      scale(grad_.view(), static_cast<T>(in.grad_scale));
      m.backward(grad_.view());
      return cross;
    }

    LossParts cutmix_step(const Inputs& in, Loss& loss, double lambda) {
      const auto step = static_cast<std::uint32_t>(in.step);
      // Predictions on the unmixed images, without gradient (other dropout draws than training).
      const Context no_grad{true, false, step + 0x8000'0000u};
      pseudo_labels(a_.forward(in.unlabeled, no_grad).view(), labels_a_, 0.0, loss::default_ignore_index);
      pseudo_labels(b_.forward(in.unlabeled, no_grad).view(), labels_b_, 0.0, loss::default_ignore_index);
      const data::aug::CpsBoxOptions boxes = options_.boxes;
      draw_masks<In>(in.unlabeled.n(), spatial_shape(in.unlabeled), seed_, mask_stream, step,
                     [&](data::Rng& rng, const data::SpatialShape<In>& shape, std::int32_t* mask) {
                       data::aug::paint_cutmix_mask_cps<In>(mask, shape, rng, boxes);
                     },
                     masks_, host_masks_);
      const TensorView<const std::int32_t, D, Out> masks = masks_.view();
      mix_with_next(in.unlabeled, masks, mixed_);
      mix_with_next(TensorView<const std::int32_t, D, Out>(labels_a_.view()), masks, mixed_labels_a_);
      mix_with_next(TensorView<const std::int32_t, D, Out>(labels_b_.view()), masks, mixed_labels_b_);

      const Context ctx = Context::training_on_data(step);
      const double sup_a = supervised(a_, in, loss, ctx), sup_b = supervised(b_, in, loss, ctx);
      const double cps_a = mixed_backward(a_, mixed_labels_b_, in, loss, lambda);
      const double cps_b = mixed_backward(b_, mixed_labels_a_, in, loss, lambda);
      return {{"supervised", sup_a}, {"supervised_b", sup_b}, {"cps", cps_a + cps_b}, {"weight", lambda}};
    }

    double mixed_backward(Model& m, const Labels& others, const Inputs& in, Loss& loss, double lambda) {
      // Another step key than the supervised pass, so this pass draws other dropout masks.
      const auto& logits = m.forward(mixed_.view(), Context::training_on_data(static_cast<std::uint32_t>(in.step) + 0x4000'0000u));
      const double cross = loss.value_and_grad(logits.view(), others.view(), grad_);
      scale(grad_.view(), static_cast<T>(lambda * in.grad_scale));
      m.backward(grad_.view());
      return cross;
    }

    Options options_;
    Model& a_;
    Model b_;
    optim::Optimizer<T, D> optimizer_b_;
    std::uint64_t seed_;
    Tensor<T, D, In> batch_, mixed_;
    Tensor<T, D, Out> sup_grad_, grad_;
    Labels labels_a_, labels_b_, masks_, mixed_labels_a_, mixed_labels_b_;
    std::vector<std::int32_t> host_masks_;  // CutMix masks drawn on the host
  };
};

}  // namespace semiseg::ssl
