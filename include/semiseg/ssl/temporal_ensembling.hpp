// Temporal Ensembling (Laine & Aila 2017). Every training sample (labeled and unlabeled) has an
// ensemble Z of its past predictions, Z ← αZ + (1 − α)·softmax(z), updated each time the sample is
// trained on; the target is z̃ = Z / (1 − α^k) after k updates (the start-up bias correction,
// `bias_correction = false` uses Z itself). One pass over [labeled, unlabeled];
// loss = CE(labeled) + w(t)·mean_{B,C}(softmax(z) − z̃)², with w(t) as the Π-model's
// (w_max = 30). A sample with no past prediction has no target: its consistency term is 0 (the
// normaliser still counts it). The paper updates Z after each epoch, when every sample has been
// seen once; a loader draws each sample once per epoch, so per-sample updates are the same rule,
// and per-sample counts k keep the correction right where the labeled set cycles faster.
// Memory: Z holds (N_labeled + N_unlabeled) × C × spatial values of T on the device (the
// per-pixel ensemble of segmentation), printed when it is allocated; it is saved in checkpoints.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "semiseg/loss/consistency.hpp"
#include "semiseg/optim/ema.hpp"
#include "semiseg/ssl/pi_model.hpp"
#include "semiseg/train/safetensors.hpp"

namespace semiseg::ssl {

struct TemporalEnsemblingOptions {
  double consistency = 30.0;    // w_max
  double alpha = 0.6;           // ensemble momentum
  bool bias_correction = true;  // z̃ = Z / (1 − α^k)
  double rampup = 0.3;          // fraction of the run
  bool labeled_fraction = true; // w scaled by N_labeled / N_train
  double warmup_epochs = 1;     // w = 0 during the first epoch
};

struct TemporalEnsembling {
  using Options = TemporalEnsemblingOptions;
  static constexpr const char* name = "TemporalEnsembling";
  static constexpr bool uses_unlabeled = true;

  static double weight(const Options& o, double epoch, double progress, std::size_t labeled_count,
                       std::size_t unlabeled_count) {
    return LaineAilaWeight{o.consistency, o.rampup, o.labeled_fraction, o.warmup_epochs}(epoch, progress, labeled_count,
                                                                                         unlabeled_count);
  }
  // The factor that turns Z after k updates into the target.
  static double correction(const Options& o, std::int64_t k) {
    return o.bias_correction && k > 0 ? 1.0 / (1.0 - std::pow(o.alpha, static_cast<double>(k))) : 1.0;
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
      LaineAilaWeight{options_.consistency, options_.rampup, options_.labeled_fraction, options_.warmup_epochs}.validate(
          "TemporalEnsembling");
      if (!(options_.alpha >= 0 && options_.alpha < 1)) throw value_error("TemporalEnsembling: alpha must lie in [0, 1)");
    }

