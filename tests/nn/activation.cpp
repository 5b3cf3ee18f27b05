#include "semiseg/nn/activation.hpp"

#include "support/harness.hpp"

using namespace semiseg;
using namespace semiseg::test;

namespace {
template <class T, class Dim, class Layer>
void parity(const std::string& layer_name, Layer&& layer) {
  for (const std::string& name : fixture_cases(layer_name, Dim::spatial)) {
    CAPTURE(layer_name);
    CAPTURE(name);
    check_layer_parity<T, Dim>(layer_name, name, layer, {}, nullptr);
  }
}
}  // namespace

TEST_CASE_TEMPLATE("activation: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  parity<T, Dim>("relu", nn::ReLU<T, device, Dim>{});
  parity<T, Dim>("sigmoid", nn::Sigmoid<T, device, Dim>{});
  parity<T, Dim>("tanh", nn::Tanh<T, device, Dim>{});
  const double slope = fixture("leaky_relu", fixture_cases("leaky_relu", Dim::spatial)[0], "config").data[0];
  parity<T, Dim>("leaky_relu", nn::LeakyReLU<T, device, Dim>{fn::leaky_relu{slope}});
}

TEST_CASE_TEMPLATE("activation: gradient check", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  auto x = random_tensor<T, Dim>(shape_nc<Dim>(2, 3, {4, 3, 2}), 31);
  nn::ReLU<T, device, Dim> relu;
  nn::LeakyReLU<T, device, Dim> leaky{fn::leaky_relu{0.1}};
  nn::Sigmoid<T, device, Dim> sigmoid;
  nn::Tanh<T, device, Dim> tanh;
  check_gradient_result(testing::check_layer_gradients(relu, static_cast<Parameters<T, device>*>(nullptr), x));
  check_gradient_result(testing::check_layer_gradients(leaky, static_cast<Parameters<T, device>*>(nullptr), x));
  check_gradient_result(testing::check_layer_gradients(sigmoid, static_cast<Parameters<T, device>*>(nullptr), x));
  check_gradient_result(testing::check_layer_gradients(tanh, static_cast<Parameters<T, device>*>(nullptr), x));
}

TEST_CASE("activation: sigmoid saturates without overflow") {
  nn::Sigmoid<float, device, flat> sigmoid;
  Tensor<float, device, flat> x(flat_shape(1, 2));
  from_host(x.view(), std::vector<float>{-200.f, 200.f});
  const auto y = to_host(sigmoid.forward(x.view(), Context::evaluation()).view());
  CHECK(y[0] == doctest::Approx(0.0));
  CHECK(y[1] == doctest::Approx(1.0));
}
