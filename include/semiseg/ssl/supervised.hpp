// Supervised: the loss on the labeled batch only (METHODS.md, the baseline of every table). The
// unlabeled batch is not used, so a supervised run with the same backbone, schedule and steps is
// the fair comparison for every other strategy.
#pragma once

#include "semiseg/ssl/strategy.hpp"

namespace semiseg::ssl {

struct SupervisedOptions {
  double warmup_epochs = 0;  // accepted for symmetry with the other strategies; no effect here
};

struct Supervised {
  using Options = SupervisedOptions;
  static constexpr const char* name = "Supervised";
  static constexpr bool uses_unlabeled = false;

  template <class Model, class Loss>
  class Runner {
   public:
    using T = typename Model::value_type;
    using D = typename Model::device;
    using Inputs = StepInputs<T, D, typename Model::input_dim, typename Model::output_dim>;

    Runner(const Options& options, Model& student, const RunnerSetup<Model>&)
        : options_(options), student_(student) {}

    LossParts step(const Inputs& in, Loss& loss) {
      const auto& logits = student_.forward(in.labeled, Context::training_on_data(static_cast<std::uint32_t>(in.step)));
      const double value = loss.value_and_grad(logits.view(), in.targets, grad_);
      scale(grad_.view(), static_cast<T>(in.grad_scale));
      student_.backward(grad_.view());
      return {{"supervised", value}};
    }
    void after_update(std::size_t, std::size_t, double) {}
    Model* evaluation_model() { return nullptr; }
    const Options& options() const { return options_; }

   private:
    Options options_;
    Model& student_;
    Tensor<T, D, typename Model::output_dim> grad_;
  };
};

}  // namespace semiseg::ssl
