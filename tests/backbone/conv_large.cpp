#include "semiseg/backbone/conv_large.hpp"

#include "semiseg/backbone/backbone.hpp"
#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

using backbone::ConvLargeOptions;

static_assert(backbone::ClassificationBackbone<backbone::ConvLarge<float, device, dim2>>);
static_assert(backbone::ClassificationBackbone<backbone::ConvLarge<double, device, dim3>>);
static_assert(!backbone::SegmentationBackbone<backbone::ConvLarge<float, device, dim2>>);

template <class Dim>
shape_of<Dim> cube(index_t n, index_t c, index_t e) {
  if constexpr (Dim::spatial == 2)
    return shape_nc<Dim>(n, c, {e, e});
  else
    return shape_nc<Dim>(n, c, {e, e, e});
}

TEST_CASE_TEMPLATE("conv_large: output shape for CIFAR and Fashion-MNIST sizes", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  backbone::ConvLarge<T, device, Dim> net({.in_channels = 3, .classes = 10, .width = 4}, 1);
  const index_t sizes2d[] = {32, 28}, sizes3d[] = {12, 13};
  for (const index_t size : Dim::spatial == 2 ? sizes2d : sizes3d) {
    CAPTURE(size);
    auto x = random_tensor<T, Dim>(cube<Dim>(3, 3, size), 2);
    const auto& y = net.forward(x.view(), Context::training());
    CHECK(y.shape() == flat_shape(3, 10));
    for (double v : values(y)) REQUIRE(std::isfinite(v));
    CHECK(net.forward(x.view(), Context::evaluation()).shape() == flat_shape(3, 10));
  }
}

// The counts come from the same network built in PyTorch 1.13 and summed over
// model.parameters() and the floating-point model.buffers() (`/usr/bin/python3 counts.py`):
//   [Conv(cin, w, 3, pad 1, bias=False), BatchNorm(w), LeakyReLU(0.1)] ×3 (w → w after the first),
//   the same with 2w ×3, Conv(2w, 4w, 3, pad 0), Conv(4w, 2w, 1), Conv(2w, w, 1) each with
//   BatchNorm and LeakyReLU, then Linear(w, classes). Pooling, dropout and noise have no parameters.
TEST_CASE_TEMPLATE("conv_large: parameter counts match PyTorch", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr bool is2d = Dim::spatial == 2;
  backbone::ConvLarge<T, device, Dim> paper(ConvLargeOptions{});
  CHECK(paper.parameters().size() == (is2d ? 3121802 : 9026954));
  CHECK(paper.buffers().size() == 4096);
  backbone::ConvLarge<T, device, Dim> small({.in_channels = 1, .classes = 10, .width = 4});
  CHECK(small.parameters().size() == (is2d ? 3254 : 9086));
  CHECK(small.buffers().size() == 128);
  CHECK(small.parameters().entries().front().name == "conv_large.conv1a.conv.weight");
  CHECK(small.parameters().entries().back().name == "conv_large.fc.bias");
}

