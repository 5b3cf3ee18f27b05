// Building segmentation from an RGB folder dataset with a class colour table, in the layout of
// the Massachusetts Buildings dataset (train/ train_labels/ val/ val_labels/ test/ test_labels/
// and label_class_dict.csv), with DeepLabV3+ and the Dice loss. Trains Supervised on the labeled
// part of train/ and CPS (Cross Pseudo Supervision, with CutMix by default) on the same labeled
// part plus the rest of train/ as unlabeled images, then writes per strategy the IoU and
// Dice-loss curves (train vs validation, per epoch) and sample predictions (image | ground truth
// | prediction), and prints a table of validation and test scores. Without --data it generates a small stand-in dataset of
// aerial-like pictures in the same layout under OUT/data.
//
//   folder_segmentation [--data DIR] [--out DIR] [--strategies supervised,cps,cps_cutmix]
//       [--classes background,building] [--iou-class building] [--labeled-fraction F]
//       [--epochs E] [--steps-per-epoch S] [--batch B] [--lr LR] [--crop C] [--eval-crop C]
//       [--samples N] [--seed S] [--threads T] [--cps-weight L] [--cps-warmup E]
//       [--layers 18|34|50] [--base-channels C] [--aspp-channels C] [--low-level-channels C]
//       [--decoder-channels C] [--output-stride 8|16] [--rates R1,R2,R3] [--no-separable]
//       [--dropout P]
//       [--data-seed S] [--train-size N] [--val-size N] [--test-size N] [--image-size N]
//
// Defaults: strategies supervised,cps_cutmix; labeled fraction 0.25; 40 epochs of 10 steps;
// batch 4 (labeled, and 4 unlabeled for CPS); Adam at lr 1e-3, constant; ResNet-18 encoder with
// base 16, ASPP and decoder 32, low-level 16, output stride 16, separable, rates 12,24,36,
// dropout 0.1; CPS's λ is 1.5 (1 with CutMix) and its cross terms start after --cps-warmup
// epochs (default: a quarter of the run); 8 sample pictures; seed 1.
// --steps-per-epoch 0 makes an epoch one pass over the labeled images (the notebook's epoch).
// --crop trains on random crops of that size (the notebook's 256); --eval-crop evaluates on the
// central crop (0: whole images, padded to a multiple of the output stride). The test scores
// come from the checkpoint with the best validation mIoU, as the notebook reloads its best model.
// The stand-in options (--data-seed, sizes) apply only without --data.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <semiseg/semiseg.hpp>

#include "common/arguments.hpp"
#include "common/labeled_split.hpp"

namespace ss = semiseg;
namespace data = semiseg::data;
namespace aug = semiseg::data::aug;
namespace fs = std::filesystem;

struct Arguments {
  std::optional<fs::path> data{};
  fs::path out = "runs/folder_segmentation";
  std::vector<std::string> strategies{"supervised", "cps_cutmix"};
  std::vector<std::string> classes{"background", "building"};
  std::string iou_class = "building";
  double labeled_fraction = 0.25, lr = 1e-3, dropout = 0.1;
  std::optional<double> cps_weight{};
  std::optional<double> cps_warmup{};  // epochs of labels only before the cross terms start; unset: epochs / 4
  std::size_t epochs = 40, steps_per_epoch = 10, batch = 4, crop = 0, eval_crop = 0, samples = 8, threads = 1;
  std::uint64_t seed = 1;
  // The network: a small DeepLabV3+ for a CPU; smp's separable variant and its ASPP rates.
  std::size_t layers = 18, base_channels = 16, aspp_channels = 32, low_level_channels = 16, decoder_channels = 32,
              output_stride = 16;
  std::vector<std::size_t> rates{12, 24, 36};
  bool separable = true;
  // The stand-in dataset.
  std::uint64_t data_seed = 1;
  std::size_t train_size = 48, val_size = 16, test_size = 16, image_size = 64;
};

