#include "semiseg/optim/ramp.hpp"

#include <functional>

#include "support/harness.hpp"

// Inside the namespace, not `using namespace semiseg`: nvcc's generated code names the global
// ::dim3, which a using-directive would make ambiguous with semiseg::dim3.
namespace semiseg::test {

namespace {
// f over a fine grid of [from, to] never decreases (sign 1) or never increases (sign -1).
bool monotone(const std::function<double(double)>& f, double from, double to, int sign) {
  double previous = f(from);
  for (int i = 1; i <= 1000; ++i) {
    const double value = f(from + (to - from) * i / 1000.0);
    if (sign * (value - previous) < 0) return false;
    previous = value;
  }
  return true;
}
}  // namespace

TEST_CASE("ramp: sigmoid_rampup") {
  using optim::sigmoid_rampup;
  CHECK(sigmoid_rampup(0, 80) == doctest::Approx(std::exp(-5.0)).epsilon(1e-15));
  CHECK(sigmoid_rampup(40, 80) == doctest::Approx(std::exp(-1.25)).epsilon(1e-15));
  CHECK(sigmoid_rampup(80, 80) == 1.0);
  CHECK(sigmoid_rampup(-3, 80) == sigmoid_rampup(0, 80));
  CHECK(sigmoid_rampup(500, 80) == 1.0);
  CHECK(sigmoid_rampup(0, 0) == 1.0);
  CHECK(monotone([](double t) { return sigmoid_rampup(t, 30); }, -5, 40, 1));
  CHECK(sigmoid_rampup(10, 30) < sigmoid_rampup(20, 30));
  CHECK_THROWS_WITH_AS(sigmoid_rampup(1, -1), doctest::Contains("length"), value_error);
}

TEST_CASE("ramp: linear_rampup and linear_ramp") {
  using optim::linear_ramp;
  using optim::linear_rampup;
  CHECK(linear_rampup(0, 10) == 0.0);
  CHECK(linear_rampup(2.5, 10) == 0.25);
  CHECK(linear_rampup(10, 10) == 1.0);
  CHECK(linear_rampup(-1, 10) == 0.0);
  CHECK(linear_rampup(11, 10) == 1.0);
  CHECK(linear_rampup(0, 0) == 1.0);
  CHECK(monotone([](double t) { return linear_rampup(t, 7); }, -2, 9, 1));
  CHECK_THROWS_AS(linear_rampup(1, -1), value_error);
  // Pseudo-Label's alpha(t) / alpha_f with T1 = 100, T2 = 600.
  CHECK(linear_ramp(50, 100, 600) == 0.0);
  CHECK(linear_ramp(100, 100, 600) == 0.0);
  CHECK(linear_ramp(350, 100, 600) == 0.5);
  CHECK(linear_ramp(600, 100, 600) == 1.0);
  CHECK(linear_ramp(900, 100, 600) == 1.0);
  CHECK(linear_ramp(99, 100, 100) == 0.0);
  CHECK(linear_ramp(100, 100, 100) == 1.0);
  CHECK_THROWS_WITH_AS(linear_ramp(0, 600, 100), doctest::Contains("end"), value_error);
}

TEST_CASE("ramp: cosine_rampdown") {
  using optim::cosine_rampdown;
  CHECK(cosine_rampdown(0, 210) == 1.0);
  CHECK(cosine_rampdown(105, 210) == doctest::Approx(0.5).epsilon(1e-15));
  CHECK(cosine_rampdown(70, 210) == doctest::Approx(0.75).epsilon(1e-15));
  CHECK(cosine_rampdown(210, 210) == doctest::Approx(0.0));
  CHECK(cosine_rampdown(300, 210) == cosine_rampdown(210, 210));
  CHECK(cosine_rampdown(-1, 210) == 1.0);
  CHECK(cosine_rampdown(0, 0) == 0.0);
  CHECK(monotone([](double t) { return cosine_rampdown(t, 20); }, -1, 25, -1));
  CHECK_THROWS_AS(cosine_rampdown(1, -1), value_error);
}

TEST_CASE("ramp: gaussian_rampdown is Laine & Aila's") {
  using optim::gaussian_rampdown;
  // 300 epochs, ramp-down over the last 50, as in the paper.
  CHECK(gaussian_rampdown(0, 300, 50) == 1.0);
  CHECK(gaussian_rampdown(249, 300, 50) == 1.0);
  CHECK(gaussian_rampdown(250, 300, 50) == 1.0);
  // exp(-((t - 250) * 0.5)^2 / 50) is the paper's exp(-12.5 T^2) with T = (t - 250) / 50.
  for (const double t : {260.0, 275.0, 299.0, 300.0}) {
    CAPTURE(t);
    const double T = (t - 250) / 50;
    CHECK(gaussian_rampdown(t, 300, 50) == doctest::Approx(std::exp(-12.5 * T * T)).epsilon(1e-13));
  }
  CHECK(gaussian_rampdown(275, 300, 50) == doctest::Approx(std::exp(-3.125)).epsilon(1e-15));
  CHECK(gaussian_rampdown(400, 300, 50) == gaussian_rampdown(300, 300, 50));
  // The end value depends on the length: exp(-length / 4).
  CHECK(gaussian_rampdown(10, 10, 4) == doctest::Approx(std::exp(-1.0)).epsilon(1e-15));
  CHECK(gaussian_rampdown(10, 10, 0) == 1.0);
  CHECK(monotone([](double t) { return gaussian_rampdown(t, 300, 50); }, 0, 320, -1));
  CHECK(gaussian_rampdown(280, 300, 50) < gaussian_rampdown(270, 300, 50));
  CHECK_THROWS_WITH_AS(gaussian_rampdown(1, 10, -1), doctest::Contains("length"), value_error);
}

}  // namespace semiseg::test
