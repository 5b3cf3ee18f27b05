#include "semiseg/loss/cross_entropy.hpp"

#include "loss/support.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE_TEMPLATE("cross_entropy: PyTorch parity", C, LOSS_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const std::string loss_name = "loss/cross_entropy";
  for (const std::string& name : fixture_cases(loss_name, Dim::spatial)) {
    CAPTURE(name);
    const auto config = fixture_vector(loss_name, name, "config");
    typename loss::CrossEntropy<T, device, Dim>::Options o;
    o.ignore_index = static_cast<std::int32_t>(config.at(0));
    o.label_smoothing = config.at(1);
    if (has_fixture(loss_name, name, "class_weights")) o.class_weights = fixture_vector(loss_name, name, "class_weights");
    loss::CrossEntropy<T, device, Dim> ce(o);
    auto x = to_tensor<T, Dim>(fixture(loss_name, name, "logits"));
    auto y = labels_from<Dim>(fixture(loss_name, name, "target"));
    Tensor<T, device, Dim> w;
    if (has_fixture(loss_name, name, "weights")) w = to_tensor<T, Dim>(fixture(loss_name, name, "weights"));
    Tensor<T, device, Dim> dx;
    const double v = ce.value_and_grad(x.view(), y.view(), dx, w.view());
    check_parity<T>("value", {v}, fixture(loss_name, name, "value"));
    check_parity<T>("dlogits", values(dx), fixture(loss_name, name, "dlogits"));
    check_parity<T>("value()", {ce.value(x.view(), y.view(), w.view())}, fixture(loss_name, name, "value"));
  }
}

TEST_CASE_TEMPLATE("cross_entropy: gradient check with ignore, class weights, smoothing, pixel weights", C,
                   LOSS_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const auto shape = shape_nc<Dim>(2, 4, {3, 2, 2});
  auto x = random_tensor<T, Dim>(shape, 11);
  auto y = random_labels<Dim>(one_channel<T, Dim>(shape), 4, -1, 3, 12);
  auto w = positive_weights<T, Dim>(one_channel<T, Dim>(shape), 13);
  {
    loss::CrossEntropy<T, device, Dim> ce;
    check_loss_gradient<T, Dim>(ce, x, y.view(), {});
  }
  {
    loss::CrossEntropy<T, device, Dim> ce({.class_weights = {0.5, 2.0, 1.0, 0.25}, .label_smoothing = 0.15});
    check_loss_gradient<T, Dim>(ce, x, y.view(), w.view());
  }
}

TEST_CASE("cross_entropy: known value, all-ignored batch, ignore_index as a class") {
  loss::CrossEntropy<double, device, flat> ce;
  Tensor<double, device, flat> x(flat_shape(2, 2));
  from_host(x.view(), std::vector<double>{0.0, 0.0, 1.0, -1.0});
  auto y = labels<flat>(flat_shape(2, 1), {1, -1});
  Tensor<double, device, flat> dx;
  CHECK(ce.value_and_grad(x.view(), y.view(), dx) == doctest::Approx(std::log(2.0)));
  const auto g = to_host(dx.view());
  CHECK(g[0] == doctest::Approx(0.5));
  CHECK(g[1] == doctest::Approx(-0.5));
  CHECK(g[2] == 0.0);
  CHECK(g[3] == 0.0);

  auto none = labels<flat>(flat_shape(2, 1), {-1, -1});
  CHECK(ce.value_and_grad(x.view(), none.view(), dx) == 0.0);
  for (double e : to_host(dx.view())) CHECK(e == 0.0);

  // An ignore index inside [0, C) removes that class's pixels, as in PyTorch.
  loss::CrossEntropy<double, device, flat> ce1({.ignore_index = 1});
  auto ones = labels<flat>(flat_shape(2, 1), {1, 0});
  CHECK(ce1.value(x.view(), ones.view()) == doctest::Approx(std::log(1.0 + std::exp(-2.0))));
}

TEST_CASE("cross_entropy: bad inputs throw typed errors") {
  using T = float;
  loss::CrossEntropy<T, device, dim2> ce;
  Tensor<T, device, dim2> dx;
  auto x = random_tensor<T, dim2>(shape_nc<dim2>(2, 3, {4, 4}), 1);
  auto good = random_labels<dim2>(shape_nc<dim2>(2, 1, {4, 4}), 3, -1, 0, 2);
  auto wrong_spatial = random_labels<dim2>(shape_nc<dim2>(2, 1, {4, 5}), 3, -1, 0, 2);
  auto wrong_channels = random_labels<dim2>(shape_nc<dim2>(2, 3, {4, 4}), 3, -1, 0, 2);
  CHECK_THROWS_AS(ce.value_and_grad(x.view(), wrong_spatial.view(), dx), shape_error);
  CHECK_THROWS_AS(ce.value_and_grad(x.view(), wrong_channels.view(), dx), shape_error);
  auto w = random_tensor<T, dim2>(shape_nc<dim2>(2, 2, {4, 4}), 3);
  CHECK_THROWS_AS(ce.value_and_grad(x.view(), good.view(), dx, w.view()), shape_error);

  auto bad = random_labels<dim2>(shape_nc<dim2>(2, 1, {4, 4}), 3, 3, 5, 2);  // label 3 with C = 3
  CHECK_THROWS_AS(ce.value_and_grad(x.view(), bad.view(), dx), value_error);
  auto negative = random_labels<dim2>(shape_nc<dim2>(2, 1, {4, 4}), 3, -2, 5, 2);
  CHECK_THROWS_AS(ce.value(x.view(), negative.view()), value_error);

  loss::CrossEntropy<T, device, dim2> weighted({.class_weights = {1.0, 2.0}});
  CHECK_THROWS_AS(weighted.value(x.view(), good.view()), shape_error);
  CHECK_THROWS_AS((loss::CrossEntropy<T, device, dim2>({.label_smoothing = 1.5})), value_error);
  loss::CrossEntropy<T, device, dim2> negative_weight({.class_weights = {1.0, -2.0, 1.0}});
  CHECK_THROWS_AS(negative_weight.value(x.view(), good.view()), value_error);
  CHECK(std::isfinite(ce.value(x.view(), good.view())));
}

}  // namespace semiseg::test
