// First speed check: forward+backward GFLOP/s of two convolutions, beside the GEMM rate Eigen
// reaches on this machine in the same run. The PyTorch twin is conv_benchmark.py.
// Run: OMP_NUM_THREADS=2 conv_benchmark [--repeats N]
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <semiseg/kernels/gemm.hpp>
#include <semiseg/nn/conv.hpp>

namespace ss = semiseg;
using Clock = std::chrono::steady_clock;

template <class F>
double median_seconds(int repeats, F&& f) {
  f();  // warm-up: buffers reach their final size here
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Forward + backward (input and weight gradients) of a 3×3 convolution with padding 1.
template <class Dim>
double conv_rate(ss::index_t n, ss::index_t c, ss::index_t extent, int repeats, const char* label) {
  constexpr int S = Dim::spatial;
  ss::Parameters<float, ss::cpu> params;
  ss::nn::Conv<float, ss::cpu, Dim> conv(params, {.in_channels = c, .out_channels = c, .padding = ss::nn::fill<S>(1)});
  params.finalize(1);
  ss::Small<ss::index_t, S> spatial = ss::nn::fill<S>(extent);
  ss::Tensor<float, ss::cpu, Dim> x(ss::make_shape<S>(n, c, spatial)), dy(ss::make_shape<S>(n, c, spatial));
  std::vector<float> v(static_cast<std::size_t>(x.size()));
  const ss::Philox rng{3, 0, 0};
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = rng.uniform<float>(i) - 0.5f;
  ss::from_host(x.view(), v);
  ss::from_host(dy.view(), v);
  const double seconds = median_seconds(repeats, [&] {
    conv.forward(x.view(), ss::Context::training());
    conv.backward(dy.view());
  });
  const double flops = 3.0 * 2.0 * double(n) * double(c) * double(x.plane()) * double(c) * std::pow(3.0, S);
  const double rate = flops / seconds * 1e-9;
  std::printf("%-34s %9.2f ms  %7.1f GFLOP/s\n", label, seconds * 1e3, rate);
  return rate;
}

// Eigen's single-precision GEMM on the shape of a convolution's forward product for one image.
double gemm_rate(ss::index_t m, ss::index_t n, ss::index_t k, int repeats) {
  std::vector<float> a(std::size_t(m * k), 0.5f), b(std::size_t(k * n), 0.25f), c(std::size_t(m * n));
  const double seconds = median_seconds(repeats, [&] {
    ss::gemm<ss::cpu>(ss::Trans::no, ss::Trans::no, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
  });
  const double rate = 2.0 * double(m) * double(n) * double(k) / seconds * 1e-9;
  std::printf("%-34s %9.2f ms  %7.1f GFLOP/s\n", ("Eigen GEMM " + std::to_string(m) + "x" + std::to_string(k) + " * " +
                                                  std::to_string(k) + "x" + std::to_string(n))
                                                     .c_str(),
              seconds * 1e3, rate);
  return rate;
}

int main(int argc, char** argv) {
  int repeats = 10;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--repeats" && i + 1 < argc) repeats = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: conv_benchmark [--repeats N]\n");
      return 2;
    }
  }
  std::printf("semiseg conv benchmark: %d threads, median of %d runs, float\n", omp_get_max_threads(), repeats);
  const double gemm2 = gemm_rate(64, 64 * 64, 64 * 9, repeats);
  const double gemm3 = gemm_rate(32, 32 * 32 * 32, 32 * 27, repeats);
  const double conv2 = conv_rate<ss::dim2>(8, 64, 64, repeats, "conv3x3 64->64, 8x64x64, fwd+bwd");
  const double conv3 = conv_rate<ss::dim3>(2, 32, 32, repeats, "conv3x3x3 32->32, 2x32^3, fwd+bwd");
  std::printf("ratio to the GEMM of the same shape: 2D %.2f, 3D %.2f\n", conv2 / gemm2, conv3 / gemm3);
  return 0;
}
