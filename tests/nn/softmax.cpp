#include "semiseg/nn/softmax.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE_TEMPLATE("softmax: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  for (const std::string& name : fixture_cases("softmax", Dim::spatial)) {
    nn::Softmax<T, device, Dim> softmax;
    check_layer_parity<T, Dim>("softmax", name, softmax, {}, nullptr);
  }
}

TEST_CASE_TEMPLATE("log_softmax: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  for (const std::string& name : fixture_cases("log_softmax", Dim::spatial)) {
    nn::LogSoftmax<T, device, Dim> log_softmax;
    check_layer_parity<T, Dim>("log_softmax", name, log_softmax, {}, nullptr);
  }
}

TEST_CASE_TEMPLATE("softmax and log_softmax: gradient check", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  auto x = random_tensor<T, Dim>(shape_nc<Dim>(2, 4, {3, 3, 2}), 41);
  nn::Softmax<T, device, Dim> softmax;
  nn::LogSoftmax<T, device, Dim> log_softmax;
  check_gradient_result(testing::check_layer_gradients(softmax, static_cast<Parameters<T, device>*>(nullptr), x));
  check_gradient_result(testing::check_layer_gradients(log_softmax, static_cast<Parameters<T, device>*>(nullptr), x));
}

TEST_CASE("softmax: large logits stay finite and sum to one") {
  nn::Softmax<float, device, flat> softmax;
  Tensor<float, device, flat> x(flat_shape(1, 3));
  from_host(x.view(), std::vector<float>{1000.f, 999.f, -1000.f});
  const auto y = to_host(softmax.forward(x.view(), Context::evaluation()).view());
  CHECK(y[0] + y[1] + y[2] == doctest::Approx(1.0));
  CHECK(y[0] == doctest::Approx(1.0 / (1.0 + std::exp(-1.0))));
}

}  // namespace semiseg::test