// ---------------------------------------------------------------------------------------------
// The stand-in: aerial-like tiles. Ground is a smooth green/brown mix with grain, roads are grey
// bands, buildings are grey or reddish rectangles with a dark shadow on two sides; the mask is
// white on the roofs.

struct Picture {
  std::size_t size;
  std::vector<float> rgb;  // 3 planes
  std::vector<std::uint8_t> roof;

  explicit Picture(std::size_t n) : size(n), rgb(3 * n * n), roof(n * n) {}
  void set(std::size_t y, std::size_t x, double r, double g, double b) {
    const std::size_t k = y * size + x, plane = size * size;
    rgb[k] = static_cast<float>(std::clamp(r, 0.0, 255.0));
    rgb[plane + k] = static_cast<float>(std::clamp(g, 0.0, 255.0));
    rgb[2 * plane + k] = static_cast<float>(std::clamp(b, 0.0, 255.0));
  }
};

Picture stand_in_picture(std::size_t n, data::Rng& rng) {
  Picture p(n);
  // Smooth ground: a 5×5 grid of random weights, interpolated bilinearly.
  double coarse[5][5];
  for (auto& row : coarse)
    for (double& v : row) v = rng.uniform();
  const double cell = static_cast<double>(n - 1) / 4.0;
  std::vector<std::uint8_t> taken(n * n, 0);  // roads and buildings (with a margin)
  for (std::size_t y = 0; y < n; ++y)
    for (std::size_t x = 0; x < n; ++x) {
      const double fy = static_cast<double>(y) / cell, fx = static_cast<double>(x) / cell;
      const auto y0 = std::min<std::size_t>(3, static_cast<std::size_t>(fy)), x0 = std::min<std::size_t>(3, static_cast<std::size_t>(fx));
      const double ty = fy - static_cast<double>(y0), tx = fx - static_cast<double>(x0);
      const double t = (1 - ty) * ((1 - tx) * coarse[y0][x0] + tx * coarse[y0][x0 + 1]) +
                       ty * ((1 - tx) * coarse[y0 + 1][x0] + tx * coarse[y0 + 1][x0 + 1]);
      const double grain = rng.normal(0, 10);
      // green (60, 100, 45) to brown (125, 105, 70)
      p.set(y, x, 60 + 65 * t + grain, 100 + 5 * t + grain, 45 + 25 * t + grain);
    }
  // Roads: 0 to 2 straight bands across the tile.
  const auto roads = rng.integer(0, 2);
  for (std::int64_t r = 0; r < roads; ++r) {
    const bool horizontal = rng.bernoulli(0.5);
    const auto width = static_cast<std::size_t>(rng.integer(3, 5));
    const auto at = static_cast<std::size_t>(rng.integer(0, static_cast<std::int64_t>(n - width)));
    const double shade = rng.uniform(85, 115);
    for (std::size_t a = at; a < at + width; ++a)
      for (std::size_t b = 0; b < n; ++b) {
        const std::size_t y = horizontal ? a : b, x = horizontal ? b : a;
        const double v = shade + rng.normal(0, 6);
        p.set(y, x, v, v, v + 4);
        taken[y * n + x] = 1;
      }
  }
  // Buildings: rectangles that overlap neither a road nor another building.
  const auto wanted = rng.integer(2, 6);
  std::int64_t placed = 0;
  for (int attempt = 0; attempt < 60 && placed < wanted; ++attempt) {
    const auto h = static_cast<std::size_t>(rng.integer(6, 14)), w = static_cast<std::size_t>(rng.integer(6, 14));
    if (h + 3 > n || w + 3 > n) break;
    const auto y0 = static_cast<std::size_t>(rng.integer(1, static_cast<std::int64_t>(n - h - 2)));
    const auto x0 = static_cast<std::size_t>(rng.integer(1, static_cast<std::int64_t>(n - w - 2)));
    bool free = true;
    for (std::size_t y = y0 - 1; y < y0 + h + 2 && free; ++y)
      for (std::size_t x = x0 - 1; x < x0 + w + 2 && free; ++x) free = !taken[y * n + x];
    if (!free) continue;
    ++placed;
    const bool red = rng.bernoulli(0.4);
    const double base = red ? 0 : rng.uniform(150, 200);
    const double r0 = red ? rng.uniform(150, 185) : base, g0 = red ? rng.uniform(70, 95) : base,
                 b0 = red ? rng.uniform(55, 80) : base + 5;
    for (std::size_t y = y0 - 1; y < y0 + h + 2; ++y)
      for (std::size_t x = x0 - 1; x < x0 + w + 2; ++x) taken[y * n + x] = 1;
    // The shadow: one pixel below and to the right.
    for (std::size_t y = y0 + 1; y <= y0 + h; ++y) p.set(y, x0 + w, 35, 40, 35);
    for (std::size_t x = x0 + 1; x <= x0 + w; ++x) p.set(y0 + h, x, 35, 40, 35);
    for (std::size_t y = y0; y < y0 + h; ++y)
      for (std::size_t x = x0; x < x0 + w; ++x) {
        const double e = rng.normal(0, 5);
        p.set(y, x, r0 + e, g0 + e, b0 + e);
        p.roof[y * n + x] = 1;
      }
  }
  return p;
}

