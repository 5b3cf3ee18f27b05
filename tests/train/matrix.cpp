// Interchangeability: every strategy composes with U-Net and DeepLabV3Plus in 2D and 3D through
// the one Trainer type, and trains for a few steps on the squares task: the supervised loss falls
// and no loss part, weight or parameter is NaN. The same file compiles for cuda.
#include <cmath>
#include <string>

#include "semiseg/backbone/deeplabv3plus.hpp"
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
#include "semiseg/train/trainer.hpp"
#include "support/harness.hpp"
#include "support/squares.hpp"

namespace semiseg::test {

// Small networks that learn the squares in a few steps.
template <template <class, class, class> class B>
auto tiny_model() {
  if constexpr (std::is_same_v<B<float, cpu, dim2>, backbone::UNet<float, cpu, dim2>>) {
    return backbone::UNetOptions{.in_channels = 1, .classes = 2, .base_channels = 4, .depth = 1};
  } else {
    backbone::DeepLabV3PlusOptions o;
    o.in_channels = 1;
    o.classes = 2;
    o.layers = 18;
    o.base_channels = 4;
    o.output_stride = 8;
    o.aspp_channels = 8;
    o.low_level_channels = 4;
    o.decoder_channels = 8;
    o.dropout = 0.1;
    return o;
  }
}

// Options that make each strategy's unlabeled term act within the few steps of the test.
template <class S>
typename S::Options active_options() {
  typename S::Options o{};
  if constexpr (std::is_same_v<S, ssl::PseudoLabel>) o = {.alpha_final = 1.0, .t1 = 0.25, .t2 = 0.5, .fractions = true};
  if constexpr (std::is_same_v<S, ssl::MeanTeacher<>>) o = {.consistency = 1.0};
  if constexpr (std::is_same_v<S, ssl::PiModel>) o.consistency = 10.0;
  if constexpr (std::is_same_v<S, ssl::TemporalEnsembling>) o.consistency = 10.0;
  if constexpr (std::is_same_v<S, ssl::FixMatch>) o.threshold = 0.6;
  return o;
}

template <template <class, class, class> class B, SpatialDimension Dim, class S>
void check_composition(bool cutmix = false) {
  using Train = Trainer<Dim, B, loss::CrossEntropy, S, device, float>;
  typename Train::Options o;
  o.model = tiny_model<B>();
  o.optimizer = optim::AdamOptions{.lr = 1e-2};
  o.strategy = active_options<S>();
  if constexpr (std::is_same_v<S, ssl::CrossPseudo>) o.strategy.cutmix = cutmix;
  o.labeled = loader_options(4, 1);
  o.unlabeled = loader_options(4, 2);
  o.second_view = data::aug::GaussianNoise{.sigma = 0.1};
  o.seed = 5;
  Train trainer(o);
  const Squares<Dim> labeled{.count = 16, .seed = 1}, unlabeled{.count = 16, .seed = 2, .labeled = false},
      validation{.count = 4, .seed = 3};
  const FitResult r = trainer.fit(labeled, unlabeled, validation, {.epochs = 4, .evaluate_every = 4, .progress = false});
  const std::string what = std::string(S::name) + (cutmix ? " (CutMix)" : "") + " × " + Train::Model::name + " × " + Dim::name;
  CAPTURE(what);
  REQUIRE(r.epochs.size() == 4);
  for (const ssl::LossParts& epoch : r.epochs)
    for (const auto& [name, value] : epoch) CHECK_MESSAGE(std::isfinite(value), name);
  CHECK(ssl::total_of(r.epochs.back(), {"supervised"}) < ssl::total_of(r.epochs.front(), {"supervised"}));
  bool finite = true;
  for (float v : to_host(trainer.model().parameters().values().view())) finite = finite && std::isfinite(v);
  CHECK(finite);
  REQUIRE(r.last);
  CHECK(std::isfinite(r.last->student.mean_iou()));
}

template <template <class, class, class> class B, SpatialDimension Dim>
void check_all_strategies() {
  check_composition<B, Dim, ssl::Supervised>();
  check_composition<B, Dim, ssl::PseudoLabel>();
  check_composition<B, Dim, ssl::MeanTeacher<>>();
  check_composition<B, Dim, ssl::PiModel>();
  check_composition<B, Dim, ssl::TemporalEnsembling>();
  check_composition<B, Dim, ssl::CrossPseudo>();
  check_composition<B, Dim, ssl::CrossPseudo>(true);
  check_composition<B, Dim, ssl::FixMatch>();
}

TEST_CASE_TEMPLATE("every strategy trains with UNet in 2D and 3D", Dim, dim2, dim3) {
  check_all_strategies<backbone::UNet, Dim>();
}

TEST_CASE_TEMPLATE("every strategy trains with DeepLabV3Plus in 2D and 3D", Dim, dim2, dim3) {
  check_all_strategies<backbone::DeepLabV3Plus, Dim>();
}

}  // namespace semiseg::test
