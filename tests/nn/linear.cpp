#include "semiseg/nn/linear.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE_TEMPLATE("linear: PyTorch parity", T, float, double) {
  for (const std::string& name : fixture_cases("linear", 0)) {
    CAPTURE(name);
    const bool bias = fixture("linear", name, "config").data[0] != 0;
    const auto w = fixture("linear", name, "w");
    Parameters<T, device> params;
    nn::Linear<T, device> linear(params, {.in_features = w.shape[1], .out_features = w.shape[0], .bias = bias});
    params.finalize(1);
    std::vector<NamedParam<T>> named{{"w", linear.weight()}};
    if (bias) named.push_back({"b", linear.bias()});
    check_layer_parity<T, flat>("linear", name, linear, named, &params);
  }
}

TEST_CASE("linear: gradient check") {
  Parameters<double, device> params;
  nn::Linear<double, device> linear(params, {.in_features = 6, .out_features = 4});
  params.finalize(2);
  auto x = random_tensor<double, flat>(flat_shape(3, 6), 81);
  check_gradient_result(testing::check_layer_gradients(linear, &params, x));
  auto wrong = random_tensor<double, flat>(flat_shape(3, 5), 81);
  CHECK_THROWS_AS(linear.forward(wrong.view(), Context::training()), shape_error);
}

}  // namespace semiseg::test
