// CPU-vs-CUDA agreement: every layer runs on both devices from the same parameters and inputs,
// and outputs, input gradients, parameter gradients and state must agree to 1e-5 relative in
// double (1e-4 in float). Built only in the CUDA variant; each case prints its largest
// difference so tools/cuda-suite.sh can record them in docs/cuda.md.
#include <cstdio>

#include "semiseg/nn/activation.hpp"
#include "semiseg/nn/batch_norm.hpp"
#include "semiseg/nn/conv.hpp"
#include "semiseg/nn/conv_transpose.hpp"
#include "semiseg/nn/dropout.hpp"
#include "semiseg/nn/group_norm.hpp"
#include "semiseg/nn/linear.hpp"
#include "semiseg/nn/pooling.hpp"
#include "semiseg/nn/resize.hpp"
#include "semiseg/nn/softmax.hpp"
#include "support/harness.hpp"

namespace semiseg::test {
namespace {

template <class P>
using device_of = typename std::remove_cvref_t<P>::device;

template <class T, Device D, Dimension Dim>
Tensor<T, D, Dim> upload(const std::vector<T>& v, const shape_of<Dim>& shape) {
  Tensor<T, D, Dim> t(shape);
  from_host(t.view(), v);
  return t;
}

template <class V>
std::vector<double> host(const V& t) {
  return testing::host_values(as_view(t));
}

// Runs one training forward and backward of the layer `make` builds on each device and returns
// the largest relative difference over y, dx, parameter gradients and buffers.
template <class T, Dimension Dim, class Make>
double agreement(const char* name, Make make, const shape_of<Dim>& shape) {
  Parameters<T, cpu> pc;
  Parameters<T, cuda> pg;
  auto lc = make(pc);
  auto lg = make(pg);
  pc.finalize(1);
  pg.finalize(1);
  std::vector<T> x(static_cast<std::size_t>(shape.size()));
  const Philox rng{2, 0, 0};
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = T(2 * rng.uniform<double>(i) - 1);
  auto xc = upload<T, cpu, Dim>(x, shape);
  auto xg = upload<T, cuda, Dim>(x, shape);
  const Context context = Context::training(3);
  const auto& yc = lc.forward(xc.view(), context);
  const auto& yg = lg.forward(xg.view(), context);
  double err = relative_error(host(yg), host(yc));
  using Out = typename std::remove_cvref_t<decltype(yc)>::dim;
  std::vector<T> dy(static_cast<std::size_t>(yc.size()));
  for (std::size_t i = 0; i < dy.size(); ++i) dy[i] = T(2 * rng.uniform<double>(i + x.size()) - 1);
  auto dyc = upload<T, cpu, Out>(dy, yc.shape());
  auto dyg = upload<T, cuda, Out>(dy, yc.shape());
  err = std::max(err, relative_error(host(lg.backward(dyg.view())), host(lc.backward(dyc.view()))));
  if (pc.size() > 0) err = std::max(err, relative_error(host(pg.grads().view()), host(pc.grads().view())));
  if (pc.buffers().size() > 0)
    err = std::max(err, relative_error(host(pg.buffers().view()), host(pc.buffers().view())));
  std::printf("agreement %-16s %s %-6s max relative difference %.2e\n", name, Dim::name,
              sizeof(T) == 4 ? "float" : "double", err);
  return err;
}

template <class T, class Dim, class Make>
void check_agreement(const char* name, Make make, const shape_of<Dim>& shape) {
  const double err = agreement<T, Dim>(name, make, shape);
  INFO(name << ": max relative difference " << err);
  CHECK(err <= parity_tolerance<T>());
}

}  // namespace

TEST_CASE_TEMPLATE("cpu and cuda agree on every layer", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr int S = Dim::spatial;
  const auto shape = shape_nc<Dim>(2, 4, {9, 8, 7});
  check_agreement<T, Dim>("conv", [](auto& p) {
    return nn::Conv<T, device_of<decltype(p)>, Dim>(
        p, {.in_channels = 4, .out_channels = 6, .stride = nn::fill<S>(2), .padding = nn::fill<S>(1),
            .dilation = nn::fill<S>(2), .groups = 2});
  }, shape);
  check_agreement<T, Dim>("conv_transpose", [](auto& p) {
    return nn::ConvTranspose<T, device_of<decltype(p)>, Dim>(
        p, {.in_channels = 4, .out_channels = 2});
  }, shape);
  check_agreement<T, Dim>("batch_norm", [](auto& p) {
    return nn::BatchNorm<T, device_of<decltype(p)>, Dim>(p, {.channels = 4});
  }, shape);
  check_agreement<T, Dim>("group_norm", [](auto& p) {
    return nn::GroupNorm<T, device_of<decltype(p)>, Dim>(p, {.channels = 4, .groups = 2});
  }, shape);
  check_agreement<T, Dim>("relu", [](auto& p) { return nn::ReLU<T, device_of<decltype(p)>, Dim>{}; }, shape);
  check_agreement<T, Dim>("leaky_relu", [](auto& p) {
    return nn::LeakyReLU<T, device_of<decltype(p)>, Dim>{fn::leaky_relu{0.1}};
  }, shape);
  check_agreement<T, Dim>("sigmoid", [](auto& p) { return nn::Sigmoid<T, device_of<decltype(p)>, Dim>{}; }, shape);
  check_agreement<T, Dim>("tanh", [](auto& p) { return nn::Tanh<T, device_of<decltype(p)>, Dim>{}; }, shape);
  check_agreement<T, Dim>("softmax", [](auto& p) { return nn::Softmax<T, device_of<decltype(p)>, Dim>{}; }, shape);
  check_agreement<T, Dim>("log_softmax", [](auto& p) { return nn::LogSoftmax<T, device_of<decltype(p)>, Dim>{}; }, shape);
  check_agreement<T, Dim>("max_pool", [](auto& p) {
    return nn::MaxPool<T, device_of<decltype(p)>, Dim>(
        {.kernel = nn::fill<S>(3), .stride = nn::fill<S>(2), .padding = nn::fill<S>(1)});
  }, shape);
  check_agreement<T, Dim>("avg_pool", [](auto& p) {
    return nn::AvgPool<T, device_of<decltype(p)>, Dim>(
        {.kernel = nn::fill<S>(3), .stride = nn::fill<S>(2), .padding = nn::fill<S>(1)});
  }, shape);
  check_agreement<T, Dim>("global_avg_pool", [](auto& p) {
    return nn::GlobalAvgPool<T, device_of<decltype(p)>, Dim>{};
  }, shape);
  for (const bool align : {false, true})
    check_agreement<T, Dim>(align ? "resize_linear_ac" : "resize_linear", [align](auto& p) {
      return nn::Resize<T, device_of<decltype(p)>, Dim>(
          {.mode = ResizeMode::linear, .align_corners = align, .size = nn::fill<S>(5)});
    }, shape);
  check_agreement<T, Dim>("resize_nearest", [](auto& p) {
    return nn::Resize<T, device_of<decltype(p)>, Dim>({.mode = ResizeMode::nearest, .scale = 1.5});
  }, shape);
  check_agreement<T, Dim>("dropout", [](auto& p) {
    return nn::Dropout<T, device_of<decltype(p)>, Dim>({.p = 0.3});
  }, shape);
  check_agreement<T, Dim>("spatial_dropout", [](auto& p) {
    return nn::Dropout<T, device_of<decltype(p)>, Dim>({.p = 0.3, .channelwise = true});
  }, shape);
  check_agreement<T, Dim>("gaussian_noise", [](auto& p) {
    return nn::GaussianNoise<T, device_of<decltype(p)>, Dim>({.sigma = 0.15});
  }, shape);
}

TEST_CASE_TEMPLATE("cpu and cuda agree on linear", T, float, double) {
  check_agreement<T, flat>("linear", [](auto& p) {
    return nn::Linear<T, device_of<decltype(p)>>(p, {.in_features = 4, .out_features = 5});
  }, flat_shape(3, 4));
}

}  // namespace semiseg::test
