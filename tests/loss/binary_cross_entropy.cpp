#include "semiseg/loss/binary_cross_entropy.hpp"

#include "loss/support.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE_TEMPLATE("binary_cross_entropy: PyTorch parity", C, LOSS_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const std::string loss_name = "loss/binary_cross_entropy";
  for (const std::string& name : fixture_cases(loss_name, Dim::spatial)) {
    CAPTURE(name);
    const auto config = fixture_vector(loss_name, name, "config");
    typename loss::BinaryCrossEntropy<T, device, Dim>::Options o;
    o.ignore_index = static_cast<std::int32_t>(config.at(0));
    if (has_fixture(loss_name, name, "pos_weight")) o.pos_weight = fixture_vector(loss_name, name, "pos_weight");
    loss::BinaryCrossEntropy<T, device, Dim> bce(o);
    auto x = to_tensor<T, Dim>(fixture(loss_name, name, "logits"));
    auto y = labels_from<Dim>(fixture(loss_name, name, "target"));
    Tensor<T, device, Dim> w;
    if (has_fixture(loss_name, name, "weights")) w = to_tensor<T, Dim>(fixture(loss_name, name, "weights"));
    Tensor<T, device, Dim> dx;
    const double v = bce.value_and_grad(x.view(), y.view(), dx, w.view());
    check_parity<T>("value", {v}, fixture(loss_name, name, "value"));
    check_parity<T>("dlogits", values(dx), fixture(loss_name, name, "dlogits"));
    check_parity<T>("value()", {bce.value(x.view(), y.view(), w.view())}, fixture(loss_name, name, "value"));
  }
}

TEST_CASE_TEMPLATE("binary_cross_entropy: gradient check with ignore, pos_weight, pixel weights", C,
                   LOSS_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const auto shape = shape_nc<Dim>(2, 3, {3, 2, 2});
  auto x = random_tensor<T, Dim>(shape, 21);
  auto y = random_labels<Dim>(shape, 2, -1, 4, 22);
  auto w = positive_weights<T, Dim>(one_channel<T, Dim>(shape), 23);
  {
    loss::BinaryCrossEntropy<T, device, Dim> bce;
    check_loss_gradient<T, Dim>(bce, x, y.view(), {});
  }
  {
    loss::BinaryCrossEntropy<T, device, Dim> bce({.pos_weight = {0.5, 3.0, 1.0}});
    check_loss_gradient<T, Dim>(bce, x, y.view(), w.view());
  }
}

TEST_CASE("binary_cross_entropy: large logits stay finite and exact") {
  loss::BinaryCrossEntropy<float, device, flat> bce;
  Tensor<float, device, flat> x(flat_shape(1, 2));
  from_host(x.view(), std::vector<float>{100.f, -100.f});
  auto y = labels<flat>(flat_shape(1, 2), {0, 0});
  Tensor<float, device, flat> dx;
  CHECK(bce.value_and_grad(x.view(), y.view(), dx) == doctest::Approx(50.0).epsilon(1e-6));
  const auto g = to_host(dx.view());
  CHECK(g[0] == doctest::Approx(0.5));
  CHECK(g[1] == doctest::Approx(0.0));
}

TEST_CASE("binary_cross_entropy: bad inputs throw typed errors") {
  using T = double;
  loss::BinaryCrossEntropy<T, device, dim2> bce;
  Tensor<T, device, dim2> dx;
  auto x = random_tensor<T, dim2>(shape_nc<dim2>(2, 2, {4, 4}), 1);
  auto one_channel_target = random_labels<dim2>(shape_nc<dim2>(2, 1, {4, 4}), 2, -1, 0, 2);
  CHECK_THROWS_AS(bce.value_and_grad(x.view(), one_channel_target.view(), dx), shape_error);
  auto two = random_labels<dim2>(shape_nc<dim2>(2, 2, {4, 4}), 2, 2, 5, 2);  // a 2 among 0/1 targets
  CHECK_THROWS_AS(bce.value(x.view(), two.view()), value_error);
  auto good = random_labels<dim2>(shape_nc<dim2>(2, 2, {4, 4}), 2, -1, 5, 2);
  loss::BinaryCrossEntropy<T, device, dim2> wrong_pw({.pos_weight = {1.0}});
  CHECK_THROWS_AS(wrong_pw.value(x.view(), good.view()), shape_error);
  CHECK_THROWS_AS((loss::BinaryCrossEntropy<T, device, dim2>({.ignore_index = 1})), value_error);
  CHECK(std::isfinite(bce.value(x.view(), good.view())));
}

}  // namespace semiseg::test