    LossParts step(const Inputs& in, Loss& loss) {
      const index_t n_l = in.labeled.n(), n_u = in.unlabeled.n();
      if (static_cast<index_t>(in.labeled_indices.size()) != n_l || static_cast<index_t>(in.unlabeled_indices.size()) != n_u)
        throw value_error("TemporalEnsembling: every sample needs its dataset index (StepInputs::*_indices)");
      const double w = weight(options_, in.epoch, in.progress, in.labeled_count, in.unlabeled_count);
      TensorView<const T, D, In> batch = in.labeled;
      if (n_u > 0) {
        concat_samples(in.labeled, in.unlabeled, input_);
        batch = input_.view();
      }
      const auto& logits = student_.forward(batch, Context::training_on_data(static_cast<std::uint32_t>(in.step)));
      const double supervised = loss.value_and_grad(first_samples(logits.view(), n_l), in.targets, sup_grad_);
      const index_t n = n_l + n_u, chunk = logits.size() / n, plane = logits.view().plane();
      reserve(in.labeled_count + in.unlabeled_count, chunk);
      std::vector<std::size_t> rows(static_cast<std::size_t>(n));
      for (index_t k = 0; k < n; ++k)
        rows[static_cast<std::size_t>(k)] = k < n_l ? in.labeled_indices[static_cast<std::size_t>(k)]
                                                    : in.labeled_count + in.unlabeled_indices[static_cast<std::size_t>(k - n_l)];

      grad_.resize(logits.shape());
      double consistency = 0;
      if (w > 0) {
        // Targets from the ensemble before this step's update; samples without history weigh 0.
        target_.resize(logits.shape());
        std::vector<T> weights(static_cast<std::size_t>(n * plane), T(1));
        bool all_known = true;
        for (index_t k = 0; k < n; ++k) {
          const std::size_t r = rows[static_cast<std::size_t>(k)];
          T* dst = target_.data() + k * chunk;
          copy<D, D>(dst, ensemble_.data() + static_cast<index_t>(r) * chunk, chunk);
          scale(TensorView<T, D, flat>{dst, flat_shape(1, chunk)}, static_cast<T>(correction(options_, counts_[r])));
          if (counts_[r] == 0) {
            all_known = false;
            std::fill_n(weights.begin() + k * plane, plane, T(0));
          }
        }
        TensorView<const T, D, Out> pixel_weights{};
        if (!all_known) {
          shape_of<Out> ws = logits.shape();
          ws[1] = 1;
          weights_.resize(ws);
          from_host(weights_.view(), weights);
          pixel_weights = weights_.view();
        }
        consistency = mse_.value_and_grad(logits.view(), target_.view(), grad_, pixel_weights);
        scale(grad_.view(), static_cast<T>(w));
      } else {
        grad_.zero();
      }
      add_scaled(first_samples(grad_.view(), n_l), T(1), TensorView<const T, D, Out>(sup_grad_.view()));
      scale(grad_.view(), static_cast<T>(in.grad_scale));

      // Z ← αZ + (1 − α)·softmax(z) for every sample of the batch.
      sharpened_softmax(logits.view(), probabilities_, 1.0);
      for (index_t k = 0; k < n; ++k) {
        const std::size_t r = rows[static_cast<std::size_t>(k)];
        launch<D>(chunk, optim::detail::EmaFn<T>{ensemble_.data() + static_cast<index_t>(r) * chunk,
                                                 probabilities_.data() + k * chunk, static_cast<T>(options_.alpha)});
        ++counts_[r];
      }
      student_.backward(grad_.view());
      return {{"supervised", supervised}, {"consistency", consistency}, {"weight", w}};
    }

    void after_update(std::size_t, std::size_t, double) {}
    Model* evaluation_model() { return nullptr; }

    // The ensemble (samples × values per sample) and each sample's update count.
    const Tensor<T, D, flat>& ensemble() const { return ensemble_; }
    const std::vector<std::int64_t>& counts() const { return counts_; }
    std::size_t ensemble_bytes() const { return static_cast<std::size_t>(ensemble_.size()) * sizeof(T); }

    void save(train::SafeTensors& st) const {
      if (ensemble_.size() == 0) return;
      st.add("temporal_ensembling.ensemble", ensemble_.view());
      st.add("temporal_ensembling.counts", counts_);
    }
    void load(const train::SafeTensors& st, const std::string& path) {
      const auto* e = st.find("temporal_ensembling.ensemble");
      if (!e) return;  // saved before the first step
      if (e->shape.size() != 2) throw value_error(path + ": temporal_ensembling.ensemble must be 2-D");
      ensemble_.resize(flat_shape(e->shape[0], e->shape[1]));
      st.get_into("temporal_ensembling.ensemble", ensemble_.view());
      counts_ = st.get<std::int64_t>("temporal_ensembling.counts", std::vector<std::int64_t>{e->shape[0]});
    }

   private:
    // Allocates Z (zeros) on the first step, and checks the sizes on later ones.
    void reserve(std::size_t samples, index_t chunk) {
      const auto rows = static_cast<index_t>(samples);
      if (ensemble_.size() == 0) {
        ensemble_.resize(flat_shape(rows, chunk));
        ensemble_.zero();
        counts_.assign(samples, 0);
        std::printf("TemporalEnsembling: ensemble of %zu samples x %lld values = %.1f MiB\n", samples,
                    static_cast<long long>(chunk), static_cast<double>(ensemble_bytes()) / (1024.0 * 1024.0));
      } else if (ensemble_.view().n() != rows || ensemble_.view().c() != chunk) {
        throw shape_error("TemporalEnsembling: the ensemble holds " + ensemble_.shape().str() + ", this run needs " +
                          std::to_string(samples) + " samples of " + std::to_string(chunk) + " values");
      }
    }

    Options options_;
    Model& student_;
    Tensor<T, D, In> input_;
    Tensor<T, D, Out> sup_grad_, grad_, target_, weights_, probabilities_;
    Tensor<T, D, flat> ensemble_;
    std::vector<std::int64_t> counts_;
    loss::SoftmaxMSE<T, D, Out> mse_{{.target = loss::Target::probabilities}};
  };
};

}  // namespace semiseg::ssl
