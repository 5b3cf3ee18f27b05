// Mean Teacher (Tarvainen & Valpola 2017). The teacher's weights are an EMA of the student's,
// decay_t = min(1 − 1/(step+1), decay), updated after every optimizer step; BatchNorm statistics
// are copied or averaged. Student and teacher see independent views of the same images (the
// loader's second view when there is one) and both run in train mode; no gradient reaches the
// teacher. Loss = CE(labeled) + w(t)·consistency(softmax_s, softmax_t) over labeled and unlabeled
// samples, with w(t) = consistency · sigmoid_rampup(t, rampup). Consistency is softmax MSE (mean
// over C and the batch, as METHODS.md) or KL(p_t ‖ p_s). With an embedding loss (EmbedSeg) the
// consistency is loss::EmbeddingConsistency instead: the seed map as a probability by MSE, offsets
// and sigmas by MSE on the pixels the teacher's seed marks as foreground (`kind` must stay mse).
// The teacher's view may differ from the student's in intensities only: embeddings are positions,
// so a geometric change between the views would pull offsets to the wrong place.
//
// Budget-aware defaults (METHODS.md, "Budgets"): the ramp-up is a fraction of the run, and the
// decay, when not set, is tied to the run's length: 1 − 10/total_steps, kept in [0.9, 0.999], so
// a short CPU run's teacher does not lag far behind its student. The paper's two-phase schedule,
// 0.99 during the ramp-up and 0.999 after it, is `ema_decay_rampup = 0.99, ema_decay = 0.999`.
#pragma once

#include <algorithm>
#include <optional>
#include <type_traits>
#include <variant>

#include "semiseg/loss/consistency.hpp"
#include "semiseg/loss/embedding_consistency.hpp"
#include "semiseg/optim/ema.hpp"
#include "semiseg/optim/ramp.hpp"
#include "semiseg/ssl/strategy.hpp"

namespace semiseg::ssl {

enum class Consistency { mse, kl };

struct MeanTeacherOptions {
  double consistency = 10.0;           // w_max
  Consistency kind = Consistency::mse;
  double rampup = 0.3;                 // sigmoid ramp-up length, as a fraction of the run
  std::optional<double> ema_decay{};   // unset: tied to the run's length (see above)
  std::optional<double> ema_decay_rampup{};  // the decay during the ramp-up; unset: ema_decay throughout
  optim::BufferUpdate buffers = optim::BufferUpdate::copy;
  double warmup_epochs = 0;            // supervised only before this epoch
};

template <class = void>
struct MeanTeacher {
  using Options = MeanTeacherOptions;
  static constexpr const char* name = "MeanTeacher";
  static constexpr bool uses_unlabeled = true;

  // The EMA decay at `step` of a run of `total_steps` (before mean_teacher_decay's start-up cap).
  static double decay(const Options& o, std::size_t step, std::size_t total_steps) {
    const double ramp_end = o.rampup * static_cast<double>(total_steps);
    if (o.ema_decay_rampup && static_cast<double>(step) < ramp_end) return *o.ema_decay_rampup;
    if (o.ema_decay) return *o.ema_decay;
    return optim::run_length_decay(total_steps);
  }
  static double weight(const Options& o, double epoch, double progress) {
    if (epoch < o.warmup_epochs) return 0.0;
    return o.consistency * optim::sigmoid_rampup(progress, o.rampup);
  }

  template <class Model, class Loss>
  class Runner {
   public:
    using T = typename Model::value_type;
    using D = typename Model::device;
    using In = typename Model::input_dim;
    using Out = typename Model::output_dim;
    using Inputs = StepInputs<T, D, In, Out>;
    static constexpr bool embedding = loss::is_embedding_loss<Loss>;

