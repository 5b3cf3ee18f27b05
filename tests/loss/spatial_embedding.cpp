#include "semiseg/loss/spatial_embedding.hpp"

#include "loss/support.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

namespace {

constexpr std::int32_t flag = instance::centre_flag;

// A prediction whose offsets are small and whose sigmas sit near 0.45, so that on a 16-pixel
// grid φ spans (0, 1) over a few pixels around each centre.
template <class T, Dimension Dim>
Tensor<T, device, Dim> embedding_prediction(const shape_of<Dim>& shape, std::uint64_t seed) {
  auto x = random_tensor<T, Dim>(shape, seed);
  std::vector<T> v = to_host(x.view());
  const index_t plane = shape.size() / (shape[0] * shape[1]);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const index_t c = (static_cast<index_t>(i) / plane) % shape[1];
    if (c < Dim::spatial) v[i] *= T(0.15);
    else if (c < 2 * Dim::spatial) v[i] = T(0.45) + T(0.1) * v[i];
  }
  from_host(x.view(), v);
  return x;
}

// Two images: two instances with flagged centres, an unflagged one (centroid fallback), and a
// stripe of ignored pixels in the second image.
template <Dimension Dim>
std::vector<std::int32_t> two_images(index_t plane, index_t width) {
  std::vector<std::int32_t> y(static_cast<std::size_t>(2 * plane), 0);
  for (index_t p = 0; p < plane; ++p) {
    const index_t col = p % width, row = (p / width) % width;
    std::int32_t& a = y[static_cast<std::size_t>(p)];
    std::int32_t& b = y[static_cast<std::size_t>(plane + p)];
    if (col < 3 && row < 3) a = 1;
    if (col >= 4 && row >= 3 && row < 6) a = 2;
    if (col >= 2 && col < 5 && row >= 2 && row < 5) b = 7;
    if (row == 0) b = -1;
  }
  y[static_cast<std::size_t>(width + 1)] |= flag;
  y[static_cast<std::size_t>(4 * width + 5)] |= flag;
  return y;
}

template <Dimension Dim>
shape_of<Dim> embedding_shape(index_t n, index_t extent) {
  if constexpr (Dim::spatial == 2) return shape_nc<Dim>(n, 5, {extent, extent});
  else return shape_nc<Dim>(n, 7, {2, extent, extent});
}

// Finite differences against the analytic gradient. The seed term holds φ constant (EmbedSeg
// detaches it), so its dependence on offsets and sigmas is no part of the gradient: with w_seed
// on, only the seed channel is compared; the offsets and sigmas are compared with w_seed = 0.
template <class T, Dimension Dim>
void check_embedding_gradient(const typename loss::SpatialEmbedding<T, device, Dim>::Options& options,
                              Tensor<T, device, Dim>& x, TensorView<const std::int32_t, device, Dim> target) {
  for (const bool seed_only : {true, false}) {
    auto o = options;
    if (!seed_only) o.w_seed = 0;
    loss::SpatialEmbedding<T, device, Dim> l(o);
    Tensor<T, device, Dim> dx;
    const double value = l.value_and_grad(x.view(), target, dx);
    CHECK(value == doctest::Approx(l.value(x.view(), target)).epsilon(1e-12));
    const std::vector<T> analytic = to_host(dx.view());
    std::vector<T> v = to_host(x.view());
    const index_t plane = x.plane(), seed = instance::EmbeddingLayout<Dim>::seed;
    double worst = 0;
    std::size_t checked = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
      const bool is_seed = (static_cast<index_t>(i) / plane) % x.c() == seed;
      if (is_seed != seed_only) continue;
      const T saved = v[i];
      const T eps = T(1e-6);
      v[i] = saved + eps;
      from_host(x.view(), v);
      const double plus = l.value(x.view(), target);
      v[i] = saved - eps;
      from_host(x.view(), v);
      const double minus = l.value(x.view(), target);
      v[i] = saved;
      const double numeric = (plus - minus) / (2 * static_cast<double>(eps));
      const double a = static_cast<double>(analytic[i]);
      worst = std::max(worst, std::abs(a - numeric) / std::max({1.0, std::abs(a), std::abs(numeric)}));
      ++checked;
    }
    from_host(x.view(), v);
    CAPTURE(seed_only);
    CHECK(checked > 0);
    CHECK(worst < 1e-6);
  }
}

template <class T, Dimension Dim>
loss::SpatialEmbedding<T, device, Dim> small_grid_loss() {
  typename loss::SpatialEmbedding<T, device, Dim>::Options o;
  o.grid.grid = 16;
  if constexpr (Dim::spatial == 3) o.grid.spacing = {2.0, 1.0, 1.0};
  return loss::SpatialEmbedding<T, device, Dim>(o);
}

}  // namespace

