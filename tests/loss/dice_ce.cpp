#include "semiseg/loss/dice_ce.hpp"

#include "loss/support.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE_TEMPLATE("dice_ce: PyTorch parity", C, LOSS_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const std::string loss_name = "loss/dice_ce";
  for (const std::string& name : fixture_cases(loss_name, Dim::spatial)) {
    CAPTURE(name);
    const auto config = fixture_vector(loss_name, name, "config");
    typename loss::DiceCE<T, device, Dim>::Options o;
    o.ignore_index = static_cast<std::int32_t>(config.at(0));
    o.lambda_ce = config.at(1);
    o.lambda_dice = config.at(2);
    o.dice.include_background = config.at(3) != 0;
    o.dice.batch = config.at(4) != 0;
    o.ce.label_smoothing = config.at(5);
    if (has_fixture(loss_name, name, "class_weights")) o.ce.class_weights = fixture_vector(loss_name, name, "class_weights");
    loss::DiceCE<T, device, Dim> dice_ce(o);
    auto x = to_tensor<T, Dim>(fixture(loss_name, name, "logits"));
    auto y = labels_from<Dim>(fixture(loss_name, name, "target"));
    Tensor<T, device, Dim> dx;
    const double v = dice_ce.value_and_grad(x.view(), y.view(), dx);
    check_parity<T>("value", {v}, fixture(loss_name, name, "value"));
    check_parity<T>("dlogits", values(dx), fixture(loss_name, name, "dlogits"));
    check_parity<T>("value()", {dice_ce.value(x.view(), y.view())}, fixture(loss_name, name, "value"));
  }
}

TEST_CASE_TEMPLATE("dice_ce: gradient check", C, LOSS_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const auto shape = shape_nc<Dim>(2, 3, {3, 2, 2});
  auto x = random_tensor<T, Dim>(shape, 41);
  auto y = random_labels<Dim>(one_channel<T, Dim>(shape), 3, -1, 3, 42);
  auto w = positive_weights<T, Dim>(one_channel<T, Dim>(shape), 43);
  loss::DiceCE<T, device, Dim> dice_ce({.lambda_ce = 0.7, .lambda_dice = 1.3, .ce = {.class_weights = {1.0, 2.0, 0.5}}});
  check_loss_gradient<T, Dim>(dice_ce, x, y.view(), w.view());
}

TEST_CASE("dice_ce: the combination of its parts, and the shared ignore index") {
  using T = double;
  auto x = random_tensor<T, dim2>(shape_nc<dim2>(2, 3, {4, 4}), 5);
  auto y = random_labels<dim2>(shape_nc<dim2>(2, 1, {4, 4}), 3, -7, 4, 6);
  loss::DiceCE<T, device, dim2> dice_ce({.ignore_index = -7, .lambda_ce = 0.25, .lambda_dice = 3.0});
  loss::CrossEntropy<T, device, dim2> ce({.ignore_index = -7});
  loss::Dice<T, device, dim2> dice({.ignore_index = -7});
  CHECK(dice_ce.value(x.view(), y.view()) ==
        doctest::Approx(0.25 * ce.value(x.view(), y.view()) + 3.0 * dice.value(x.view(), y.view())));
  loss::DiceCE<T, device, dim2> other_ignore;
  CHECK_THROWS_AS(other_ignore.value(x.view(), y.view()), value_error);
  CHECK_THROWS_AS((loss::DiceCE<T, device, dim2>({.lambda_ce = -1.0})), value_error);
}

}  // namespace semiseg::test