data::Raster to_raster(const Picture& p) {
  data::Raster r = data::rgb_raster(p.size, p.size);
  std::copy(p.rgb.begin(), p.rgb.end(), r.values.data());
  for (float& v : r.values) v = std::round(v);
  return r;
}

data::Raster mask_raster(const Picture& p) {
  data::Raster r = data::rgb_raster(p.size, p.size);
  const std::size_t plane = p.size * p.size;
  for (std::size_t ch = 0; ch < 3; ++ch)
    for (std::size_t k = 0; k < plane; ++k) r.values.data()[ch * plane + k] = p.roof[k] ? 255.0f : 0.0f;
  return r;
}

void write_stand_in(const Arguments& args, const fs::path& root) {
  struct Split {
    const char* images;
    const char* labels;
    std::size_t count;
    std::uint32_t step;
  };
  const Split splits[] = {{"train", "train_labels", args.train_size, 0},
                          {"val", "val_labels", args.val_size, 1},
                          {"test", "test_labels", args.test_size, 2}};
  for (const Split& s : splits) {
    fs::remove_all(root / s.images);
    fs::remove_all(root / s.labels);
    fs::create_directories(root / s.images);
    fs::create_directories(root / s.labels);
    for (std::size_t i = 0; i < s.count; ++i) {
      data::Rng rng(args.data_seed, data::streams::dataset, s.step, static_cast<std::uint32_t>(i));
      const Picture p = stand_in_picture(args.image_size, rng);
      char stem[32];
      std::snprintf(stem, sizeof stem, "tile_%04zu.png", i);
      data::write_png(root / s.images / stem, to_raster(p));
      data::write_png(root / s.labels / stem, mask_raster(p));
    }
  }
  std::ofstream csv(root / "label_class_dict.csv");
  csv << "name,r,g,b\nbackground,0,0,0\nbuilding,255,255,255\n";
  if (!csv) throw ss::io_error((root / "label_class_dict.csv").string() + ": cannot write");
}

// ---------------------------------------------------------------------------------------------
// Evaluation images padded (image 0, mask ignored) to a multiple of the output stride, or their
// central crop.

template <data::Dataset D>
class Fitted {
 public:
  using dim_type = typename D::dim_type;
  Fitted(D parent, std::size_t multiple, std::size_t crop) : parent_(std::move(parent)), multiple_(multiple), crop_(crop) {}
  std::size_t size() const { return parent_.size(); }
  data::Sample<dim_type> get(std::size_t i) const {
    data::Sample<dim_type> s = parent_.get(i);
    data::Rng unused(0, 0);
    if (crop_) aug::CenterCrop{.size = {crop_}, .pad_if_needed = true}(s, unused);
    const auto shape = s.spatial_shape();
    const auto up = [&](std::size_t n) { return (n + multiple_ - 1) / multiple_ * multiple_; };
    aug::PadIfNeeded{.min_size = {up(shape[0]), up(shape[1])}}(s, unused);
    return s;
  }