TEST_CASE_TEMPLATE("spatial_embedding: PyTorch parity (tools/make_fixtures.py)", C, Case<dim2, float>, Case<dim2, double>,
                   Case<dim3, float>, Case<dim3, double>) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr int S = Dim::spatial;
  const std::string name_ = "spatial_embedding";
  for (const std::string& name : fixture_cases(name_, S)) {
    CAPTURE(name);
    // config: [S, grid, spacing ((D,) H, W), w_inst, w_var, w_seed, w_fg]
    const auto config = fixture_vector(name_, name, "config");
    REQUIRE(config.size() == std::size_t(2 + S + 4));
    REQUIRE(config[0] == S);
    typename loss::SpatialEmbedding<T, device, Dim>::Options o;
    o.grid.grid = config[1];
    for (int a = 0; a < S; ++a) o.grid.spacing[std::size_t(a)] = config[std::size_t(2 + a)];
    o.w_inst = config[std::size_t(2 + S)];
    o.w_var = config[std::size_t(3 + S)];
    o.w_seed = config[std::size_t(4 + S)];
    o.foreground_weight = config[std::size_t(5 + S)];
    loss::SpatialEmbedding<T, device, Dim> l(o);
    auto x = to_tensor<T, Dim>(fixture(name_, name, "prediction"));
    auto y = labels_from<Dim>(fixture(name_, name, "target"));
    Tensor<T, device, Dim> dx;
    const double v = l.value_and_grad(x.view(), y.view(), dx);
    check_parity<T>("value", {v}, fixture(name_, name, "value"));
    check_parity<T>("dprediction", values(dx), fixture(name_, name, "dprediction"));
    const auto& p = l.parts();
    check_parity<T>("parts", {p.instance, p.variance, p.seed}, fixture(name_, name, "parts"));
  }
}

TEST_CASE_TEMPLATE("spatial_embedding: gradient check, flagged and centroid centres, ignored pixels", C,
                   Case<dim2, double>, Case<dim3, double>) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const index_t extent = 7;
  const auto shape = embedding_shape<Dim>(2, extent);
  const index_t plane = shape.size() / (shape[0] * shape[1]);
  auto x = embedding_prediction<T, Dim>(shape, 31);
  std::vector<std::int32_t> y = two_images<Dim>(plane, extent);
  auto target = labels<Dim>(one_channel<T, Dim>(shape), y);
  auto loss = small_grid_loss<T, Dim>();
  check_embedding_gradient<T, Dim>(loss.options(), x, target.view());
  // Every term contributes: the check above is not a check of the seed term alone.
  loss.value(x.view(), target.view());
  CHECK(loss.parts().instance > 0.05);
  CHECK(loss.parts().variance > 1e-4);
  CHECK(loss.parts().seed > 0.01);
}

TEST_CASE_TEMPLATE("spatial_embedding: gradient check with non-default weights", C, Case<dim2, double>,
                   Case<dim3, double>) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const auto shape = embedding_shape<Dim>(2, 7);
  const index_t plane = shape.size() / (shape[0] * shape[1]);
  auto x = embedding_prediction<T, Dim>(shape, 41);
  auto target = labels<Dim>(one_channel<T, Dim>(shape), two_images<Dim>(plane, 7));
  typename loss::SpatialEmbedding<T, device, Dim>::Options o;
  o.w_inst = 0.7;
  o.w_var = 3;
  o.w_seed = 2;
  o.foreground_weight = 4;
  o.grid.grid = 12;
  check_embedding_gradient<T, Dim>(o, x, target.view());
}

TEST_CASE_TEMPLATE("spatial_embedding: background only is the seed term's mean square", C, Case<dim2, float>,
                   Case<dim2, double>, Case<dim3, float>, Case<dim3, double>) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const auto shape = embedding_shape<Dim>(1, 4);
  auto x = embedding_prediction<T, Dim>(shape, 51);
  std::vector<std::int32_t> y(static_cast<std::size_t>(shape.size() / shape[1]), 0);
  y[1] = -1;  // ignored: not in the sum, but in the normaliser
  auto target = labels<Dim>(one_channel<T, Dim>(shape), y);
  const std::vector<T> v = to_host(x.view());
  const std::size_t plane = y.size(), seed = static_cast<std::size_t>(2 * Dim::spatial) * plane;
  double expected = 0;
  for (std::size_t p = 0; p < plane; ++p) {
    if (p == 1) continue;
    const double s = 1 / (1 + std::exp(-static_cast<double>(v[seed + p])));
    expected += s * s;
  }
  expected /= static_cast<double>(plane);
  loss::SpatialEmbedding<T, device, Dim> l;
  Tensor<T, device, Dim> dx;
  CHECK(l.value_and_grad(x.view(), target.view(), dx) == doctest::Approx(expected).epsilon(1e-5));
  const std::vector<T> g = to_host(dx.view());
  for (std::size_t i = 0; i < seed; ++i) REQUIRE(g[i] == T(0));  // no instance: offsets and sigmas get nothing
  CHECK(g[seed + 1] == T(0));
}

