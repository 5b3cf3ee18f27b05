#include "semiseg/train/trainer.hpp"

#include <filesystem>

#include "semiseg/backbone/mlp.hpp"
#include "semiseg/backbone/unet.hpp"
#include "semiseg/data/augment/photometric.hpp"
#include "semiseg/loss/cross_entropy.hpp"
#include "semiseg/ssl/cross_pseudo.hpp"
#include "semiseg/ssl/fixmatch.hpp"
#include "semiseg/ssl/mean_teacher.hpp"
#include "semiseg/ssl/pi_model.hpp"
#include "semiseg/ssl/pseudo_label.hpp"
#include "semiseg/ssl/supervised.hpp"
#include "semiseg/ssl/temporal_ensembling.hpp"
#include "support/harness.hpp"
#include "support/squares.hpp"

namespace semiseg::test {

namespace fs = std::filesystem;

template <SpatialDimension Dim, class Strategy>
using SegTrainer = Trainer<Dim, backbone::UNet, loss::CrossEntropy, Strategy, device, float>;

template <SpatialDimension Dim, class Strategy>
typename SegTrainer<Dim, Strategy>::Options seg_options(typename Strategy::Options strategy = {}) {
  typename SegTrainer<Dim, Strategy>::Options o;
  o.model = {.in_channels = 1, .classes = 2, .base_channels = 4, .depth = 1};
  o.optimizer = optim::AdamOptions{.lr = 1e-2};
  o.strategy = strategy;
  o.labeled = loader_options(4, 1);
  o.unlabeled = loader_options(8, 2);
  o.seed = 3;
  return o;
}

// Trains for a few epochs and checks that the supervised loss falls and validation mIoU rises
// well above chance (a constant prediction scores at most about 0.4 here).
template <SpatialDimension Dim, class Strategy>
void check_convergence(typename Strategy::Options strategy, std::size_t epochs = 4,
                       std::optional<optim::OptimizerOptions> optimizer = {}, bool second_view = false) {
  auto options = seg_options<Dim, Strategy>(strategy);
  if (optimizer) options.optimizer = *optimizer;
  if (second_view) options.second_view = data::aug::GaussianNoise{.sigma = 0.1};
  SegTrainer<Dim, Strategy> trainer(options);
  Squares<Dim> labeled{.count = 32, .seed = 1}, unlabeled{.count = 64, .seed = 2, .labeled = false},
      validation{.count = 16, .seed = 3};
  const Evaluation before = trainer.evaluate(validation);
  const FitResult r = trainer.fit(labeled, unlabeled, validation, {.epochs = epochs, .progress = false});
  REQUIRE(r.last);
  CAPTURE(Strategy::name);
  CHECK(r.steps == epochs * 8);
  REQUIRE(r.epochs.size() == epochs);
  CHECK(ssl::total_of(r.epochs.back(), {"supervised"}) < ssl::total_of(r.epochs.front(), {"supervised"}));
  CHECK(r.last->student.mean_iou() > 0.7);
  CHECK(r.last->student.mean_iou() > before.student.mean_iou());
}

TEST_CASE_TEMPLATE("trainers learn the squares task in 2D and 3D: Supervised", Dim, dim2, dim3) {
  check_convergence<Dim, ssl::Supervised>({});
}

TEST_CASE_TEMPLATE("trainers learn the squares task in 2D and 3D: Supervised with SGD", Dim, dim2, dim3) {
  check_convergence<Dim, ssl::Supervised>({}, 4, optim::SgdOptions{.lr = 0.05, .momentum = 0.9});
}

TEST_CASE_TEMPLATE("trainers learn the squares task in 2D and 3D: PseudoLabel", Dim, dim2, dim3) {
  check_convergence<Dim, ssl::PseudoLabel>({.alpha_final = 1.0, .t1 = 0.25, .t2 = 0.75, .fractions = true});
}

TEST_CASE_TEMPLATE("trainers learn the squares task in 2D and 3D: MeanTeacher", Dim, dim2, dim3) {
  SegTrainer<Dim, ssl::MeanTeacher<>> probe(seg_options<Dim, ssl::MeanTeacher<>>());
  // The teacher starts as an exact copy of the student.
  CHECK(to_host(probe.strategy().teacher().parameters().values().view()) ==
        to_host(probe.model().parameters().values().view()));
  check_convergence<Dim, ssl::MeanTeacher<>>({.consistency = 1.0, .rampup = 0.3});
}

TEST_CASE_TEMPLATE("trainers learn the squares task in 2D and 3D: PiModel", Dim, dim2, dim3) {
  check_convergence<Dim, ssl::PiModel>({.consistency = 10.0, .rampup = 0.3}, 4, {}, true);
}

TEST_CASE_TEMPLATE("trainers learn the squares task in 2D and 3D: TemporalEnsembling", Dim, dim2, dim3) {
  check_convergence<Dim, ssl::TemporalEnsembling>({.consistency = 10.0});
}

TEST_CASE_TEMPLATE("trainers learn the squares task in 2D and 3D: CrossPseudo with and without CutMix", Dim, dim2, dim3) {
  check_convergence<Dim, ssl::CrossPseudo>({});
  check_convergence<Dim, ssl::CrossPseudo>({.cutmix = true});
}

TEST_CASE_TEMPLATE("trainers learn the squares task in 2D and 3D: FixMatch, hard and soft targets", Dim, dim2, dim3) {
  check_convergence<Dim, ssl::FixMatch>({.threshold = 0.9}, 4, {}, true);
  check_convergence<Dim, ssl::FixMatch>({.soft_targets = true}, 4, {}, true);
}

TEST_CASE("Mean Teacher's EMA decay: tied to the run, fixed, or the paper's two phases") {
  using MT = ssl::MeanTeacher<>;
  CHECK(MT::decay({}, 0, 960) == doctest::Approx(1.0 - 10.0 / 960));
  CHECK(MT::decay({}, 0, 50) == doctest::Approx(0.9));       // short runs: at least 0.9
  CHECK(MT::decay({}, 0, 100000) == doctest::Approx(0.999)); // long runs: at most 0.999
  CHECK(MT::decay({.ema_decay = 0.995}, 500, 1000) == 0.995);
  const MT::Options paper{.rampup = 0.3, .ema_decay = 0.999, .ema_decay_rampup = 0.99};
  CHECK(MT::decay(paper, 0, 1000) == 0.99);
  CHECK(MT::decay(paper, 299, 1000) == 0.99);
  CHECK(MT::decay(paper, 300, 1000) == 0.999);
  CHECK(MT::decay(paper, 999, 1000) == 0.999);
  const auto build = [] { SegTrainer<dim2, MT> t(seg_options<dim2, MT>({.ema_decay_rampup = 1.5})); };
  CHECK_THROWS_WITH_AS(build(), "MeanTeacher: ema_decay_rampup must lie in [0, 1]", value_error);
}

// Classification: an MLP learns which half holds the square.
template <SpatialDimension Dim, class Strategy>
void check_classification(typename Strategy::Options strategy) {
  using T = Trainer<Dim, backbone::MLP, loss::CrossEntropy, Strategy, device, float>;
  typename T::Options o;
  o.model = {.in_features = Dim::spatial == 3 ? 8 * 256 : 256, .hidden = {32}, .classes = 2, .dropout = 0.0};
  o.optimizer = optim::AdamOptions{.lr = 3e-3};
  o.strategy = strategy;
  o.labeled = loader_options(8, 1);
  o.unlabeled = loader_options(8, 2);
  T trainer(o);
  Squares<Dim> labeled{.count = 64, .seed = 1}, unlabeled{.count = 64, .seed = 2, .labeled = false},
      validation{.count = 32, .seed = 3};
  const FitResult r = trainer.fit(labeled, unlabeled, validation, {.epochs = 6, .progress = false});
  REQUIRE(r.last);
  CAPTURE(Strategy::name);
  CHECK(r.last->student.top1() > 0.8);
  CHECK(ssl::total_of(r.epochs.back(), {"supervised"}) < ssl::total_of(r.epochs.front(), {"supervised"}));
  const auto s = validation.get(0);
  const std::int32_t c = trainer.predict_class(s.image);
  CHECK((c == 0 || c == 1));
}

TEST_CASE_TEMPLATE("classification with an MLP in 2D and 3D: all strategies", Dim, dim2, dim3) {
  check_classification<Dim, ssl::Supervised>({});
  check_classification<Dim, ssl::PseudoLabel>({.alpha_final = 0.5, .t1 = 0.5, .t2 = 1.0, .fractions = true, .threshold = 0.9});
  check_classification<Dim, ssl::MeanTeacher<>>({.consistency = 1.0, .rampup = 0.3});
}

// Weights after 2N steps equal those after N steps, a checkpoint, a new trainer and N more.
template <class Strategy>
void check_resume(const char* name, std::optional<optim::OptimizerOptions> optimizer = {}) {
  const fs::path dir = scratch(std::string("semiseg_resume_") + name);
  fs::remove_all(dir);
  Squares<dim2> labeled{.count = 16, .seed = 1}, unlabeled{.count = 32, .seed = 2, .labeled = false},
      validation{.count = 8, .seed = 3};
  auto options = seg_options<dim2, Strategy>();
  options.labeled.threads = 2;
  if (optimizer) options.optimizer = *optimizer;
  // The second view exercises the loader's strong stream through the resume.
  options.second_view = data::aug::GaussianNoise{.sigma = 0.05};
  SegTrainer<dim2, Strategy> straight(options);
  straight.fit(labeled, unlabeled, validation, {.epochs = 4, .progress = false});

  SegTrainer<dim2, Strategy> first(options);
  first.fit(labeled, unlabeled, validation, {.epochs = 4, .run_dir = dir, .until_epoch = 2, .progress = false});
  SegTrainer<dim2, Strategy> resumed(options);
  resumed.fit(labeled, unlabeled, validation, {.epochs = 4, .run_dir = dir, .resume = true, .progress = false});
  const std::string strategy = name;
  CAPTURE(strategy);
  CHECK(resumed.step() == straight.step());
  CHECK(to_host(resumed.model().parameters().values().view()) == to_host(straight.model().parameters().values().view()));
  CHECK(to_host(resumed.model().parameters().buffers().view()) == to_host(straight.model().parameters().buffers().view()));
  // The strategy's state: a teacher, CPS's second network (and, through its next steps, its
  // optimizer), FixMatch's EMA, Temporal Ensembling's ensemble.
  if (auto* second = straight.strategy().evaluation_model()) {
    CHECK(to_host(resumed.strategy().evaluation_model()->parameters().values().view()) ==
          to_host(second->parameters().values().view()));
    CHECK(to_host(resumed.strategy().evaluation_model()->parameters().buffers().view()) ==
          to_host(second->parameters().buffers().view()));
  }
  if constexpr (std::is_same_v<Strategy, ssl::TemporalEnsembling>) {
    CHECK(to_host(resumed.strategy().ensemble().view()) == to_host(straight.strategy().ensemble().view()));
    CHECK(resumed.strategy().counts() == straight.strategy().counts());
  }
  CHECK(fs::exists(dir / "log.csv"));
  CHECK(fs::exists(dir / "best.safetensors"));
  fs::remove_all(dir);
}

TEST_CASE("resume from a checkpoint is bit-identical: Supervised and MeanTeacher") {
  check_resume<ssl::Supervised>("supervised");
  check_resume<ssl::MeanTeacher<>>("mean_teacher");
}

TEST_CASE("resume is bit-identical: PiModel, TemporalEnsembling, CrossPseudo and FixMatch") {
  check_resume<ssl::PiModel>("pi_model");
  check_resume<ssl::TemporalEnsembling>("temporal_ensembling");
  check_resume<ssl::CrossPseudo>("cross_pseudo", optim::SgdOptions{.lr = 0.05, .momentum = 0.9});
  check_resume<ssl::FixMatch>("fixmatch");
}

TEST_CASE("resume is bit-identical with SGD's momentum buffer and with AdamW") {
  check_resume<ssl::Supervised>("supervised_sgd", optim::SgdOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true});
  check_resume<ssl::PseudoLabel>("pseudo_label_adamw", optim::AdamWOptions{.lr = 1e-2});
}