 private:
  D parent_;
  std::size_t multiple_, crop_;
};

// ---------------------------------------------------------------------------------------------

struct Curves {
  std::vector<double> train_iou, val_iou, train_dice, val_dice;
};

struct Outcome {
  std::string strategy;
  double best_val_iou = NAN, test_iou = NAN, test_dice = NAN, seconds = 0;
  std::size_t best_epoch = 0;
};

struct Scores {
  double iou = NAN, dice = NAN;
};

// The IoU of one class and the mean Dice loss per image, by the trainer's (first) network in eval mode.
template <class Trainer, data::Dataset D>
Scores measure(Trainer& trainer, const D& dataset, typename Trainer::SupLoss& loss, std::size_t iou_class,
               std::size_t classes, std::size_t batch) {
  data::Loader<D> loader(dataset, {.batch_size = batch, .shuffle = false, .drop_last = false, .threads = 0});
  ss::metrics::ConfusionMatrix cm(classes);
  double dice = 0;
  std::size_t images = 0;
  for (std::size_t b = 0; b < loader.batches_per_epoch(); ++b) {
    const data::Batch<ss::dim2> x = loader.next();
    const auto& logits = trainer.model().forward(x.images.view(), ss::Context::evaluation());
    cm.add_logits(logits, x.masks);
    dice += loss.value(logits.view(), x.masks.view()) * static_cast<double>(x.size());
    images += x.size();
  }
  return {cm.iou()[iou_class], dice / static_cast<double>(images)};
}

