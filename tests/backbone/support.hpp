// Checks shared by the backbone tests.
#pragma once

#include "support/harness.hpp"

namespace semiseg::test {

// A second backward with the same dy gives the same dx, and parameter gradients accumulate.
template <class Net, class T, Dimension Dim>
void check_backward_accumulates(Net& net, const Tensor<T, device, Dim>& x) {
  const auto& y = net.forward(x.view(), Context::training());
  auto dy = random_tensor<T, Dim>(y.shape(), 13);
  net.parameters().zero_grad();
  const auto dx1 = values(net.backward(dy.view()));
  const auto g1 = values(net.parameters().grads().view());
  const auto dx2 = values(net.backward(dy.view()));
  const auto g2 = values(net.parameters().grads().view());
  CHECK(relative_error(dx2, dx1) == 0.0);
  for (std::size_t i = 0; i < g1.size(); ++i) REQUIRE(g2[i] == doctest::Approx(2 * g1[i]));
  double norm = 0;
  for (double v : dx1) norm += v * v;
  CHECK(norm > 0);
}

}  // namespace semiseg::test
