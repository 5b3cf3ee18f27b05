// The trainer: one type composed of compile-time policies, dimension × backbone × loss ×
// strategy × device, with sizes and hyper-parameters in run-time options. Contract: a wrong
// combination fails where the type is named, with a one-sentence static_assert; fit() draws
// labeled (and, for semi-supervised strategies, unlabeled) batches from deterministic loaders,
// lets the strategy add gradients, steps the optimizer (Adam, AdamW or SGD), evaluates, logs and
// checkpoints; a run resumed from its checkpoint continues bit for bit on CPU. The strategy's own
// state (a teacher, CPS's second network and optimizer, an ensemble) is in the checkpoint too.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <unistd.h>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "semiseg/backbone/backbone.hpp"
#include "semiseg/core/device.hpp"
#include "semiseg/data/loader.hpp"
#include "semiseg/instance/clustering.hpp"
#include "semiseg/instance/tta.hpp"
#include "semiseg/loss/loss.hpp"
#include "semiseg/loss/spatial_embedding.hpp"
#include "semiseg/metrics/confusion.hpp"
#include "semiseg/optim/optimizer.hpp"
#include "semiseg/ssl/strategy.hpp"
#include "semiseg/train/safetensors.hpp"

namespace semiseg {

template <class S, class Model, class Loss>
concept StrategyFor = requires {
  typename S::Options;
  { S::name } -> std::convertible_to<const char*>;
  { S::uses_unlabeled } -> std::convertible_to<bool>;
  typename S::template Runner<Model, Loss>;
};

// Validation scores of one evaluation: the student's, and the teacher's where there is one.
// Embedding backbones (EmbedSeg) are scored by the IoU of φ > 0.5 with each instance, the score
// EmbedSeg picks its best model by; their confusion matrices stay empty.
struct Evaluation {
  metrics::ConfusionMatrix student{1};
  std::optional<metrics::ConfusionMatrix> teacher{};
  loss::EmbeddingIou student_embedding{};
  std::optional<loss::EmbeddingIou> teacher_embedding{};
};

struct FitOptions {
  std::size_t epochs = 10;
  std::size_t steps_per_epoch = 0;  // optimizer steps per epoch; 0: one pass over the labeled loader
  std::size_t accumulate = 1;       // micro-batches per optimizer step (EmbedSeg's virtual batch)
  std::size_t evaluate_every = 1;   // epochs between validations; 0 never validates
  std::filesystem::path run_dir{};  // log.csv and last.safetensors go here; empty writes nothing
  bool resume = false;              // continue from run_dir/last.safetensors when it exists
  // Stop after this epoch (0: after the last), keeping the schedule of the whole run, so a later
  // fit with resume continues it: training in chunks, as a time-limited job does.
  std::size_t until_epoch = 0;
  bool progress = true;             // a progress bar on a terminal, plain lines otherwise
  // Called after each epoch (1-based) with its mean loss parts and its validation, if any: for
  // curves, extra metrics or a stop rule. Returning false ends the run after that epoch.
  std::function<bool(std::size_t epoch, const ssl::LossParts& parts, const std::optional<Evaluation>& validation)>
      on_epoch{};
};

struct FitResult {
  std::size_t steps = 0;
  double seconds = 0;
  std::vector<ssl::LossParts> epochs{};  // each epoch's mean loss parts, in order
  std::optional<Evaluation> last{};  // the last validation
  double best_score = NAN;           // best validation mIoU, accuracy, or embedding IoU
  std::size_t best_epoch = 0;
};

template <SpatialDimension Dim, template <class, class, class> class BackboneT,
          template <class, class, class> class LossT, class Strategy, Device Dev = cpu, class T = float>
class Trainer {
  static_assert(!is_cuda<Dev> || SEMISEG_HAS_CUDA,
                "semiseg: the cuda device needs this file compiled by nvcc (configure with -DSEMISEG_CUDA=ON and use a .cu file)");