template <class Strategy>
Outcome run(const Arguments& args, const std::string& name, const data::FolderOptions& folders,
            const data::ClassTable& table, std::size_t iou_class) {
  using Trainer = ss::Trainer<ss::dim2, ss::backbone::DeepLabV3Plus, ss::loss::Dice, Strategy, ss::cpu>;
  const std::size_t stride = args.output_stride, classes = table.size();
  const auto split = [&](const char* images, const char* labels) {
    data::FolderOptions o = folders;
    o.images = images;
    o.masks = labels;
    return data::FolderDataset<ss::dim2>(o);
  };
  const data::FolderDataset<ss::dim2> train = split("train", "train_labels");
  using Eval = Fitted<data::FolderDataset<ss::dim2>>;
  const Eval validation(split("val", "val_labels"), stride, args.eval_crop);
  const Eval test(split("test", "test_labels"), stride, args.eval_crop);

  // The same labeled images for every strategy: a seeded draw of the labeled fraction.
  const auto [labeled_ids, unlabeled_ids] = examples::labeled_split(train.size(), args.labeled_fraction, args.seed, 2);
  if (Strategy::uses_unlabeled && unlabeled_ids.size() < 2)
    throw ss::value_error(name + " needs at least two unlabeled images; lower --labeled-fraction");
  const Fitted<data::FolderDataset<ss::dim2>> train_fitted(train, stride, 0);
  const data::Subset<Eval> labeled(train_fitted, labeled_ids);
  const data::Subset<Eval> unlabeled = data::unlabeled_view(train_fitted, unlabeled_ids);
  // The labeled images as the curves see them: whole, or cropped as evaluation is.
  const data::Subset<Eval> labeled_eval(Eval(train, stride, args.eval_crop), labeled_ids);

  typename Trainer::Options o;
  o.model.in_channels = 3;
  o.model.classes = static_cast<ss::index_t>(classes);
  o.model.layers = static_cast<ss::index_t>(args.layers);
  o.model.base_channels = static_cast<ss::index_t>(args.base_channels);
  o.model.output_stride = static_cast<ss::index_t>(args.output_stride);
  o.model.rates = {static_cast<ss::index_t>(args.rates[0]), static_cast<ss::index_t>(args.rates[1]),
                   static_cast<ss::index_t>(args.rates[2])};
  o.model.aspp_channels = static_cast<ss::index_t>(args.aspp_channels);
  o.model.low_level_channels = static_cast<ss::index_t>(args.low_level_channels);
  o.model.decoder_channels = static_cast<ss::index_t>(args.decoder_channels);
  o.model.separable = args.separable;
  o.model.dropout = args.dropout;
  o.optimizer = ss::optim::AdamOptions{.lr = args.lr};
  o.labeled = {.batch_size = std::min(args.batch, labeled_ids.size()), .seed = args.seed * 2 + 1, .threads = args.threads};
  o.unlabeled = {.batch_size = std::max<std::size_t>(2, std::min(args.batch, unlabeled_ids.size())),
                 .seed = args.seed * 2 + 2, .threads = args.threads};
  // The notebook's training augmentation: a random crop, then flips.
  aug::Compose<ss::dim2> train_aug;
  if (args.crop) train_aug.add(aug::RandomCrop{.size = {args.crop}, .pad_if_needed = true});
  train_aug.add(aug::Flip{});
  o.labeled_transform = train_aug;
  o.unlabeled_transform = train_aug;
  if constexpr (std::is_same_v<Strategy, ss::ssl::CrossPseudo>) {
    o.strategy.cutmix = name == "cps_cutmix";
    o.strategy.weight = args.cps_weight;
    o.strategy.warmup_epochs = args.cps_warmup ? *args.cps_warmup : static_cast<double>(args.epochs) / 4.0;
  }
  o.seed = args.seed;
  Trainer trainer(o);
  typename Trainer::SupLoss loss(o.loss);

  const fs::path dir = args.out / name;
  std::printf("\n%s: DeepLabV3+ (ResNet-%zu, base %zu, output stride %zu), Dice loss, %zu labeled + %zu unlabeled "
              "training images, %zu validation, %zu test\n",
              name.c_str(), args.layers, args.base_channels, args.output_stride, labeled_ids.size(),
              Strategy::uses_unlabeled ? unlabeled_ids.size() : std::size_t{0}, validation.size(), test.size());
  std::fflush(stdout);
  Curves curves;
  const std::size_t eval_batch = std::max<std::size_t>(args.batch, 1);
  ss::FitOptions fit{.epochs = args.epochs,
                     .steps_per_epoch = args.steps_per_epoch,
                     .evaluate_every = 1,
                     .run_dir = dir,
                     .progress = false};
  fit.on_epoch = [&](std::size_t epoch, const ss::ssl::LossParts& parts, const std::optional<ss::Evaluation>&) {
    const Scores tr = measure(trainer, labeled_eval, loss, iou_class, classes, eval_batch);
    const Scores va = measure(trainer, validation, loss, iou_class, classes, eval_batch);
    curves.train_iou.push_back(tr.iou);
    curves.val_iou.push_back(va.iou);
    curves.train_dice.push_back(ss::ssl::total_of(parts, {"supervised"}));
    curves.val_dice.push_back(va.dice);
    char cps[32] = "";
    if (Strategy::uses_unlabeled) std::snprintf(cps, sizeof cps, "  cps %.4f", ss::ssl::total_of(parts, {"cps"}));
    std::printf("epoch %3zu  train Dice loss %.4f%s  train IoU %.4f  val IoU %.4f  val Dice loss %.4f\n", epoch,
                curves.train_dice.back(), cps, tr.iou, va.iou, va.dice);
    std::fflush(stdout);
    return true;
  };
  const ss::FitResult r = trainer.fit(labeled, unlabeled, validation, fit);

  // Curves: CSV and the two pictures.
  {
    std::ofstream csv(dir / "curves.csv");
    csv << "epoch,train_iou,val_iou,train_dice_loss,val_dice_loss\n";
    for (std::size_t e = 0; e < curves.val_iou.size(); ++e)
      csv << e + 1 << ',' << curves.train_iou[e] << ',' << curves.val_iou[e] << ',' << curves.train_dice[e] << ','
          << curves.val_dice[e] << '\n';
  }
  const auto nan_to = [](std::vector<double> v) {  // an absent class has no IoU: draw it as 0
    for (double& x : v)
      if (!std::isfinite(x)) x = 0;
    return v;
  };
  const std::string class_name = table[iou_class].name;
  data::ChartOptions chart;
  chart.title = name + ": IoU of " + class_name;
  chart.x_label = "epoch";
  chart.y_label = "IoU";
  chart.y_min = 0.0;
  chart.y_max = 1.0;
  data::write_png(dir / "iou_score_plot.png",
                  data::line_chart({data::Series::of_values("train", nan_to(curves.train_iou)),
                                    data::Series::of_values("val", nan_to(curves.val_iou))},
                                   chart));
  chart.title = name + ": Dice loss";
  chart.y_label = "Dice loss";
  data::write_png(dir / "dice_loss_plot.png",
                  data::line_chart({data::Series::of_values("train", curves.train_dice),
                                    data::Series::of_values("val", curves.val_dice)},
                                   chart));

  // Test with the best checkpoint, as the notebook does.
  Outcome out;
  out.strategy = name;
  out.seconds = r.seconds;
  out.best_epoch = r.best_epoch;
  if (r.best_epoch) {
    trainer.load(dir / "best.safetensors");
    out.best_val_iou = curves.val_iou[r.best_epoch - 1];
  }
  const Scores t = measure(trainer, test, loss, iou_class, classes, eval_batch);
  out.test_iou = t.iou;
  out.test_dice = t.dice;

  // Sample predictions: image | ground truth | prediction, side by side.
  fs::create_directories(dir / "sample_preds");
  const std::vector<data::Colour> colours = data::palette(table);
  for (std::size_t i = 0; i < std::min(args.samples, test.size()); ++i) {
    const auto s = test.get(i);
    const std::size_t w = s.image.shape()[2];
    const std::size_t zoom = std::max<std::size_t>(1, 256 / std::max<std::size_t>(w, 1));
    const std::vector<data::Raster> tiles{data::enlarge(data::to_rgb<ss::dim2>(s.image), zoom),
                                          data::enlarge(data::colour_code<ss::dim2>(s.mask, colours), zoom),
                                          data::enlarge(data::colour_code<ss::dim2>(trainer.predict(s.image), colours), zoom)};
    data::write_png(dir / "sample_preds" / (std::string("sample_pred_") + std::to_string(i) + ".png"),
                    data::grid(tiles, 3));
  }
  std::printf("%s: best validation mIoU at epoch %zu; wrote %s/{iou_score_plot,dice_loss_plot}.png, curves.csv, "
              "sample_preds/\n",
              name.c_str(), out.best_epoch, dir.string().c_str());
  return out;
}

