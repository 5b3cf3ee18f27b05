// Semi-supervised segmentation of Fashion-MNIST composites with a U-Net: a few labeled canvases,
// many unlabeled ones, and the same budget for every strategy. Prints validation and test mIoU per
// strategy and writes prediction pictures (image | ground truth | prediction per strategy).
//
//   fashion_mnist_segmentation [--dim 2|3] [--strategies supervised,pseudo_label,mean_teacher,...]
//       [--labeled N] [--unlabeled N] [--epochs E] [--steps-per-epoch S] [--seed S] [--out DIR]
//       [--base-channels C] [--depth D] [--threads T] [--validation N] [--test N]
//       [--consistency W] [--ema-decay D] [--pl-threshold P] [--threshold TAU]
//       [--no-bias-correction] [--cps-weight L] [--warmup-epochs E] [--shape [D,]H,W]
//
// Strategies: supervised, pseudo_label, mean_teacher, pi_model, temporal_ensembling, cps,
// cps_cutmix, fixmatch. Mean Teacher's consistency weight W defaults to 10 and its EMA decay (and
// FixMatch's) to the run-length rule (1 − 10/steps); Pseudo-Label keeps every pixel's pseudo
// label unless --pl-threshold is given. Π-model and Temporal Ensembling use the paper's w_max
// (100 and 30) times N_labeled/N_train; --no-bias-correction turns off Temporal Ensembling's
// start-up correction. CPS's λ is 1.5 (1 with CutMix) unless --cps-weight is given. FixMatch's
// threshold τ is 0.95 and its strong view is UniMatch's (colour jitter, blur) plus CutMix.
// --warmup-epochs trains every semi-supervised strategy on the labels alone for its first E
// epochs (default: each strategy's own, 1 for Π and TE, 0 for the others).
//
// Validation and test hold 200 and 500 canvases in 2D, 50 and 100 volumes in 3D (each volume
// holds 32 canvases' worth of voxels).
//
// --shape sets the canvas (H,W) or volume (D,H,W); the default is 64,64 and 32,64,64. On a smaller
// canvas the items shrink to fit (largest side min(1.4 × 28 px, H, W), smallest 0.6 × 28 px or less),
// and in 3D their thickness follows the depth (half depths 4/32 to 10/32 of D).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <semiseg/semiseg.hpp>

#include "common/arguments.hpp"

namespace ss = semiseg;
namespace data = semiseg::data;
namespace aug = semiseg::data::aug;

struct Arguments {
  int dim = 2;
  std::vector<std::string> strategies{"supervised", "mean_teacher"};
  std::size_t labeled = 100, unlabeled = 2000, epochs = 12, steps_per_epoch = 80, base_channels = 8, depth = 2;
  std::size_t threads = 1;
  std::size_t validation = 0, test = 0;  // 0: the dimension's default (see the top)
  double consistency = 10.0, pl_threshold = 0.0, threshold = 0.95;
  bool bias_correction = true;
  std::optional<double> warmup_epochs{};
  std::optional<double> ema_decay{}, cps_weight{};
  std::vector<std::size_t> shape{};  // empty: the dimension's default
  std::uint64_t seed = 1;
  std::filesystem::path out = "runs/fashion_segmentation";
};

struct Outcome {
  std::string strategy;
  double validation_miou = 0, test_miou = 0, test_accuracy = 0, teacher_test_miou = NAN, seconds = 0;
  std::vector<double> test_iou;
};

template <class Dim>
using Composite = data::FashionComposite<Dim>;

// The first `count` samples of the test split, with the predictions of each trained model.
template <class Dim>
struct Pictures {
  std::vector<data::Raster> tiles;
  std::size_t columns = 0;
};

