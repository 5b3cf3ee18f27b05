#include "semiseg/loss/dice_ce.hpp"

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
