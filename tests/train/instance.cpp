// Instance segmentation by spatial embeddings through the Trainer: BranchedERFNet with
// SpatialEmbedding learns a two-squares task in 2D and 3D, supervised and semi-supervised.
#include "semiseg/backbone/branched_erfnet.hpp"
#include "semiseg/data/augment/photometric.hpp"
#include "semiseg/data/instance_centres.hpp"
#include "semiseg/instance/matching.hpp"
#include "semiseg/loss/spatial_embedding.hpp"
#include "semiseg/ssl/fixmatch.hpp"
#include "semiseg/ssl/mean_teacher.hpp"
#include "semiseg/ssl/supervised.hpp"
#include "semiseg/train/trainer.hpp"
#include "support/harness.hpp"
#include "support/squares.hpp"

namespace semiseg::test {

namespace {

// Noisy images with two bright squares (in 3D, boxes four slices thick at random depths),
// instances 1 and 2, in the left and right halves at random heights, their medoids flagged.
template <SpatialDimension Dim>
struct TwoSquares {
  using dim_type = Dim;
  std::size_t count = 32;
  std::uint64_t seed = 1;
  bool labeled = true;
  std::size_t size() const { return count; }
  data::Sample<Dim> get(std::size_t i) const {
    data::Rng rng(seed, 78, 0, static_cast<std::uint32_t>(i));
    const std::size_t side = 16, depth = Dim::spatial == 3 ? 8 : 1, half = 3;
    data::SpatialShape<Dim> spatial;
    std::array<std::size_t, Dim::spatial + 1> shape;
    shape[0] = 1;
    for (int a = 0; a < Dim::spatial; ++a) spatial[std::size_t(a)] = shape[std::size_t(a) + 1] = side;
    if constexpr (Dim::spatial == 3) spatial[0] = shape[1] = depth;
    data::Sample<Dim> s;
    s.image = data::Image<Dim>::from_shape(shape);
    s.instances = data::LabelMap<Dim>::from_shape(spatial);
    std::size_t ys[2], xs[2], zs[2];
    for (int k = 0; k < 2; ++k) {
      ys[k] = static_cast<std::size_t>(rng.integer(0, side - 2 * half));
      xs[k] = static_cast<std::size_t>(rng.integer(0, side / 2 - 2 * half)) + (k ? side / 2 : 0);
      zs[k] = depth > 1 ? static_cast<std::size_t>(rng.integer(0, depth - 4)) : 0;
    }
    for (std::size_t p = 0; p < s.instances.size(); ++p) {
      const std::size_t x = p % side, y = p / side % side, z = p / (side * side);
      std::int32_t id = 0;
      for (int k = 0; k < 2; ++k)
        if (y >= ys[k] && y < ys[k] + 2 * half && x >= xs[k] && x < xs[k] + 2 * half &&
            (depth == 1 || (z >= zs[k] && z < zs[k] + 4)))
          id = k + 1;
      s.instances.data()[p] = id;
      s.image.data()[p] = static_cast<float>((id ? 0.8 : 0.2) + 0.1 * rng.normal());
    }
    data::mark_centres<Dim>(s.instances);
    if (!labeled) s.instances = {};
    s.index = i;
    return s;
  }
};

template <SpatialDimension Dim, class Strategy>
using EmbeddingTrainer = Trainer<Dim, backbone::BranchedERFNet, loss::SpatialEmbedding, Strategy, device, float>;

template <SpatialDimension Dim, class Strategy>
typename EmbeddingTrainer<Dim, Strategy>::Options embedding_options(typename Strategy::Options strategy = {}) {
  typename EmbeddingTrainer<Dim, Strategy>::Options o;
  o.model.in_channels = 1;
  o.model.widths = {4, 8, 16};
  o.model.stage2_blocks = 1;
  o.model.stage3_repeats = 1;
  o.model.dilations = {2};
  o.model.decoder_blocks = 1;
  o.model.stage2_dropout = 0;
  o.model.stage3_dropout = 0;
  o.optimizer = optim::AdamOptions{.lr = 5e-3};
  o.strategy = strategy;
  o.loss.grid.grid = 64;  // 16-pixel images: a finer grid than EmbedSeg's 1024 keeps offsets O(0.1)
  o.labeled = loader_options(4, 1);
  o.unlabeled = loader_options(4, 2);
  o.seed = 5;
  return o;
}

template <SpatialDimension Dim>
double ap_of(auto& trainer, const TwoSquares<Dim>& data, const instance::ClusteringOptions<Dim>& clustering) {
  instance::InstanceScores scores;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto s = data.get(i);
    auto truth = s.instances;
    for (auto& v : truth) v = instance::instance_id(v);
    scores.add(truth, trainer.predict_instances(s.image, clustering));
  }
  return scores.ap_dsb(0.5);
}

}  // namespace

