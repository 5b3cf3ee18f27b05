#include "semiseg/optim/sgd.hpp"

#include "optim/trajectory.hpp"

// Inside the namespace, not `using namespace semiseg`: nvcc's generated code names the global
// ::dim3, which a using-directive would make ambiguous with semiseg::dim3.
namespace semiseg::test {

namespace {
optim::SgdOptions sgd_options(const std::vector<double>& config) {
  REQUIRE(config.size() == 5);
  REQUIRE(config[0] == 0);  // 0 marks an SGD fixture
  return {.lr = config[1], .momentum = config[2], .weight_decay = config[3], .nesterov = config[4] != 0};
}
}  // namespace

TEST_CASE_TEMPLATE("sgd: PyTorch parity over five steps", T, float, double) {
  for (const std::string name : {"sgd_plain", "sgd_momentum", "sgd_nesterov_wd"})
    for (const bool use_parameters : {true, false}) {
      CAPTURE(name);
      CAPTURE(use_parameters);
      optim::Sgd<T, device> sgd(sgd_options(fixture("optim", name, "config").data));
      check_trajectory<T>(name, sgd, use_parameters);
      CHECK(sgd.state().momentum.size() == (sgd.options().momentum != 0 ? 13 : 0));
    }
}

TEST_CASE("sgd: defaults are PyTorch's") {
  const optim::SgdOptions o;
  CHECK(o.lr == 1e-3);
  CHECK(o.momentum == 0);
  CHECK(o.dampening == 0);
  CHECK(o.weight_decay == 0);
  CHECK_FALSE(o.nesterov);
}

TEST_CASE("sgd: dampening scales every gradient after the first") {
  // buf1 = g, buf2 = 0.9 * g + 0.5 * g, so p moves by lr * 1 then lr * 1.4.
  optim::Sgd<double, device> sgd({.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  Parameters<double, device> params;
  params.add("p", 1, Init::ones());
  params.finalize(1);
  copy<device, cpu>(params.grads().data(), std::vector<double>{1.0}.data(), 1);
  sgd.step(params);
  CHECK(read_values(params.values().data(), 1)[0] == doctest::Approx(0.9).epsilon(1e-14));
  sgd.step(params);
  CHECK(read_values(params.values().data(), 1)[0] == doctest::Approx(0.76).epsilon(1e-14));
}

TEST_CASE("sgd: set_lr changes the next step and a restored state continues the run") {
  const std::string name = "sgd_momentum";
  const auto options = sgd_options(fixture("optim", name, "config").data);
  optim::Sgd<double, device> sgd(options);
  sgd.set_lr(0.0);
  Parameters<double, device> params;
  params.add("p", 13, Init::ones());
  params.finalize(1);
  write_row(params.grads().data(), fixture("optim", name, "grads"), 0);
  sgd.step(params);
  // lr 0 leaves the parameters alone but still fills the momentum buffer.
  CHECK(read_values(params.values().data(), 13) == std::vector<double>(13, 1.0));
  CHECK(read_values(sgd.state().momentum.data(), 13) == row(fixture("optim", name, "grads"), 0));
  CHECK(sgd.lr() == 0.0);

  // A second optimizer given the first one's buffer takes the same next step.
  optim::Sgd<double, device> resumed(options);
  copy_state(resumed.state().momentum, sgd.state().momentum);
  resumed.state().steps = sgd.state().steps;
  sgd.set_lr(options.lr);
  const std::vector<double> start = read_values(params.values().data(), 13);
  sgd.step(params);
  const auto after_original = read_values(params.values().data(), 13);
  copy<device, cpu>(params.values().data(), start.data(), 13);
  resumed.step(params);
  CHECK(read_values(params.values().data(), 13) == after_original);
}

TEST_CASE("sgd: invalid options and sizes are reported") {
  using O = optim::SgdOptions;
  using S = optim::Sgd<double, device>;
  CHECK_THROWS_WITH_AS(S(O{.lr = -0.1}), doctest::Contains("lr"), value_error);
  CHECK_THROWS_WITH_AS(S(O{.momentum = -0.9}), doctest::Contains("momentum"), value_error);
  CHECK_THROWS_WITH_AS(S(O{.dampening = 1.5}), doctest::Contains("dampening"), value_error);
  CHECK_THROWS_WITH_AS(S(O{.weight_decay = -1e-4}), doctest::Contains("weight_decay"), value_error);
  CHECK_THROWS_WITH_AS(S(O{.nesterov = true}), doctest::Contains("nesterov"), value_error);
  CHECK_THROWS_WITH_AS(S(O{.momentum = 0.9, .dampening = 0.1, .nesterov = true}), doctest::Contains("nesterov"),
                       value_error);
  CHECK_THROWS_WITH_AS(S(O{.lr = std::nan("")}), doctest::Contains("lr"), value_error);
  CHECK_NOTHROW(S(O{.momentum = 0.9, .nesterov = true}));

  S sgd({.lr = 0.1, .momentum = 0.9});
  CHECK_THROWS_AS(sgd.set_lr(-1.0), value_error);
  CHECK(sgd.lr() == 0.1);
  CHECK_THROWS_AS(sgd.set_options(O{.nesterov = true}), value_error);
  Parameters<double, device> params;
  params.add("p", 4, Init::ones());
  params.add("q", 3, Init::ones());
  params.finalize(1);
  sgd.step(params.values().data(), params.grads().data(), 4);
  CHECK_THROWS_AS(sgd.step(params), shape_error);
}

}  // namespace semiseg::test
