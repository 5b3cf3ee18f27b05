#include "semiseg/nn/merge.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

namespace {
// Runs forward and backward of a two-input layer on a fixture and compares y, dx0 and dx1.
template <class T, class Dim, class Layer, class SecondGrad>
void two_input_parity(const std::string& layer_name, Layer& layer, SecondGrad second_grad) {
  for (const std::string& name : fixture_cases(layer_name, Dim::spatial)) {
    CAPTURE(name);
    auto a = to_tensor<T, Dim>(fixture(layer_name, name, "x0"));
    auto b = to_tensor<T, Dim>(fixture(layer_name, name, "x1"));
    const auto& y = layer.forward(a.view(), b.view(), Context::training());
    check_parity<T>("y", values(y.view()), fixture(layer_name, name, "y"));
    auto dy = to_tensor<T, Dim>(fixture(layer_name, name, "dy"));
    const auto da = as_view(layer.backward(dy.view()));
    check_parity<T>("dx0", testing::host_values(as_view(da)), fixture(layer_name, name, "dx0"));
    check_parity<T>("dx1", testing::host_values(as_view(second_grad(layer, dy))), fixture(layer_name, name, "dx1"));
  }
}
}  // namespace

TEST_CASE_TEMPLATE("concat: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  nn::Concat<T, device, Dim> concat;
  two_input_parity<T, Dim>("concat", concat, [](auto& l, auto&) { return as_view(l.second_grad()); });
}

TEST_CASE_TEMPLATE("add: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  nn::Add<T, device, Dim> add;
  two_input_parity<T, Dim>("add", add, [](auto& l, auto& dy) { return l.backward(dy.view()); });
}

TEST_CASE_TEMPLATE("concat and add: gradient check", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  auto a = random_tensor<T, Dim>(shape_nc<Dim>(2, 2, {3, 4, 2}), 91);
  auto b = random_tensor<T, Dim>(shape_nc<Dim>(2, 3, {3, 4, 2}), 92);
  nn::Concat<T, device, Dim> concat;
  std::vector<double> da, db;
  const auto result = testing::check_gradients(
      [&] { return values(concat.forward(a.view(), b.view(), Context::training()).view()); },
      [&](const std::vector<double>& r) {
        const auto& y = concat.forward(a.view(), b.view(), Context::training());
        Tensor<T, device, Dim> dy(y.shape());
        from_host(dy.view(), std::vector<T>(r.begin(), r.end()));
        da = values(concat.backward(dy.view()).view());
        db = values(concat.second_grad().view());
      },
      {testing::tensor_variable("first", a, [&] { return da; }), testing::tensor_variable("second", b, [&] { return db; })});
  check_gradient_result(result);

  auto c = random_tensor<T, Dim>(shape_nc<Dim>(2, 2, {3, 4, 2}), 93);
  nn::Add<T, device, Dim> add;
  std::vector<double> dsum;
  const auto sum_result = testing::check_gradients(
      [&] { return values(add.forward(a.view(), c.view(), Context::training()).view()); },
      [&](const std::vector<double>& r) {
        const auto& y = add.forward(a.view(), c.view(), Context::training());
        Tensor<T, device, Dim> dy(y.shape());
        from_host(dy.view(), std::vector<T>(r.begin(), r.end()));
        dsum = values(add.backward(dy.view()));
      },
      {testing::tensor_variable("first", a, [&] { return dsum; }), testing::tensor_variable("second", c, [&] { return dsum; })});
  check_gradient_result(sum_result);
  CHECK_THROWS_AS(add.forward(a.view(), b.view(), Context::training()), shape_error);
}

}  // namespace semiseg::test
