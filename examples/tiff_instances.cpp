// EmbedSeg-style instance segmentation (Lalit et al. 2021) of TIFF images or z-stacks with
// instance masks: BranchedERFNet trained with the spatial-embedding loss on random crops,
// validated by the embedding IoU on whole images, then clustered into instances and scored on
// test/ by AP_dsb. Supervised trains on a labeled fraction of train/; Mean Teacher and FixMatch
// (on embeddings) add the rest of train/ with its masks dropped. Without --data it first writes a
// small generated stand-in dataset in the same layout under OUT/data.
//
// The layout is EmbedSeg's (its utils/preprocess_data.py: make_dirs and split_train_val):
//   DATA/train/images/*.tif   DATA/train/masks/*.tif
//   DATA/val/images/*.tif     DATA/val/masks/*.tif
//   DATA/test/images/*.tif    DATA/test/masks/*.tif
// Image and mask files are paired by file name (stem). A mask is an instance label image of the
// image's size: 0 background, 1, 2, ... one id per object (usually 16-bit). With --dim 3 every
// .tif is a z-stack, read as D×H×W. Other formats that data::FolderDataset reads (PNG, NPY, ...)
// are accepted too.
//
//   tiff_instances [--data DIR] [--out DIR] [--dim 2|3] [--strategies supervised,mean_teacher,fixmatch]
//       [--labeled-fraction F] [--epochs E] [--steps-per-epoch S] [--batch B] [--accumulate K]
//       [--lr LR] [--weight-decay W] [--poly P] [--widths A,B,C] [--crop C | --crop D,H,W]
//       [--centre medoid|centroid] [--spacing [Z,]Y,X] [--grid G] [--percentiles LO,HI]
//       [--foreground-weight W] [--min-object-size N] [--seed-threshold P] [--tta] [--samples N]
//       [--seed S] [--threads T] [--data-seed S] [--train-size N] [--val-size N] [--test-size N]
//
// Defaults: 2D; strategies supervised,mean_teacher,fixmatch; labeled fraction 0.5; 20 epochs
// (2D) or 100 (3D, whose embeddings take longer to form) of 20 steps; batch 4 (2D) or 2 (3D), and
// as many unlabeled images for the semi-supervised strategies; accumulate 1; Adam at lr 2e-3
// (EmbedSeg: 5e-4, for its long GPU runs) with weight decay 1e-4 (EmbedSeg's) and EmbedSeg's poly
// schedule (1 − t/T)^0.9 (--poly 0: constant); ERFNet widths 8,16,32 (EmbedSeg: 16,64,128) with
// one block per stage; crops 48 (2D) or 16,24,24 (3D); medoid centres; spacing 1 on every axis;
// EmbedSeg's grid 1024 and loss weights, with the seed's foreground weight 10 in 2D and, in 3D,
// the labeled masks' background/foreground voxel ratio (EmbedSeg's calculate_foreground_weight);
// percentiles 1 and 99.8; seed threshold 0.9; minimum object size (a proposal must be larger):
// half the smallest object of the labeled training masks, so it follows the data; 4 pictures; seed 1;
// 1 loader thread (set the network's threads with OMP_NUM_THREADS). --steps-per-epoch 0 makes an
// epoch one pass over the labeled images. The stand-in: 24 train, 4 val and 6 test images of
// 64×64 (2D) or 12, 3 and 4 stacks of 16×32×32 (3D), data seed 1; those options apply only
// without --data. On one core the 2D defaults take about a minute of CPU time, the 3D ones about
// six (measured: docs/tiff_instances.md).
//
// Preprocessing and evaluation:
//   - Each image is normalised on its own, each channel over all its pixels (and slices), to
//     (x − p_lo)/(p_hi − p_lo) with p_lo, p_hi its 1st and 99.8th percentiles (numpy's linear
//     interpolation), unclipped: EmbedSeg's normalize_min_max_percentile(x, 1, 99.8).
//   - Training draws one random crop per image and step (EmbedSeg instead cuts fixed crops around
//     every object beforehand); an image smaller than the crop is placed at a random position in
//     it, the image padded with 0 and the mask with "ignore" (−1, left out of the loss). Then
//     EmbedSeg's random quarter turns and flips (quarter turns only in planes of equal spacing),
//     and only then are the centres marked (data::MarkCentres), so every instance's centre lies
//     in its crop, as EmbedSeg computes centres per crop. Crops must be multiples of 8 (ERFNet).
//   - Validation and test use whole images, padded after their content up to multiples of 8 (image
//     0, mask ignored); validation marks the centres on the whole image. The prediction is
//     cropped back to the image before matching.
//   - Validation after every epoch scores the embedding IoU (EmbedSeg's: the IoU of φ_k > 0.5 with
//     each instance) of the student, and of the teacher where there is one; the student's best
//     epoch is saved as best.safetensors and gives the test scores, as EmbedSeg keeps its best
//     model by this IoU.
//   - Test: greedy clustering (seed threshold --seed-threshold, foreground 0.5, --min-object-size),
//     optionally after 8-fold test-time augmentation (--tta, 2D, equal y and x spacing), then
//     StarDist's matching: AP_dsb = TP/(TP+FP+FN) per image, averaged, at IoU 0.5 and 0.75; an
//     image with no true and no predicted object scores 0, as in EmbedSeg; mean matched IoU over
//     the pairs matched at 0.5.
// FixMatch's strong view and Mean Teacher's second view are brightness, contrast and noise only:
// the geometry must stay the weak view's, since the embeddings are positions.
//
// Output in OUT: data/ (the stand-in), <strategy>/ (log.csv, validation.csv, last.safetensors,
// best.safetensors, test_predictions/<name>.tif as 16-bit labels) and predictions/<name>.png (the
// first --samples test images: image | ground truth | one prediction per strategy; 3D: rows of
// slices at a quarter, half and three quarters of the depth).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <semiseg/semiseg.hpp>

