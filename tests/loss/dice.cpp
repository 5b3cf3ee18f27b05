#include "semiseg/loss/dice.hpp"

#include "loss/support.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE_TEMPLATE("dice: PyTorch (MONAI formula) parity", C, LOSS_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const std::string loss_name = "loss/dice";
  for (const std::string& name : fixture_cases(loss_name, Dim::spatial)) {
    CAPTURE(name);
    const auto config = fixture_vector(loss_name, name, "config");
    typename loss::Dice<T, device, Dim>::Options o;
    o.ignore_index = static_cast<std::int32_t>(config.at(0));
    o.include_background = config.at(1) != 0;
    o.batch = config.at(2) != 0;
    o.smooth_nr = config.at(3);
    o.smooth_dr = config.at(4);
    loss::Dice<T, device, Dim> dice(o);
    auto x = to_tensor<T, Dim>(fixture(loss_name, name, "logits"));
    auto y = labels_from<Dim>(fixture(loss_name, name, "target"));
    Tensor<T, device, Dim> w;
    if (has_fixture(loss_name, name, "weights")) w = to_tensor<T, Dim>(fixture(loss_name, name, "weights"));
    Tensor<T, device, Dim> dx;
    const double v = dice.value_and_grad(x.view(), y.view(), dx, w.view());
    check_parity<T>("value", {v}, fixture(loss_name, name, "value"));
    check_parity<T>("dlogits", values(dx), fixture(loss_name, name, "dlogits"));
    check_parity<T>("value()", {dice.value(x.view(), y.view(), w.view())}, fixture(loss_name, name, "value"));
  }
}

TEST_CASE_TEMPLATE("dice: gradient check per sample and batch, with ignore and pixel weights", C, LOSS_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const auto shape = shape_nc<Dim>(2, 3, {3, 2, 2});
  auto x = random_tensor<T, Dim>(shape, 31);
  auto y = random_labels<Dim>(one_channel<T, Dim>(shape), 3, -1, 3, 32);
  auto w = positive_weights<T, Dim>(one_channel<T, Dim>(shape), 33);
  {
    loss::Dice<T, device, Dim> dice;
    check_loss_gradient<T, Dim>(dice, x, y.view(), {});
  }
  {
    loss::Dice<T, device, Dim> dice({.include_background = false, .batch = true, .smooth_nr = 0.5, .smooth_dr = 1.0});
    check_loss_gradient<T, Dim>(dice, x, y.view(), w.view());
  }
}

TEST_CASE("dice: a confident perfect prediction has loss near zero, a wrong one near one") {
  loss::Dice<double, device, flat> dice({.batch = true});
  Tensor<double, device, flat> x(flat_shape(2, 2));
  from_host(x.view(), std::vector<double>{30.0, -30.0, -30.0, 30.0});
  auto right = labels<flat>(flat_shape(2, 1), {0, 1});
  auto wrong = labels<flat>(flat_shape(2, 1), {1, 0});
  CHECK(dice.value(x.view(), right.view()) == doctest::Approx(0.0).epsilon(1e-9));
  CHECK(dice.value(x.view(), wrong.view()) == doctest::Approx(1.0).epsilon(1e-5));
}

TEST_CASE("dice: bad inputs throw typed errors") {
  using T = float;
  loss::Dice<T, device, dim3> dice;
  Tensor<T, device, dim3> dx;
  auto x = random_tensor<T, dim3>(shape_nc<dim3>(2, 3, {2, 3, 4}), 1);
  auto wrong = random_labels<dim3>(shape_nc<dim3>(1, 1, {2, 3, 4}), 3, -1, 0, 2);
  CHECK_THROWS_AS(dice.value_and_grad(x.view(), wrong.view(), dx), shape_error);
  auto bad = random_labels<dim3>(shape_nc<dim3>(2, 1, {2, 3, 4}), 3, 7, 4, 2);
  CHECK_THROWS_AS(dice.value_and_grad(x.view(), bad.view(), dx), value_error);
  CHECK_THROWS_AS((loss::Dice<T, device, dim3>({.smooth_nr = -1.0})), value_error);
  auto x1 = random_tensor<T, dim3>(shape_nc<dim3>(2, 1, {2, 3, 4}), 1);
  auto zeros = random_labels<dim3>(shape_nc<dim3>(2, 1, {2, 3, 4}), 1, -1, 0, 2);
  loss::Dice<T, device, dim3> no_bg({.include_background = false});
  CHECK_THROWS_AS(no_bg.value(x1.view(), zeros.view()), value_error);
}

}  // namespace semiseg::test
