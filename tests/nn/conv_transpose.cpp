#include "semiseg/nn/conv_transpose.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE_TEMPLATE("conv_transpose: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr int S = Dim::spatial;
  for (const std::string& name : fixture_cases("conv_transpose", S)) {
    CAPTURE(name);
    const auto config = fixture("conv_transpose", name, "config").data;
    const auto w = fixture("conv_transpose", name, "w");
    nn::ConvTransposeOptions<Dim> o;
    o.groups = std::lround(config[0]);
    o.bias = config[1] != 0;
    o.kernel = config_small<S>(config, 2);
    o.stride = config_small<S>(config, 2 + S);
    o.padding = config_small<S>(config, 2 + 2 * S);
    o.output_padding = config_small<S>(config, 2 + 3 * S);
    o.dilation = config_small<S>(config, 2 + 4 * S);
    o.in_channels = w.shape[0];
    o.out_channels = w.shape[1] * o.groups;
    Parameters<T, device> params;
    nn::ConvTranspose<T, device, Dim> layer(params, o);
    params.finalize(1);
    std::vector<NamedParam<T>> named{{"w", layer.weight()}};
    if (o.bias) named.push_back({"b", layer.bias()});
    check_layer_parity<T, Dim>("conv_transpose", name, layer, named, &params);
  }
}

TEST_CASE_TEMPLATE("conv_transpose: gradient check", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr int S = Dim::spatial;
  struct Setup {
    index_t groups, kernel, stride, padding, output_padding, dilation;
  };
  for (const Setup s : {Setup{1, 2, 2, 0, 0, 1}, Setup{2, 3, 2, 1, 1, 1}, Setup{1, 3, 1, 1, 0, 2}}) {
    CAPTURE(s.groups);
    CAPTURE(s.stride);
    nn::ConvTransposeOptions<Dim> o;
    o.in_channels = 2;
    o.out_channels = 4;
    o.groups = s.groups;
    o.kernel = nn::fill<S>(s.kernel);
    o.stride = nn::fill<S>(s.stride);
    o.padding = nn::fill<S>(s.padding);
    o.output_padding = nn::fill<S>(s.output_padding);
    o.dilation = nn::fill<S>(s.dilation);
    Parameters<T, device> params;
    nn::ConvTranspose<T, device, Dim> layer(params, o);
    params.finalize(5);
    auto x = random_tensor<T, Dim>(shape_nc<Dim>(2, 2, {3, 4, 2}), 12);
    check_gradient_result(testing::check_layer_gradients(layer, &params, x));
  }
}

TEST_CASE("conv_transpose: output size follows PyTorch's formula") {
  Parameters<float, device> params;
  nn::ConvTranspose<float, device, dim3> up(params, {.in_channels = 4, .out_channels = 2});
  params.finalize(1);
  auto x = random_tensor<float, dim3>(shape_nc<dim3>(1, 4, {3, 5, 4}), 2);
  const auto& y = up.forward(x.view(), Context::evaluation());
  CHECK(y.shape() == shape_nc<dim3>(1, 2, {6, 10, 8}));
  CHECK_THROWS_AS((nn::ConvTranspose<float, device, dim3>(params, {.output_padding = nn::fill<3>(2)})), value_error);
}

}  // namespace semiseg::test