#include "common/arguments.hpp"
#include "common/labeled_split.hpp"

namespace ss = semiseg;
namespace data = semiseg::data;
namespace aug = semiseg::data::aug;
namespace fs = std::filesystem;

struct Arguments {
  int dim = 2;
  std::optional<fs::path> data{};
  fs::path out = "runs/tiff_instances";
  std::vector<std::string> strategies{"supervised", "mean_teacher", "fixmatch"};
  double labeled_fraction = 0.5, lr = 2e-3, weight_decay = 1e-4, poly = 0.9, grid = 1024, seed_threshold = 0.9;
  std::size_t steps_per_epoch = 20, accumulate = 1, samples = 4, threads = 1;
  std::optional<std::size_t> epochs{}, batch{}, min_object_size{};
  std::optional<double> foreground_weight{};
  std::vector<std::size_t> widths{8, 16, 32}, crop{};
  std::vector<double> spacing{}, percentiles{1.0, 99.8};
  bool centroid = false, tta = false;
  std::uint64_t seed = 1;
  // The stand-in dataset.
  std::uint64_t data_seed = 1;
  std::optional<std::size_t> train_size{}, val_size{}, test_size{};
};

// ---------------------------------------------------------------------------------------------
// Geometry helpers for 2D and 3D maps, row-major over (D,) H, W.

template <std::size_t S>
std::size_t volume(const std::array<std::size_t, S>& shape) {
  std::size_t v = 1;
  for (std::size_t e : shape) v *= e;
  return v;
}

template <class Dim>
std::string shape_text(const data::SpatialShape<Dim>& s) {
  std::string out;
  for (std::size_t a = 0; a < s.size(); ++a) {
    if (a) out += "x";
    out += std::to_string(s[a]);
  }
  return out;
}

template <class Dim>
data::SpatialShape<Dim> up_to_8(data::SpatialShape<Dim> s) {
  for (std::size_t& e : s) e = (e + 7) / 8 * 8;
  return s;
}

// The sample seen through a window of `shape` whose origin lies at `from` in the source (entries
// may be negative or run past the end): outside the source the image is 0 and the mask and
// instance map are ignore_label (−1), which the loss and the scores skip.
template <class Dim>
data::Sample<Dim> place(const data::Sample<Dim>& s, const std::array<std::int64_t, Dim::spatial>& from,
                        const data::SpatialShape<Dim>& shape) {
  constexpr std::size_t S = Dim::spatial;
  const data::SpatialShape<Dim> in = s.spatial_shape();
  const std::size_t c = s.channels(), in_plane = volume(in), out_plane = volume(shape);
  std::array<std::size_t, S + 1> image_shape{};
  image_shape[0] = c;
  std::copy(shape.begin(), shape.end(), image_shape.begin() + 1);
  data::Sample<Dim> out;
  out.index = s.index;
  out.label = s.label;
  out.image = data::Image<Dim>::from_shape(image_shape);
  out.image.fill(0.0f);
  if (s.has_instances()) {
    out.instances = data::LabelMap<Dim>::from_shape(shape);
    out.instances.fill(data::ignore_label);
  }
  if (s.has_mask()) {
    out.mask = data::LabelMap<Dim>::from_shape(shape);
    out.mask.fill(data::ignore_label);
  }
  std::array<std::size_t, S> at{};
  for (std::size_t q = 0; q < out_plane; ++q) {
    bool inside = true;
    std::size_t p = 0;
    for (std::size_t a = 0; a < S && inside; ++a) {
      const std::int64_t source = static_cast<std::int64_t>(at[a]) + from[a];
      inside = source >= 0 && source < static_cast<std::int64_t>(in[a]);
      p = p * in[a] + static_cast<std::size_t>(source);
    }
    if (inside) {
      for (std::size_t k = 0; k < c; ++k) out.image.data()[k * out_plane + q] = s.image.data()[k * in_plane + p];
      if (s.has_instances()) out.instances.data()[q] = s.instances.data()[p];
      if (s.has_mask()) out.mask.data()[q] = s.mask.data()[p];
    }
    for (std::size_t a = S; a-- > 0;) {
      if (++at[a] < shape[a]) break;
      at[a] = 0;
    }
  }
  return out;
}

// The sample padded after its content up to multiples of 8 (ERFNet's downsampling).
template <class Dim>
data::Sample<Dim> pad_to_8(const data::Sample<Dim>& s) {
  return place<Dim>(s, {}, up_to_8<Dim>(s.spatial_shape()));
}

// The `shape` region at the origin of a label map.
template <class Dim>
data::LabelMap<Dim> crop_origin(const data::LabelMap<Dim>& m, const data::SpatialShape<Dim>& shape) {
  data::Sample<Dim> s;
  std::array<std::size_t, Dim::spatial + 1> image_shape{};
  for (std::size_t a = 0; a < Dim::spatial; ++a) image_shape[a + 1] = m.shape()[a];
  s.image = data::Image<Dim>::from_shape(image_shape);  // no channels: only the labels move
  s.instances = m;
  return place<Dim>(s, {}, shape).instances;
}

// ---------------------------------------------------------------------------------------------
// Datasets.

