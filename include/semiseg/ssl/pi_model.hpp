// Π-model (Laine & Aila 2017). Two stochastic passes of the same network over every sample, run
// as one concatenated batch [labeled, unlabeled, labeled, unlabeled'] so one backward pass serves
// both; gradients flow through both passes. The unlabeled samples' second pass sees the loader's
// second view when there is one; the labeled samples (and, without a second view, all samples)
// differ only by the network's own noise and dropout, drawn at other batch positions.
// Loss = CE(first pass, labeled) + w(t)·mean_{B,C}(softmax_a − softmax_b)² over all samples, with
// w(t) = w_max · sigmoid_rampup(t) · N_labeled / N_train (N_train = labeled + unlabeled dataset
// sizes; `labeled_fraction = false` drops the factor) and w = 0 during the first epoch.
// Paper defaults: w_max = 100, ramp-up 80 of 300 epochs (here a fraction of the run: 0.3).
#pragma once

#include "semiseg/loss/consistency.hpp"
#include "semiseg/optim/ramp.hpp"
#include "semiseg/ssl/strategy.hpp"

namespace semiseg::ssl {

// Laine & Aila's unsupervised weight, shared by the Π-model and Temporal Ensembling.
struct LaineAilaWeight {
  double w_max;
  double rampup;            // sigmoid ramp-up length, as a fraction of the run
  bool labeled_fraction;    // scale by N_labeled / N_train
  double warmup_epochs;     // w = 0 before this epoch (the paper: the first epoch)

  double operator()(double epoch, double progress, std::size_t labeled_count, std::size_t unlabeled_count) const {
    if (epoch < warmup_epochs) return 0.0;
    const double total = static_cast<double>(labeled_count + unlabeled_count);
    const double fraction = labeled_fraction && total > 0 ? static_cast<double>(labeled_count) / total : 1.0;
    return w_max * optim::sigmoid_rampup(progress, rampup) * fraction;
  }
  void validate(const char* who) const {
    if (!(w_max >= 0)) throw value_error(std::string(who) + ": consistency (w_max) must be >= 0");
    if (!(rampup >= 0 && rampup <= 1)) throw value_error(std::string(who) + ": rampup must lie in [0, 1] (a fraction of the run)");
    if (!(warmup_epochs >= 0)) throw value_error(std::string(who) + ": warmup_epochs must be >= 0");
  }
};

struct PiModelOptions {
  double consistency = 100.0;   // w_max
  double rampup = 0.3;          // fraction of the run
  bool labeled_fraction = true; // w scaled by N_labeled / N_train, as the paper
  double warmup_epochs = 1;     // w = 0 during the first epoch, as the paper
};

struct PiModel {
  using Options = PiModelOptions;
  static constexpr const char* name = "PiModel";
  static constexpr bool uses_unlabeled = true;

  static LaineAilaWeight weight_rule(const Options& o) {
    return {o.consistency, o.rampup, o.labeled_fraction, o.warmup_epochs};
  }
  static double weight(const Options& o, double epoch, double progress, std::size_t labeled_count,
                       std::size_t unlabeled_count) {
    return weight_rule(o)(epoch, progress, labeled_count, unlabeled_count);
  }

  template <class Model, class Loss>
  class Runner {
   public:
    using T = typename Model::value_type;
    using D = typename Model::device;
    using In = typename Model::input_dim;
    using Out = typename Model::output_dim;
    using Inputs = StepInputs<T, D, In, Out>;

    static_assert(loss::require_class_loss<Loss>());

    Runner(const Options& options, Model& student, const RunnerSetup<Model>&) : options_(options), student_(student) {
      weight_rule(options_).validate("PiModel");
    }

    LossParts step(const Inputs& in, Loss& loss) {
      const auto ctx = Context::training_on_data(static_cast<std::uint32_t>(in.step));
      const double w = weight(options_, in.epoch, in.progress, in.labeled_count, in.unlabeled_count);
      if (w == 0.0 || in.unlabeled.size() == 0) {
        const auto& logits = student_.forward(in.labeled, ctx);
        const double supervised = loss.value_and_grad(logits.view(), in.targets, sup_grad_);
        scale(sup_grad_.view(), static_cast<T>(in.grad_scale));
        student_.backward(sup_grad_.view());
        return {{"supervised", supervised}, {"consistency", 0.0}, {"weight", w}};
      }
      concat_samples(in.labeled, in.unlabeled, first_);
      concat_samples(in.labeled, in.unlabeled_second_view.size() ? in.unlabeled_second_view : in.unlabeled, second_);
      concat_samples(TensorView<const T, D, In>(first_.view()), TensorView<const T, D, In>(second_.view()), both_);
      const auto& logits = student_.forward(both_.view(), ctx);
      const index_t n = first_.view().n(), n_l = in.labeled.n();
      const TensorView<const T, D, Out> a = samples(logits.view(), 0, n), b = samples(logits.view(), n, n);

      const double supervised = loss.value_and_grad(first_samples(a, n_l), in.targets, sup_grad_);
      const double consistency = mse_.value_and_grad(a, b, grad_a_);
      mse_.value_and_grad(b, a, grad_b_);
      // d/dlogits: w·d(consistency) through both passes, plus d(CE) on the first pass's labeled rows.
      grad_.resize(logits.shape());
      copy<D, D>(grad_.data(), grad_a_.data(), grad_a_.size());
      copy<D, D>(grad_.data() + grad_a_.size(), grad_b_.data(), grad_b_.size());
      scale(grad_.view(), static_cast<T>(w));
      add_scaled(first_samples(grad_.view(), n_l), T(1), TensorView<const T, D, Out>(sup_grad_.view()));
      scale(grad_.view(), static_cast<T>(in.grad_scale));
      student_.backward(grad_.view());
      return {{"supervised", supervised}, {"consistency", consistency}, {"weight", w}};
    }

    void after_update(std::size_t, std::size_t, double) {}
    Model* evaluation_model() { return nullptr; }

   private:
    Options options_;
    Model& student_;
    Tensor<T, D, In> first_, second_, both_;
    Tensor<T, D, Out> sup_grad_, grad_a_, grad_b_, grad_;
    loss::SoftmaxMSE<T, D, Out> mse_;
  };
};

}  // namespace semiseg::ssl