TEST_CASE_TEMPLATE("instance training: BranchedERFNet + SpatialEmbedding learn two squares (Supervised)", Dim, dim2,
                   dim3) {
  EmbeddingTrainer<Dim, ssl::Supervised> trainer(embedding_options<Dim, ssl::Supervised>());
  TwoSquares<Dim> labeled{.count = 32, .seed = 1}, validation{.count = 8, .seed = 3};
  const Evaluation before = trainer.evaluate(validation);
  const std::size_t epochs = Dim::spatial == 3 ? 120 : 40;
  const FitResult r = trainer.fit(labeled, labeled, validation, {.epochs = epochs, .progress = false});
  REQUIRE(r.last);
  const double first = ssl::total_of(r.epochs.front(), {"supervised"}), last = ssl::total_of(r.epochs.back(), {"supervised"});
  CAPTURE(first);
  CAPTURE(last);
  CHECK(last < 0.7 * first);
  const double iou_before = EmbeddingTrainer<Dim, ssl::Supervised>::student_score(before);
  const double iou_after = EmbeddingTrainer<Dim, ssl::Supervised>::student_score(*r.last);
  CAPTURE(iou_before);
  CAPTURE(iou_after);
  CHECK(iou_after > 0.6);
  CHECK(iou_after > iou_before);
  instance::ClusteringOptions<Dim> clustering;
  clustering.grid = trainer.options().loss.grid;
  clustering.min_object_size = 8;
  // The seed learns φ, so it reaches EmbedSeg's 0.9 only once the embedding is tight. In 3D the
  // z offsets of these thin boxes come slowly (about 1000 steps here give an embedding IoU near
  // 0.8 but seeds below 0.9), so the 3D check clusters from seed 0.7 and asks for less.
  if constexpr (Dim::spatial == 3) clustering.seed_threshold = 0.7;
  const double ap = ap_of<Dim>(trainer, validation, clustering);
  CAPTURE(ap);
  CHECK(ap > (Dim::spatial == 3 ? 0.15 : 0.5));
}

TEST_CASE_TEMPLATE("instance training: Mean Teacher and FixMatch on embeddings compose through the Trainer", Dim,
                   dim2, dim3) {
  TwoSquares<Dim> labeled{.count = 16, .seed = 1}, unlabeled{.count = 16, .seed = 2, .labeled = false},
      validation{.count = 4, .seed = 3};
  FitOptions fit;
  fit.epochs = 3;
  fit.progress = false;
  {
    ssl::MeanTeacherOptions mt;
    mt.rampup = 0.0;
    EmbeddingTrainer<Dim, ssl::MeanTeacher<>> trainer(embedding_options<Dim, ssl::MeanTeacher<>>(mt));
    const FitResult r = trainer.fit(labeled, unlabeled, validation, fit);
    REQUIRE(r.last);
    const double c = ssl::total_of(r.epochs.back(), {"consistency"});
    CHECK(std::isfinite(c));
    CHECK(c > 0);
    CHECK(std::isfinite(EmbeddingTrainer<Dim, ssl::MeanTeacher<>>::teacher_score(*r.last)));
    CHECK(ssl::total_of(r.epochs.back(), {"supervised"}) < ssl::total_of(r.epochs.front(), {"supervised"}));
  }
  {
    ssl::FixMatchOptions fm;
    fm.threshold = 0.6;
    auto o = embedding_options<Dim, ssl::FixMatch>(fm);
    o.second_view = data::aug::GaussianNoise{.sigma = 0.1};
    EmbeddingTrainer<Dim, ssl::FixMatch> trainer(o);
    const FitResult r = trainer.fit(labeled, unlabeled, validation, fit);
    REQUIRE(r.last);
    CHECK(std::isfinite(ssl::total_of(r.epochs.back(), {"unlabeled"})));
    CHECK(ssl::total_of(r.epochs.back(), {"confident"}) > 0);
    CHECK(ssl::total_of(r.epochs.back(), {"supervised"}) < ssl::total_of(r.epochs.front(), {"supervised"}));
    // CutMix would cut instances away from their centres: refused.
    fm.cutmix = true;
    using CutMixTrainer = EmbeddingTrainer<Dim, ssl::FixMatch>;
    const auto cutmix = embedding_options<Dim, ssl::FixMatch>(fm);
    CHECK_THROWS_AS(CutMixTrainer{cutmix}, value_error);
  }
}

TEST_CASE("instance training: an embedding loss needs instance maps") {
  EmbeddingTrainer<dim2, ssl::Supervised> trainer(embedding_options<dim2, ssl::Supervised>());
  TwoSquares<dim2> unlabeled{.count = 8, .seed = 1, .labeled = false};
  FitOptions fit;
  fit.epochs = 1;
  fit.progress = false;
  CHECK_THROWS_AS(trainer.fit(unlabeled, unlabeled, unlabeled, fit), value_error);
}

}  // namespace semiseg::test
