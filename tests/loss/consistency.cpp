#include "semiseg/loss/consistency.hpp"

#include "loss/support.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

template <class Loss, class T, class Dim>
void consistency_parity(const std::string& loss_name) {
  for (const std::string& name : fixture_cases(loss_name, Dim::spatial)) {
    CAPTURE(name);
    const auto config = fixture_vector(loss_name, name, "config");
    Loss loss({.target = config.at(0) != 0 ? loss::Target::probabilities : loss::Target::logits});
    auto x = to_tensor<T, Dim>(fixture(loss_name, name, "logits"));
    auto t = to_tensor<T, Dim>(fixture(loss_name, name, "teacher"));
    Tensor<T, device, Dim> w;
    if (has_fixture(loss_name, name, "weights")) w = to_tensor<T, Dim>(fixture(loss_name, name, "weights"));
    Tensor<T, device, Dim> dx;
    const double v = loss.value_and_grad(x.view(), t.view(), dx, w.view());
    check_parity<T>("value", {v}, fixture(loss_name, name, "value"));
    check_parity<T>("dlogits", values(dx), fixture(loss_name, name, "dlogits"));
    check_parity<T>("value()", {loss.value(x.view(), t.view(), w.view())}, fixture(loss_name, name, "value"));
  }
}

TEST_CASE_TEMPLATE("softmax_mse and softmax_kl: PyTorch parity", C, LOSS_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  consistency_parity<loss::SoftmaxMSE<T, device, Dim>, T, Dim>("loss/softmax_mse");
  consistency_parity<loss::SoftmaxKL<T, device, Dim>, T, Dim>("loss/softmax_kl");
}

TEST_CASE_TEMPLATE("softmax_mse and softmax_kl: gradient check with respect to the student only", C,
                   LOSS_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const auto shape = shape_nc<Dim>(2, 4, {3, 2, 2});
  auto x = random_tensor<T, Dim>(shape, 61);
  auto teacher = random_tensor<T, Dim>(shape, 62);
  auto w = positive_weights<T, Dim>(one_channel<T, Dim>(shape), 63);
  const auto before = to_host(teacher.view());
  {
    loss::SoftmaxMSE<T, device, Dim> mse;
    check_loss_gradient<T, Dim>(mse, x, teacher.view(), {});
    check_loss_gradient<T, Dim>(mse, x, teacher.view(), w.view());
  }
  {
    loss::SoftmaxKL<T, device, Dim> kl;
    check_loss_gradient<T, Dim>(kl, x, teacher.view(), {});
    check_loss_gradient<T, Dim>(kl, x, teacher.view(), w.view());
  }
  CHECK(to_host(teacher.view()) == before);
}

TEST_CASE("softmax_mse and softmax_kl: zero when student equals teacher; bad shapes throw") {
  using T = float;
  auto x = random_tensor<T, dim2>(shape_nc<dim2>(2, 3, {4, 4}), 5);
  loss::SoftmaxMSE<T, device, dim2> mse;
  loss::SoftmaxKL<T, device, dim2> kl;
  Tensor<T, device, dim2> dx;
  CHECK(mse.value_and_grad(x.view(), x.view(), dx) == doctest::Approx(0.0));
  for (T g : to_host(dx.view())) CHECK(std::abs(g) < 1e-7f);
  CHECK(std::abs(kl.value_and_grad(x.view(), x.view(), dx)) < 1e-6);
  for (T g : to_host(dx.view())) CHECK(std::abs(g) < 1e-7f);
  auto other = random_tensor<T, dim2>(shape_nc<dim2>(2, 2, {4, 4}), 6);
  CHECK_THROWS_AS(mse.value(x.view(), other.view()), shape_error);
  CHECK_THROWS_AS(kl.value(x.view(), other.view()), shape_error);
  auto w = random_tensor<T, dim2>(shape_nc<dim2>(2, 3, {4, 4}), 6);
  CHECK_THROWS_AS(mse.value(x.view(), x.view(), w.view()), shape_error);
}

}  // namespace semiseg::test
