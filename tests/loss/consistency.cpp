#include "semiseg/loss/consistency.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

#define LOSS_CASES                                                                                       \
  Case<flat, float>, Case<flat, double>, Case<dim2, float>, Case<dim2, double>, Case<dim3, float>, \
      Case<dim3, double>
#define LOSS_GRADIENT_CASES Case<flat, double>, Case<dim2, double>, Case<dim3, double>

namespace {
template <Dimension Dim>
Tensor<std::int32_t, device, Dim> labels(const shape_of<Dim>& shape, const std::vector<std::int32_t>& v) {
  Tensor<std::int32_t, device, Dim> t(shape);
  from_host(t.view(), v);
  return t;
}

template <Dimension Dim>
Tensor<std::int32_t, device, Dim> labels_from(const NpyArray& a) {
  shape_of<Dim> shape;
  REQUIRE(static_cast<int>(a.shape.size()) == Dim::spatial + 2);
  for (int i = 0; i < Dim::spatial + 2; ++i) shape[i] = a.shape[static_cast<std::size_t>(i)];
  std::vector<std::int32_t> v;
  for (double d : a.data) v.push_back(static_cast<std::int32_t>(std::lround(d)));
  return labels<Dim>(shape, v);
}

// Labels in [0, classes) with every `ignore_every`-th one set to `ignore`.
template <Dimension Dim>
Tensor<std::int32_t, device, Dim> random_labels(shape_of<Dim> shape, index_t classes, std::int32_t ignore,
                                                index_t ignore_every, std::uint64_t seed) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(shape.size()));
  const Philox rng{seed, 3, 0};
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = ignore_every > 0 && i % std::size_t(ignore_every) == 1
               ? ignore
               : static_cast<std::int32_t>(rng.uniform<double>(i) * double(classes)) % std::int32_t(classes);
  return labels<Dim>(shape, v);
}

template <class T, Dimension Dim>
Tensor<T, device, Dim> positive_weights(shape_of<Dim> shape, std::uint64_t seed) {
  auto w = random_tensor<T, Dim>(shape, seed);
  std::vector<T> v = to_host(w.view());
  for (T& x : v) x = x + T(1.5);
  from_host(w.view(), v);
  return w;
}

template <class T, Dimension Dim>
shape_of<Dim> one_channel(shape_of<Dim> s) {
  s[1] = 1;
  return s;
}

template <class T, Dimension Dim, class Loss, class Target>
void check_loss_gradient(Loss& loss, Tensor<T, device, Dim>& x, const Target& target,
                         TensorView<const T, device, Dim> w) {
  Tensor<T, device, Dim> dx;
  std::vector<double> g;
  auto forward = [&] { return std::vector<double>{loss.value(x.view(), target, w)}; };
  auto backward = [&](const std::vector<double>& r) {
    const double v = loss.value_and_grad(x.view(), target, dx, w);
    CHECK(v == doctest::Approx(loss.value(x.view(), target, w)).epsilon(1e-12));
    g = testing::host_values(TensorView<const T, device, Dim>(dx.view()));
    for (double& e : g) e *= r[0];
  };
  // Built step by step: nvcc's front end does not take a one-element braced vector here.
  std::vector<testing::Variable> variables;
  variables.push_back(testing::tensor_variable("logits", x, [&] { return g; }));
  check_gradient_result(testing::check_gradients(forward, backward, variables, {.epsilon = 1e-6, .tolerance = 1e-6}));
}

std::vector<double> fixture_vector(const std::string& loss, const std::string& name, const std::string& file) {
  return fixture(loss, name, file).data;
}
}  // namespace

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