TEST_CASE_TEMPLATE("spatial_embedding: a perfect embedding has no instance loss", C, Case<dim2, double>,
                   Case<dim3, double>) {
  using T = typename C::value;
  using Dim = typename C::dim;
  // Every pixel of each instance embeds exactly at its centre, sigmas are equal, the
  // background embeds far away: φ is 1 on the instance and about 0 elsewhere.
  const index_t extent = 8;
  const auto shape = embedding_shape<Dim>(1, extent);
  const index_t plane = shape.size() / shape[1];
  std::vector<std::int32_t> y(static_cast<std::size_t>(plane), 0);
  for (index_t p = 0; p < plane; ++p) {
    const index_t col = p % extent, row = (p / extent) % extent;
    if (col < 3 && row < 3) y[static_cast<std::size_t>(p)] = 1;
    if (col >= 5 && row >= 5) y[static_cast<std::size_t>(p)] = 2;
  }
  y[static_cast<std::size_t>(extent + 1)] |= flag;
  y[static_cast<std::size_t>(6 * extent + 6)] |= flag;
  typename loss::SpatialEmbedding<T, device, Dim>::Options o;
  o.grid.grid = 8;  // step 1/7
  loss::SpatialEmbedding<T, device, Dim> l(o);
  const auto steps = instance::grid_steps<double>(o.grid, shape);
  std::vector<T> v(static_cast<std::size_t>(shape.size()), T(0));
  double coord[Dim::spatial];
  for (index_t p = 0; p < plane; ++p) {
    steps.coordinates(p, coord);
    const std::int32_t id = instance::instance_id(y[static_cast<std::size_t>(p)]);
    for (int d = 0; d < Dim::spatial; ++d) {
      // centres: (1, 1) for instance 1, (6, 6) for instance 2, in pixels of x and y; z stays.
      double target_coord = coord[d];
      if (d < 2 && id == 1) target_coord = 1.0 / 7;
      if (d < 2 && id == 2) target_coord = 6.0 / 7;
      if (d < 2 && id == 0) target_coord = 0.5;  // far from both centres
      const double t = target_coord - coord[d];
      v[static_cast<std::size_t>(d * plane + p)] = static_cast<T>(std::atanh(t));
      v[static_cast<std::size_t>((Dim::spatial + d) * plane + p)] = T(0.8);
    }
    v[static_cast<std::size_t>(2 * Dim::spatial * plane + p)] = id ? T(20) : T(-20);
  }
  auto x = Tensor<T, device, Dim>(shape);
  from_host(x.view(), v);
  auto target = labels<Dim>(one_channel<T, Dim>(shape), y);
  if constexpr (Dim::spatial == 3) {
    // Instances span every slice; z embeds at the coordinate, so the centre's z must match.
    // Give the z axis a tiny bandwidth instead: sigma_z = −2 makes exp(10·σ) ≈ 2e-9.
    for (index_t p = 0; p < plane; ++p) v[static_cast<std::size_t>((Dim::spatial + 2) * plane + p)] = T(-2);
    from_host(x.view(), v);
  }
  loss::EmbeddingIou iou;
  const double value = l.value_and_iou(x.view(), target.view(), iou);
  CHECK(l.parts().instance < 1e-6);
  CHECK(l.parts().variance == doctest::Approx(0.0));
  CHECK(l.parts().seed < 1e-6);
  CHECK(value < 1e-5);
  CHECK(iou.instances == 2);
  CHECK(iou.mean() == doctest::Approx(1.0));
}

TEST_CASE_TEMPLATE("spatial_embedding: bad inputs", C, Case<dim2, float>, Case<dim3, float>) {
  using T = typename C::value;
  using Dim = typename C::dim;
  auto shape = embedding_shape<Dim>(1, 4);
  auto target = labels<Dim>(one_channel<T, Dim>(shape),
                            std::vector<std::int32_t>(static_cast<std::size_t>(shape.size() / shape[1]), 0));
  loss::SpatialEmbedding<T, device, Dim> l;
  Tensor<T, device, Dim> dx;
  auto wrong = shape;
  wrong[1] = 3;
  auto x3 = random_tensor<T, Dim>(wrong, 1);
  CHECK_THROWS_AS(l.value_and_grad(x3.view(), target.view(), dx), shape_error);
  auto x = random_tensor<T, Dim>(shape, 2);
  auto w = random_tensor<T, Dim>(one_channel<T, Dim>(shape), 3);
  CHECK_THROWS_AS(l.value_and_grad(x.view(), target.view(), dx, w.view()), value_error);
  typename loss::SpatialEmbedding<T, device, Dim>::Options o;
  o.grid.spacing[0] = 0;
  using Loss = loss::SpatialEmbedding<T, device, Dim>;
  CHECK_THROWS_AS(Loss{o}, value_error);
}

}  // namespace semiseg::test
