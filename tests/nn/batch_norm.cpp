#include "semiseg/nn/batch_norm.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE_TEMPLATE("batch_norm: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  for (const std::string& name : fixture_cases("batchnorm", Dim::spatial)) {
    CAPTURE(name);
    const auto config = fixture("batchnorm", name, "config").data;
    const auto w = fixture("batchnorm", name, "w");
    Parameters<T, device> params;
    nn::BatchNorm<T, device, Dim> bn(params, {.channels = w.shape[0], .eps = config[2], .momentum = config[1]});
    params.finalize(1);
    write_values(bn.running_mean().value(), fixture("batchnorm", name, "running_mean"));
    write_values(bn.running_var().value(), fixture("batchnorm", name, "running_var"));
    const Context context{config[0] != 0, true, 0};
    check_layer_parity<T, Dim>("batchnorm", name, bn, {{"w", bn.weight()}, {"b", bn.bias()}}, &params, context);
    const index_t c = w.shape[0];
    check_parity<T>("running_mean", read_values(bn.running_mean().value(), c),
                    fixture("batchnorm", name, "running_mean_after"));
    check_parity<T>("running_var", read_values(bn.running_var().value(), c),
                    fixture("batchnorm", name, "running_var_after"));
  }
}

TEST_CASE_TEMPLATE("batch_norm: gradient check in train and eval mode", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  for (const bool train : {true, false}) {
    CAPTURE(train);
    Parameters<T, device> params;
    nn::BatchNorm<T, device, Dim> bn(params, {.channels = 3});
    params.finalize(1);
    // Non-trivial affine parameters and running statistics.
    from_host(params.values().view(), std::vector<T>{1.5, -0.5, 2.0, 0.1, -0.2, 0.3});
    from_host(params.buffers().view(), std::vector<T>{0.1, -0.2, 0.05, 0.8, 1.3, 0.6});
    auto x = random_tensor<T, Dim>(shape_nc<Dim>(2, 3, {4, 3, 3}), 21);
    check_gradient_result(testing::check_layer_gradients(bn, &params, x, Context{train, true, 0}));
  }
}

TEST_CASE("batch_norm: flat input, and a batch of one value per channel is refused in train mode") {
  Parameters<double, device> params;
  nn::BatchNorm<double, device, flat> bn(params, {.channels = 4});
  params.finalize(1);
  auto x = random_tensor<double, flat>(flat_shape(5, 4), 3);
  check_gradient_result(testing::check_layer_gradients(bn, &params, x));
  auto one = random_tensor<double, flat>(flat_shape(1, 4), 3);
  CHECK_THROWS_AS(bn.forward(one.view(), Context::training()), shape_error);
  CHECK_NOTHROW(bn.forward(one.view(), Context::evaluation()));
}

}  // namespace semiseg::test
