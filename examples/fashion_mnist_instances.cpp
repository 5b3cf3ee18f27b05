// Instance segmentation of Fashion-MNIST composites by spatial embeddings (EmbedSeg): a
// BranchedERFNet trained with the SpatialEmbedding loss, then clustered into instances. With
// --labeled below the training set, the rest of it is unlabeled and the semi-supervised
// strategies (Mean Teacher, FixMatch on embeddings) use it. Prints per strategy the validation
// embedding IoU and the test AP_dsb at IoU 0.5 and 0.75 with the mean matched IoU (and, with
// --tta, AP_dsb at 0.5 again with test-time augmentation), and writes colour-coded pictures
// (image | ground truth | one column per strategy; 3D: four slices of each volume side by side).
//
//   fashion_mnist_instances [--dim 2|3] [--strategies supervised,mean_teacher,fixmatch]
//       [--labeled N] [--unlabeled N] [--epochs E] [--steps-per-epoch S] [--batch B]
//       [--accumulate K] [--lr LR] [--widths A,B,C] [--seed S] [--threads T] [--shape [D,]H,W]
//       [--validation N] [--test N] [--tta] [--seeds greedy|maxima] [--min-object-size N]
//       [--seed-threshold P] [--centre medoid|centroid] [--max-items N] [--out DIR]
//
// Defaults: supervised on 2000 labeled canvases (2D) or 200 volumes (3D), no unlabeled ones;
// 20 epochs of 100 steps, batch 8 (2D) or 2 (3D), Adam at lr 2e-3 with weight decay 1e-4 and
// EmbedSeg's poly schedule (1 − t/T)^0.9; ERFNet widths 16,32,64 with one block per stage;
// random flips; medoid centres; EmbedSeg's grid (1024) and loss weights; clustering with seed
// threshold 0.9 and minimum object size 36 (2D) or 200 (3D); validation 100 and test 200
// canvases (2D), 20 and 40 volumes (3D); 1 to 4 items per canvas. FixMatch's strong view is
// brightness, contrast and noise (the geometry must stay the weak view's, since the targets are
// positions). --accumulate is EmbedSeg's virtual batch multiplier; --tta averages the eight flips
// and quarter turns of each test image (2D).
#include <algorithm>
#include <cmath>
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
namespace aug = semiseg::data::aug;

struct Arguments {
  int dim = 2;
  std::vector<std::string> strategies{"supervised"};
  std::optional<std::size_t> labeled{}, unlabeled{}, batch{}, validation{}, test{}, min_object_size{};
  std::size_t epochs = 20, steps_per_epoch = 100, accumulate = 1, threads = 1, max_items = 4;
  double lr = 2e-3, seed_threshold = 0.9;
  std::vector<std::size_t> widths{16, 32, 64}, shape{};
  bool tta = false, maxima = false, centroid = false;
  std::uint64_t seed = 1;
  std::filesystem::path out = "runs/fashion_instances";
};

struct Outcome {
  std::string strategy;
  double validation_iou = NAN, ap50 = NAN, ap75 = NAN, matched_iou = NAN, tta_ap50 = NAN, seconds = 0;
};

template <class Dim>
using Composite = data::FashionComposite<Dim>;
template <class Dim>
using Centred = data::WithCentres<Composite<Dim>>;

template <class Dim>
data::CompositeOptions<Dim> composite_options(const Arguments& args) {
  data::CompositeOptions<Dim> c;
  const bool three = Dim::spatial == 3;
  const std::size_t labeled = args.labeled.value_or(three ? 200 : 2000);
  c.train_size = labeled + args.unlabeled.value_or(0);
  c.validation_size = args.validation.value_or(three ? 20 : 100);
  c.test_size = args.test.value_or(three ? 40 : 200);
  c.max_items = args.max_items;
  c.seed = args.seed;
  if (!args.shape.empty()) {
    if (args.shape.size() != Dim::spatial) throw ss::value_error("--shape needs one extent per axis of the dimension");
    for (std::size_t a = 0; a < args.shape.size(); ++a) c.shape[a] = args.shape[a];
    const double side = static_cast<double>(std::min(args.shape[Dim::spatial - 2], args.shape[Dim::spatial - 1]));
    c.max_scale = std::min(c.max_scale, side / data::FashionMnist::side);
    c.min_scale = std::min(c.min_scale, c.max_scale);
    if constexpr (Dim::spatial == 3) {
      c.min_half_depth = static_cast<double>(args.shape[0]) * 4.0 / 32.0;
      c.max_half_depth = static_cast<double>(args.shape[0]) * 10.0 / 32.0;
    }
  }
  return c;
}