 public:
  using Model = BackboneT<T, Dev, Dim>;
  using In = typename Model::input_dim;
  using Out = typename Model::output_dim;
  using SupLoss = LossT<T, Dev, Out>;
  using Runner = typename Strategy::template Runner<Model, SupLoss>;
  static constexpr bool segmentation = !std::is_same_v<Out, flat>;
  static constexpr bool embedding = loss::is_embedding_loss<SupLoss>;

  static_assert(std::is_same_v<In, Dim>, "semiseg: the backbone's input dimension must be the trainer's dimension");
  static_assert(backbone::check_backbone<Model>());
  static_assert(loss::require_hard_label_loss<SupLoss>());
  static_assert(StrategyFor<Strategy, Model, SupLoss>,
                "semiseg: the strategy must be a semiseg::ssl policy (Supervised, PseudoLabel, MeanTeacher<>, ...)");

  struct Options {
    typename Model::Options model{};
    // Adam, AdamW or SGD, chosen by the options' type: `o.optimizer = optim::SgdOptions{...}`.
    optim::OptimizerOptions optimizer{};
    // The learning-rate factor at each optimizer step (optim::Cosine, Poly, ...); empty: constant.
    std::function<double(index_t)> schedule{};
    typename Strategy::Options strategy{};
    typename SupLoss::Options loss{};
    data::LoaderOptions labeled{.batch_size = 16, .seed = 1};
    data::LoaderOptions unlabeled{.batch_size = 32, .seed = 2};
    data::Transform<Dim> labeled_transform{};
    data::Transform<Dim> unlabeled_transform{};
    // A second view of each unlabeled sample (the teacher's, or FixMatch's strong view).
    data::Transform<Dim> second_view{};
    std::uint64_t seed = 0;
  };

  explicit Trainer(Options options)
      : options_(std::move(options)),
        model_(options_.model, options_.seed, "model"),
        loss_(options_.loss),
        optimizer_(options_.optimizer),
        runner_(options_.strategy, model_,
                ssl::RunnerSetup<Model>{.model = options_.model, .seed = options_.seed, .optimizer = options_.optimizer}) {}

  // The strategy refers to the model, so a trainer stays where it was built.
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  Model& model() { return model_; }
  Runner& strategy() { return runner_; }
  const Options& options() const { return options_; }
  std::size_t step() const { return step_; }

