// Strategy losses on hand-computed cases. The model is a per-class bias, logits = x + b, so the
// logits are the inputs the test writes and every value below follows from softmax by hand:
// softmax(ln 3, 0) = (3/4, 1/4), softmax(0, 0) = (1/2, 1/2), softmax(ln 19, 0) = (19/20, 1/20).
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "semiseg/backbone/blocks.hpp"
#include "semiseg/loss/cross_entropy.hpp"
#include "semiseg/ssl/cross_pseudo.hpp"
#include "semiseg/ssl/fixmatch.hpp"
#include "semiseg/ssl/mean_teacher.hpp"
#include "semiseg/ssl/mixing.hpp"
#include "semiseg/ssl/pi_model.hpp"
#include "semiseg/ssl/temporal_ensembling.hpp"
#include "support/harness.hpp"

namespace semiseg::test {

// logits[n, c, p] = x[n, c, p] + b[c]; the input has `classes` channels.
template <class T, Device D, SpatialDimension Dim>
class Bias {
 public:
  static constexpr const char* name = "Bias";
  using value_type = T;
  using device = D;
  using input_dim = Dim;
  using output_dim = Dim;
  struct Options {
    index_t classes = 2;
  };

  explicit Bias(const Options& o, std::uint64_t seed = 0, const std::string& = "bias")
      : classes_(o.classes), params_(backbone::make_parameters<T, D>()) {
    bias_ = params_->add("bias", classes_, Init::uniform(1.0));
    params_->finalize(seed);
  }

  const Tensor<T, D, Dim>& forward(TensorView<const T, D, Dim> x, Context) {
    std::vector<T> v = to_host(x);
    const std::vector<T> b = to_host(params_->values().view());
    const index_t plane = x.plane();
    for (std::size_t i = 0; i < v.size(); ++i) v[i] += b[static_cast<std::size_t>((static_cast<index_t>(i) / plane) % classes_)];
    y_.resize(x.shape);
    from_host(y_.view(), v);
    return y_;
  }
  TensorView<const T, D, Dim> backward(TensorView<const T, D, Dim> dy) {
    const std::vector<T> g = to_host(dy);
    std::vector<T> grads = to_host(params_->grads().view());
    const index_t plane = dy.plane();
    for (std::size_t i = 0; i < g.size(); ++i) grads[static_cast<std::size_t>((static_cast<index_t>(i) / plane) % classes_)] += g[i];
    from_host(params_->grads().view(), grads);
    dx_.resize(dy.shape);
    copy<D, D>(dx_.data(), dy.data, dy.size());
    return dx_.view();
  }
  Parameters<T, D>& parameters() { return *params_; }
  Tensor<T, D, flat>& buffers() { return params_->buffers(); }

  void set_bias(const std::vector<double>& b) { from_host(params_->values().view(), std::vector<T>(b.begin(), b.end())); }
  std::vector<double> grad() const {
    const auto g = to_host(params_->grads().view());
    return {g.begin(), g.end()};
  }

