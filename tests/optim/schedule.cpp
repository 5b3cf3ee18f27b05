#include "semiseg/optim/schedule.hpp"

#include "support/harness.hpp"

// Inside the namespace, not `using namespace semiseg`: nvcc's generated code names the global
// ::dim3, which a using-directive would make ambiguous with semiseg::dim3.
namespace semiseg::test {

namespace {
constexpr double base_lr = 0.1;  // the fixtures' base lr
constexpr double tolerance = 1e-12;  // torch's recursive forms differ from closed forms by rounding only

template <optim::Schedule S>
std::vector<double> lrs(const S& schedule, index_t steps, index_t from = 0) {
  std::vector<double> out;
  for (index_t t = from; t < from + steps; ++t) out.push_back(base_lr * schedule(t));
  return out;
}

void check_schedule(const std::string& name, const std::vector<double>& actual) {
  const auto expected = fixture("schedule", name, "lr").data;
  REQUIRE(expected.size() == 20);
  const double err = relative_error(actual, expected);
  INFO(name << ": relative error " << err);
  CHECK(err <= tolerance);
}

std::vector<double> config(const std::string& name, double kind) {
  auto c = fixture("schedule", name, "config").data;
  REQUIRE(c.at(0) == kind);
  return c;
}
}  // namespace

TEST_CASE("schedule: StepLR parity") {
  const auto c = config("step", 0);
  check_schedule("step", lrs(optim::StepDecay{.step_size = std::lround(c[1]), .gamma = c[2]}, 20));
}

TEST_CASE("schedule: CosineAnnealingLR parity, past t_max included") {
  const auto c = config("cosine", 1);
  const optim::Cosine cosine{.t_max = std::lround(c[1]), .min_factor = c[2] / base_lr};
  check_schedule("cosine", lrs(cosine, 20));
  CHECK(cosine(10) == doctest::Approx(c[2] / base_lr).epsilon(1e-14));
  CHECK(cosine(20) == doctest::Approx(1.0).epsilon(1e-14));
}

TEST_CASE("schedule: PolynomialLR parity, 0 from total on") {
  const auto c = config("poly", 2);
  const optim::Poly poly{.total = std::lround(c[1]), .power = c[2]};
  check_schedule("poly", lrs(poly, 20));
  CHECK(poly(15) == 0.0);
  CHECK(poly(1000) == 0.0);
}

TEST_CASE("schedule: LinearLR parity") {
  const auto c = config("warmup", 3);
  check_schedule("warmup", lrs(optim::LinearWarmup{.start_factor = c[1], .total = std::lround(c[2])}, 20));
}

TEST_CASE("schedule: warm-up then cosine is the warm-up fixture, then the cosine fixture restarted") {
  const auto w = config("warmup", 3);
  const auto c = config("cosine", 1);
  const optim::LinearWarmup warmup{.start_factor = w[1], .total = std::lround(w[2])};
  const auto schedule =
      optim::warmup_then(warmup, optim::Cosine{.t_max = std::lround(c[1]), .min_factor = c[2] / base_lr});
  static_assert(optim::Schedule<std::remove_cvref_t<decltype(schedule)>>);
  const auto warmup_lr = fixture("schedule", "warmup", "lr").data;
  const auto cosine_lr = fixture("schedule", "cosine", "lr").data;
  const index_t n = warmup.total;
  std::vector<double> expected(warmup_lr.begin(), warmup_lr.begin() + n);
  expected.insert(expected.end(), cosine_lr.begin(), cosine_lr.begin() + 16);
  CHECK(relative_error(lrs(schedule, 20), expected) <= tolerance);
}

TEST_CASE("schedule: defaults are PyTorch's") {
  CHECK(optim::StepDecay{}.gamma == 0.1);
  CHECK(optim::Poly{}.total == 5);
  CHECK(optim::Poly{}.power == 1.0);
  CHECK(optim::Cosine{}.min_factor == 0.0);
  CHECK(optim::LinearWarmup{}.start_factor == doctest::Approx(1.0 / 3.0));
  CHECK(optim::LinearWarmup{}.end_factor == 1.0);
  CHECK(optim::LinearWarmup{}.total == 5);
  CHECK(optim::Constant{}(12345) == 1.0);
  CHECK(optim::LinearWarmup{.start_factor = 0.5, .total = 0}(0) == 1.0);
}

TEST_CASE("schedule: invalid fields and steps are reported when called") {
  CHECK_THROWS_WITH_AS(optim::StepDecay{}(0), doctest::Contains("step_size"), value_error);
  CHECK_THROWS_WITH_AS((optim::StepDecay{.step_size = 2, .gamma = -0.5}(0)), doctest::Contains("gamma"), value_error);
  CHECK_THROWS_WITH_AS(optim::Poly{.total = 0}(0), doctest::Contains("total"), value_error);
  CHECK_THROWS_WITH_AS(optim::Poly{.power = -1}(0), doctest::Contains("power"), value_error);
  CHECK_THROWS_WITH_AS(optim::Cosine{}(0), doctest::Contains("t_max"), value_error);
  CHECK_THROWS_WITH_AS((optim::Cosine{.t_max = 5, .min_factor = -0.1}(0)), doctest::Contains("min_factor"),
                       value_error);
  CHECK_THROWS_WITH_AS(optim::LinearWarmup{.start_factor = 0}(0), doctest::Contains("start_factor"), value_error);
  CHECK_THROWS_WITH_AS(optim::LinearWarmup{.end_factor = 1.5}(0), doctest::Contains("end_factor"), value_error);
  CHECK_THROWS_WITH_AS(optim::LinearWarmup{.total = -1}(0), doctest::Contains("total"), value_error);
  CHECK_THROWS_WITH_AS(optim::Constant{}(-1), doctest::Contains("step"), value_error);
  CHECK_THROWS_WITH_AS((optim::Sequential<optim::Constant, optim::Constant>{.milestone = -1}(0)),
                       doctest::Contains("milestone"), value_error);
  CHECK_THROWS_AS((optim::Sequential<optim::Constant, optim::Cosine>{.milestone = 2}(2)), value_error);
  CHECK_NOTHROW((optim::Sequential<optim::Constant, optim::Cosine>{.milestone = 2}(1)));
}

}  // namespace semiseg::test