// A folder in EmbedSeg's layout (images/ and masks/, the masks read as instance maps), each image
// percentile-normalised.
template <class Dim>
class Normalised {
 public:
  using dim_type = Dim;
  Normalised(const fs::path& root, const std::vector<double>& percentiles)
      : folder_(data::FolderOptions{.root = root, .images = "images", .masks = "", .instances = "masks",
                                    .scale_to_unit = false}),
        normalise_{.pmin = percentiles[0], .pmax = percentiles[1]} {}
  std::size_t size() const { return folder_.size(); }
  const std::string& stem(std::size_t i) const { return folder_.stem(i); }
  data::Sample<Dim> get(std::size_t i) const {
    data::Sample<Dim> s = folder_.get(i);
    data::Rng unused(0, 0);
    normalise_(s, unused);
    return s;
  }

 private:
  data::FolderDataset<Dim> folder_;
  aug::PercentileNormalize normalise_;
};

// Whole images padded to multiples of 8, for validation batches of one.
template <data::Dataset D>
class Padded {
 public:
  using dim_type = typename D::dim_type;
  explicit Padded(D parent) : parent_(std::move(parent)) {}
  std::size_t size() const { return parent_.size(); }
  data::Sample<dim_type> get(std::size_t i) const { return pad_to_8<dim_type>(parent_.get(i)); }

 private:
  D parent_;
};

// ---------------------------------------------------------------------------------------------
// Training transforms.

// A random `crop` inside the image; an axis shorter than the crop sits at a random place in it.
template <class Dim>
data::Transform<Dim> random_crop(data::SpatialShape<Dim> crop) {
  return [crop](data::Sample<Dim>& s, data::Rng& rng) {
    const data::SpatialShape<Dim> in = s.spatial_shape();
    std::array<std::int64_t, Dim::spatial> from{};
    for (std::size_t a = 0; a < Dim::spatial; ++a) {
      const auto n = static_cast<std::int64_t>(in[a]), c = static_cast<std::int64_t>(crop[a]);
      from[a] = n >= c ? rng.integer(0, n - c) : -rng.integer(0, c - n);
    }
    s = place<Dim>(s, from, crop);
  };
}

// Crop, EmbedSeg's turns and flips where the spacing allows them, then the centres of the crop.
template <class Dim>
aug::Compose<Dim> train_transform(const data::SpatialShape<Dim>& crop, const data::CentreOptions<Dim>& centres) {
  aug::Compose<Dim> t;
  t.add(random_crop<Dim>(crop));
  const auto& sp = centres.spacing;
  const bool square_plane = sp[Dim::spatial - 2] == sp[Dim::spatial - 1];
  const bool isotropic = std::all_of(sp.begin(), sp.end(), [&](double v) { return v == sp[0]; });
  if (isotropic) t.add(aug::Rotate90{.plane = aug::Plane::random, .keep_shape = true});
  else if (square_plane) t.add(aug::Rotate90{.plane = aug::Plane::hw, .keep_shape = true});
  t.add(aug::Flip{});
  t.add(data::MarkCentres<Dim>{centres});
  return t;
}

// ---------------------------------------------------------------------------------------------
// The stand-in: blurred bright ellipses (2D, 4 to 8 per image) or ellipsoids (3D, 3 to 6) on a
// dim, noisy background, touching but not overlapping, written as 16-bit TIFFs with 16-bit masks.

template <class Dim>
void blur(std::vector<float>& v, const std::array<std::size_t, 3>& shape, double sigma) {
  std::vector<double> kernel;
  const int radius = static_cast<int>(std::ceil(3 * sigma));
  double sum = 0;
  for (int k = -radius; k <= radius; ++k) {
    kernel.push_back(std::exp(-0.5 * k * k / (sigma * sigma)));
    sum += kernel.back();
  }
  for (double& k : kernel) k /= sum;
  std::vector<float> tmp(v.size());
  for (std::size_t axis = Dim::spatial == 3 ? 0 : 1; axis < 3; ++axis) {
    const std::size_t stride = axis == 0 ? shape[1] * shape[2] : axis == 1 ? shape[2] : 1;
    const auto n = static_cast<std::int64_t>(shape[axis]);
    for (std::size_t p = 0; p < v.size(); ++p) {
      const auto i = static_cast<std::int64_t>(p / stride % shape[axis]);
      double acc = 0;
      for (int k = -radius; k <= radius; ++k) {
        const std::int64_t j = std::clamp<std::int64_t>(i + k, 0, n - 1);
        acc += kernel[static_cast<std::size_t>(k + radius)] * v[p + static_cast<std::size_t>(j - i) * stride];
      }
      tmp[p] = static_cast<float>(acc);
    }
    v.swap(tmp);
  }
}