// Instance ids without the centre flags, for scoring and pictures.
template <class Dim>
data::LabelMap<Dim> plain_ids(data::LabelMap<Dim> m) {
  for (auto& v : m) v = ss::instance::instance_id(v);
  return m;
}

template <class Dim, class Strategy>
Outcome run(const Arguments& args, const std::string& name, const data::FashionMnist& items,
            std::vector<data::Raster>& tiles, std::size_t& columns) {
  using Trainer = ss::Trainer<Dim, ss::backbone::BranchedERFNet, ss::loss::SpatialEmbedding, Strategy, ss::cpu>;
  const auto composite = composite_options<Dim>(args);
  data::CentreOptions<Dim> centres;
  centres.kind = args.centroid ? data::CentreKind::centroid : data::CentreKind::medoid;
  const Centred<Dim> train(Composite<Dim>(items, data::CompositeSplit::train, composite), centres);
  const Centred<Dim> validation(Composite<Dim>(items, data::CompositeSplit::validation, composite), centres);
  const Composite<Dim> test(data::FashionMnist(data::Split::test), data::CompositeSplit::test, composite);
  const std::size_t labeled_count = args.labeled.value_or(Dim::spatial == 3 ? 200 : 2000);
  std::vector<std::size_t> labeled_ids, unlabeled_ids;
  for (std::size_t i = 0; i < train.size(); ++i) (i < labeled_count ? labeled_ids : unlabeled_ids).push_back(i);
  if (unlabeled_ids.empty()) unlabeled_ids = labeled_ids;  // read only by semi-supervised strategies
  const data::Subset<Centred<Dim>> labeled(train, labeled_ids);
  const data::Subset<Centred<Dim>> unlabeled = data::unlabeled_view(train, unlabeled_ids);

  typename Trainer::Options o;
  o.model.in_channels = 1;
  o.model.widths = {static_cast<ss::index_t>(args.widths[0]), static_cast<ss::index_t>(args.widths[1]),
                    static_cast<ss::index_t>(args.widths[2])};
  o.model.stage2_blocks = 1;
  o.model.stage3_repeats = 1;
  o.model.decoder_blocks = 1;
  o.optimizer = ss::optim::AdamOptions{.lr = args.lr, .weight_decay = 1e-4};
  const std::size_t total = args.epochs * args.steps_per_epoch;
  o.schedule = ss::optim::Poly{.total = static_cast<ss::index_t>(total), .power = 0.9};
  const std::size_t batch = args.batch.value_or(Dim::spatial == 3 ? 2 : 8);
  o.labeled = {.batch_size = batch, .seed = args.seed * 2 + 1, .threads = args.threads};
  o.unlabeled = {.batch_size = batch, .seed = args.seed * 2 + 2, .threads = args.threads};
  o.labeled_transform = aug::Compose<Dim>{aug::Flip{}};
  o.unlabeled_transform = aug::Compose<Dim>{aug::Flip{}};
  o.second_view = aug::Compose<Dim>{aug::Brightness{.min = 0.8, .max = 1.2}, aug::Contrast{.min = 0.8, .max = 1.2},
                                    aug::GaussianNoise{.sigma = 0.05}};
  if constexpr (std::is_same_v<Strategy, ss::ssl::MeanTeacher<>>) o.strategy = {.consistency = 1.0, .rampup = 0.3};
  o.seed = args.seed;
  Trainer trainer(o);
  const ss::FitResult r = trainer.fit(labeled, unlabeled, validation,
                                      {.epochs = args.epochs,
                                       .steps_per_epoch = args.steps_per_epoch,
                                       .accumulate = args.accumulate,
                                       .evaluate_every = std::max<std::size_t>(1, args.epochs / 4),
                                       .run_dir = args.out / (std::string(Dim::name) + "_" + name)});

  ss::instance::ClusteringOptions<Dim> clustering;
  clustering.grid = o.loss.grid;
  clustering.seed_threshold = args.seed_threshold;
  clustering.min_object_size = static_cast<ss::index_t>(args.min_object_size.value_or(Dim::spatial == 3 ? 200 : 36));
  clustering.seeds = args.maxima ? ss::instance::SeedSelection::local_maxima : ss::instance::SeedSelection::greedy;
  ss::instance::InstanceScores scores({0.5, 0.75}), tta_scores({0.5, 0.75});
  const auto colours = data::palette(64);
  const std::size_t shown = std::min<std::size_t>(4, test.size());
  std::vector<data::Raster> column;  // per shown sample: [image, truth,] prediction
  // A 2D tile is the canvas; a 3D tile is a strip of four slices through the volume.
  const auto tile = [&](auto&& slice_of, std::size_t depth) {
    if constexpr (Dim::spatial == 2) {
      return data::enlarge(slice_of(std::size_t{0}), 2);
    } else {
      std::vector<data::Raster> strip;
      for (std::size_t k = 0; k < 4; ++k) strip.push_back(slice_of((2 * k + 1) * depth / 8));
      return data::enlarge(data::grid(strip, 4), 2);
    }
  };
  for (std::size_t i = 0; i < test.size(); ++i) {
    const auto s = test.get(i);
    const auto truth = plain_ids<Dim>(s.instances);
    const auto prediction = trainer.predict_instances(s.image, clustering);
    scores.add(truth, prediction);
    if (args.tta) tta_scores.add(truth, trainer.predict_instances(s.image, clustering, true));
    if (i >= shown) continue;
    const std::size_t depth = Dim::spatial == 3 ? s.image.shape()[1] : 1;
    if (columns == 0) {
      column.push_back(tile([&](std::size_t z) { return data::to_rgb<Dim>(s.image, z); }, depth));
      column.push_back(tile([&](std::size_t z) { return data::colour_code<Dim>(truth, colours, z); }, depth));
    }
    column.push_back(tile([&](std::size_t z) { return data::colour_code<Dim>(prediction, colours, z); }, depth));
  }
  // One row per shown sample; columns grow by one per strategy.
  const std::size_t rows = shown, per_row = column.size() / rows;
  std::vector<data::Raster> merged;
  for (std::size_t row = 0; row < rows; ++row) {
    for (std::size_t c = 0; c < columns; ++c) merged.push_back(tiles[row * columns + c]);
    for (std::size_t c = 0; c < per_row; ++c) merged.push_back(column[row * per_row + c]);
  }
  tiles = std::move(merged);
  columns += per_row;
  return {name, r.last ? Trainer::student_score(*r.last) : NAN, scores.ap_dsb(0.5), scores.ap_dsb(0.75),
          scores.mean_matched_iou(), args.tta ? tta_scores.ap_dsb(0.5) : NAN, r.seconds};
}

