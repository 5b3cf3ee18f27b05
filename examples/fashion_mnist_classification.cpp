// Semi-supervised classification of Fashion-MNIST with Pseudo-Label's MLP (784-5000-10): N labeled
// images per class, the rest of the training images unlabeled, 5000 training images held out for
// validation, and the same budget for every strategy. Prints validation and test accuracy.
//
//   fashion_mnist_classification [--strategies supervised,pseudo_label,mean_teacher,...]
//       [--per-class N] [--epochs E] [--steps-per-epoch S] [--hidden H] [--seed S] [--out DIR]
//       [--translate PIXELS] [--noise SIGMA] [--pl-threshold P] [--consistency W]
//       [--threshold TAU] [--no-bias-correction] [--cps-weight L] [--ema-decay D]
//
// Strategies: supervised, pseudo_label, mean_teacher, pi_model, temporal_ensembling, cps,
// fixmatch. Π-model and Temporal Ensembling use the paper's w_max (100 and 30) times
// N_labeled/N_train; CPS's λ is 1.5 unless --cps-weight is given; FixMatch's threshold τ is 0.95
// and its strong view is RandAugment (2 operations) and Cutout on top of the weak view. Mean
// Teacher's and FixMatch's EMA decay follows the run's length (1 − 10/steps) unless --ema-decay.
//
// --translate shifts every training image by up to PIXELS (0: no geometric augmentation); the
// teacher's view of Mean Teacher gets its own shift and Gaussian noise of SIGMA on top.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <semiseg/semiseg.hpp>

#include "common/arguments.hpp"

namespace ss = semiseg;
namespace data = semiseg::data;

struct Arguments {
  std::vector<std::string> strategies{"supervised", "pseudo_label", "mean_teacher"};
  std::size_t per_class = 100, epochs = 10, steps_per_epoch = 100, hidden = 5000, translate = 0;
  double noise = 0.05, pl_threshold = 0.0, consistency = 10.0, threshold = 0.95;
  bool bias_correction = true;
  std::optional<double> cps_weight{}, ema_decay{};
  std::uint64_t seed = 1;
  std::filesystem::path out = "runs/fashion_classification";
};

struct Outcome {
  std::string strategy;
  double validation = 0, test = 0, teacher_test = NAN, seconds = 0;
};

struct Splits {
  data::FashionMnist train{data::Split::train}, test{data::Split::test};
  std::vector<std::size_t> labeled, unlabeled, validation;
};

template <class Strategy>
Outcome run(const Arguments& args, const char* name, const Splits& s) {
  using Trainer = ss::Trainer<ss::dim2, ss::backbone::MLP, ss::loss::CrossEntropy, Strategy, ss::cpu>;
  typename Trainer::Options o;
  o.model = {.in_features = 784, .hidden = {static_cast<ss::index_t>(args.hidden)}, .classes = 10, .dropout = 0.5};
  o.optimizer = ss::optim::AdamOptions{.lr = 1e-3};
  const std::size_t total = args.epochs * args.steps_per_epoch;
  o.schedule = ss::optim::Cosine{.t_max = static_cast<ss::index_t>(total), .min_factor = 0.05};
  o.labeled = {.batch_size = 32, .seed = args.seed * 2 + 1, .threads = 1};
  o.unlabeled = {.batch_size = 96, .seed = args.seed * 2 + 2, .threads = 1};
  // Mean Teacher's two views differ by a shift and input noise, as in its reference setup.
  if (args.translate > 0) {
    const double f = (static_cast<double>(args.translate) + 0.5) / 28.0;  // floor(f·28) = translate
    const data::aug::Translate shift{.fraction_depth = 0, .fraction_height = f, .fraction_width = f};
    o.labeled_transform = shift;
    o.unlabeled_transform = shift;
    o.second_view = data::aug::Compose<ss::dim2>{shift, data::aug::GaussianNoise{.sigma = args.noise}};
  } else {
    o.second_view = data::aug::GaussianNoise{.sigma = args.noise};
  }
  if constexpr (std::is_same_v<Strategy, ss::ssl::PseudoLabel>)
    o.strategy = {.alpha_final = 3.0, .t1 = 0.2, .t2 = 0.7, .fractions = true, .threshold = args.pl_threshold};
  if constexpr (std::is_same_v<Strategy, ss::ssl::MeanTeacher<>>)
    o.strategy = {.consistency = args.consistency, .rampup = 0.3, .ema_decay = args.ema_decay};
  if constexpr (std::is_same_v<Strategy, ss::ssl::TemporalEnsembling>) o.strategy.bias_correction = args.bias_correction;
  if constexpr (std::is_same_v<Strategy, ss::ssl::CrossPseudo>) o.strategy.weight = args.cps_weight;
  if constexpr (std::is_same_v<Strategy, ss::ssl::FixMatch>) {
    o.strategy.threshold = args.threshold;
    o.strategy.ema_decay = args.ema_decay;
    o.second_view = data::aug::fixmatch_strong<ss::dim2>();
  }
  o.seed = args.seed;
  Trainer trainer(o);
  const data::Subset<data::FashionMnist> labeled(s.train, s.labeled), validation(s.train, s.validation);
  const auto unlabeled = data::unlabeled_view(s.train, s.unlabeled);
  const ss::FitResult r = trainer.fit(labeled, unlabeled, validation,
                                      {.epochs = args.epochs,
                                       .steps_per_epoch = args.steps_per_epoch,
                                       .evaluate_every = args.epochs,
                                       .run_dir = args.out / name});
  const ss::Evaluation e = trainer.evaluate(s.test, 256);
  return {name, r.last ? r.last->student.top1() : NAN, e.student.top1(), e.teacher ? e.teacher->top1() : NAN, r.seconds};
}

