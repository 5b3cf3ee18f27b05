#include "semiseg/nn/resize.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE_TEMPLATE("resize: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr int S = Dim::spatial;
  for (const std::string& name : fixture_cases("resize", S)) {
    CAPTURE(name);
    const auto config = fixture("resize", name, "config").data;
    nn::Resize<T, device, Dim> resize({.mode = config[0] != 0 ? ResizeMode::linear : ResizeMode::nearest,
                                       .align_corners = config[1] != 0,
                                       .size = config_small<S>(config, 2)});
    check_layer_parity<T, Dim>("resize", name, resize, {}, nullptr);
  }
}

TEST_CASE_TEMPLATE("resize: gradient check", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr int S = Dim::spatial;
  Parameters<T, device>* none = nullptr;
  auto x = random_tensor<T, Dim>(shape_nc<Dim>(2, 2, {3, 4, 3}), 61);
  for (const ResizeMode mode : {ResizeMode::nearest, ResizeMode::linear})
    for (const bool align : {false, true})
      for (const index_t size : {2, 7}) {
        CAPTURE(size);
        CAPTURE(align);
        nn::Resize<T, device, Dim> resize({.mode = mode, .align_corners = align, .size = nn::fill<S>(size)});
        check_gradient_result(testing::check_layer_gradients(resize, none, x));
      }
}

TEST_CASE("resize: scale factor and bad sizes") {
  nn::Resize<float, device, dim2> up({.scale = 2.0});
  auto x = random_tensor<float, dim2>(shape_nc<dim2>(1, 1, {3, 5}), 1);
  CHECK(up.forward(x.view(), Context::evaluation()).shape() == shape_nc<dim2>(1, 1, {6, 10}));
  CHECK_THROWS_AS((nn::Resize<float, device, dim2>({.size = nn::fill<2>(0)})), value_error);
}

}  // namespace semiseg::test
