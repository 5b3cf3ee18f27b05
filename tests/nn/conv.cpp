#include "semiseg/nn/conv.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE_TEMPLATE("conv: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr int S = Dim::spatial;
  for (const std::string& name : fixture_cases("conv", S)) {
    CAPTURE(name);
    const auto config = fixture("conv", name, "config").data;
    const auto w = fixture("conv", name, "w");
    nn::ConvOptions<Dim> o;
    o.groups = std::lround(config[0]);
    o.bias = config[1] != 0;
    o.kernel = config_small<S>(config, 2);
    o.stride = config_small<S>(config, 2 + S);
    o.padding = config_small<S>(config, 2 + 2 * S);
    o.padding_end = config_small<S>(config, 2 + 3 * S);
    o.dilation = config_small<S>(config, 2 + 4 * S);
    o.out_channels = w.shape[0];
    o.in_channels = w.shape[1] * o.groups;
    Parameters<T, device> params;
    nn::Conv<T, device, Dim> conv(params, o);
    params.finalize(1);
    std::vector<NamedParam<T>> named{{"w", conv.weight()}};
    if (o.bias) named.push_back({"b", conv.bias()});
    check_layer_parity<T, Dim>("conv", name, conv, named, &params);
  }
}

TEST_CASE_TEMPLATE("conv: gradient check", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr int S = Dim::spatial;
  struct Setup {
    index_t groups, stride, dilation, pad_begin, pad_end;
  };
  for (const Setup s : {Setup{1, 1, 1, 1, 1}, Setup{2, 2, 1, 1, 0}, Setup{1, 1, 2, 2, 1}}) {
    CAPTURE(s.groups);
    CAPTURE(s.stride);
    CAPTURE(s.dilation);
    nn::ConvOptions<Dim> o;
    o.in_channels = 2;
    o.out_channels = 4;
    o.groups = s.groups;
    o.stride = nn::fill<S>(s.stride);
    o.dilation = nn::fill<S>(s.dilation);
    o.padding = nn::fill<S>(s.pad_begin);
    o.padding_end = nn::fill<S>(s.pad_end);
    Parameters<T, device> params;
    nn::Conv<T, device, Dim> conv(params, o);
    params.finalize(3);
    auto x = random_tensor<T, Dim>(shape_nc<Dim>(2, 2, {5, 6, 4}), 11);
    check_gradient_result(testing::check_layer_gradients(conv, &params, x));
  }
}

TEST_CASE_TEMPLATE("conv: a pass on data skips the input gradient and keeps the parameter gradients", T, float, double) {
  nn::ConvOptions<dim2> o;
  o.in_channels = 2;
  o.out_channels = 3;
  o.padding = {1, 1};
  Parameters<T, device> params;
  nn::Conv<T, device, dim2> conv(params, o);
  params.finalize(5);
  conv.set_input_is_data(true);
  Tensor<T, device, dim2> x(make_shape<2>(2, 2, {{5, 6}})), dy(make_shape<2>(2, 3, {{5, 6}}));
  std::vector<T> xv(std::size_t(x.size())), dyv(std::size_t(dy.size()));
  const Philox rng{4, 0, 0};
  for (std::size_t i = 0; i < xv.size(); ++i) xv[i] = T(rng.uniform<double>(i) - 0.5);
  for (std::size_t i = 0; i < dyv.size(); ++i) dyv[i] = T(rng.uniform<double>(i + 100) - 0.5);
  from_host(x.view(), xv);
  from_host(dy.view(), dyv);
  auto grads = [&](Context c) {
    params.zero_grad();
    conv.forward(x.view(), c);
    const index_t dx_size = conv.backward(dy.view()).size();
    return std::pair{dx_size, to_host(params.grads().view())};
  };
  const auto [full_dx, full] = grads(Context::training());
  const auto [data_dx, data] = grads(Context::training_on_data());
  CHECK(full_dx == x.size());
  CHECK(data_dx == 0);
  REQUIRE(full.size() == data.size());
  double diff = 0;
  for (std::size_t i = 0; i < full.size(); ++i) diff = std::max(diff, double(std::abs(full[i] - data[i])));
  CHECK(diff == 0);
}

TEST_CASE("conv: bad options and inputs are reported") {
  Parameters<double, device> params;
  CHECK_THROWS_AS((nn::Conv<double, device, dim2>(params, {.in_channels = 3, .out_channels = 4, .groups = 2})),
                  value_error);
  nn::Conv<double, device, dim2> conv(params, {.in_channels = 3, .out_channels = 4});
  params.finalize(1);
  auto x = random_tensor<double, dim2>(shape_nc<dim2>(1, 2, {5, 5}), 1);
  CHECK_THROWS_AS(conv.forward(x.view(), Context::training()), shape_error);
  auto tiny = random_tensor<double, dim2>(shape_nc<dim2>(1, 3, {1, 5}), 1);
  CHECK_THROWS_AS(conv.forward(tiny.view(), Context::training()), shape_error);
}

}  // namespace semiseg::test
