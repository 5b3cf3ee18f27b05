#include "semiseg/optim/adam.hpp"

#include "optim/trajectory.hpp"

// Inside the namespace, not `using namespace semiseg`: nvcc's generated code names the global
// ::dim3, which a using-directive would make ambiguous with semiseg::dim3.
namespace semiseg::test {

namespace {
// Config: kind (1 Adam, 2 AdamW), lr, beta1, beta2, eps, weight_decay.
template <class O>
O adam_options(const std::vector<double>& config) {
  REQUIRE(config.size() == 6);
  REQUIRE(config[0] == (O::decoupled ? 2 : 1));
  return {.lr = config[1], .beta1 = config[2], .beta2 = config[3], .eps = config[4], .weight_decay = config[5]};
}
}  // namespace

TEST_CASE_TEMPLATE("adam: PyTorch parity over five steps", T, float, double) {
  for (const std::string name : {"adam_default", "adam_wd"})
    for (const bool use_parameters : {true, false}) {
      CAPTURE(name);
      CAPTURE(use_parameters);
      optim::Adam<T, device> adam(adam_options<optim::AdamOptions>(fixture("optim", name, "config").data));
      check_trajectory<T>(name, adam, use_parameters);
    }
}

TEST_CASE_TEMPLATE("adamw: PyTorch parity over five steps", T, float, double) {
  for (const bool use_parameters : {true, false}) {
    CAPTURE(use_parameters);
    optim::AdamW<T, device> adamw(adam_options<optim::AdamWOptions>(fixture("optim", "adamw", "config").data));
    check_trajectory<T>("adamw", adamw, use_parameters);
  }
}

TEST_CASE("adam: the two weight decays differ, and Adam's with wd = 0 equals AdamW's") {
  // Same hyper-parameters through both: with decay they must part, without they must agree.
  const auto run = [](auto optimizer) {
    Parameters<double, device> params;
    params.add("p", 3, Init::ones());
    params.finalize(1);
    copy<device, cpu>(params.grads().data(), std::vector<double>{0.5, -1.0, 2.0}.data(), 3);
    for (int s = 0; s < 3; ++s) optimizer.step(params);
    return read_values(params.values().data(), 3);
  };
  const auto l2 = run(optim::Adam<double, device>({.lr = 0.1, .weight_decay = 0.1}));
  const auto decoupled = run(optim::AdamW<double, device>({.lr = 0.1, .weight_decay = 0.1}));
  CHECK(relative_error(l2, decoupled) > 1e-6);
  CHECK(run(optim::Adam<double, device>({.lr = 0.1})) == run(optim::AdamW<double, device>({.lr = 0.1, .weight_decay = 0})));
}

TEST_CASE("adam: defaults are PyTorch's") {
  const optim::AdamOptions adam;
  CHECK(adam.lr == 1e-3);
  CHECK(adam.beta1 == 0.9);
  CHECK(adam.beta2 == 0.999);
  CHECK(adam.eps == 1e-8);
  CHECK(adam.weight_decay == 0);
  const optim::AdamWOptions adamw;
  CHECK(adamw.lr == 1e-3);
  CHECK(adamw.beta1 == 0.9);
  CHECK(adamw.beta2 == 0.999);
  CHECK(adamw.eps == 1e-8);
  CHECK(adamw.weight_decay == 1e-2);
}

TEST_CASE("adam: a state restored mid-run continues it exactly") {
  const std::string name = "adam_wd";
  const auto options = adam_options<optim::AdamOptions>(fixture("optim", name, "config").data);
  const auto grads = fixture("optim", name, "grads");
  const auto trajectory = fixture("optim", name, "trajectory");
  Parameters<double, device> params;
  params.add("p", 13, Init::zeros());
  params.finalize(1);
  write_values(params.values().data(), fixture("optim", name, "p0"));
  optim::Adam<double, device> first(options);
  for (std::size_t s = 0; s < 2; ++s) {
    write_row(params.grads().data(), grads, s);
    first.step(params);
  }
  // What a checkpoint holds: the moments and the step count, which the bias corrections need.
  optim::Adam<double, device> resumed(first.options());
  copy_state(resumed.state().exp_avg, first.state().exp_avg);
  copy_state(resumed.state().exp_avg_sq, first.state().exp_avg_sq);
  resumed.state().steps = first.state().steps;
  for (std::size_t s = 2; s < 5; ++s) {
    CAPTURE(s);
    write_row(params.grads().data(), grads, s);
    resumed.step(params);
    CHECK(relative_error(read_values(params.values().data(), 13), row(trajectory, s)) <= 1e-12);
  }
}

TEST_CASE("adam: set_lr and set_options take effect on the next step") {
  optim::Adam<double, device> adam({.lr = 0.1});
  Parameters<double, device> params;
  params.add("p", 2, Init::ones());
  params.finalize(1);
  copy<device, cpu>(params.grads().data(), std::vector<double>{1.0, -1.0}.data(), 2);
  adam.set_lr(0.0);
  adam.step(params);
  CHECK(read_values(params.values().data(), 2) == std::vector<double>{1.0, 1.0});
  // Like torch, a beta1 changed mid-run enters the next moment and bias correction:
  // m2 = 0.5 * (0.1 g) + 0.5 g = 0.55 g, 1 - 0.5^2 = 0.75, and v2 / (1 - 0.999^2) = g^2 exactly.
  adam.set_options({.lr = 0.2, .beta1 = 0.5});
  CHECK(adam.options().beta1 == 0.5);
  adam.step(params);
  const double moved = 0.2 * (0.55 / 0.75) / (1.0 + 1e-8);
  const auto p = read_values(params.values().data(), 2);
  CHECK(p[0] == doctest::Approx(1.0 - moved).epsilon(1e-12));
  CHECK(p[1] == doctest::Approx(1.0 + moved).epsilon(1e-12));
}

TEST_CASE("adam: invalid options and sizes are reported") {
  using O = optim::AdamOptions;
  using A = optim::Adam<double, device>;
  using W = optim::AdamW<double, device>;
  CHECK_THROWS_WITH_AS(A(O{.lr = -1e-3}), doctest::Contains("lr"), value_error);
  CHECK_THROWS_WITH_AS(A(O{.beta1 = 1.0}), doctest::Contains("beta1"), value_error);
  CHECK_THROWS_WITH_AS(A(O{.beta1 = -0.1}), doctest::Contains("beta1"), value_error);
  CHECK_THROWS_WITH_AS(A(O{.beta2 = 1.0}), doctest::Contains("beta2"), value_error);
  CHECK_THROWS_WITH_AS(A(O{.eps = -1e-8}), doctest::Contains("eps"), value_error);
  CHECK_THROWS_WITH_AS(A(O{.weight_decay = -1.0}), doctest::Contains("weight_decay"), value_error);
  CHECK_THROWS_WITH_AS(W(optim::AdamWOptions{.beta2 = std::nan("")}), doctest::Contains("adamw: beta2"), value_error);
  CHECK_NOTHROW(A(O{.beta1 = 0.0}));

  A adam;
  CHECK_THROWS_AS(adam.set_lr(-1.0), value_error);
  CHECK_THROWS_AS(adam.set_options(O{.beta1 = 2.0}), value_error);
  CHECK(adam.options().beta1 == 0.9);
  Parameters<double, device> params;
  params.add("p", 4, Init::ones());
  params.add("q", 3, Init::ones());
  params.finalize(1);
  adam.step(params.values().data(), params.grads().data(), 4);
  CHECK_THROWS_AS(adam.step(params), shape_error);
}

}  // namespace semiseg::test