// Applies --shape, shrinking the items to fit the canvas (see the top).
template <class Dim>
void set_shape(data::CompositeOptions<Dim>& composite, const std::vector<std::size_t>& shape) {
  if (shape.size() != Dim::spatial) {
    std::string message = "--shape needs ";
    message += std::to_string(Dim::spatial);
    message += " extents in ";
    message += Dim::name;
    throw ss::value_error(message);
  }
  for (std::size_t a = 0; a < shape.size(); ++a) composite.shape[a] = shape[a];
  const double side = static_cast<double>(std::min(shape[Dim::spatial - 2], shape[Dim::spatial - 1]));
  composite.max_scale = std::min(composite.max_scale, side / data::FashionMnist::side);
  composite.min_scale = std::min(composite.min_scale, composite.max_scale);
  if constexpr (Dim::spatial == 3) {
    const double depth = static_cast<double>(shape[0]);
    composite.min_half_depth = depth * 4.0 / 32.0;
    composite.max_half_depth = depth * 10.0 / 32.0;
  }
}

template <class Dim, class Strategy>
Outcome run(const Arguments& args, const char* name, const data::FashionMnist& items, Pictures<Dim>& pictures) {
  using Trainer = ss::Trainer<Dim, ss::backbone::UNet, ss::loss::CrossEntropy, Strategy, ss::cpu>;
  data::CompositeOptions<Dim> composite;
  composite.train_size = args.labeled + args.unlabeled;
  composite.validation_size = args.validation ? args.validation : (Dim::spatial == 3 ? 50 : 200);
  composite.test_size = args.test ? args.test : (Dim::spatial == 3 ? 100 : 500);
  composite.seed = args.seed;
  if (!args.shape.empty()) set_shape(composite, args.shape);
  const Composite<Dim> train(items, data::CompositeSplit::train, composite);
  const Composite<Dim> validation(items, data::CompositeSplit::validation, composite);
  const Composite<Dim> test(data::FashionMnist(data::Split::test), data::CompositeSplit::test, composite);
  std::vector<std::size_t> labeled_ids, unlabeled_ids;
  for (std::size_t i = 0; i < train.size(); ++i) (i < args.labeled ? labeled_ids : unlabeled_ids).push_back(i);
  const data::Subset<Composite<Dim>> labeled(train, labeled_ids);
  const data::Subset<Composite<Dim>> unlabeled = data::unlabeled_view(train, unlabeled_ids);

  typename Trainer::Options o;
  o.model = {.in_channels = 1,
             .classes = static_cast<ss::index_t>(Composite<Dim>::classes),
             .base_channels = static_cast<ss::index_t>(args.base_channels),
             .depth = static_cast<ss::index_t>(args.depth)};
  o.optimizer = ss::optim::AdamOptions{.lr = 3e-3};
  const std::size_t total = args.epochs * args.steps_per_epoch;
  o.schedule = ss::optim::Cosine{.t_max = static_cast<ss::index_t>(total), .min_factor = 0.05};
  // A 3D volume holds 32 canvases' worth of voxels, so its batches are smaller.
  const std::size_t batch = Dim::spatial == 3 ? 2 : 8;
  o.labeled = {.batch_size = batch, .seed = args.seed * 2 + 1, .threads = args.threads};
  o.unlabeled = {.batch_size = batch, .seed = args.seed * 2 + 2, .threads = args.threads};
  o.labeled_transform = aug::Compose<Dim>{aug::Flip{}};
  o.unlabeled_transform = aug::Compose<Dim>{aug::Flip{}};
  // The teacher's view: the same geometry, its own brightness and noise.
  o.second_view = aug::Compose<Dim>{aug::Brightness{.min = 0.9, .max = 1.1}, aug::GaussianNoise{.sigma = 0.03}};
  // Lee's T1/T2 of 100 and 600 epochs would keep α at 0 in a short run: ramp over the run instead.
  if constexpr (std::is_same_v<Strategy, ss::ssl::PseudoLabel>)
    o.strategy = {.alpha_final = 1.0, .t1 = 0.2, .t2 = 0.7, .fractions = true, .threshold = args.pl_threshold};
  if constexpr (std::is_same_v<Strategy, ss::ssl::MeanTeacher<>>)
    o.strategy = {.consistency = args.consistency, .rampup = 0.3, .ema_decay = args.ema_decay};
  if constexpr (std::is_same_v<Strategy, ss::ssl::TemporalEnsembling>) o.strategy.bias_correction = args.bias_correction;
  if constexpr (std::is_same_v<Strategy, ss::ssl::CrossPseudo>) {
    o.strategy.cutmix = std::string(name) == "cps_cutmix";
    o.strategy.weight = args.cps_weight;
  }
  if constexpr (std::is_same_v<Strategy, ss::ssl::FixMatch>) {
    o.strategy.threshold = args.threshold;
    o.strategy.ema_decay = args.ema_decay;
    o.second_view = aug::unimatch_strong<Dim>();
  }
  if (args.warmup_epochs) o.strategy.warmup_epochs = *args.warmup_epochs;
  o.seed = args.seed;
  Trainer trainer(o);
  const ss::FitResult r = trainer.fit(labeled, unlabeled, validation,
                                      {.epochs = args.epochs,
                                       .steps_per_epoch = args.steps_per_epoch,
                                       .evaluate_every = args.epochs,
                                       .run_dir = args.out / (std::string(Dim::name) + "_" + name)});
  const ss::Evaluation e = trainer.evaluate(test);
  Outcome out{name,           r.last ? r.last->student.mean_iou() : NAN,
              e.student.mean_iou(), e.student.pixel_accuracy(),
              e.teacher ? e.teacher->mean_iou() : NAN, r.seconds,
              e.student.iou()};

  // One picture column per strategy; the first run also adds the image and the ground truth.
  const auto colours = data::palette(Composite<Dim>::classes);
  const std::size_t shown = std::min<std::size_t>(4, test.size());
  std::vector<data::Raster> column;
  for (std::size_t i = 0; i < shown; ++i) {
    const auto s = test.get(i);
    const std::size_t z = Dim::spatial == 3 ? s.image.shape()[1] / 2 : 0;
    if (pictures.columns == 0) {
      column.push_back(data::enlarge(data::to_rgb<Dim>(s.image, z), 2));
      column.push_back(data::enlarge(data::colour_code<Dim>(s.mask, colours, z), 2));
    }
    column.push_back(data::enlarge(data::colour_code<Dim>(trainer.predict(s.image), colours, z), 2));
  }
  const std::size_t per_row = column.size() / shown;
  std::vector<data::Raster> merged;
  const std::size_t old_columns = pictures.columns;
  for (std::size_t row = 0; row < shown; ++row) {
    for (std::size_t c = 0; c < old_columns; ++c) merged.push_back(pictures.tiles[row * old_columns + c]);
    for (std::size_t c = 0; c < per_row; ++c) merged.push_back(column[row * per_row + c]);
  }
  pictures.tiles = std::move(merged);
  pictures.columns = old_columns + per_row;
  return out;
}