template <class Dim>
int main_for(const Arguments& args) {
  const data::FashionMnist items(data::Split::train);
  const std::vector<std::string> known{"supervised", "mean_teacher", "fixmatch"};
  for (const std::string& s : args.strategies)
    if (std::find(known.begin(), known.end(), s) == known.end()) {
      std::fprintf(stderr, "fashion_mnist_instances: unknown strategy '%s' (supervised, mean_teacher, fixmatch)\n",
                   s.c_str());
      return 2;
    }
  std::vector<Outcome> outcomes;
  std::vector<data::Raster> tiles;
  std::size_t columns = 0;
  for (const std::string& s : args.strategies) {
    if (s == "supervised") outcomes.push_back(run<Dim, ss::ssl::Supervised>(args, s, items, tiles, columns));
    else if (s == "mean_teacher") outcomes.push_back(run<Dim, ss::ssl::MeanTeacher<>>(args, s, items, tiles, columns));
    else outcomes.push_back(run<Dim, ss::ssl::FixMatch>(args, s, items, tiles, columns));
  }
  std::printf("\n%-13s %14s %12s %13s %18s %16s %9s\n", "strategy", "val emb. IoU", "test AP@0.5", "test AP@0.75",
              "mean matched IoU", "TTA test AP@0.5", "seconds");
  for (const Outcome& o : outcomes)
    std::printf("%-13s %14.4f %12.4f %13.4f %18.4f %16.4f %9.1f\n", o.strategy.c_str(), o.validation_iou, o.ap50,
                o.ap75, o.matched_iou, o.tta_ap50, o.seconds);
  const std::filesystem::path picture = args.out / (std::string("instances_") + Dim::name + ".png");
  data::write_png(picture, data::grid(tiles, columns));
  std::printf("wrote %s (image | ground truth | one column per strategy%s)\n", picture.string().c_str(),
              Dim::spatial == 3 ? "; four slices per volume, side by side" : "");
  return 0;
}

