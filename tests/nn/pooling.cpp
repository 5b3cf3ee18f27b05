#include "semiseg/nn/pooling.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE_TEMPLATE("max_pool: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr int S = Dim::spatial;
  for (const std::string& name : fixture_cases("maxpool", S)) {
    CAPTURE(name);
    const auto config = fixture("maxpool", name, "config").data;
    nn::MaxPool<T, device, Dim> pool({.kernel = config_small<S>(config, 0),
                                      .stride = config_small<S>(config, S),
                                      .padding = config_small<S>(config, 2 * S)});
    check_layer_parity<T, Dim>("maxpool", name, pool, {}, nullptr);
  }
}

TEST_CASE_TEMPLATE("avg_pool: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr int S = Dim::spatial;
  for (const std::string& name : fixture_cases("avgpool", S)) {
    CAPTURE(name);
    const auto config = fixture("avgpool", name, "config").data;
    nn::AvgPool<T, device, Dim> pool({.kernel = config_small<S>(config, 0),
                                      .stride = config_small<S>(config, S),
                                      .padding = config_small<S>(config, 2 * S),
                                      .count_include_pad = config[3 * S] != 0});
    check_layer_parity<T, Dim>("avgpool", name, pool, {}, nullptr);
  }
}

TEST_CASE_TEMPLATE("global_avg_pool: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  for (const std::string& name : fixture_cases("global_avgpool", Dim::spatial)) {
    nn::GlobalAvgPool<T, device, Dim> pool;
    check_layer_parity<T, Dim>("global_avgpool", name, pool, {}, nullptr);
  }
}

TEST_CASE_TEMPLATE("max_pool, avg_pool and global_avg_pool: gradient check", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr int S = Dim::spatial;
  Parameters<T, device>* none = nullptr;
  auto x = random_tensor<T, Dim>(shape_nc<Dim>(2, 2, {5, 4, 5}), 51);
  nn::MaxPool<T, device, Dim> max2;
  nn::MaxPool<T, device, Dim> max3({.kernel = nn::fill<S>(3), .stride = nn::fill<S>(2), .padding = nn::fill<S>(1)});
  nn::AvgPool<T, device, Dim> avg3({.kernel = nn::fill<S>(3), .stride = nn::fill<S>(2), .padding = nn::fill<S>(1)});
  nn::AvgPool<T, device, Dim> avg3_exclude(
      {.kernel = nn::fill<S>(3), .stride = nn::fill<S>(1), .padding = nn::fill<S>(1), .count_include_pad = false});
  nn::GlobalAvgPool<T, device, Dim> global;
  check_gradient_result(testing::check_layer_gradients(max2, none, x));
  check_gradient_result(testing::check_layer_gradients(max3, none, x));
  check_gradient_result(testing::check_layer_gradients(avg3, none, x));
  check_gradient_result(testing::check_layer_gradients(avg3_exclude, none, x));
  check_gradient_result(testing::check_layer_gradients(global, none, x));
}

TEST_CASE("pooling: bad options are reported") {
  CHECK_THROWS_AS((nn::MaxPool<float, device, dim2>({.kernel = nn::fill<2>(2), .padding = nn::fill<2>(2)})),
                  value_error);
  nn::MaxPool<float, device, dim2> pool({.kernel = nn::fill<2>(4)});
  auto x = random_tensor<float, dim2>(shape_nc<dim2>(1, 1, {3, 8}), 1);
  CHECK_THROWS_AS(pool.forward(x.view(), Context::evaluation()), shape_error);
}

}  // namespace semiseg::test