TEST_CASE("on_epoch sees each epoch's losses and validation, and can stop the run") {
  SegTrainer<dim2, ssl::Supervised> trainer(seg_options<dim2, ssl::Supervised>());
  const Squares<dim2> labeled{.count = 16, .seed = 1}, validation{.count = 4, .seed = 3};
  std::vector<std::size_t> seen;
  FitOptions fit{.epochs = 5, .evaluate_every = 2, .progress = false};
  fit.on_epoch = [&](std::size_t epoch, const ssl::LossParts& parts, const std::optional<Evaluation>& e) {
    seen.push_back(epoch);
    CHECK(ssl::total_of(parts, {"supervised"}) > 0);
    CHECK(e.has_value() == (epoch % 2 == 0));
    return epoch < 3;
  };
  const FitResult r = trainer.fit(labeled, labeled, validation, fit);
  CHECK(seen == std::vector<std::size_t>{1, 2, 3});
  CHECK(r.epochs.size() == 3);
  CHECK(trainer.step() == 3 * 4);
}

TEST_CASE("a checkpoint of another optimizer is refused") {
  const fs::path path = scratch("semiseg_other_optimizer", ".safetensors");
  SegTrainer<dim2, ssl::Supervised> adam(seg_options<dim2, ssl::Supervised>());
  adam.save(path);
  auto options = seg_options<dim2, ssl::Supervised>();
  options.optimizer = optim::SgdOptions{.lr = 0.1};
  SegTrainer<dim2, ssl::Supervised> sgd(options);
  CHECK_THROWS_WITH_AS(sgd.load(path), doctest::Contains("optimizer adam, this trainer uses sgd"), value_error);
  fs::remove(path);
}

