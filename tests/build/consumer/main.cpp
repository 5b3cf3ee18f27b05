// One 2D convolution forward through the installed headers; exits non-zero on a wrong shape.
#include <semiseg/nn/conv.hpp>

#include <cstdio>

int main() {
  namespace ss = semiseg;
  ss::Parameters<float, ss::cpu> params;
  ss::nn::Conv<float, ss::cpu, ss::dim2> conv(params, {.in_channels = 3, .out_channels = 8, .padding = ss::nn::fill<2>(1)});
  params.finalize(1);

  ss::Tensor<float, ss::cpu, ss::dim2> x(ss::make_shape<2>(2, 3, {5, 7}));
  x.zero();
  const auto& y = conv.forward(x.view(), ss::Context::evaluation());

  const auto expected = ss::make_shape<2>(2, 8, {5, 7});
  std::printf("consumer: conv output %s, expected %s\n", y.shape().str().c_str(), expected.str().c_str());
  return y.shape() == expected ? 0 : 1;
}