int main(int argc, char** argv) {
  Arguments args;
  std::string bad;
  // Whole non-negative numbers and finite reals; anything else is reported and exits 2.
  const auto whole = [&](const char* flag, const char* text, auto& into) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(text, &end, 10);
    if (!*text || *end || errno || text[0] == '-') bad = std::string(flag) + " needs a whole number, got '" + text + "'";
    else into = static_cast<std::remove_reference_t<decltype(into)>>(v);
  };
  const auto real = [&](const char* flag, const char* text, double& into) {
    char* end = nullptr;
    const double v = std::strtod(text, &end);
    if (!*text || *end || !std::isfinite(v)) bad = std::string(flag) + " needs a number, got '" + text + "'";
    else into = v;
  };
  for (int i = 1; i < argc && bad.empty(); ++i) {
    const std::string a = argv[i];
    const bool more = i + 1 < argc;
    const char* f = argv[i];
    if (a == "--data" && more) args.data = fs::path(argv[++i]);
    else if (a == "--out" && more) args.out = argv[++i];
    else if (a == "--strategies" && more) args.strategies = examples::split_list(argv[++i]);
    else if (a == "--classes" && more) args.classes = examples::split_list(argv[++i]);
    else if (a == "--iou-class" && more) args.iou_class = argv[++i];
    else if (a == "--labeled-fraction" && more) real(f, argv[++i], args.labeled_fraction);
    else if (a == "--lr" && more) real(f, argv[++i], args.lr);
    else if (a == "--dropout" && more) real(f, argv[++i], args.dropout);
    else if (a == "--cps-warmup" && more) {
      double w = 0;
      real(f, argv[++i], w);
      args.cps_warmup = w;
    }
    else if (a == "--cps-weight" && more) {
      double w = 0;
      real(f, argv[++i], w);
      args.cps_weight = w;
    } else if (a == "--epochs" && more) whole(f, argv[++i], args.epochs);
    else if (a == "--steps-per-epoch" && more) whole(f, argv[++i], args.steps_per_epoch);
    else if (a == "--batch" && more) whole(f, argv[++i], args.batch);
    else if (a == "--crop" && more) whole(f, argv[++i], args.crop);
    else if (a == "--eval-crop" && more) whole(f, argv[++i], args.eval_crop);
    else if (a == "--samples" && more) whole(f, argv[++i], args.samples);
    else if (a == "--seed" && more) whole(f, argv[++i], args.seed);
    else if (a == "--threads" && more) whole(f, argv[++i], args.threads);
    else if (a == "--layers" && more) whole(f, argv[++i], args.layers);
    else if (a == "--base-channels" && more) whole(f, argv[++i], args.base_channels);
    else if (a == "--aspp-channels" && more) whole(f, argv[++i], args.aspp_channels);
    else if (a == "--low-level-channels" && more) whole(f, argv[++i], args.low_level_channels);
    else if (a == "--decoder-channels" && more) whole(f, argv[++i], args.decoder_channels);
    else if (a == "--output-stride" && more) whole(f, argv[++i], args.output_stride);
    else if (a == "--rates" && more) {
      args.rates.clear();
      for (const std::string& r : examples::split_list(argv[++i])) {
        std::size_t v = 0;
        whole(f, r.c_str(), v);
        args.rates.push_back(v);
      }
    } else if (a == "--no-separable") args.separable = false;
    else if (a == "--data-seed" && more) whole(f, argv[++i], args.data_seed);
    else if (a == "--train-size" && more) whole(f, argv[++i], args.train_size);
    else if (a == "--val-size" && more) whole(f, argv[++i], args.val_size);
    else if (a == "--test-size" && more) whole(f, argv[++i], args.test_size);
    else if (a == "--image-size" && more) whole(f, argv[++i], args.image_size);
    else bad = "unknown or incomplete argument '" + a + "'";
  }
  // Ranges.
  const auto need = [&](bool ok, const std::string& what) {
    if (bad.empty() && !ok) bad = what;
  };
  need(args.epochs >= 1, "--epochs must be at least 1");
  need(args.batch >= 2, "--batch must be at least 2 (batch norm needs two images)");
  need(args.labeled_fraction > 0 && args.labeled_fraction <= 1, "--labeled-fraction must lie in (0, 1]");
  need(args.lr > 0, "--lr must be positive");
  need(args.dropout >= 0 && args.dropout < 1, "--dropout must lie in [0, 1)");
  need(!args.cps_weight || *args.cps_weight >= 0, "--cps-weight must be non-negative");
  need(!args.cps_warmup || *args.cps_warmup >= 0, "--cps-warmup must be non-negative");
  need(args.layers == 18 || args.layers == 34 || args.layers == 50, "--layers must be 18, 34 or 50");
  need(args.output_stride == 8 || args.output_stride == 16, "--output-stride must be 8 or 16");
  need(args.rates.size() == 3 && std::all_of(args.rates.begin(), args.rates.end(), [](std::size_t r) { return r >= 1; }),
       "--rates needs three dilations of at least 1, as 12,24,36");
  need(args.base_channels >= 1 && args.aspp_channels >= 1 && args.low_level_channels >= 1 && args.decoder_channels >= 1,
       "channel counts must be at least 1");
  need(args.crop % args.output_stride == 0 && args.eval_crop % args.output_stride == 0,
       "--crop and --eval-crop must be multiples of the output stride");
  need(!args.strategies.empty(), "--strategies is empty");
  for (const std::string& s : args.strategies)
    need(s == "supervised" || s == "cps" || s == "cps_cutmix",
         "unknown strategy '" + s + "' (supervised, cps, cps_cutmix)");
  need(args.classes.size() >= 2, "--classes needs at least two class names");
  if (!args.data) {
    need(args.image_size >= 32 && args.image_size <= 1024 && args.image_size % args.output_stride == 0,
         "--image-size must be 32..1024 and a multiple of the output stride");
    need(args.train_size >= 4 && args.val_size >= 1 && args.test_size >= 1,
         "--train-size must be at least 4, --val-size and --test-size at least 1");
  }
  if (!bad.empty()) {
    std::fprintf(stderr, "folder_segmentation: %s (see the comment at the top of folder_segmentation.cpp)\n",
                 bad.c_str());
    return 2;
  }

  try {
    fs::path root;
    if (args.data) {
      root = *args.data;
    } else {
      root = args.out / "data";
      write_stand_in(args, root);
      std::printf("stand-in dataset: %zu train, %zu val, %zu test tiles of %zux%zu (data seed %llu) in %s\n",
                  args.train_size, args.val_size, args.test_size, args.image_size, args.image_size,
                  static_cast<unsigned long long>(args.data_seed), root.string().c_str());
    }
    // The class table, and the classes to train on, as the notebook's select_classes.
    const data::ClassTable all = data::ClassTable::read_csv(root / "label_class_dict.csv");
    const data::ClassTable table = all.select(args.classes);
    const std::optional<std::size_t> iou_class = table.find(args.iou_class);
    if (!iou_class) {
      std::fprintf(stderr, "folder_segmentation: --iou-class '%s' is not among the selected classes\n",
                   args.iou_class.c_str());
      return 2;
    }
    std::printf("classes:");
    for (const data::ClassColour& c : table.classes()) std::printf(" %s (%d, %d, %d)", c.name.c_str(), c.rgb[0], c.rgb[1], c.rgb[2]);
    std::printf("; IoU of '%s'\n", table[*iou_class].name.c_str());
    data::FolderOptions folders{.root = root, .class_table = all, .select_classes = args.classes};

    std::vector<Outcome> outcomes;
    for (const std::string& s : args.strategies) {
      if (s == "supervised") outcomes.push_back(run<ss::ssl::Supervised>(args, s, folders, table, *iou_class));
      else outcomes.push_back(run<ss::ssl::CrossPseudo>(args, s, folders, table, *iou_class));
    }
    std::printf("\n%-12s %10s %6s %10s %15s %9s\n", "strategy", "val IoU", "epoch", "test IoU", "test Dice loss",
                "seconds");
    for (const Outcome& o : outcomes)
      std::printf("%-12s %10.4f %6zu %10.4f %15.4f %9.1f\n", o.strategy.c_str(), o.best_val_iou, o.best_epoch,
                  o.test_iou, o.test_dice, o.seconds);
    std::printf("(IoU of '%s'; validation at the best-mIoU epoch, whose checkpoint gives the test scores)\n",
                table[*iou_class].name.c_str());
  } catch (const ss::error& e) {
    std::fprintf(stderr, "folder_segmentation: %s\n", e.what());
    return 1;
  }
  return 0;
}
