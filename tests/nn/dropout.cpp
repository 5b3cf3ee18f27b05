// Dropout and noise draw from Philox, not PyTorch's generator, so their parity tests check the
// defining properties (rate, scale, identity in eval mode, reproducibility) instead of fixtures.
#include "semiseg/nn/dropout.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE_TEMPLATE("dropout: PyTorch semantics (rate, 1/(1-p) scale, eval identity), reproducible", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  auto x = random_tensor<T, Dim>(shape_nc<Dim>(4, 8, {16, 16, 8}), 71);
  const auto xs = values(x.view());
  for (const bool channelwise : {false, true}) {
    CAPTURE(channelwise);
    nn::Dropout<T, device, Dim> dropout({.p = 0.3, .channelwise = channelwise, .seed = 5});
    const auto y = values(dropout.forward(x.view(), Context::training(1)));
    std::size_t dropped = 0;
    double worst = 0;
    for (std::size_t i = 0; i < y.size(); ++i) {
      if (y[i] == 0) ++dropped;
      else worst = std::max(worst, std::abs(y[i] - xs[i] / 0.7));
    }
    const double rate = double(dropped) / double(y.size());
    CHECK(rate == doctest::Approx(0.3).epsilon(channelwise ? 0.5 : 0.1));
    CHECK(worst < 1e-5);
    if (channelwise) {
      const index_t plane = x.plane();
      for (index_t c = 0; c < x.n() * x.c(); ++c)
        for (index_t p = 1; p < plane; ++p) REQUIRE((y[c * plane] == 0) == (y[c * plane + p] == 0));
    }
    CHECK(values(dropout.forward(x.view(), Context::training(1))) == y);
    CHECK(values(dropout.forward(x.view(), Context::training(2))) != y);
    CHECK(values(dropout.forward(x.view(), Context::evaluation())) == xs);
  }
}

TEST_CASE_TEMPLATE("dropout, spatial dropout and gaussian_noise: gradient check", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  Parameters<T, device>* none = nullptr;
  auto x = random_tensor<T, Dim>(shape_nc<Dim>(2, 3, {4, 3, 2}), 72);
  nn::Dropout<T, device, Dim> dropout({.p = 0.5});
  nn::Dropout<T, device, Dim> spatial({.p = 0.5, .channelwise = true});
  nn::GaussianNoise<T, device, Dim> noise({.sigma = 0.15});
  check_gradient_result(testing::check_layer_gradients(dropout, none, x, Context::training(3)));
  check_gradient_result(testing::check_layer_gradients(spatial, none, x, Context::training(3)));
  check_gradient_result(testing::check_layer_gradients(noise, none, x, Context::training(3)));
}

TEST_CASE_TEMPLATE("gaussian_noise: semantics (mean, deviation, eval identity)", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  Tensor<T, device, Dim> x(shape_nc<Dim>(4, 4, {32, 32, 16}));
  x.zero();
  nn::GaussianNoise<T, device, Dim> noise({.sigma = 0.15, .seed = 9});
  const auto y = values(noise.forward(x.view(), Context::training(1)));
  double mean = 0, sq = 0;
  for (double v : y) mean += v;
  mean /= double(y.size());
  for (double v : y) sq += (v - mean) * (v - mean);
  CHECK(std::abs(mean) < 0.01);
  CHECK(std::sqrt(sq / double(y.size())) == doctest::Approx(0.15).epsilon(0.03));
  const auto clean = values(noise.forward(x.view(), Context::evaluation()));
  CHECK(*std::max_element(clean.begin(), clean.end()) == 0.0);
  CHECK_THROWS_AS((nn::Dropout<T, device, Dim>({.p = 1.0})), value_error);
}

}  // namespace semiseg::test