  // Trains for fit.epochs epochs (from the checkpoint's epoch with fit.resume). `unlabeled` is
  // read only by semi-supervised strategies, `validation` every fit.evaluate_every epochs.
  template <data::Dataset L, data::Dataset U, data::Dataset V>
    requires std::same_as<typename L::dim_type, Dim> && std::same_as<typename U::dim_type, Dim> &&
             std::same_as<typename V::dim_type, Dim>
  FitResult fit(const L& labeled, const U& unlabeled, const V& validation, FitOptions fit = {}) {
    if (fit.accumulate == 0) throw value_error("fit: accumulate must be at least 1");
    data::Loader<L> l_loader(labeled, options_.labeled, options_.labeled_transform);
    std::optional<data::Loader<U>> u_loader;
    if constexpr (Strategy::uses_unlabeled) u_loader.emplace(unlabeled, options_.unlabeled, options_.unlabeled_transform, options_.second_view);
    const std::size_t per_epoch =
        fit.steps_per_epoch ? fit.steps_per_epoch : std::max<std::size_t>(1, l_loader.batches_per_epoch() / fit.accumulate);
    const std::size_t total = per_epoch * fit.epochs;

    std::size_t first_epoch = 0;
    const std::filesystem::path checkpoint = fit.run_dir.empty() ? std::filesystem::path{} : fit.run_dir / "last.safetensors";
    if (!fit.run_dir.empty()) std::filesystem::create_directories(fit.run_dir);
    if (fit.resume && !checkpoint.empty() && std::filesystem::exists(checkpoint)) {
      load(checkpoint);
      first_epoch = step_ / per_epoch;
    }
    l_loader.seek(step_ * fit.accumulate);
    if (u_loader) u_loader->seek(step_ * fit.accumulate);
    banner(fit, per_epoch);

    FitResult result;
    const auto start = std::chrono::steady_clock::now();
    std::ofstream log;
    std::vector<std::string> columns;
    const std::size_t last_epoch = fit.until_epoch ? std::min(fit.until_epoch, fit.epochs) : fit.epochs;
    for (std::size_t epoch = first_epoch; epoch < last_epoch; ++epoch) {
      ssl::LossParts sums;
      for (std::size_t it = 0; it < per_epoch; ++it) {
        model_.parameters().zero_grad();
        for (std::size_t k = 0; k < fit.accumulate; ++k) {
          const data::Batch<Dim> lb = l_loader.next();
          upload_images(lb.images, labeled_);
          upload_targets(lb, targets_);
          typename Runner::Inputs in;
          in.labeled = labeled_.view();
          in.targets = targets_.view();
          in.labeled_indices = lb.indices;
          in.labeled_count = labeled.size();
          data::Batch<Dim> ub;
          if (u_loader) {
            ub = u_loader->next();
            in.unlabeled_indices = ub.indices;
            in.unlabeled_count = unlabeled.size();
            upload_images(ub.images, unlabeled_);
            in.unlabeled = unlabeled_.view();
            if (ub.has_strong()) {
              upload_images(ub.strong_images, second_);
              in.unlabeled_second_view = second_.view();
            }
          }
          in.epoch = static_cast<double>(epoch) + static_cast<double>(it) / static_cast<double>(per_epoch);
          in.progress = static_cast<double>(step_) / static_cast<double>(std::max<std::size_t>(total, 1));
          in.step = step_;
          in.total_steps = total;
          in.grad_scale = 1.0 / static_cast<double>(fit.accumulate);
          const ssl::LossParts parts = runner_.step(in, loss_);
          accumulate(sums, parts, 1.0 / static_cast<double>(fit.accumulate * per_epoch));
        }
        update(total);
        if (fit.progress) show_progress(epoch, it + 1, per_epoch, start, sums, it + 1);
      }
      result.steps = step_;
      std::optional<Evaluation> eval;
      if (fit.evaluate_every && ((epoch + 1) % fit.evaluate_every == 0 || epoch + 1 == fit.epochs)) {
        eval = evaluate(validation);
        const double score = student_score(*eval);
        if (!std::isnan(score) && (std::isnan(result.best_score) || score > result.best_score)) {
          result.best_score = score;
          result.best_epoch = epoch + 1;
          if (!fit.run_dir.empty()) save(fit.run_dir / "best.safetensors", epoch + 1);
        }
        result.last = eval;
      }
      result.epochs.push_back(sums);
      report(epoch + 1, fit, sums, eval);
      if (!fit.run_dir.empty()) {
        write_log(log, columns, fit.run_dir / "log.csv", epoch + 1, sums, eval, first_epoch > 0);
        save(checkpoint, epoch + 1);
      }
      if (fit.on_epoch && !fit.on_epoch(epoch + 1, sums, eval)) break;
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  }

  // One optimizer step on batches already on the device, as fit takes them: the strategy's
  // forward and backward passes, the optimizer step and the strategy's after-update (an EMA
  // teacher). The caller sets where the run stands (epoch, progress, total_steps); in.step is
  // the trainer's own count. For benchmarks and for callers with their own data pipeline.
  ssl::LossParts train_step(typename Runner::Inputs in) {
    model_.parameters().zero_grad();
    in.step = step_;
    in.grad_scale = 1;
    ssl::LossParts parts = runner_.step(in, loss_);
    update(in.total_steps);
    return parts;
  }

  // Confusion matrices (or, for embeddings, instance IoU sums) of the student and the teacher
  // over a dataset, in eval mode, `batch_size` samples at a time (0: the labeled loader's batch
  // size, so validation needs no more memory than training).
  template <data::Dataset V>
    requires std::same_as<typename V::dim_type, Dim>
  Evaluation evaluate(const V& data, std::size_t batch_size = 0) {
    if (batch_size == 0) batch_size = std::max<std::size_t>(options_.labeled.batch_size, 1);
    Evaluation e;
    if constexpr (!embedding) {
      e.student = metrics::ConfusionMatrix(static_cast<std::size_t>(options_.model.classes));
      if (runner_.evaluation_model()) e.teacher.emplace(static_cast<std::size_t>(options_.model.classes));
    } else if (runner_.evaluation_model()) {
      e.teacher_embedding.emplace();
    }
    data::Loader<V> loader(data, {.batch_size = batch_size, .shuffle = false, .drop_last = false, .threads = 1});
    for (std::size_t b = 0; b < loader.batches_per_epoch(); ++b) {
      const data::Batch<Dim> batch = loader.next();
      upload_images(batch.images, labeled_);
      if constexpr (embedding) {
        upload_targets(batch, targets_);
        score_embedding(model_, e.student_embedding);
        if (Model* teacher = runner_.evaluation_model()) score_embedding(*teacher, *e.teacher_embedding);
      } else {
        score(model_, batch, e.student);
        if (Model* teacher = runner_.evaluation_model()) score(*teacher, batch, *e.teacher);
      }
    }
    return e;
  }

  // The headline validation score: mIoU (segmentation), accuracy (classification) or the
  // embedding IoU; NaN for a teacher that is not there.
  static double student_score(const Evaluation& e) {
    if constexpr (embedding) return e.student_embedding.mean();
    else return headline(e.student);
  }
  static double teacher_score(const Evaluation& e) {
    if constexpr (embedding) return e.teacher_embedding ? e.teacher_embedding->mean() : NAN;
    else return e.teacher ? headline(*e.teacher) : NAN;
  }

  // The raw network output (channels × spatial) of one image, by the student in eval mode; for
  // embedding backbones, offsets, sigmas and the seed logit.
  xt::xtensor<float, Dim::spatial + 1> predict_raw(const data::Image<Dim>& image)
    requires segmentation
  {
    const std::vector<T> out = forward_one(image);
    std::array<std::size_t, Dim::spatial + 1> shape{};
    for (int a = 0; a < Dim::spatial; ++a) shape[static_cast<std::size_t>(a) + 1] = image.shape()[static_cast<std::size_t>(a) + 1];
    std::size_t plane = 1;
    for (int a = 1; a <= Dim::spatial; ++a) plane *= shape[static_cast<std::size_t>(a)];
    shape[0] = out.size() / plane;
    auto result = xt::xtensor<float, Dim::spatial + 1>::from_shape(shape);
    std::copy(out.begin(), out.end(), result.data());
    return result;
  }

  // Instance labels of one image (C × spatial) by the student in eval mode: its embedding
  // clustered with `options` (instance/clustering.hpp), on the trainer's device, in the loss's
  // embedding grid (the grid in `options` is replaced by it). `tta` (2D only, square pixels)
  // averages the eight flips and quarter turns first (instance/tta.hpp), on the host.
  xt::xtensor<std::int32_t, Dim::spatial> predict_instances(const data::Image<Dim>& image,
                                                            const instance::ClusteringOptions<Dim>& options = {},
                                                            bool tta = false)
    requires embedding
  {
    instance::ClusteringOptions<Dim> clustering = options;
    clustering.grid = options_.loss.grid;
    if (tta && clustering.grid.spacing.front() != clustering.grid.spacing.back())
      throw value_error("predict_instances: test-time augmentation turns the image, so it needs square pixels "
                        "(equal spacing along H and W)");
    if (!tta) {
      const Tensor<T, Dev, Dim> x = image_tensor(image);
      return clusterer_(model_.forward(x.view(), Context::evaluation()).view(), clustering);
    }
    if constexpr (Dim::spatial != 2) {
      throw value_error("predict_instances: test-time augmentation is 2D only");
    } else {
      const xt::xtensor<float, 3> raw =
          instance::predict_with_tta(image, [&](const xt::xtensor<float, 3>& im) { return predict_raw(im); });
      shape_of<Dim> s;
      s[0] = 1;
      for (int a = 0; a < 3; ++a) s[a + 1] = static_cast<index_t>(raw.shape()[static_cast<std::size_t>(a)]);
      return host_clusterer_(TensorView<const float, cpu, Dim>(raw.data(), s), clustering);
    }
  }

  // The class of every pixel of one image (C × spatial), by the student in eval mode.
  xt::xtensor<std::int32_t, Dim::spatial> predict(const data::Image<Dim>& image)
    requires segmentation
  {
    const std::vector<T> logits = forward_one(image);
    std::array<std::size_t, Dim::spatial> shape{};
    for (int a = 0; a < Dim::spatial; ++a) shape[static_cast<std::size_t>(a)] = image.shape()[static_cast<std::size_t>(a) + 1];
    xt::xtensor<std::int32_t, Dim::spatial> out = xt::xtensor<std::int32_t, Dim::spatial>::from_shape(shape);
    const std::size_t plane = out.size(), classes = logits.size() / plane;
    for (std::size_t p = 0; p < plane; ++p) {
      std::size_t best = 0;
      for (std::size_t c = 1; c < classes; ++c)
        if (logits[c * plane + p] > logits[best * plane + p]) best = c;
      out.data()[p] = static_cast<std::int32_t>(best);
    }
    return out;
  }

  // Class probabilities (classes × spatial) of one image.
  xt::xtensor<float, Dim::spatial + 1> predict_probabilities(const data::Image<Dim>& image)
    requires segmentation
  {
    const std::vector<T> logits = forward_one(image);
    std::array<std::size_t, Dim::spatial + 1> shape{};
    shape[0] = static_cast<std::size_t>(options_.model.classes);
    for (int a = 0; a < Dim::spatial; ++a) shape[static_cast<std::size_t>(a) + 1] = image.shape()[static_cast<std::size_t>(a) + 1];
    auto out = xt::xtensor<float, Dim::spatial + 1>::from_shape(shape);
    const std::size_t classes = shape[0], plane = out.size() / classes;
    for (std::size_t p = 0; p < plane; ++p) {
      double m = logits[p], s = 0;
      for (std::size_t c = 1; c < classes; ++c) m = std::max<double>(m, logits[c * plane + p]);
      for (std::size_t c = 0; c < classes; ++c) s += std::exp(logits[c * plane + p] - m);
      for (std::size_t c = 0; c < classes; ++c) out.data()[c * plane + p] = static_cast<float>(std::exp(logits[c * plane + p] - m) / s);
    }
    return out;
  }

  // The class of one image (classification backbones).
  std::int32_t predict_class(const data::Image<Dim>& image)
    requires(!segmentation)
  {
    const std::vector<T> logits = forward_one(image);
    return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }

  // Writes the run's state: weights and buffers, the optimizer's state, the strategy's models and
  // the step.
  void save(const std::filesystem::path& path, std::size_t epoch = 0) {
    train::SafeTensors st;
    st.add("model.values", model_.parameters().values());
    st.add("model.buffers", model_.parameters().buffers());
    optimizer_.save(st);
    if (Model* teacher = runner_.evaluation_model()) {
      st.add("teacher.values", teacher->parameters().values());
      st.add("teacher.buffers", teacher->parameters().buffers());
    }
    if constexpr (requires { runner_.save(st); }) runner_.save(st);
    st.metadata["semiseg.step"] = std::to_string(step_);
    st.metadata["semiseg.epoch"] = std::to_string(epoch);
    st.metadata["semiseg.strategy"] = Strategy::name;
    st.metadata["semiseg.dimension"] = Dim::name;
    train::write_safetensors(path, st);
  }

  void load(const std::filesystem::path& path) {
    const train::SafeTensors st = train::read_safetensors(path);
    const auto meta = [&](const char* key) -> std::string {
      const auto it = st.metadata.find(key);
      if (it == st.metadata.end()) throw io_error(path.string() + ": not a semiseg checkpoint (no " + key + ")");
      return it->second;
    };
    if (meta("semiseg.strategy") != Strategy::name || meta("semiseg.dimension") != Dim::name)
      throw value_error(path.string() + ": checkpoint of a " + meta("semiseg.strategy") + " " + meta("semiseg.dimension") +
                        " run, this trainer is " + Strategy::name + " " + Dim::name);
    st.get_into("model.values", model_.parameters().values().view());
    st.get_into("model.buffers", model_.parameters().buffers().view());
    optimizer_.load(st, path.string(), model_.parameters().size());
    if (Model* teacher = runner_.evaluation_model()) {
      st.get_into("teacher.values", teacher->parameters().values().view());
      st.get_into("teacher.buffers", teacher->parameters().buffers().view());
    }
    if constexpr (requires { runner_.load(st, path.string()); }) runner_.load(st, path.string());
    step_ = static_cast<std::size_t>(std::stoull(meta("semiseg.step")));
  }

 private:
  static double headline(const metrics::ConfusionMatrix& m) { return segmentation ? m.mean_iou() : m.top1(); }

  // The optimizer step after the gradients of step_ are in, then the strategy's after-update.
  void update(std::size_t total_steps) {
    const double lr = optim::initial_lr(options_.optimizer) *
                      (options_.schedule ? options_.schedule(static_cast<index_t>(step_)) : 1.0);
    optimizer_.set_lr(lr);
    optimizer_.step(model_.parameters());
    runner_.after_update(step_, total_steps, lr);
    ++step_;
  }

  void upload_images(const Tensor<float, cpu, Dim>& host, Tensor<T, Dev, Dim>& device) {
    device.resize(host.shape());
    if constexpr (std::is_same_v<T, float>) {
      copy<Dev, cpu>(device.data(), host.data(), host.size());
    } else {
      std::vector<T> converted(host.data(), host.data() + host.size());
      copy<Dev, cpu>(device.data(), converted.data(), host.size());
    }
  }

  void upload_targets(const data::Batch<Dim>& b, Tensor<std::int32_t, Dev, Out>& device) {
    if constexpr (embedding) {
      if (!b.has_instances())
        throw value_error("fit: an embedding loss needs instance maps, and the labeled dataset's samples have none");
      device.resize(b.instances.shape());
      copy<Dev, cpu>(device.data(), b.instances.data(), b.instances.size());
    } else if constexpr (segmentation) {
      if (!b.has_masks()) throw value_error("fit: the labeled dataset's samples have no masks");
      device.resize(b.masks.shape());
      copy<Dev, cpu>(device.data(), b.masks.data(), b.masks.size());
    } else {
      if (!b.has_labels()) throw value_error("fit: the labeled dataset's samples have no class labels");
      device.resize(flat_shape(static_cast<index_t>(b.size()), 1));
      copy<Dev, cpu>(device.data(), b.labels.data(), static_cast<index_t>(b.labels.size()));
    }
  }

  void score(Model& m, const data::Batch<Dim>& batch, metrics::ConfusionMatrix& cm) {
    const auto& logits = m.forward(labeled_.view(), Context::evaluation());
    Tensor<T, cpu, Out> host(logits.shape());
    copy<cpu, Dev>(host.data(), logits.data(), logits.size());
    if constexpr (segmentation)
      cm.add_logits(host, batch.masks);
    else
      cm.add_logits(host, batch.labels);
  }

  void score_embedding(Model& m, loss::EmbeddingIou& iou) {
    const auto& out = m.forward(labeled_.view(), Context::evaluation());
    loss_.value_and_iou(out.view(), targets_.view(), iou);
  }

  Tensor<T, Dev, Dim> image_tensor(const data::Image<Dim>& image) {
    shape_of<Dim> s;
    s[0] = 1;
    for (int a = 0; a <= Dim::spatial; ++a) s[a + 1] = static_cast<index_t>(image.shape()[static_cast<std::size_t>(a)]);
    Tensor<T, Dev, Dim> x(s);
    const std::vector<T> values(image.data(), image.data() + image.size());
    from_host(x.view(), values);
    return x;
  }

  std::vector<T> forward_one(const data::Image<Dim>& image) {
    const Tensor<T, Dev, Dim> x = image_tensor(image);
    return to_host(model_.forward(x.view(), Context::evaluation()).view());
  }

  static void accumulate(ssl::LossParts& sums, const ssl::LossParts& parts, double weight) {
    for (const auto& [name, value] : parts) {
      auto it = std::find_if(sums.begin(), sums.end(), [&](const auto& p) { return std::string_view(p.first) == name; });
      if (it == sums.end()) sums.emplace_back(name, value * weight);
      else it->second += value * weight;
    }
  }

  void banner(const FitOptions& fit, std::size_t per_epoch) const {
    std::printf("semiseg: %s, %s, %s on %s, %s, %s, %s, %d thread(s); %zu epochs of %zu steps%s\n", Strategy::name,
                policy_name<Model>(), policy_name<SupLoss>(), Dev::name, Dim::name,
                segmentation ? "segmentation" : "classification", optimizer_.name(), max_threads(), fit.epochs, per_epoch,
                step_ ? (", resumed at step " + std::to_string(step_)).c_str() : "");
    std::fflush(stdout);
  }

  // A policy's `name` for the banner; a user's own policy need not have one.
  template <class P>
  static const char* policy_name() {
    if constexpr (requires { P::name; }) return P::name;
    else return "(unnamed)";
  }

  static int max_threads() {
#if defined(_OPENMP)
    return omp_get_max_threads();
#else
    return 1;
#endif
  }

  void show_progress(std::size_t epoch, std::size_t done, std::size_t per_epoch,
                     std::chrono::steady_clock::time_point start, const ssl::LossParts& sums, std::size_t seen) {
    if (!isatty(fileno(stderr))) return;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = static_cast<double>(done) / std::max(elapsed, 1e-9);
    const double loss = ssl::total_of(sums, {"supervised"}) * static_cast<double>(per_epoch) / static_cast<double>(seen);
    const int width = 24, filled = static_cast<int>(width * static_cast<double>(done) / static_cast<double>(per_epoch));
    std::fprintf(stderr, "\repoch %zu [%.*s%*s] %zu/%zu  %.1f steps/s  ETA %.0f s  loss %.4f ", epoch + 1, filled,
                 "========================", width - filled, "", done, per_epoch, rate,
                 static_cast<double>(per_epoch - done) / std::max(rate, 1e-9), loss);
    if (done == per_epoch) std::fputc('\n', stderr);
  }

  void report(std::size_t epoch, const FitOptions& fit, const ssl::LossParts& sums, const std::optional<Evaluation>& e) {
    if (!fit.progress) return;
    std::printf("epoch %zu/%zu  lr %.3g", epoch, fit.epochs, optimizer_.lr());
    for (const auto& [name, value] : sums) std::printf("  %s %.4f", name, value);
    if (e) {
      std::printf("  val %s %.4f", embedding ? "embedding IoU" : segmentation ? "mIoU" : "accuracy", student_score(*e));
      if (!std::isnan(teacher_score(*e))) std::printf("  teacher %.4f", teacher_score(*e));
    }
    std::printf("\n");
    std::fflush(stdout);
  }

  void write_log(std::ofstream& log, std::vector<std::string>& columns, const std::filesystem::path& path,
                 std::size_t epoch, const ssl::LossParts& sums, const std::optional<Evaluation>& e, bool resumed) {
    if (!log.is_open()) {
      const bool append = resumed && std::filesystem::exists(path);
      log.open(path, append ? std::ios::app : std::ios::trunc);
      if (!log) throw io_error(path.string() + ": cannot write the log");
      for (const auto& [name, value] : sums) columns.push_back(name);
      if (!append) {
        log << "epoch,step,lr";
        for (const std::string& c : columns) log << ',' << c;
        log << ",val_score,teacher_score\n";
      }
    }
    log << epoch << ',' << step_ << ',' << optimizer_.lr();
    for (const std::string& c : columns) log << ',' << ssl::total_of(sums, {c});
    log << ',' << (e ? student_score(*e) : NAN) << ',' << (e ? teacher_score(*e) : NAN) << '\n';
    log.flush();
  }

  Options options_;
  Model model_;
  SupLoss loss_;
  optim::Optimizer<T, Dev> optimizer_;
  Runner runner_;
  std::size_t step_ = 0;
  Tensor<T, Dev, Dim> labeled_, unlabeled_, second_;
  Tensor<std::int32_t, Dev, Out> targets_;
  std::conditional_t<embedding, instance::Clusterer<T, Dev, Dim>, std::monostate> clusterer_;
  std::conditional_t<embedding, instance::Clusterer<float, cpu, Dim>, std::monostate> host_clusterer_;
};

}  // namespace semiseg