template <class Dim>
void write_stand_in(const Arguments& args, const fs::path& root) {
  constexpr bool three = Dim::spatial == 3;
  const std::array<std::size_t, 3> shape{three ? 16u : 1u, three ? 32u : 64u, three ? 32u : 64u};
  const std::size_t D = shape[0], H = shape[1], W = shape[2], n = D * H * W;
  const std::array<std::pair<const char*, std::size_t>, 3> splits{
      {{"train", args.train_size.value_or(three ? 12 : 24)},
       {"val", args.val_size.value_or(three ? 3 : 4)},
       {"test", args.test_size.value_or(three ? 4 : 6)}}};
  for (std::size_t split = 0; split < splits.size(); ++split) {
    const fs::path dir = root / splits[split].first;
    fs::create_directories(dir / "images");
    fs::create_directories(dir / "masks");
    for (std::size_t i = 0; i < splits[split].second; ++i) {
      data::Rng rng(args.data_seed, data::streams::dataset, static_cast<std::uint32_t>(split),
                    static_cast<std::uint32_t>(i));
      std::vector<float> field(n, 0.0f);
      std::vector<std::uint16_t> ids(n, 0);
      const std::int64_t wanted = three ? rng.integer(3, 6) : rng.integer(4, 8);
      std::int64_t placed = 0;
      std::vector<std::pair<std::size_t, double>> voxels;  // an object's voxels and their depth q
      for (int attempt = 0; attempt < 200 && placed < wanted; ++attempt) {
        const double lo = three ? 3.5 : 4.0, hi = three ? 6.5 : 8.5;  // in-plane semi-axes
        const double rz = three ? rng.uniform(2.5, 4.0) : 0.5, ry = rng.uniform(lo, hi), rx = rng.uniform(lo, hi),
                     angle = rng.uniform(0.0, 3.14159265);
        const double r = std::max(ry, rx);
        const double cz = three ? rng.uniform(rz, static_cast<double>(D) - 1 - rz) : 0.0;
        const double cy = rng.uniform(r, static_cast<double>(H) - 1 - r),
                     cx = rng.uniform(r, static_cast<double>(W) - 1 - r);
        const double ca = std::cos(angle), sa = std::sin(angle);
        voxels.clear();
        bool free = true;
        for (std::size_t p = 0; p < n && free; ++p) {
          const double z = static_cast<double>(p / (H * W)), y = static_cast<double>(p / W % H),
                       x = static_cast<double>(p % W);
          const double u = ca * (y - cy) + sa * (x - cx), v = -sa * (y - cy) + ca * (x - cx);
          const double w = three ? (z - cz) / rz : 0.0;
          const double q = (u / ry) * (u / ry) + (v / rx) * (v / rx) + w * w;
          if (q > 1) continue;
          free = ids[p] == 0;
          voxels.emplace_back(p, q);
        }
        if (!free || voxels.empty()) continue;
        ++placed;
        const double brightness = rng.uniform(three ? 0.6 : 0.35, 1.0);
        for (const auto& [p, q] : voxels) {
          ids[p] = static_cast<std::uint16_t>(placed);
          field[p] = static_cast<float>(brightness * (1.0 - 0.4 * q));
        }
      }
      blur<Dim>(field, shape, 1.0);
      data::Raster image, mask;
      image.bits = mask.bits = 16;
      image.values = xt::xtensor<float, 4>::from_shape({1, D, H, W});
      mask.values = xt::xtensor<float, 4>::from_shape({1, D, H, W});
      const double noise = three ? 40 : 90;
      for (std::size_t p = 0; p < n; ++p) {
        const double v = 200.0 + 1500.0 * field[p] + rng.normal(0, noise);
        image.values.data()[p] = static_cast<float>(std::clamp(v, 0.0, 65535.0));
        mask.values.data()[p] = ids[p];
      }
      char name[48];
      std::snprintf(name, sizeof name, "stand_in_%03zu.tif", i);
      data::write_tiff(dir / "images" / name, image);
      data::write_tiff(dir / "masks" / name, mask);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Training and scoring one strategy.

template <class Dim>
struct Setup {
  const Normalised<Dim>& train;
  const Padded<data::WithCentres<Normalised<Dim>>>& validation;
  const Normalised<Dim>& test;
  std::vector<std::size_t> labeled_ids{}, unlabeled_ids{};
  std::size_t in_channels = 1, min_object_size = 0;
  double foreground_weight = 10;
  data::SpatialShape<Dim> crop{};
  data::CentreOptions<Dim> centres{};
  ss::instance::EmbeddingGrid<Dim> grid{};
};

template <class Dim>
struct Shown {
  std::string stem;
  data::Image<Dim> image;
  data::LabelMap<Dim> truth;
  std::vector<data::LabelMap<Dim>> predictions;  // one per strategy
};

struct Outcome {
  std::string strategy;
  double val_iou = NAN, val_teacher = NAN, ap50 = NAN, ap75 = NAN, matched_iou = NAN, seconds = 0;
  std::size_t best_epoch = 0;
};

data::Raster label_raster(const std::int32_t* v, std::size_t d, std::size_t h, std::size_t w) {
  data::Raster r;
  r.bits = 16;
  r.values = xt::xtensor<float, 4>::from_shape({1, d, h, w});
  for (std::size_t p = 0; p < d * h * w; ++p) r.values.data()[p] = static_cast<float>(std::max(v[p], 0));
  return r;
}

template <class Dim, class Strategy>
Outcome run(const Arguments& args, const std::string& name, const Setup<Dim>& setup,
            std::vector<Shown<Dim>>& shown) {
  using Trainer = ss::Trainer<Dim, ss::backbone::BranchedERFNet, ss::loss::SpatialEmbedding, Strategy, ss::cpu>;
  const data::Subset<Normalised<Dim>> labeled(setup.train, setup.labeled_ids);
  const data::Subset<Normalised<Dim>> unlabeled = data::unlabeled_view(setup.train, setup.unlabeled_ids);
  const std::size_t batch = std::min(args.batch.value_or(Dim::spatial == 3 ? 2 : 4), labeled.size());
  const std::size_t epochs = args.epochs.value_or(Dim::spatial == 3 ? 100 : 20);

  typename Trainer::Options o;
  o.model.in_channels = static_cast<ss::index_t>(setup.in_channels);
  o.model.widths = {static_cast<ss::index_t>(args.widths[0]), static_cast<ss::index_t>(args.widths[1]),
                    static_cast<ss::index_t>(args.widths[2])};
  o.model.stage2_blocks = 1;
  o.model.stage3_repeats = 1;
  o.model.decoder_blocks = 1;
  o.optimizer = ss::optim::AdamOptions{.lr = args.lr, .weight_decay = args.weight_decay};
  // The Trainer's count of steps per epoch, for the schedule's length.
  const std::size_t per_epoch = args.steps_per_epoch
                                    ? args.steps_per_epoch
                                    : std::max<std::size_t>(1, labeled.size() / batch / args.accumulate);
  if (args.poly > 0)
    o.schedule = ss::optim::Poly{.total = static_cast<ss::index_t>(per_epoch * epochs), .power = args.poly};
  o.loss.grid = setup.grid;
  o.loss.foreground_weight = setup.foreground_weight;
  o.labeled = {.batch_size = batch, .seed = args.seed * 2 + 1, .threads = args.threads};
  o.unlabeled = {.batch_size = std::max<std::size_t>(1, std::min(batch, unlabeled.size())),
                 .seed = args.seed * 2 + 2,
                 .threads = args.threads};
  o.labeled_transform = train_transform<Dim>(setup.crop, setup.centres);
  o.unlabeled_transform = train_transform<Dim>(setup.crop, setup.centres);
  o.second_view = aug::Compose<Dim>{aug::Brightness{.min = 0.8, .max = 1.2}, aug::Contrast{.min = 0.8, .max = 1.2},
                                    aug::GaussianNoise{.sigma = 0.05}};
  if constexpr (std::is_same_v<Strategy, ss::ssl::MeanTeacher<>>) o.strategy = {.consistency = 1.0, .rampup = 0.3};
  o.seed = args.seed;
  Trainer trainer(o);

  const fs::path dir = args.out / name;
  fs::create_directories(dir);
  std::printf("\n%s: BranchedERFNet (widths %zu,%zu,%zu), SpatialEmbedding, %zu labeled + %zu unlabeled training "
              "images, %zu validation, %zu test\n",
              name.c_str(), args.widths[0], args.widths[1], args.widths[2], labeled.size(),
              Strategy::uses_unlabeled ? unlabeled.size() : std::size_t{0}, setup.validation.size(),
              setup.test.size());
  std::fflush(stdout);

  Outcome out;
  out.strategy = name;
  std::ofstream csv(dir / "validation.csv");
  csv << "epoch,student_embedding_iou,teacher_embedding_iou\n";
  ss::FitOptions fit{.epochs = epochs,
                     .steps_per_epoch = args.steps_per_epoch,
                     .accumulate = args.accumulate,
                     .evaluate_every = 0,  // validated below, one whole image at a time
                     .run_dir = dir,
                     .progress = true};
  fit.on_epoch = [&](std::size_t epoch, const ss::ssl::LossParts&, const std::optional<ss::Evaluation>&) {
    const ss::Evaluation e = trainer.evaluate(setup.validation, 1);
    const double student = Trainer::student_score(e), teacher = Trainer::teacher_score(e);
    std::printf("  validation embedding IoU %.4f", student);
    if (!std::isnan(teacher)) std::printf("  (teacher %.4f)", teacher);
    if (!std::isnan(student) && (out.best_epoch == 0 || student > out.val_iou)) {
      out.val_iou = student;
      out.val_teacher = teacher;
      out.best_epoch = epoch;
      trainer.save(dir / "best.safetensors", epoch);
      std::printf("  best so far");
    }
    std::printf("\n");
    std::fflush(stdout);
    csv << epoch << ',' << student << ',' << teacher << '\n';
    return true;
  };
  const ss::FitResult r = trainer.fit(labeled, unlabeled, setup.validation, fit);
  out.seconds = r.seconds;
  if (out.best_epoch) trainer.load(dir / "best.safetensors");

  // Test: whole images, padded for the network, their prediction cropped back.
  ss::instance::ClusteringOptions<Dim> clustering;
  clustering.grid = setup.grid;
  clustering.seed_threshold = args.seed_threshold;
  clustering.min_object_size = static_cast<ss::index_t>(setup.min_object_size);
  ss::instance::InstanceScores scores({0.5, 0.75}, ss::instance::EmptyImage::zero);
  fs::create_directories(dir / "test_predictions");
  for (std::size_t i = 0; i < setup.test.size(); ++i) {
    const data::Sample<Dim> s = setup.test.get(i);
    const data::Sample<Dim> padded = pad_to_8<Dim>(s);
    const data::SpatialShape<Dim> shape = s.spatial_shape();
    const data::LabelMap<Dim> prediction =
        crop_origin<Dim>(trainer.predict_instances(padded.image, clustering, args.tta), shape);
    scores.add(s.instances, prediction);
    const std::size_t d = Dim::spatial == 3 ? shape[0] : 1;
    data::write_tiff(dir / "test_predictions" / (setup.test.stem(i) + ".tif"),
                     label_raster(prediction.data(), d, shape[Dim::spatial - 2], shape[Dim::spatial - 1]));
    if (i < shown.size()) shown[i].predictions.push_back(prediction);
  }
  out.ap50 = scores.ap_dsb(0.5);
  out.ap75 = scores.ap_dsb(0.75);
  out.matched_iou = scores.mean_matched_iou();
  const ss::instance::ThresholdScores at50 = scores.at(0.5);
  std::printf("%s: test AP_dsb@0.5 %.4f (TP %lld, FP %lld, FN %lld), AP_dsb@0.75 %.4f, mean matched IoU %.4f; "
              "best validation at epoch %zu; wrote %s/\n",
              name.c_str(), out.ap50, static_cast<long long>(at50.tp), static_cast<long long>(at50.fp),
              static_cast<long long>(at50.fn), out.ap75, out.matched_iou, out.best_epoch, dir.string().c_str());
  std::fflush(stdout);
  return out;
}

template <class Dim>
int main_for(const Arguments& args) {
  constexpr std::size_t S = Dim::spatial;
  fs::path root;
  if (args.data) {
    root = *args.data;
  } else {
    root = args.out / "data";
    write_stand_in<Dim>(args, root);
    std::printf("stand-in dataset (%s, data seed %llu) in %s\n", S == 3 ? "16x32x32 stacks" : "64x64 images",
                static_cast<unsigned long long>(args.data_seed), root.string().c_str());
  }
  const Normalised<Dim> train(root / "train", args.percentiles);
  const Normalised<Dim> val(root / "val", args.percentiles);
  const Normalised<Dim> test(root / "test", args.percentiles);

  data::CentreOptions<Dim> centres;
  centres.kind = args.centroid ? data::CentreKind::centroid : data::CentreKind::medoid;
  if (!args.spacing.empty()) std::copy(args.spacing.begin(), args.spacing.end(), centres.spacing.begin());
  const Padded<data::WithCentres<Normalised<Dim>>> validation{data::WithCentres<Normalised<Dim>>(val, centres)};

  Setup<Dim> setup{.train = train, .validation = validation, .test = test};
  setup.centres = centres;
  setup.grid.spacing = centres.spacing;
  setup.grid.grid = args.grid;
  if (args.crop.empty()) {
    setup.crop.fill(S == 3 ? 24 : 48);
    if constexpr (S == 3) setup.crop[0] = 16;
  } else if (args.crop.size() == 1) setup.crop.fill(args.crop[0]);
  else std::copy(args.crop.begin(), args.crop.end(), setup.crop.begin());

  // The labeled draw (seeded, the same for every strategy).
  examples::LabeledSplit split = examples::labeled_split(train.size(), args.labeled_fraction, args.seed, 1);
  setup.labeled_ids = std::move(split.labeled);
  setup.unlabeled_ids = std::move(split.unlabeled);
  for (const std::string& s : args.strategies)
    if (s != "supervised" && setup.unlabeled_ids.empty())
      throw ss::value_error(s + " needs unlabeled images, and --labeled-fraction leaves none of the " +
                            std::to_string(train.size()) + " in train/");

  // What the labeled masks say: channels, object sizes, background/foreground ratio.
  std::size_t smallest = 0, objects = 0;
  double ratio_sum = 0;
  std::size_t ratio_images = 0;
  data::SpatialShape<Dim> first_shape{};
  for (std::size_t k = 0; k < setup.labeled_ids.size(); ++k) {
    const data::Sample<Dim> s = train.get(setup.labeled_ids[k]);
    if (k == 0) {
      setup.in_channels = s.channels();
      first_shape = s.spatial_shape();
    } else if (s.channels() != setup.in_channels) {
      throw ss::shape_error(train.stem(setup.labeled_ids[k]) + " has " + std::to_string(s.channels()) +
                            " channels, the first labeled image " + std::to_string(setup.in_channels));
    }
    std::map<std::int32_t, std::size_t> sizes;
    std::size_t background = 0;
    for (const std::int32_t v : s.instances) {
      if (v > 0) ++sizes[v];
      else if (v == 0) ++background;
    }
    std::size_t foreground = 0;
    for (const auto& [id, count] : sizes) {
      smallest = objects == 0 ? count : std::min(smallest, count);
      ++objects;
      foreground += count;
    }
    if (foreground > 0) {
      ratio_sum += static_cast<double>(background) / static_cast<double>(foreground);
      ++ratio_images;
    }
  }
  if (objects == 0) throw ss::value_error("the labeled training masks hold no object");
  setup.min_object_size = args.min_object_size.value_or(smallest / 2);
  setup.foreground_weight =
      args.foreground_weight.value_or(S == 3 ? ratio_sum / static_cast<double>(ratio_images) : 10.0);

  std::printf("data %s: %zu train (%zu labeled), %zu val, %zu test; %zu channel(s), first image %s; %zu objects "
              "in the labeled masks, the smallest %zu %s\n",
              root.string().c_str(), train.size(), setup.labeled_ids.size(), val.size(), test.size(),
              setup.in_channels, shape_text<Dim>(first_shape).c_str(), objects, smallest,
              S == 3 ? "voxels" : "pixels");
  std::string spacing;
  for (std::size_t a = 0; a < S; ++a) {
    if (a) spacing += ",";
    char v[32];
    std::snprintf(v, sizeof v, "%g", centres.spacing[a]);
    spacing += v;
  }
  std::printf("crops %s, %s centres, spacing %s, grid %g, foreground weight %.3g, percentiles %g-%g; clustering: "
              "seed threshold %g, min object size %zu%s\n",
              shape_text<Dim>(setup.crop).c_str(), args.centroid ? "centroid" : "medoid", spacing.c_str(),
              args.grid, setup.foreground_weight, args.percentiles[0], args.percentiles[1], args.seed_threshold,
              setup.min_object_size, args.tta ? ", 8-fold TTA" : "");
  std::fflush(stdout);

  std::vector<Shown<Dim>> shown;
  for (std::size_t i = 0; i < std::min(args.samples, test.size()); ++i) {
    const data::Sample<Dim> s = test.get(i);
    shown.push_back({test.stem(i), s.image, s.instances, {}});
  }

  std::vector<Outcome> outcomes;
  for (const std::string& s : args.strategies) {
    if (s == "supervised") outcomes.push_back(run<Dim, ss::ssl::Supervised>(args, s, setup, shown));
    else if (s == "mean_teacher") outcomes.push_back(run<Dim, ss::ssl::MeanTeacher<>>(args, s, setup, shown));
    else outcomes.push_back(run<Dim, ss::ssl::FixMatch>(args, s, setup, shown));
  }

  // Pictures: image | ground truth | one prediction per strategy (3D: three slices, one per row).
  if (!shown.empty()) fs::create_directories(args.out / "predictions");
  const std::vector<data::Colour> colours = data::palette(64);
  for (const Shown<Dim>& p : shown) {
    const std::size_t depth = S == 3 ? p.image.shape()[1] : 1, width = p.image.shape()[S];
    const std::size_t zoom = std::max<std::size_t>(1, 192 / std::max<std::size_t>(width, 1));
    std::vector<std::size_t> slices{S == 3 ? depth / 2 : 0};
    if (S == 3 && depth >= 4) slices = {depth / 4, depth / 2, 3 * depth / 4};
    std::vector<data::Raster> tiles;
    for (std::size_t z : slices) {
      tiles.push_back(data::enlarge(data::to_rgb<Dim>(p.image, z), zoom));
      tiles.push_back(data::enlarge(data::colour_code<Dim>(p.truth, colours, z), zoom));
      for (const data::LabelMap<Dim>& m : p.predictions)
        tiles.push_back(data::enlarge(data::colour_code<Dim>(m, colours, z), zoom));
    }
    data::write_png(args.out / "predictions" / (p.stem + ".png"), data::grid(tiles, 2 + p.predictions.size()));
  }

  std::printf("\n%-13s %9s %7s %9s %10s %11s %13s %9s\n", "strategy", "val IoU", "epoch", "teacher", "AP@0.5",
              "AP@0.75", "matched IoU", "seconds");
  for (const Outcome& o : outcomes)
    std::printf("%-13s %9.4f %7zu %9.4f %10.4f %11.4f %13.4f %9.1f\n", o.strategy.c_str(), o.val_iou, o.best_epoch,
                o.val_teacher, o.ap50, o.ap75, o.matched_iou, o.seconds);
  std::printf("(validation embedding IoU of the student at its best epoch and the teacher's then; test AP_dsb and "
              "the mean IoU of the pairs matched at 0.5, from that epoch's weights; seconds of training)\n");
  if (!shown.empty())
    std::printf("wrote %zu picture(s) to %s (image | ground truth | %s%s)\n", shown.size(),
                (args.out / "predictions").string().c_str(), "one column per strategy",
                S == 3 ? "; rows: slices at 1/4, 1/2, 3/4 of the depth" : "");
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Command line: every number is checked whole (examples::parse), so "12x", "1e400", "-3" and
// empty list items are refused.

namespace {

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  for (char ch : text) {
    if (ch == ',') {
      out.push_back(item);
      item.clear();
    } else {
      item.push_back(ch);
    }
  }
  out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Arguments args;
  std::string bad;
  const auto number = [&](const char* flag, const char* text, auto& into) {
    if (!bad.empty()) return;
    std::remove_reference_t<decltype(into)> v{};
    if (examples::parse(text, v)) into = v;
    else {
      bad = flag;
      bad += std::is_floating_point_v<decltype(v)> ? " needs a number" : " needs a whole number";
      bad += ", got '";
      bad += text;
      bad += "'";
    }
  };
  const auto optional_number = [&](const char* flag, const char* text, auto& into) {
    typename std::remove_reference_t<decltype(into)>::value_type v{};
    number(flag, text, v);
    if (bad.empty()) into = v;
  };
  const auto list = [&](const char* flag, const char* text, auto& into) {
    into.clear();
    for (const std::string& item : split_commas(text)) {
      typename std::remove_reference_t<decltype(into)>::value_type v{};
      number(flag, item.c_str(), v);
      into.push_back(v);
    }
    if (!bad.empty()) bad = std::string(flag) + " needs a comma-separated list of numbers, got '" + text + "'";
  };
  for (int i = 1; i < argc && bad.empty(); ++i) {
    const std::string a = argv[i];
    const bool more = i + 1 < argc;
    const char* f = argv[i];
    if (a == "--tta") args.tta = true;
    else if (!more) bad = "unknown option or missing value: '" + a + "'";
    else if (a == "--data") args.data = fs::path(argv[++i]);
    else if (a == "--out") args.out = argv[++i];
    else if (a == "--dim") {
      const std::string v = argv[++i];
      if (v == "2" || v == "3") args.dim = v[0] - '0';
      else bad = "--dim is 2 or 3, got '" + v + "'";
    } else if (a == "--strategies") args.strategies = split_commas(argv[++i]);
    else if (a == "--labeled-fraction") number(f, argv[++i], args.labeled_fraction);
    else if (a == "--epochs") optional_number(f, argv[++i], args.epochs);
    else if (a == "--steps-per-epoch") number(f, argv[++i], args.steps_per_epoch);
    else if (a == "--batch") optional_number(f, argv[++i], args.batch);
    else if (a == "--accumulate") number(f, argv[++i], args.accumulate);
    else if (a == "--lr") number(f, argv[++i], args.lr);
    else if (a == "--weight-decay") number(f, argv[++i], args.weight_decay);
    else if (a == "--poly") number(f, argv[++i], args.poly);
    else if (a == "--widths") list(f, argv[++i], args.widths);
    else if (a == "--crop") list(f, argv[++i], args.crop);
    else if (a == "--centre") {
      const std::string v = argv[++i];
      if (v == "medoid" || v == "centroid") args.centroid = v == "centroid";
      else bad = "--centre is medoid or centroid, got '" + v + "'";
    } else if (a == "--spacing") list(f, argv[++i], args.spacing);
    else if (a == "--grid") number(f, argv[++i], args.grid);
    else if (a == "--percentiles") list(f, argv[++i], args.percentiles);
    else if (a == "--foreground-weight") optional_number(f, argv[++i], args.foreground_weight);
    else if (a == "--min-object-size") optional_number(f, argv[++i], args.min_object_size);
    else if (a == "--seed-threshold") number(f, argv[++i], args.seed_threshold);
    else if (a == "--samples") number(f, argv[++i], args.samples);
    else if (a == "--seed") number(f, argv[++i], args.seed);
    else if (a == "--threads") number(f, argv[++i], args.threads);
    else if (a == "--data-seed") number(f, argv[++i], args.data_seed);
    else if (a == "--train-size") optional_number(f, argv[++i], args.train_size);
    else if (a == "--val-size") optional_number(f, argv[++i], args.val_size);
    else if (a == "--test-size") optional_number(f, argv[++i], args.test_size);
    else bad = "unknown option '" + a + "'";
  }
  const auto need = [&](bool ok, const std::string& what) {
    if (bad.empty() && !ok) bad = what;
  };
  const auto S = static_cast<std::size_t>(args.dim);
  need(!args.strategies.empty(), "--strategies is empty");
  for (std::size_t k = 0; k < args.strategies.size(); ++k) {
    const std::string& s = args.strategies[k];
    need(s == "supervised" || s == "mean_teacher" || s == "fixmatch",
         "unknown strategy '" + s + "' (supervised, mean_teacher, fixmatch)");
    need(std::find(args.strategies.begin(), args.strategies.begin() + static_cast<std::ptrdiff_t>(k), s) ==
             args.strategies.begin() + static_cast<std::ptrdiff_t>(k),
         "strategy '" + s + "' is listed twice");
  }
  need(args.labeled_fraction > 0 && args.labeled_fraction <= 1, "--labeled-fraction must lie in (0, 1]");
  need(!args.epochs || *args.epochs >= 1, "--epochs must be at least 1");
  need(!args.batch || *args.batch >= 1, "--batch must be at least 1");
  need(args.accumulate >= 1, "--accumulate must be at least 1");
  need(args.lr > 0, "--lr must be positive");
  need(args.weight_decay >= 0, "--weight-decay must be >= 0");
  need(args.poly >= 0, "--poly must be >= 0 (0: a constant learning rate)");
  need(args.widths.size() == 3 && std::all_of(args.widths.begin(), args.widths.end(), [](std::size_t w) {
         return w >= 1 && w <= 4096;
       }), "--widths needs three channel counts of 1 to 4096, as 8,16,32");
  need(args.crop.empty() || args.crop.size() == (S == 2 ? 1u : 3u),
       S == 2 ? "--crop takes one number in 2D (square crops), as 48" : "--crop takes D,H,W in 3D, as 16,24,24");
  need(std::all_of(args.crop.begin(), args.crop.end(),
                   [](std::size_t c) { return c >= 8 && c % 8 == 0 && c <= 65536; }),
       "--crop sides must be multiples of 8 (ERFNet downsamples three times), at least 8");
  need(args.spacing.empty() || args.spacing.size() == S,
       S == 2 ? "--spacing takes Y,X in 2D" : "--spacing takes Z,Y,X in 3D");
  need(std::all_of(args.spacing.begin(), args.spacing.end(), [](double v) { return v > 0; }),
       "--spacing values must be positive");
  need(args.grid > 1, "--grid must be greater than 1");
  need(args.percentiles.size() == 2 && args.percentiles[0] >= 0 && args.percentiles[0] < args.percentiles[1] &&
           args.percentiles[1] <= 100,
       "--percentiles needs LO,HI with 0 <= LO < HI <= 100, as 1,99.8");
  need(!args.foreground_weight || *args.foreground_weight >= 0, "--foreground-weight must be >= 0");
  need(args.seed_threshold >= 0 && args.seed_threshold <= 1, "--seed-threshold must lie in [0, 1]");
  need(!args.tta || S == 2, "--tta is 2D only");
  need(!args.tta || args.spacing.empty() || args.spacing[0] == args.spacing[1],
       "--tta turns the image, so it needs equal Y and X spacing");
  if (!args.data) {
    need(args.train_size.value_or(2) >= 2 && args.val_size.value_or(1) >= 1 && args.test_size.value_or(1) >= 1,
         "--train-size must be at least 2, --val-size and --test-size at least 1");
    need(args.train_size.value_or(0) <= 10000 && args.val_size.value_or(0) <= 10000 &&
             args.test_size.value_or(0) <= 10000,
         "stand-in sizes are at most 10000");
  }
  if (!bad.empty()) {
    std::fprintf(stderr, "tiff_instances: %s (see the comment at the top of tiff_instances.cpp)\n", bad.c_str());
    return 2;
  }

  try {
    return args.dim == 2 ? main_for<ss::dim2>(args) : main_for<ss::dim3>(args);
  } catch (const ss::error& e) {
    std::fprintf(stderr, "tiff_instances: %s\n", e.what());
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    std::fprintf(stderr, "tiff_instances: %s\n", e.what());
    return 1;
  }
}
