#include "semiseg/nn/group_norm.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE_TEMPLATE("group_norm: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  for (const std::string& name : fixture_cases("groupnorm", Dim::spatial)) {
    CAPTURE(name);
    const auto config = fixture("groupnorm", name, "config").data;
    const auto w = fixture("groupnorm", name, "w");
    Parameters<T, device> params;
    nn::GroupNorm<T, device, Dim> gn(params, {.channels = w.shape[0], .groups = std::lround(config[0]), .eps = config[1]});
    params.finalize(1);
    check_layer_parity<T, Dim>("groupnorm", name, gn, {{"w", gn.weight()}, {"b", gn.bias()}}, &params);
  }
}

TEST_CASE_TEMPLATE("group_norm: gradient check", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  for (const index_t groups : {1, 2, 4}) {
    CAPTURE(groups);
    Parameters<T, device> params;
    nn::GroupNorm<T, device, Dim> gn(params, {.channels = 4, .groups = groups});
    params.finalize(1);
    from_host(params.values().view(), std::vector<T>{1.5, -0.5, 2.0, 0.7, 0.1, -0.2, 0.3, 0.0});
    auto x = random_tensor<T, Dim>(shape_nc<Dim>(2, 4, {3, 4, 2}), 22);
    check_gradient_result(testing::check_layer_gradients(gn, &params, x));
  }
  Parameters<T, device> params;
  CHECK_THROWS_AS((nn::GroupNorm<T, device, Dim>(params, {.channels = 6, .groups = 4})), value_error);
}

}  // namespace semiseg::test
