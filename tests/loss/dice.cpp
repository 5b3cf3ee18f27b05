#include "semiseg/loss/dice.hpp"

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