template <class Dim>
int main_for(const Arguments& args) {
  const data::FashionMnist items(data::Split::train);
  std::vector<Outcome> outcomes;
  Pictures<Dim> pictures;
  std::printf("Fashion-MNIST composites (%s): %zu labeled, %zu unlabeled canvases, %zu epochs of %zu steps, seed %llu\n",
              Dim::name, args.labeled, args.unlabeled, args.epochs, args.steps_per_epoch,
              static_cast<unsigned long long>(args.seed));
  // Every name is checked before the first run starts.
  const std::vector<std::string> known{"supervised", "pseudo_label", "mean_teacher", "pi_model", "temporal_ensembling",
                                       "cps", "cps_cutmix", "fixmatch"};
  for (const std::string& s : args.strategies)
    if (std::find(known.begin(), known.end(), s) == known.end()) {
      std::fprintf(stderr, "fashion_mnist_segmentation: unknown strategy '%s' (supervised, pseudo_label, mean_teacher, "
                   "pi_model, temporal_ensembling, cps, cps_cutmix, fixmatch)\n",
                   s.c_str());
      return 2;
    }
  for (const std::string& s : args.strategies) {
    if (s == "supervised") outcomes.push_back(run<Dim, ss::ssl::Supervised>(args, "supervised", items, pictures));
    else if (s == "pseudo_label") outcomes.push_back(run<Dim, ss::ssl::PseudoLabel>(args, "pseudo_label", items, pictures));
    else if (s == "mean_teacher") outcomes.push_back(run<Dim, ss::ssl::MeanTeacher<>>(args, "mean_teacher", items, pictures));
    else if (s == "pi_model") outcomes.push_back(run<Dim, ss::ssl::PiModel>(args, "pi_model", items, pictures));
    else if (s == "temporal_ensembling")
      outcomes.push_back(run<Dim, ss::ssl::TemporalEnsembling>(args, "temporal_ensembling", items, pictures));
    else if (s == "cps") outcomes.push_back(run<Dim, ss::ssl::CrossPseudo>(args, "cps", items, pictures));
    else if (s == "cps_cutmix") outcomes.push_back(run<Dim, ss::ssl::CrossPseudo>(args, "cps_cutmix", items, pictures));
    else if (s == "fixmatch") outcomes.push_back(run<Dim, ss::ssl::FixMatch>(args, "fixmatch", items, pictures));
  }
  std::printf("\n%-14s %10s %10s %14s %18s %10s\n", "strategy", "val mIoU", "test mIoU", "test accuracy",
              "teacher test mIoU", "seconds");
  for (const Outcome& o : outcomes)
    std::printf("%-14s %10.4f %10.4f %14.4f %18.4f %10.1f\n", o.strategy.c_str(), o.validation_miou, o.test_miou,
                o.test_accuracy, o.teacher_test_miou, o.seconds);
  const std::filesystem::path picture = args.out / (std::string("predictions_") + Dim::name + ".png");
  data::write_png(picture, data::grid(pictures.tiles, pictures.columns));
  std::printf("wrote %s (image | ground truth | one column per strategy)\n", picture.string().c_str());
  return 0;
}