 private:
  index_t classes_;
  std::unique_ptr<Parameters<T, D>> params_;
  ParamRef<T, D> bias_;
  Tensor<T, D, Dim> y_, dx_;
};

using Model = Bias<double, device, dim2>;
using CE = loss::CrossEntropy<double, device, dim2>;
using Inputs = ssl::StepInputs<double, device, dim2, dim2>;

const double ln2 = std::log(2.0), ln3 = std::log(3.0), ln19 = std::log(19.0);

// A batch of `n` samples of 2 classes × 1 × `width` pixels; values in (sample, class, pixel) order.
Tensor<double, device, dim2> batch(index_t n, index_t width, const std::vector<double>& v) {
  Tensor<double, device, dim2> t(shape_nc<dim2>(n, 2, {1, width}));
  from_host(t.view(), v);
  return t;
}
Tensor<std::int32_t, device, dim2> labels(index_t n, index_t width, const std::vector<std::int32_t>& v) {
  Tensor<std::int32_t, device, dim2> t(shape_nc<dim2>(n, 1, {1, width}));
  from_host(t.view(), v);
  return t;
}

double part(const ssl::LossParts& parts, const std::string& name) {
  for (const auto& [n, v] : parts)
    if (n == name) return v;
  FAIL("no loss part " << name);
  return NAN;
}

ssl::RunnerSetup<Model> setup(std::uint64_t seed = 1) {
  ssl::RunnerSetup<Model> s;
  s.seed = seed;
  s.optimizer = optim::SgdOptions{.lr = 0.1};
  return s;
}

TEST_CASE("PiModel: the loss of two passes, its weight, and a gradient through both passes") {
  // Labeled (ln 3, 0) with label 0; unlabeled (0, 0), whose second view is (ln 3, 0).
  auto xl = batch(1, 1, {ln3, 0}), u = batch(1, 1, {0, 0}), u2 = batch(1, 1, {ln3, 0});
  auto y = labels(1, 1, {0});
  Inputs in;
  in.labeled = xl.view();
  in.targets = y.view();
  in.unlabeled = u.view();
  in.unlabeled_second_view = u2.view();
  in.epoch = 2;
  in.progress = 1;
  in.labeled_count = 10;
  in.unlabeled_count = 30;
  CE ce;
  Model model({});
  model.set_bias({0, 0});
  ssl::PiModel::Runner<Model, CE> runner({}, model, setup());
  model.parameters().zero_grad();
  const auto parts = runner.step(in, ce);
  // CE = −ln 3/4. Consistency: the labeled rows agree; the unlabeled rows differ by (1/4, −1/4),
  // so Σ d² = 1/8 over B = 2 samples × C = 2 classes: 1/32. w = 100 · 1 · 10/40 = 25.
  CHECK(part(parts, "supervised") == doctest::Approx(-std::log(0.75)).epsilon(1e-12));
  CHECK(part(parts, "consistency") == doctest::Approx(1.0 / 32).epsilon(1e-12));
  CHECK(part(parts, "weight") == doctest::Approx(25.0).epsilon(1e-12));

  // The gradient is that of CE + w·consistency with both passes depending on the bias.
  const std::vector<double> g = model.grad();
  const auto total = [&](std::vector<double> b) {
    Model m({});
    m.set_bias(b);
    ssl::PiModel::Runner<Model, CE> r({}, m, setup());
    const auto p = r.step(in, ce);
    return part(p, "supervised") + part(p, "weight") * part(p, "consistency");
  };
  for (std::size_t c = 0; c < 2; ++c) {
    std::vector<double> plus{0, 0}, minus{0, 0};
    plus[c] += 1e-6;
    minus[c] -= 1e-6;
    CHECK(g[c] == doctest::Approx((total(plus) - total(minus)) / 2e-6).epsilon(1e-6));
  }
  CHECK(std::abs(g[0]) > 1e-3);
}

TEST_CASE("PiModel and TemporalEnsembling: w(t) at chosen points of the run") {
  // sigmoid_rampup(0.15, 0.3) = exp(−5·(1 − 0.5)²) = exp(−1.25).
  const ssl::PiModelOptions pi{};
  CHECK(ssl::PiModel::weight(pi, 0.5, 0.01, 10, 30) == 0.0);  // the first epoch
  CHECK(ssl::PiModel::weight(pi, 1.0, 0.15, 10, 30) == doctest::Approx(100 * 0.25 * std::exp(-1.25)).epsilon(1e-12));
  CHECK(ssl::PiModel::weight(pi, 5.0, 0.3, 10, 30) == doctest::Approx(25.0).epsilon(1e-12));
  CHECK(ssl::PiModel::weight({.labeled_fraction = false}, 5.0, 0.9, 10, 30) == doctest::Approx(100.0).epsilon(1e-12));
  const ssl::TemporalEnsemblingOptions te{};
  CHECK(ssl::TemporalEnsembling::weight(te, 0.0, 0.0, 1, 3) == 0.0);
  CHECK(ssl::TemporalEnsembling::weight(te, 3.0, 0.15, 1, 3) == doctest::Approx(30 * 0.25 * std::exp(-1.25)).epsilon(1e-12));
  // Bias correction after k updates: 1/(1 − 0.6^k).
  CHECK(ssl::TemporalEnsembling::correction(te, 1) == doctest::Approx(2.5).epsilon(1e-12));
  CHECK(ssl::TemporalEnsembling::correction(te, 2) == doctest::Approx(1 / 0.64).epsilon(1e-12));
  CHECK(ssl::TemporalEnsembling::correction({.bias_correction = false}, 2) == 1.0);
  Model model({});
  const auto bad_rampup = [&] { ssl::PiModel::Runner<Model, CE> r({.rampup = 2}, model, setup()); };
  CHECK_THROWS_WITH_AS(bad_rampup(), doctest::Contains("rampup"), value_error);
}

TEST_CASE("TemporalEnsembling: the ensemble, its bias correction, and the consistency against it") {
  // Labeled sample 0: (ln 3, 0), label 0; unlabeled sample 0: (0, 0). The model is not updated,
  // so every step predicts p again: after the first step Z = 0.4·p; the corrected target
  // Z/(1 − 0.6) is p itself, the uncorrected one 0.4·p.
  auto xl = batch(1, 1, {ln3, 0}), u = batch(1, 1, {0, 0});
  auto y = labels(1, 1, {0});
  const std::vector<std::size_t> index{0};
  auto inputs = [&](double epoch) {
    Inputs in;
    in.labeled = xl.view();
    in.targets = y.view();
    in.unlabeled = u.view();
    in.labeled_indices = index;
    in.unlabeled_indices = index;
    in.labeled_count = 1;
    in.unlabeled_count = 1;
    in.epoch = epoch;
    in.progress = 1;
    return in;
  };
  CE ce;
  for (const bool corrected : {true, false}) {
    Model model({});
    model.set_bias({0, 0});
    ssl::TemporalEnsembling::Runner<Model, CE> runner({.bias_correction = corrected}, model, setup());
    const auto first = runner.step(inputs(0.0), ce);
    CHECK(part(first, "weight") == 0.0);
    // Z rows: labeled then unlabeled, each (class 0, class 1).
    const std::vector<double> z1 = to_host(runner.ensemble().view());
    const std::vector<double> expected1{0.4 * 0.75, 0.4 * 0.25, 0.4 * 0.5, 0.4 * 0.5};
    for (std::size_t i = 0; i < 4; ++i) CHECK(z1[i] == doctest::Approx(expected1[i]).epsilon(1e-12));
    const auto second = runner.step(inputs(1.0), ce);
    // w = 30 · 1/2. Uncorrected: mean over 2 samples × 2 classes of (0.6·p)²:
    // 0.36·(9/16 + 1/16 + 1/4 + 1/4)/4 = 0.10125.
    CHECK(part(second, "weight") == doctest::Approx(15.0).epsilon(1e-12));
    CHECK(part(second, "consistency") == doctest::Approx(corrected ? 0.0 : 0.10125).epsilon(1e-12));
    CHECK(runner.counts() == std::vector<std::int64_t>{2, 2});
    CHECK(to_host(runner.ensemble().view())[0] == doctest::Approx(0.64 * 0.75).epsilon(1e-12));
  }
  Model model({});
  ssl::TemporalEnsembling::Runner<Model, CE> runner({}, model, setup());
  Inputs missing = inputs(1.0);
  missing.unlabeled_indices = {};
  CHECK_THROWS_WITH_AS(runner.step(missing, ce), doctest::Contains("dataset index"), value_error);
}

TEST_CASE("CrossPseudo: each network learns from the labels and from the other's arg-max") {
  // Labeled (0, 0) with label 1, unlabeled (0, 0). Network A's bias (0, ln 3) predicts class 1
  // with p = (1/4, 3/4); B's bias (ln 3, 0) predicts class 0 with p = (3/4, 1/4).
  auto xl = batch(1, 1, {0, 0}), u = batch(1, 1, {0, 0});
  auto y = labels(1, 1, {1});
  Inputs in;
  in.labeled = xl.view();
  in.targets = y.view();
  in.unlabeled = u.view();
  CE ce;
  Model a({});
  ssl::CrossPseudo::Runner<Model, CE> runner({}, a, setup());
  a.set_bias({0, ln3});
  runner.second().set_bias({ln3, 0});
  a.parameters().zero_grad();
  const auto parts = runner.step(in, ce);
  // sup A = −ln 3/4, sup B = −ln 1/4; cross A = CE(A, 0) = −ln 1/4, cross B = CE(B, 1) = −ln 1/4.
  CHECK(part(parts, "supervised") == doctest::Approx(-std::log(0.75)).epsilon(1e-12));
  CHECK(part(parts, "supervised_b") == doctest::Approx(std::log(4.0)).epsilon(1e-12));
  CHECK(part(parts, "cps") == doctest::Approx(2 * std::log(4.0)).epsilon(1e-12));
  CHECK(part(parts, "weight") == 1.5);
  // B's gradient: d sup = p − e1 = (3/4, −3/4); d cross, mean over 2 rows of p − e1: (3/4, −3/4)
  // in all; total (1 + 1.5)·(3/4, −3/4). SGD at lr 0.1 then moves B's bias by −0.1 × that.
  runner.after_update(0, 1, 0.1);
  const std::vector<double> b = to_host(runner.second().parameters().values().view());
  CHECK(b[0] == doctest::Approx(ln3 - 0.1875).epsilon(1e-12));
  CHECK(b[1] == doctest::Approx(0.1875).epsilon(1e-12));
  CHECK(runner.second().grad() == std::vector<double>{0, 0});  // zeroed for the next step
  // A's gradient: sup (1/4, −1/4), cross with label 0 over 2 rows (1/4 − 1, 3/4)·... = (−3/4, 3/4).
  const std::vector<double> ga = a.grad();
  CHECK(ga[0] == doctest::Approx(0.25 + 1.5 * -0.75).epsilon(1e-12));
  CHECK(ga[1] == doctest::Approx(-0.25 + 1.5 * 0.75).epsilon(1e-12));
  // λ: 1.5, 1 with CutMix, 0 during a warm-up, or as set.
  CHECK(ssl::CrossPseudo::weight({.cutmix = true}, 3) == 1.0);
  CHECK(ssl::CrossPseudo::weight({.warmup_epochs = 2}, 1) == 0.0);
  CHECK(ssl::CrossPseudo::weight({.weight = 6.0}, 0) == 6.0);
  // The two networks start from different weights.
  Model c({});
  ssl::CrossPseudo::Runner<Model, CE> fresh({}, c, setup());
  CHECK(to_host(c.parameters().values().view()) != to_host(fresh.second().parameters().values().view()));
}

TEST_CASE("FixMatch: confident weak labels train the strong view, divided by all unlabeled pixels") {
  // Labeled: pixels (0, 0) and (0, 0) with labels 0 and 1. Weak view: pixel 0 (ln 19, 0) has
  // p = 0.95 ≥ τ = 0.9 and label 0; pixel 1 (0, 0) is not confident. Strong view: (0, 0) and
  // (ln 3, 0).
  auto xl = batch(1, 2, {0, 0, 0, 0}), uw = batch(1, 2, {ln19, 0, 0, 0}), us = batch(1, 2, {0, ln3, 0, 0});
  auto y = labels(1, 2, {0, 1});
  Inputs in;
  in.labeled = xl.view();
  in.targets = y.view();
  in.unlabeled = uw.view();
  in.unlabeled_second_view = us.view();
  CE ce;
  Model model({});
  model.set_bias({0, 0});
  ssl::FixMatch::Runner<Model, CE> runner({.threshold = 0.9, .cutmix = false}, model, setup());
  model.parameters().zero_grad();
  const auto parts = runner.step(in, ce);
  // L_x = ln 2; L_u = (CE((0, 0), 0) · 1 + CE((ln 3, 0), 0) · 0) / 2 pixels = ln 2 / 2.
  CHECK(part(parts, "supervised") == doctest::Approx(ln2).epsilon(1e-12));
  CHECK(part(parts, "unlabeled") == doctest::Approx(ln2 / 2).epsilon(1e-12));
  CHECK(part(parts, "confident") == doctest::Approx(0.5).epsilon(1e-12));
  // Segmentation halves the total, (L_x + L_u)/2. d L_x = 0 (the two labeled pixels cancel);
  // d L_u = (p − e0)/2 on pixel 0 = (−1/4, 1/4); so the gradient is (−1/8, 1/8).
  const std::vector<double> g = model.grad();
  CHECK(g[0] == doctest::Approx(-0.125).epsilon(1e-12));
  CHECK(g[1] == doctest::Approx(0.125).epsilon(1e-12));

  // PseudoSeg's soft targets: q = softmax(weak / 0.5), no threshold; gradient (p − q) over 2 pixels.
  Model soft_model({});
  soft_model.set_bias({0, 0});
  ssl::FixMatch::Runner<Model, CE> soft({.soft_targets = true, .cutmix = false}, soft_model, setup());
  soft_model.parameters().zero_grad();
  soft.step(in, ce);
  const double q0 = 361.0 / 362.0;  // softmax(2 ln 19, 0)
  const double expected0 = 0.5 * ((0.5 - q0) + (0.75 - 0.5)) / 2;
  CHECK(soft_model.grad()[0] == doctest::Approx(expected0).epsilon(1e-12));

  // No strong view is a clear error; the EMA decay follows the run's length unless set.
  Inputs weak_only = in;
  weak_only.unlabeled_second_view = {};
  CHECK_THROWS_WITH_AS(runner.step(weak_only, ce), doctest::Contains("strong view"), value_error);
  CHECK(ssl::FixMatch::decay({}, 1000) == doctest::Approx(0.99).epsilon(1e-12));
  CHECK(ssl::FixMatch::decay({}, 100) == doctest::Approx(0.9).epsilon(1e-12));
  CHECK(ssl::FixMatch::decay({.ema_decay = 0.999}, 100) == 0.999);
  CHECK(ssl::FixMatch::weight({.warmup_epochs = 1}, 0.5) == 0.0);
}

TEST_CASE("mixing: each sample takes the next one's pixels inside its box, and masks are reproducible") {
  auto a = batch(2, 2, {1, 2, 3, 4, 5, 6, 7, 8});
  auto m = labels(2, 2, {0, 1, 1, 0});
  Tensor<double, device, dim2> out;
  ssl::mix_with_next(TensorView<const double, device, dim2>(a.view()), TensorView<const std::int32_t, device, dim2>(m.view()), out);
  // Sample 0 takes pixel 1 of sample 1 (both channels); sample 1 takes pixel 0 of sample 0.
  CHECK(to_host(out.view()) == std::vector<double>{1, 6, 3, 8, 1, 6, 3, 8});
  const auto draw = [](data::Rng& rng, const data::SpatialShape<dim2>& shape, std::int32_t* mask) {
    data::aug::paint_cutmix_mask_cps<dim2>(mask, shape, rng);
  };
  Tensor<std::int32_t, device, dim2> m1, m2, m3;
  std::vector<std::int32_t> host;
  ssl::draw_masks<dim2>(3, {16, 16}, 7, 1, 5, draw, m1, host);
  ssl::draw_masks<dim2>(3, {16, 16}, 7, 1, 5, draw, m2, host);
  ssl::draw_masks<dim2>(3, {16, 16}, 7, 1, 6, draw, m3, host);
  CHECK(m1.shape() == shape_nc<dim2>(3, 1, {16, 16}));
  CHECK(to_host(m1.view()) == to_host(m2.view()));
  CHECK(to_host(m1.view()) != to_host(m3.view()));
  // Sample 1's mask is the sampler's mask from the same generator.
  data::Rng rng(7, 1, 5, 1);
  const auto expected = data::aug::cutmix_mask_cps<dim2>({16, 16}, rng);
  const std::vector<std::int32_t> all = to_host(m1.view());
  CHECK(std::vector<std::int32_t>(all.begin() + 256, all.begin() + 512) ==
        std::vector<std::int32_t>(expected.begin(), expected.end()));
  auto bad = labels(1, 2, {0, 1});
  const auto mismatched = [&] {
    ssl::mix_with_next(TensorView<const double, device, dim2>(a.view()), TensorView<const std::int32_t, device, dim2>(bad.view()),
                       out);
  };
  CHECK_THROWS_AS(mismatched(), shape_error);
}

}  // namespace semiseg::test
