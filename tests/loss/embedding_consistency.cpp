#include "semiseg/loss/embedding_consistency.hpp"

#include "loss/support.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

namespace {

template <Dimension Dim>
shape_of<Dim> embedding_shape(index_t n) {
  if constexpr (Dim::spatial == 2) return shape_nc<Dim>(n, 5, {3, 4});
  else return shape_nc<Dim>(n, 7, {2, 3, 2});
}

// A teacher whose seed logits spread over (−3, 3), so that some pixels are foreground, some
// confident background and some neither.
template <class T, Dimension Dim>
Tensor<T, device, Dim> teacher_of(const shape_of<Dim>& shape, std::uint64_t seed) {
  auto t = random_tensor<T, Dim>(shape, seed);
  std::vector<T> v = to_host(t.view());
  for (T& e : v) e *= T(3);
  from_host(t.view(), v);
  return t;
}

}  // namespace

TEST_CASE_TEMPLATE("embedding_consistency: gradient check, soft and hard seed terms, with weights", C,
                   Case<dim2, double>, Case<dim3, double>) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const auto shape = embedding_shape<Dim>(2);
  auto x = random_tensor<T, Dim>(shape, 61);
  auto t = teacher_of<T, Dim>(shape, 62);
  auto w = positive_weights<T, Dim>(one_channel<T, Dim>(shape), 63);
  for (const bool hard : {false, true}) {
    CAPTURE(hard);
    typename loss::EmbeddingConsistency<T, device, Dim>::Options o;
    o.hard_seed = hard;
    o.threshold = 0.8;
    loss::EmbeddingConsistency<T, device, Dim> l(o);
    check_loss_gradient<T, Dim>(l, x, t.view(), {});
    check_loss_gradient<T, Dim>(l, x, t.view(), w.view());
    l.value(x.view(), t.view());
    CHECK(l.parts().seed > 0);
    CHECK(l.parts().embedding > 0);
    CHECK(l.parts().fraction > 0);
    CHECK(l.parts().fraction < 1);
  }
}

TEST_CASE_TEMPLATE("embedding_consistency: hand-computed values", C, Case<dim2, float>, Case<dim2, double>,
                   Case<dim3, float>, Case<dim3, double>) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr int S = Dim::spatial;
  auto shape = embedding_shape<Dim>(1);
  const index_t plane = shape.size() / shape[1];
  // Two positions matter: p = 0 is teacher foreground (seed logit 2), p = 1 is confident
  // background (−4); the rest have teacher seed 0 (q = ½: neither foreground nor confident).
  std::vector<T> tv(static_cast<std::size_t>(shape.size()), T(0)), xv = tv;
  tv[static_cast<std::size_t>(2 * S * plane)] = T(2);
  tv[static_cast<std::size_t>(2 * S * plane + 1)] = T(-4);
  xv[0] = T(0.5);                                   // offset x at p = 0: tanh 0.5 against 0
  xv[static_cast<std::size_t>(S * plane)] = T(1);   // sigma x at p = 0: 1 against 0
  xv[static_cast<std::size_t>(S * plane + 1)] = T(7);  // sigma at p = 1: background, not compared
  Tensor<T, device, Dim> x(shape), t(shape), dx;
  from_host(x.view(), xv);
  from_host(t.view(), tv);
  const double th = std::tanh(0.5), q0 = 1 / (1 + std::exp(-2.0)), q1 = 1 / (1 + std::exp(4.0));
  const double embedding = (th * th + 1.0) / (2.0 * S);  // one foreground pixel
  {
    loss::EmbeddingConsistency<T, device, Dim> soft;
    // σ(0) = ½ for every student seed: (½ − q)² summed over positions, over the positions.
    const double seed = ((0.5 - q0) * (0.5 - q0) + (0.5 - q1) * (0.5 - q1)) / static_cast<double>(plane);
    CHECK(soft.value_and_grad(x.view(), t.view(), dx) == doctest::Approx(seed + embedding).epsilon(1e-5));
    const std::vector<T> g = to_host(dx.view());
    CHECK(static_cast<double>(g[0]) == doctest::Approx(2 * th * (1 - th * th) / (2.0 * S)).epsilon(1e-5));
    CHECK(g[static_cast<std::size_t>(S * plane + 1)] == T(0));
  }
  {
    typename loss::EmbeddingConsistency<T, device, Dim>::Options o;
    o.hard_seed = true;
    o.threshold = 0.85;
    loss::EmbeddingConsistency<T, device, Dim> hard(o);
    // Only p = 0 (q0 = 0.881) and p = 1 (1 − q1 = 0.982) are confident: BCE(0, 1) + BCE(0, 0) = 2 log 2.
    const double seed = 2 * std::log(2.0) / static_cast<double>(plane);
    CHECK(hard.value(x.view(), t.view()) == doctest::Approx(seed + embedding).epsilon(1e-5));
    CHECK(hard.parts().fraction == doctest::Approx(2.0 / static_cast<double>(plane)));
  }
  {
    loss::EmbeddingConsistency<T, device, Dim> soft;
    CHECK(soft.value(t.view(), t.view()) == doctest::Approx(0.0));
  }
}

TEST_CASE("embedding_consistency: bad inputs") {
  using Loss = loss::EmbeddingConsistency<float, device, dim2>;
  Loss::Options o;
  o.hard_seed = true;
  o.threshold = 0.3;
  CHECK_THROWS_AS(Loss{o}, value_error);
  Loss l;
  auto x = random_tensor<float, dim2>(shape_nc<dim2>(1, 3, {2, 2}), 1);
  Tensor<float, device, dim2> dx;
  CHECK_THROWS_AS(l.value_and_grad(x.view(), x.view(), dx), shape_error);
  auto a = random_tensor<float, dim2>(shape_nc<dim2>(1, 5, {2, 2}), 2);
  auto b = random_tensor<float, dim2>(shape_nc<dim2>(1, 5, {2, 3}), 3);
  CHECK_THROWS_AS(l.value_and_grad(a.view(), b.view(), dx), shape_error);
}

}  // namespace semiseg::test