int main(int argc, char** argv) {
  Arguments args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool more = i + 1 < argc;
    const auto number = [&] { return std::strtoull(argv[++i], nullptr, 10); };
    if (a == "--strategies" && more) args.strategies = examples::split_list(argv[++i]);
    else if (a == "--per-class" && more) args.per_class = number();
    else if (a == "--epochs" && more) args.epochs = number();
    else if (a == "--steps-per-epoch" && more) args.steps_per_epoch = number();
    else if (a == "--hidden" && more) args.hidden = number();
    else if (a == "--seed" && more) args.seed = number();
    else if (a == "--translate" && more) args.translate = number();
    else if (a == "--noise" && more) args.noise = std::strtod(argv[++i], nullptr);
    else if (a == "--pl-threshold" && more) args.pl_threshold = std::strtod(argv[++i], nullptr);
    else if (a == "--consistency" && more) args.consistency = std::strtod(argv[++i], nullptr);
    else if (a == "--threshold" && more) args.threshold = std::strtod(argv[++i], nullptr);
    else if (a == "--cps-weight" && more) args.cps_weight = std::strtod(argv[++i], nullptr);
    else if (a == "--no-bias-correction") args.bias_correction = false;
    else if (a == "--ema-decay" && more) args.ema_decay = std::strtod(argv[++i], nullptr);
    else if (a == "--out" && more) args.out = argv[++i];
    else {
      std::fprintf(stderr, "usage: see the comment at the top of fashion_mnist_classification.cpp; bad argument: %s\n",
                   a.c_str());
      return 2;
    }
  }
  if (args.per_class == 0 || args.epochs == 0 || args.steps_per_epoch == 0 || args.hidden == 0) {
    std::fprintf(stderr, "fashion_mnist_classification: --per-class, --epochs, --steps-per-epoch and --hidden must be positive\n");
    return 2;
  }
  try {
    Splits s;
    const data::HoldoutSplit holdout = data::split_holdout(s.train.size(), 5000, args.seed);
    const data::LabeledSplit split = data::split_labeled(s.train.labels(), holdout.train, args.per_class, args.seed);
    s.labeled = split.labeled;
    s.unlabeled = split.unlabeled;
    s.validation = holdout.holdout;
    std::printf("Fashion-MNIST: %zu labeled (%zu per class), %zu unlabeled, %zu validation, %zu test; seed %llu\n",
                s.labeled.size(), args.per_class, s.unlabeled.size(), s.validation.size(), s.test.size(),
                static_cast<unsigned long long>(args.seed));
    const std::vector<std::string> known{"supervised", "pseudo_label", "mean_teacher", "pi_model",
                                         "temporal_ensembling", "cps", "fixmatch"};
    for (const std::string& name : args.strategies)
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        std::fprintf(stderr, "fashion_mnist_classification: unknown strategy '%s'\n", name.c_str());
        return 2;
      }
    std::vector<Outcome> outcomes;
    for (const std::string& name : args.strategies) {
      if (name == "supervised") outcomes.push_back(run<ss::ssl::Supervised>(args, "supervised", s));
      else if (name == "pseudo_label") outcomes.push_back(run<ss::ssl::PseudoLabel>(args, "pseudo_label", s));
      else if (name == "mean_teacher") outcomes.push_back(run<ss::ssl::MeanTeacher<>>(args, "mean_teacher", s));
      else if (name == "pi_model") outcomes.push_back(run<ss::ssl::PiModel>(args, "pi_model", s));
      else if (name == "temporal_ensembling") outcomes.push_back(run<ss::ssl::TemporalEnsembling>(args, "temporal_ensembling", s));
      else if (name == "cps") outcomes.push_back(run<ss::ssl::CrossPseudo>(args, "cps", s));
      else if (name == "fixmatch") outcomes.push_back(run<ss::ssl::FixMatch>(args, "fixmatch", s));
    }
    std::printf("\n%-14s %14s %14s %16s %10s\n", "strategy", "val accuracy", "test accuracy", "teacher test acc", "seconds");
    for (const Outcome& o : outcomes)
      std::printf("%-14s %14.4f %14.4f %16.4f %10.1f\n", o.strategy.c_str(), o.validation, o.test, o.teacher_test,
                  o.seconds);
  } catch (const ss::error& e) {
    std::fprintf(stderr, "fashion_mnist_classification: %s\n", e.what());
    return 1;
  }
  return 0;
}