int main(int argc, char** argv) {
  Arguments args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool more = i + 1 < argc;
    const auto number = [&] { return std::strtoull(argv[++i], nullptr, 10); };
    if (a == "--dim" && more) args.dim = static_cast<int>(number());
    else if (a == "--strategies" && more) args.strategies = examples::split_list(argv[++i]);
    else if (a == "--labeled" && more) args.labeled = number();
    else if (a == "--unlabeled" && more) args.unlabeled = number();
    else if (a == "--epochs" && more) args.epochs = number();
    else if (a == "--steps-per-epoch" && more) args.steps_per_epoch = number();
    else if (a == "--base-channels" && more) args.base_channels = number();
    else if (a == "--depth" && more) args.depth = number();
    else if (a == "--threads" && more) args.threads = number();
    else if (a == "--validation" && more) args.validation = number();
    else if (a == "--test" && more) args.test = number();
    else if (a == "--consistency" && more) args.consistency = std::strtod(argv[++i], nullptr);
    else if (a == "--ema-decay" && more) args.ema_decay = std::strtod(argv[++i], nullptr);
    else if (a == "--pl-threshold" && more) args.pl_threshold = std::strtod(argv[++i], nullptr);
    else if (a == "--threshold" && more) args.threshold = std::strtod(argv[++i], nullptr);
    else if (a == "--cps-weight" && more) args.cps_weight = std::strtod(argv[++i], nullptr);
    else if (a == "--no-bias-correction") args.bias_correction = false;
    else if (a == "--warmup-epochs" && more) args.warmup_epochs = std::strtod(argv[++i], nullptr);
    else if (a == "--shape" && more) {
      for (const std::string& extent : examples::split_list(argv[++i]))
        args.shape.push_back(std::strtoull(extent.c_str(), nullptr, 10));
    } else if (a == "--seed" && more) args.seed = number();
    else if (a == "--out" && more) args.out = argv[++i];
    else {
      std::fprintf(stderr, "usage: see the comment at the top of fashion_mnist_segmentation.cpp; bad argument: %s\n",
                   a.c_str());
      return 2;
    }
  }
  if (args.labeled < 8 || args.epochs == 0 || args.steps_per_epoch == 0 || (args.dim != 2 && args.dim != 3)) {
    std::fprintf(stderr, "fashion_mnist_segmentation: need --labeled >= 8, --epochs >= 1, --steps-per-epoch >= 1, --dim 2|3\n");
    return 2;
  }
  try {
    return args.dim == 2 ? main_for<ss::dim2>(args) : main_for<ss::dim3>(args);
  } catch (const ss::error& e) {
    std::fprintf(stderr, "fashion_mnist_segmentation: %s\n", e.what());
    return 1;
  }
}
