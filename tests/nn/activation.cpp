#include "semiseg/nn/activation.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

namespace {
template <class T, class Dim, class Layer>
void parity(const std::string& layer_name, Layer&& layer) {
  for (const std::string& name : fixture_cases(layer_name, Dim::spatial)) {
    CAPTURE(layer_name);
    CAPTURE(name);
    check_layer_parity<T, Dim>(layer_name, name, layer, {}, nullptr);
  }
}
template <class T, class Dim, class Layer>
void gradient(Layer&& layer) {
  auto x = random_tensor<T, Dim>(shape_nc<Dim>(2, 3, {4, 3, 2}), 31);
  check_gradient_result(testing::check_layer_gradients(layer, static_cast<Parameters<T, device>*>(nullptr), x));
}
}  // namespace

TEST_CASE_TEMPLATE("relu: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  parity<typename C::value, typename C::dim>("relu", nn::ReLU<typename C::value, device, typename C::dim>{});
}
TEST_CASE_TEMPLATE("relu: gradient check", C, SEMISEG_GRADIENT_CASES) {
  gradient<typename C::value, typename C::dim>(nn::ReLU<typename C::value, device, typename C::dim>{});
}
TEST_CASE_TEMPLATE("leaky_relu: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  using Dim = typename C::dim;
  const double slope = fixture("leaky_relu", fixture_cases("leaky_relu", Dim::spatial)[0], "config").data[0];
  parity<typename C::value, Dim>("leaky_relu", nn::LeakyReLU<typename C::value, device, Dim>{fn::leaky_relu{slope}});
}
TEST_CASE_TEMPLATE("leaky_relu: gradient check", C, SEMISEG_GRADIENT_CASES) {
  gradient<typename C::value, typename C::dim>(
      nn::LeakyReLU<typename C::value, device, typename C::dim>{fn::leaky_relu{0.1}});
}
TEST_CASE_TEMPLATE("sigmoid: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  parity<typename C::value, typename C::dim>("sigmoid", nn::Sigmoid<typename C::value, device, typename C::dim>{});
}
TEST_CASE_TEMPLATE("sigmoid: gradient check", C, SEMISEG_GRADIENT_CASES) {
  gradient<typename C::value, typename C::dim>(nn::Sigmoid<typename C::value, device, typename C::dim>{});
}
TEST_CASE_TEMPLATE("tanh: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  parity<typename C::value, typename C::dim>("tanh", nn::Tanh<typename C::value, device, typename C::dim>{});
}
TEST_CASE_TEMPLATE("tanh: gradient check", C, SEMISEG_GRADIENT_CASES) {
  gradient<typename C::value, typename C::dim>(nn::Tanh<typename C::value, device, typename C::dim>{});
}

TEST_CASE("activation: sigmoid saturates without overflow") {
  nn::Sigmoid<float, device, flat> sigmoid;
  Tensor<float, device, flat> x(flat_shape(1, 2));
  from_host(x.view(), std::vector<float>{-200.f, 200.f});
  const auto y = to_host(sigmoid.forward(x.view(), Context::evaluation()).view());
  CHECK(y[0] == doctest::Approx(0.0));
  CHECK(y[1] == doctest::Approx(1.0));
}

}  // namespace semiseg::test