namespace {

// A whole non-negative number or a finite real, or an error naming the option.
std::size_t count_of(const std::string& option, const char* text) {
  std::size_t v = 0;
  if (!examples::parse(text, v)) throw ss::value_error(option + " needs a whole number >= 0, got '" + text + "'");
  return v;
}

double real_of(const std::string& option, const char* text) {
  double v = 0;
  if (!examples::parse(text, v)) throw ss::value_error(option + " needs a number, got '" + text + "'");
  return v;
}

std::vector<std::size_t> counts_of(const std::string& option, const char* text) {
  std::vector<std::size_t> out;
  for (const std::string& item : examples::split_list(text)) out.push_back(count_of(option, item.c_str()));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Arguments args;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      const bool more = i + 1 < argc;
      if (a == "--tta") args.tta = true;
      else if (!more) throw ss::value_error("unknown option or missing value: " + a);
      else if (a == "--dim") args.dim = static_cast<int>(count_of(a, argv[++i]));
      else if (a == "--strategies") args.strategies = examples::split_list(argv[++i]);
      else if (a == "--labeled") args.labeled = count_of(a, argv[++i]);
      else if (a == "--unlabeled") args.unlabeled = count_of(a, argv[++i]);
      else if (a == "--epochs") args.epochs = count_of(a, argv[++i]);
      else if (a == "--steps-per-epoch") args.steps_per_epoch = count_of(a, argv[++i]);
      else if (a == "--batch") args.batch = count_of(a, argv[++i]);
      else if (a == "--accumulate") args.accumulate = count_of(a, argv[++i]);
      else if (a == "--lr") args.lr = real_of(a, argv[++i]);
      else if (a == "--widths") args.widths = counts_of(a, argv[++i]);
      else if (a == "--seed") args.seed = count_of(a, argv[++i]);
      else if (a == "--threads") args.threads = count_of(a, argv[++i]);
      else if (a == "--shape") args.shape = counts_of(a, argv[++i]);
      else if (a == "--validation") args.validation = count_of(a, argv[++i]);
      else if (a == "--test") args.test = count_of(a, argv[++i]);
      else if (a == "--seeds") {
        const std::string v = argv[++i];
        if (v != "greedy" && v != "maxima") throw ss::value_error("--seeds is greedy or maxima, got '" + v + "'");
        args.maxima = v == "maxima";
      } else if (a == "--min-object-size") args.min_object_size = count_of(a, argv[++i]);
      else if (a == "--seed-threshold") args.seed_threshold = real_of(a, argv[++i]);
      else if (a == "--centre") {
        const std::string v = argv[++i];
        if (v != "medoid" && v != "centroid") throw ss::value_error("--centre is medoid or centroid, got '" + v + "'");
        args.centroid = v == "centroid";
      } else if (a == "--max-items") args.max_items = count_of(a, argv[++i]);
      else if (a == "--out") args.out = argv[++i];
      else throw ss::value_error("unknown option: " + a);
    }
    if (args.dim != 2 && args.dim != 3) throw ss::value_error("--dim is 2 or 3");
    if (args.epochs == 0 || args.steps_per_epoch == 0 || args.accumulate == 0)
      throw ss::value_error("--epochs, --steps-per-epoch and --accumulate must be at least 1");
    if (args.widths.size() != 3) throw ss::value_error("--widths needs three numbers");
    if (args.labeled && *args.labeled < 2) throw ss::value_error("--labeled must be at least 2");
    if (args.tta && args.dim == 3) throw ss::value_error("--tta is 2D only");
  } catch (const ss::error& e) {
    std::fprintf(stderr, "fashion_mnist_instances: %s (see the comment at the top of fashion_mnist_instances.cpp)\n",
                 e.what());
    return 2;
  }
  try {
    return args.dim == 2 ? main_for<ss::dim2>(args) : main_for<ss::dim3>(args);
  } catch (const ss::error& e) {
    std::fprintf(stderr, "fashion_mnist_instances: %s\n", e.what());
    return 1;
  }
}
