// Must not compile: a 3D tensor passed to a 2D convolution. With SEMISEG_MATCHING_DIMENSION the
// tensor is 2D and the file compiles, which shows the failure comes from the dimension alone.
#include <semiseg/nn/conv.hpp>

#if defined(SEMISEG_MATCHING_DIMENSION)
using InputDim = semiseg::dim2;
#else
using InputDim = semiseg::dim3;
#endif

int main() {
  semiseg::Parameters<float, semiseg::cpu> params;
  semiseg::nn::Conv<float, semiseg::cpu, semiseg::dim2> conv(params, {.in_channels = 1, .out_channels = 1});
  params.finalize(1);
  semiseg::Tensor<float, semiseg::cpu, InputDim> x;
  conv.forward(x, semiseg::Context::evaluation());
  return 0;
}