TEST_CASE("bad optimizer options are refused when the trainer is built") {
  auto options = seg_options<dim2, ssl::Supervised>();
  options.optimizer = optim::SgdOptions{.lr = 0.1, .nesterov = true};
  const auto build = [&] { SegTrainer<dim2, ssl::Supervised> t(options); };
  CHECK_THROWS_WITH_AS(build(), doctest::Contains("nesterov"), value_error);
}

TEST_CASE("a checkpoint of another strategy is refused") {
  const fs::path path = scratch("semiseg_other_strategy", ".safetensors");
  SegTrainer<dim2, ssl::Supervised> supervised(seg_options<dim2, ssl::Supervised>());
  supervised.save(path);
  SegTrainer<dim2, ssl::PseudoLabel> pseudo(seg_options<dim2, ssl::PseudoLabel>());
  CHECK_THROWS_WITH_AS(pseudo.load(path), doctest::Contains("checkpoint of a Supervised dim2 run"), value_error);
  fs::remove(path);
}

TEST_CASE("predictions: a label map and probabilities of the image's size") {
  SegTrainer<dim2, ssl::Supervised> trainer(seg_options<dim2, ssl::Supervised>());
  const auto s = Squares<dim2>{}.get(0);
  const auto labels = trainer.predict(s.image);
  CHECK(labels.shape()[0] == 16);
  CHECK(labels.shape()[1] == 16);
  const auto p = trainer.predict_probabilities(s.image);
  CHECK(p.shape()[0] == 2);
  CHECK(p(0, 3, 5) + p(1, 3, 5) == doctest::Approx(1.0));
  CHECK(labels(3, 5) == (p(1, 3, 5) > p(0, 3, 5) ? 1 : 0));
}

}  // namespace semiseg::test