    Runner(const Options& options, Model& student, const RunnerSetup<Model>& setup)
        : options_(options), student_(student), teacher_(setup.model, setup.seed, "teacher") {
      if (options_.consistency < 0) throw value_error("MeanTeacher: consistency must be >= 0");
      if (options_.ema_decay && !(*options_.ema_decay >= 0 && *options_.ema_decay <= 1))
        throw value_error("MeanTeacher: ema_decay must lie in [0, 1]");
      if (options_.ema_decay_rampup && !(*options_.ema_decay_rampup >= 0 && *options_.ema_decay_rampup <= 1))
        throw value_error("MeanTeacher: ema_decay_rampup must lie in [0, 1]");
      if (embedding && options_.kind != Consistency::mse)
        throw value_error("MeanTeacher: with an embedding loss the consistency is EmbeddingConsistency; kind must be mse");
      optim::copy_parameters(teacher_.parameters(), student_.parameters());
    }

    LossParts step(const Inputs& in, Loss& loss) {
      const auto ctx = Context::training_on_data(static_cast<std::uint32_t>(in.step));
      const double w = weight(options_, in.epoch, in.progress);
      if (w == 0.0 || in.unlabeled.size() == 0) {
        const auto& logits = student_.forward(in.labeled, ctx);
        const double supervised = loss.value_and_grad(logits.view(), in.targets, grad_);
        scale(grad_.view(), static_cast<T>(in.grad_scale));
        student_.backward(grad_.view());
        return {{"supervised", supervised}, {"consistency", 0.0}, {"weight", w}};
      }
      // One student pass over labeled and unlabeled samples together; the teacher sees the
      // second view when there is one, else the same images with its own dropout and noise.
      concat_samples(in.labeled, in.unlabeled, student_input_);
      const auto& logits = student_.forward(student_input_.view(), ctx);
      const index_t n_l = in.labeled.n();
      const double supervised = loss.value_and_grad(first_samples(logits.view(), n_l), in.targets, grad_);

      TensorView<const T, D, In> teacher_in = student_input_.view();
      if (in.unlabeled_second_view.size() != 0) {
        concat_samples(in.labeled, in.unlabeled_second_view, teacher_input_);
        teacher_in = teacher_input_.view();
      }
      const Context teacher_ctx{true, false, static_cast<std::uint32_t>(in.step) + 0x8000'0000u};
      // The teacher's output stays valid until its next forward, so the loss reads it in place.
      const auto& teacher_logits = teacher_.forward(teacher_in, teacher_ctx);
      double consistency = 0;
      if constexpr (embedding)
        consistency = embedding_.value_and_grad(logits.view(), teacher_logits.view(), consistency_grad_);
      else
        consistency = options_.kind == Consistency::mse
                          ? mse_.value_and_grad(logits.view(), teacher_logits.view(), consistency_grad_)
                          : kl_.value_and_grad(logits.view(), teacher_logits.view(), consistency_grad_);

      // d/dlogits = w·d(consistency) + [labeled rows] d(CE), all times the accumulation scale.
      scale(consistency_grad_.view(), static_cast<T>(w));
      add_scaled(first_samples(consistency_grad_.view(), n_l), T(1), TensorView<const T, D, Out>(grad_.view()));
      scale(consistency_grad_.view(), static_cast<T>(in.grad_scale));
      student_.backward(consistency_grad_.view());
      return {{"supervised", supervised}, {"consistency", consistency}, {"weight", w}};
    }

    void after_update(std::size_t step, std::size_t total_steps, double) {
      optim::ema_update(teacher_.parameters(), student_.parameters(),
                        optim::mean_teacher_decay(step, decay(options_, step, total_steps)), options_.buffers);
    }
    Model* evaluation_model() { return &teacher_; }
    Model& teacher() { return teacher_; }

   private:
    Options options_;
    Model& student_;
    Model teacher_;
    Tensor<T, D, In> student_input_, teacher_input_;
    Tensor<T, D, Out> grad_, consistency_grad_;
    loss::SoftmaxMSE<T, D, Out> mse_;
    loss::SoftmaxKL<T, D, Out> kl_;
    std::conditional_t<embedding, loss::EmbeddingConsistency<T, D, Out>, std::monostate> embedding_;
  };
};

}  // namespace semiseg::ssl
