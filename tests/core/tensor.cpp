#include "semiseg/core/tensor.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE("tensor: shape, round trip through the host, views and reshape") {
  Tensor<float, device, dim3> t(shape_nc<dim3>(2, 3, {4, 5, 6}));
  CHECK(t.size() == 2 * 3 * 4 * 5 * 6);
  CHECK(t.plane() == 120);
  CHECK(t.shape().str() == "[2x3x4x5x6]");
  std::vector<float> v(static_cast<std::size_t>(t.size()));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = float(i);
  from_host(t.view(), v);
  CHECK(to_host(t.view()) == v);
  const TensorView<const float, device, dim3> view = t;
  CHECK(view.data == t.data());
  const auto flat_view = reshape<flat>(view, flat_shape(2, 360));
  CHECK(to_host(flat_view) == v);
  CHECK_THROWS_AS(reshape<flat>(view, flat_shape(2, 359)), shape_error);
  CHECK_THROWS_AS(from_host(t.view(), std::vector<float>(3)), shape_error);
}

TEST_CASE("tensor: resizing within capacity keeps the allocation") {
  Tensor<double, device, dim2> t(shape_nc<dim2>(4, 4, {8, 8}));
  const double* before = t.data();
  t.resize(shape_nc<dim2>(2, 4, {8, 8}));
  CHECK(t.data() == before);
  CHECK(t.capacity() == 4 * 4 * 64);
  t.resize(shape_nc<dim2>(8, 4, {8, 8}));
  CHECK(t.capacity() == 8 * 4 * 64);
  Tensor<double, device, dim2> moved = std::move(t);
  CHECK(moved.size() == 8 * 4 * 64);
  CHECK(t.data() == nullptr);
  moved.zero();
  const auto h = to_host(moved.view());
  CHECK(std::all_of(h.begin(), h.end(), [](double x) { return x == 0.0; }));
}

TEST_CASE("tensor: copies between tensors of one device") {
  auto a = random_tensor<float, dim2>(shape_nc<dim2>(1, 2, {3, 3}), 4);
  Tensor<float, device, dim2> b;
  assign(b, a.view());
  CHECK(to_host(b.view()) == to_host(a.view()));
}

}  // namespace semiseg::test