// Directional derivatives: variable k is a scalar t with x = x0 + t·v_k (or the parameters
// p0 + t·u_k) for a random unit direction, whose analytic gradient is <dx, v_k>. A full element-wise
// check of the smallest 3D ConvLarge (a 12³ input and ~6000 weights) takes minutes; a few random
// directions catch the same mistakes in a fraction of a second.
template <class Net, class T, class Dim>
testing::GradientCheckResult check_directions(Net& net, Tensor<T, device, Dim>& x, Context context, int directions) {
  Parameters<T, device>& params = net.parameters();
  const std::vector<T> x0 = to_host(x.view()), p0 = to_host(params.values().view());
  std::vector<double> dx, dp;
  auto forward = [&] { return values(net.forward(x.view(), context)); };
  auto backward = [&](const std::vector<double>& r) {
    params.zero_grad();
    const auto& y = net.forward(x.view(), context);
    Tensor<T, device, flat> dy(y.shape());
    from_host(dy.view(), std::vector<T>(r.begin(), r.end()));
    dx = values(net.backward(dy.view()));
    dp = values(params.grads().view());
  };
  auto direction = [](std::size_t size, std::uint64_t seed) {
    std::vector<double> v(size);
    const Philox rng{seed, 3, 0};
    double norm = 0;
    for (std::size_t i = 0; i < size; ++i) norm += (v[i] = rng.normal<double>(i)) * v[i];
    for (double& e : v) e /= std::sqrt(norm);  // unit length: the step is epsilon, as element-wise
    return v;
  };
  auto along = [](const std::vector<T>& origin, const std::vector<double>& v, double t) {
    std::vector<T> out(origin.size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = T(double(origin[i]) + t * v[i]);
    return out;
  };
  auto dot = [](const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return std::vector<double>{s};
  };
  std::vector<testing::Variable> vars;
  for (int k = 0; k < directions; ++k) {
    const auto v = direction(x0.size(), 100 + std::uint64_t(k)), u = direction(p0.size(), 200 + std::uint64_t(k));
    vars.push_back({"input direction " + std::to_string(k), [] { return std::vector<double>{0.0}; },
                    [&x, &x0, v, along](const std::vector<double>& t) { from_host(x.view(), along(x0, v, t[0])); },
                    [&dx, v, dot] { return dot(dx, v); }});
    vars.push_back({"parameter direction " + std::to_string(k), [] { return std::vector<double>{0.0}; },
                    [&params, &p0, u, along](const std::vector<double>& t) {
                      from_host(params.values().view(), along(p0, u, t[0]));
                    },
                    [&dp, u, dot] { return dot(dp, u); }});
  }
  return testing::check_gradients(forward, backward, vars, {.tolerance = 1e-6});
}

TEST_CASE_TEMPLATE("conv_large: gradient check", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  // With noise and dropout on, the draws are fixed by context.step, so the function is still
  // deterministic; train-mode BatchNorm uses the batch statistics.
  for (const bool stochastic : {false, true}) {
    CAPTURE(stochastic);
    backbone::ConvLarge<T, device, Dim> net({.in_channels = 1,
                                             .classes = 3,
                                             .width = 2,
                                             .noise = stochastic ? 0.15 : 0.0,
                                             .dropout = stochastic ? 0.5 : 0.0},
                                            4);
    auto x = random_tensor<T, Dim>(cube<Dim>(2, 1, Dim::spatial == 2 ? 16 : 12), 5);
    if constexpr (Dim::spatial == 2)
      check_gradient_result(
          testing::check_layer_gradients(net, &net.parameters(), x, Context::training(7), {.tolerance = 1e-5}));
    check_gradient_result(check_directions(net, x, Context::training(7), 4));
  }
}

TEST_CASE_TEMPLATE("conv_large: noise and dropout follow the mode and the step", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  backbone::ConvLarge<T, device, Dim> net({.in_channels = 1, .classes = 4, .width = 4}, 3);
  auto x = random_tensor<T, Dim>(cube<Dim>(2, 1, Dim::spatial == 2 ? 16 : 12), 6);
  const Context no_grad1{.train = true, .needs_backward = false, .step = 1};
  const Context no_grad2{.train = true, .needs_backward = false, .step = 2};
  const auto a = values(net.forward(x.view(), no_grad1));
  const auto b = values(net.forward(x.view(), no_grad1));
  const auto c = values(net.forward(x.view(), no_grad2));
  CHECK(relative_error(b, a) == 0.0);
  // BatchNorm and the global average pool shrink what the masks change in the logits (6e-4 here);
  // the same step gives identical output, so any change shows that the draws differ.
  CHECK(relative_error(c, a) > 1e-5);
  const auto e1 = values(net.forward(x.view(), Context::evaluation()));
  const auto e2 = values(net.forward(x.view(), Context::evaluation()));
  CHECK(relative_error(e2, e1) == 0.0);
  // A second model with another seed draws other masks and weights.
  backbone::ConvLarge<T, device, Dim> other({.in_channels = 1, .classes = 4, .width = 4}, 4);
  CHECK(relative_error(values(other.forward(x.view(), no_grad1)), a) > 1e-3);
}

TEST_CASE_TEMPLATE("conv_large: bad options and inputs", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  using Net = backbone::ConvLarge<T, device, Dim>;
  CHECK_THROWS_AS(Net({.width = 0}), value_error);
  CHECK_THROWS_AS(Net({.classes = 0}), value_error);
  CHECK_THROWS_AS(Net({.noise = -0.1}), value_error);
  CHECK_THROWS_AS(Net({.dropout = 1.0}), value_error);
  Net net({.in_channels = 1, .classes = 2, .width = 2});
  auto tiny = random_tensor<T, Dim>(cube<Dim>(2, 1, 8), 1);
  CHECK_THROWS_WITH_AS(net.forward(tiny.view(), Context::evaluation()), doctest::Contains("spatial size 8"),
                       shape_error);
  auto channels = random_tensor<T, Dim>(cube<Dim>(2, 3, 16), 1);
  CHECK_THROWS_AS(net.forward(channels.view(), Context::evaluation()), shape_error);
}

}  // namespace semiseg::test
