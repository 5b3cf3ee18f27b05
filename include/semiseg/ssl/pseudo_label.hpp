// Pseudo-Label (Lee 2013): the unlabeled target is the current network's arg-max class, treated as
// a true label. Loss = CE(labeled) + α(t)·CE(unlabeled, pseudo), α(t) = 0 before T1, linear to αf
// at T2, constant after (METHODS.md: αf = 3, T1 = 100, T2 = 600 epochs). The modern (USB) variant
// keeps pseudo labels whose top probability reaches a threshold (0.95); pixels below it are
// ignored. Epoch-based T1/T2 suit long runs; `t1`/`t2` may also be given as fractions of the run.
#pragma once

#include "semiseg/optim/ramp.hpp"
#include "semiseg/ssl/strategy.hpp"

namespace semiseg::ssl {

struct PseudoLabelOptions {
  double alpha_final = 3.0;
  double t1 = 100, t2 = 600;      // epochs (or fractions of the run, with `fractions`)
  bool fractions = false;         // read t1 and t2 as fractions of the whole run
  double threshold = 0.0;         // confidence threshold; 0 keeps every pseudo label (Lee 2013)
  double warmup_epochs = 0;       // supervised only before this epoch
};

struct PseudoLabel {
  using Options = PseudoLabelOptions;
  static constexpr const char* name = "PseudoLabel";
  static constexpr bool uses_unlabeled = true;

  // α(t) at a point of the run.
  static double alpha(const Options& o, double epoch, double progress) {
    if (epoch < o.warmup_epochs) return 0.0;
    const double t = o.fractions ? progress : epoch;
    return o.alpha_final * optim::linear_ramp(t, o.t1, o.t2);
  }

  template <class Model, class Loss>
  class Runner {
   public:
    using T = typename Model::value_type;
    using D = typename Model::device;
    using Out = typename Model::output_dim;
    using Inputs = StepInputs<T, D, typename Model::input_dim, Out>;

    static_assert(loss::require_class_loss<Loss>());

    Runner(const Options& options, Model& student, const RunnerSetup<Model>&)
        : options_(options), student_(student) {
      if (!(options_.threshold >= 0 && options_.threshold <= 1))
        throw value_error("PseudoLabel: threshold must lie in [0, 1]");
      if (options_.alpha_final < 0) throw value_error("PseudoLabel: alpha_final must be >= 0");
      if (options_.t2 < options_.t1) throw value_error("PseudoLabel: t2 must be >= t1");
    }

    LossParts step(const Inputs& in, Loss& loss) {
      const auto ctx = Context::training_on_data(static_cast<std::uint32_t>(in.step));
      const auto& logits = student_.forward(in.labeled, ctx);
      const double supervised = loss.value_and_grad(logits.view(), in.targets, grad_);
      scale(grad_.view(), static_cast<T>(in.grad_scale));
      student_.backward(grad_.view());
      const double a = alpha(options_, in.epoch, in.progress);
      if (a == 0.0 || in.unlabeled.size() == 0) return {{"supervised", supervised}, {"unlabeled", 0.0}, {"alpha", a}};

      const auto& u_logits = student_.forward(in.unlabeled, Context::training_on_data(static_cast<std::uint32_t>(in.step) + 1u));
      pseudo_labels(u_logits.view(), labels_, options_.threshold, data_ignore);
      const double unlabeled = loss.value_and_grad(u_logits.view(), labels_.view(), grad_);
      scale(grad_.view(), static_cast<T>(a * in.grad_scale));
      student_.backward(grad_.view());
      return {{"supervised", supervised}, {"unlabeled", unlabeled}, {"alpha", a}};
    }
    void after_update(std::size_t, std::size_t, double) {}
    Model* evaluation_model() { return nullptr; }

   private:
    // The losses' default ignore index, which pseudo labels below the threshold take.
    static constexpr std::int32_t data_ignore = loss::default_ignore_index;
    Options options_;
    Model& student_;
    Tensor<T, D, Out> grad_;
    Tensor<std::int32_t, D, Out> labels_;
  };
};

}  // namespace semiseg::ssl
