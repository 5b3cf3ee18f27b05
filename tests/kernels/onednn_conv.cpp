// The oneDNN convolution against the built-in one. The reference is nn::Conv in double, which
// never dispatches to oneDNN, so the comparison holds whatever the float path runs.
#include "semiseg/kernels/onednn_conv.hpp"

#include "semiseg/nn/conv.hpp"
#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {
namespace {

struct Setup {
  index_t batch, in_channels, out_channels, groups, stride, dilation;
  bool bias, asymmetric;
};

std::vector<float> random_floats(index_t count, std::uint64_t seed) {
  std::vector<float> v(static_cast<std::size_t>(count));
  const Philox rng{seed, 7, 0};
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(2.0 * rng.uniform<double>(i) - 1.0);
  return v;
}

std::vector<double> widen(const std::vector<float>& v) { return {v.begin(), v.end()}; }

template <class Dim>
void compare(onednn::Convolution<Dim::spatial>& conv, const Setup& s, bool combined) {
  constexpr int S = Dim::spatial;
  CAPTURE(s.batch);
  CAPTURE(s.in_channels);
  CAPTURE(s.groups);
  CAPTURE(s.stride);
  CAPTURE(s.dilation);
  CAPTURE(s.bias);
  CAPTURE(s.asymmetric);
  CAPTURE(combined);
  Small<index_t, S> begin = nn::fill<S>(1), end = nn::fill<S>(1);
  if (s.asymmetric)
    for (int d = 0; d < S; ++d) {
      begin[d] = (d + 1) % 3;
      end[d] = d % 3;
    }
  nn::ConvOptions<Dim> o;
  o.in_channels = s.in_channels;
  o.out_channels = s.out_channels;
  o.groups = s.groups;
  o.stride = nn::fill<S>(s.stride);
  o.dilation = nn::fill<S>(s.dilation);
  o.padding = begin;
  o.padding_end = end;
  o.bias = s.bias;
  Parameters<double, cpu> params;
  nn::Conv<double, cpu, Dim> reference(params, o);
  params.finalize(1);

  const auto in = S == 2 ? shape_nc<Dim>(s.batch, s.in_channels, {11, 9}) : shape_nc<Dim>(s.batch, s.in_channels, {9, 8, 7});
  onednn::ConvProblem<S> p;
  p.batch = s.batch;
  p.in_channels = s.in_channels;
  p.out_channels = s.out_channels;
  p.groups = s.groups;
  p.in = in.spatial();
  p.kernel = nn::fill<S>(3);
  p.stride = o.stride;
  p.pad_begin = begin;
  p.pad_end = end;
  p.dilation = o.dilation;
  p.bias = s.bias;
  conv.prepare(p);

  const index_t weights = s.out_channels * s.in_channels / s.groups * p.kernel.product();
  const auto x = random_floats(in.size(), 1), w = random_floats(weights, 2), b = random_floats(s.out_channels, 3);
  auto dw = random_floats(weights, 4), db = random_floats(s.out_channels, 5);
  std::copy(w.begin(), w.end(), reference.weight().value());
  std::copy(dw.begin(), dw.end(), reference.weight().grad());
  if (s.bias) {
    std::copy(b.begin(), b.end(), reference.bias().value());
    std::copy(db.begin(), db.end(), reference.bias().grad());
  }

  Tensor<double, cpu, Dim> xd(in);
  from_host(xd.view(), widen(x));
  const auto& yd = reference.forward(xd.view(), Context::training());
  std::vector<float> y(static_cast<std::size_t>(yd.size()));
  CHECK(conv.problem().out() == yd.shape().spatial());
  conv.forward(x.data(), w.data(), s.bias ? b.data() : nullptr, y.data());
  CHECK(relative_error(widen(y), values(yd)) <= 1e-4);

  const auto dy = random_floats(yd.size(), 6);
  Tensor<double, cpu, Dim> dyd(yd.shape());
  from_host(dyd.view(), widen(dy));
  const auto& dxd = reference.backward(dyd.view());
  std::vector<float> dx(x.size(), 99.0f);
  if (combined) {
    conv.backward(x.data(), dy.data(), w.data(), dx.data(), dw.data(), s.bias ? db.data() : nullptr);
  } else {
    conv.backward_data(dy.data(), w.data(), dx.data());
    conv.backward_weights_accumulate(x.data(), dy.data(), dw.data(), s.bias ? db.data() : nullptr);
  }
  CHECK(relative_error(widen(dx), values(dxd)) <= 1e-4);
  CHECK(relative_error(widen(dw), std::vector<double>(reference.weight().grad(), reference.weight().grad() + weights)) <=
        1e-4);
  if (s.bias)
    CHECK(relative_error(widen(db), std::vector<double>(reference.bias().grad(),
                                                        reference.bias().grad() + s.out_channels)) <= 1e-4);
}

}  // namespace

TEST_CASE_TEMPLATE("onednn conv: forward and both backward passes match the built-in convolution", Dim, dim2, dim3) {
  // One object for every setup, so each new geometry rebuilds its primitives.
  onednn::Convolution<Dim::spatial> conv;
  for (const Setup s : {Setup{1, 4, 6, 1, 1, 1, true, false}, Setup{3, 4, 6, 1, 2, 1, false, true},
                        Setup{3, 4, 6, 2, 1, 2, true, true}, Setup{1, 4, 6, 2, 2, 2, false, false},
                        Setup{3, 16, 32, 1, 1, 1, true, true}, Setup{3, 32, 32, 2, 2, 1, true, false},
                        Setup{1, 16, 32, 1, 1, 2, false, true}})
    for (const bool combined : {false, true}) compare<Dim>(conv, s, combined);
  // Alternating batch sizes switch between kept primitives.
  for (const index_t batch : {2, 1, 2, 1}) compare<Dim>(conv, Setup{batch, 4, 6, 2, 1, 2, true, true}, false);
}

TEST_CASE("onednn conv: bad problems and bias pointers are reported") {
  onednn::Convolution<2> conv;
  onednn::ConvProblem<2> p;
  p.in_channels = 3;
  p.out_channels = 4;
  p.groups = 2;
  p.in = {{5, 5}};
  p.kernel = nn::fill<2>(3);
  p.stride = p.dilation = nn::fill<2>(1);
  CHECK_THROWS_AS(conv.prepare(p), value_error);
  p.groups = 1;
  p.in = {{1, 5}};
  CHECK_THROWS_AS(conv.prepare(p), shape_error);
  p.in = {{5, 5}};
  conv.prepare(p);
  std::vector<float> x(75), w(108), y(36);
  CHECK_THROWS_AS(conv.forward(x.data(), w.data(), nullptr, y.data()), value_error);
  // An empty batch does nothing.
  p.batch = 0;
  p.bias = false;
  conv.prepare(p);
  conv.forward(nullptr, w.data(), nullptr, nullptr);
  conv.backward(nullptr, nullptr, w.data(), nullptr, w.data(), nullptr);
}

}  // namespace semiseg::test
