#include "semiseg/backbone/mlp.hpp"

#include "semiseg/backbone/backbone.hpp"
#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

using backbone::MLPOptions;

static_assert(backbone::ClassificationBackbone<backbone::MLP<float, device, flat>>);
static_assert(backbone::ClassificationBackbone<backbone::MLP<float, device, dim2>>);
static_assert(!backbone::SegmentationBackbone<backbone::MLP<double, device, dim2>>);

#define SEMISEG_MLP_CASES                                                                    \
  semiseg::test::Case<semiseg::flat, float>, semiseg::test::Case<semiseg::flat, double>,     \
      semiseg::test::Case<semiseg::dim2, float>, semiseg::test::Case<semiseg::dim2, double>, \
      semiseg::test::Case<semiseg::dim3, double>

// N samples of 12 features: flat N×12, 2D N×3×2×2, 3D N×3×2×2×1.
template <class Dim>
shape_of<Dim> twelve(index_t n) {
  if constexpr (Dim::spatial == 0)
    return flat_shape(n, 12);
  else
    return shape_nc<Dim>(n, 3, {2, 2, 1});
}

// Counts from PyTorch 1.13 (`/usr/bin/python3 counts.py`): the sum of p.numel() over
// nn.Sequential(Linear(784, 5000), ReLU(), Linear(5000, 10)) and over
// nn.Sequential(Linear(12, 6), ReLU(), Linear(6, 5), ReLU(), Linear(5, 3)).
TEST_CASE_TEMPLATE("mlp: parameter counts match PyTorch", C, SEMISEG_MLP_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  backbone::MLP<T, device, Dim> paper(MLPOptions{});
  CHECK(paper.parameters().size() == 3975010);
  CHECK(paper.buffers().size() == 0);
  backbone::MLP<T, device, Dim> small({.in_features = 12, .hidden = {6, 5}, .classes = 3});
  CHECK(small.parameters().size() == 131);
  CHECK(small.parameters().entries().front().name == "mlp.linear0.weight");
  CHECK(small.parameters().entries().back().name == "mlp.linear2.bias");
}

TEST_CASE_TEMPLATE("mlp: output shape, and images are read as rows", C, SEMISEG_MLP_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const MLPOptions o{.in_features = 12, .hidden = {6, 5}, .classes = 3};
  backbone::MLP<T, device, Dim> net(o, 2);
  backbone::MLP<T, device, flat> rows(o, 2);
  auto x = random_tensor<T, Dim>(twelve<Dim>(4), 1);
  const auto y = values(net.forward(x.view(), Context::evaluation()));
  CHECK(net.forward(x.view(), Context::evaluation()).shape() == flat_shape(4, 3));
  // The same seed gives the same weights; the flat network sees the same memory as 4×12 rows.
  const TensorView<const T, device, flat> flat_x{x.data(), flat_shape(4, 12)};
  CHECK(relative_error(values(rows.forward(flat_x, Context::evaluation())), y) == 0.0);
  // No hidden layer: a linear classifier.
  backbone::MLP<T, device, Dim> linear({.in_features = 12, .hidden = {}, .classes = 3});
  CHECK(linear.parameters().size() == 39);
  CHECK(linear.forward(x.view(), Context::training()).shape() == flat_shape(4, 3));
}

TEST_CASE_TEMPLATE("mlp: gradient check", C, semiseg::test::Case<semiseg::flat, double>,
                   semiseg::test::Case<semiseg::dim2, double>) {
  using T = typename C::value;
  using Dim = typename C::dim;
  for (const double dropout : {0.0, 0.5}) {
    CAPTURE(dropout);
    backbone::MLP<T, device, Dim> net(
        {.in_features = 12, .hidden = {7, 5}, .classes = 3, .dropout = dropout, .input_dropout = dropout / 2}, 3);
    auto x = random_tensor<T, Dim>(twelve<Dim>(3), 4);
    // Dropout masks are fixed by context.step, so train mode is a deterministic function.
    check_gradient_result(testing::check_layer_gradients(net, &net.parameters(), x, Context::training(5)));
    const auto& dx = net.backward(random_tensor<T, flat>(flat_shape(3, 3), 1).view());
    CHECK(dx.shape == x.shape());
  }
}

TEST_CASE_TEMPLATE("mlp: dropout follows the mode and the step", C, SEMISEG_MLP_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  backbone::MLP<T, device, Dim> net({.in_features = 12, .hidden = {32}, .classes = 4}, 1);
  auto x = random_tensor<T, Dim>(twelve<Dim>(2), 2);
  const auto s1 = values(net.forward(x.view(), Context::training(1)));
  CHECK(relative_error(values(net.forward(x.view(), Context::training(1))), s1) == 0.0);
  CHECK(relative_error(values(net.forward(x.view(), Context::training(2))), s1) > 1e-3);
  const auto e = values(net.forward(x.view(), Context::evaluation()));
  CHECK(relative_error(values(net.forward(x.view(), Context::evaluation())), e) == 0.0);
}

TEST_CASE_TEMPLATE("mlp: bad options and inputs", C, SEMISEG_MLP_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  using Net = backbone::MLP<T, device, Dim>;
  CHECK_THROWS_AS(Net({.in_features = 0}), value_error);
  CHECK_THROWS_AS(Net({.in_features = 4, .hidden = {3, 0}}), value_error);
  CHECK_THROWS_AS(Net({.in_features = 4, .hidden = {3}, .classes = 0}), value_error);
  CHECK_THROWS_AS(Net({.in_features = 4, .hidden = {3}, .dropout = 1.0}), value_error);
  Net net({.in_features = 10, .hidden = {3}, .classes = 2});
  auto x = random_tensor<T, Dim>(twelve<Dim>(2), 1);
  CHECK_THROWS_WITH_AS(net.forward(x.view(), Context::evaluation()), doctest::Contains("in_features = 10"),
                       shape_error);
}

}  // namespace semiseg::test
