// Shared helpers of the loss tests: the dimension × type cases, label tensors (from fixtures,
// random, with ignored pixels), positive per-pixel weights, and a finite-difference check of a
// loss's gradient with respect to its logits.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "support/harness.hpp"

namespace semiseg::test {

#define LOSS_CASES                                                                                       \
  Case<flat, float>, Case<flat, double>, Case<dim2, float>, Case<dim2, double>, Case<dim3, float>, \
      Case<dim3, double>
#define LOSS_GRADIENT_CASES Case<flat, double>, Case<dim2, double>, Case<dim3, double>

template <Dimension Dim>
Tensor<std::int32_t, device, Dim> labels(const shape_of<Dim>& shape, const std::vector<std::int32_t>& v) {
  Tensor<std::int32_t, device, Dim> t(shape);
  from_host(t.view(), v);
  return t;
}

template <Dimension Dim>
Tensor<std::int32_t, device, Dim> labels_from(const NpyArray& a) {
  shape_of<Dim> shape;
  REQUIRE(static_cast<int>(a.shape.size()) == Dim::spatial + 2);
  for (int i = 0; i < Dim::spatial + 2; ++i) shape[i] = a.shape[static_cast<std::size_t>(i)];
  std::vector<std::int32_t> v;
  for (double d : a.data) v.push_back(static_cast<std::int32_t>(std::lround(d)));
  return labels<Dim>(shape, v);
}

// Labels in [0, classes) with every `ignore_every`-th one set to `ignore`.
template <Dimension Dim>
Tensor<std::int32_t, device, Dim> random_labels(shape_of<Dim> shape, index_t classes, std::int32_t ignore,
                                                index_t ignore_every, std::uint64_t seed) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(shape.size()));
  const Philox rng{seed, 3, 0};
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = ignore_every > 0 && i % std::size_t(ignore_every) == 1
               ? ignore
               : static_cast<std::int32_t>(rng.uniform<double>(i) * double(classes)) % std::int32_t(classes);
  return labels<Dim>(shape, v);
}

template <class T, Dimension Dim>
Tensor<T, device, Dim> positive_weights(shape_of<Dim> shape, std::uint64_t seed) {
  auto w = random_tensor<T, Dim>(shape, seed);
  std::vector<T> v = to_host(w.view());
  for (T& x : v) x = x + T(1.5);
  from_host(w.view(), v);
  return w;
}

template <class T, Dimension Dim>
shape_of<Dim> one_channel(shape_of<Dim> s) {
  s[1] = 1;
  return s;
}

template <class T, Dimension Dim, class Loss, class Target>
void check_loss_gradient(Loss& loss, Tensor<T, device, Dim>& x, const Target& target,
                         TensorView<const T, device, Dim> w) {
  Tensor<T, device, Dim> dx;
  std::vector<double> g;
  auto forward = [&] { return std::vector<double>{loss.value(x.view(), target, w)}; };
  auto backward = [&](const std::vector<double>& r) {
    const double v = loss.value_and_grad(x.view(), target, dx, w);
    CHECK(v == doctest::Approx(loss.value(x.view(), target, w)).epsilon(1e-12));
    g = testing::host_values(TensorView<const T, device, Dim>(dx.view()));
    for (double& e : g) e *= r[0];
  };
  // Built step by step: nvcc's front end does not take a one-element braced vector here.
  std::vector<testing::Variable> variables;
  variables.push_back(testing::tensor_variable("logits", x, [&] { return g; }));
  check_gradient_result(testing::check_gradients(forward, backward, variables, {.epsilon = 1e-6, .tolerance = 1e-6}));
}

inline std::vector<double> fixture_vector(const std::string& loss, const std::string& name, const std::string& file) {
  return fixture(loss, name, file).data;
}

}  // namespace semiseg::test
