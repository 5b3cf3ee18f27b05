#include "semiseg/loss/focal.hpp"
#include "semiseg/loss/cross_entropy.hpp"

#include "loss/support.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE_TEMPLATE("focal: PyTorch parity", C, LOSS_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const std::string loss_name = "loss/focal";
  for (const std::string& name : fixture_cases(loss_name, Dim::spatial)) {
    CAPTURE(name);
    const auto config = fixture_vector(loss_name, name, "config");
    typename loss::Focal<T, device, Dim>::Options o;
    o.ignore_index = static_cast<std::int32_t>(config.at(0));
    o.gamma = config.at(1);
    if (has_fixture(loss_name, name, "alpha")) o.alpha = fixture_vector(loss_name, name, "alpha");
    loss::Focal<T, device, Dim> focal(o);
    auto x = to_tensor<T, Dim>(fixture(loss_name, name, "logits"));
    auto y = labels_from<Dim>(fixture(loss_name, name, "target"));
    Tensor<T, device, Dim> w;
    if (has_fixture(loss_name, name, "weights")) w = to_tensor<T, Dim>(fixture(loss_name, name, "weights"));
    Tensor<T, device, Dim> dx;
    const double v = focal.value_and_grad(x.view(), y.view(), dx, w.view());
    check_parity<T>("value", {v}, fixture(loss_name, name, "value"));
    check_parity<T>("dlogits", values(dx), fixture(loss_name, name, "dlogits"));
    check_parity<T>("value()", {focal.value(x.view(), y.view(), w.view())}, fixture(loss_name, name, "value"));
  }
}

TEST_CASE_TEMPLATE("focal: gradient check for several gammas, alpha, ignore and pixel weights", C, LOSS_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const auto shape = shape_nc<Dim>(2, 4, {3, 2, 2});
  auto x = random_tensor<T, Dim>(shape, 51);
  auto y = random_labels<Dim>(one_channel<T, Dim>(shape), 4, -1, 3, 52);
  auto w = positive_weights<T, Dim>(one_channel<T, Dim>(shape), 53);
  for (double gamma : {0.0, 0.5, 2.0, 2.5}) {
    CAPTURE(gamma);
    loss::Focal<T, device, Dim> focal({.gamma = gamma, .alpha = {0.25, 1.0, 0.5, 2.0}});
    check_loss_gradient<T, Dim>(focal, x, y.view(), w.view());
  }
}

TEST_CASE("focal: gamma 0 without alpha is the cross-entropy; bad inputs throw") {
  using T = double;
  auto x = random_tensor<T, dim2>(shape_nc<dim2>(2, 3, {4, 4}), 5);
  auto y = random_labels<dim2>(shape_nc<dim2>(2, 1, {4, 4}), 3, -1, 4, 6);
  loss::Focal<T, device, dim2> focal({.gamma = 0.0});
  loss::CrossEntropy<T, device, dim2> ce;
  CHECK(focal.value(x.view(), y.view()) == doctest::Approx(ce.value(x.view(), y.view())).epsilon(1e-12));
  loss::Focal<T, device, dim2> default_focal;
  CHECK(default_focal.value(x.view(), y.view()) < ce.value(x.view(), y.view()));
  CHECK_THROWS_AS((loss::Focal<T, device, dim2>({.gamma = -1.0})), value_error);
  loss::Focal<T, device, dim2> short_alpha({.alpha = {1.0, 1.0}});
  CHECK_THROWS_AS(short_alpha.value(x.view(), y.view()), shape_error);
  auto bad = random_labels<dim2>(shape_nc<dim2>(2, 1, {4, 4}), 3, 3, 4, 6);
  CHECK_THROWS_AS(default_focal.value(x.view(), bad.view()), value_error);
  auto wrong = random_labels<dim2>(shape_nc<dim2>(2, 1, {4, 3}), 3, -1, 4, 6);
  CHECK_THROWS_AS(default_focal.value(x.view(), wrong.view()), shape_error);
}

}  // namespace semiseg::test
