// Does the loader keep up with training? For Fashion-MNIST composites in 2D and 3D, with a training
// augmentation, this measures (1) the time to make one batch in one thread, (2) the time of one
// training step of a small convolutional network on that batch, and (3) a training loop that
// takes its batches from the loader's background threads: how long the loop waited for them.
// Run: loader_benchmark [--steps N] [--threads T]   (defaults: 40 steps (3D: N/5), 1 loader thread)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <semiseg/semiseg.hpp>

namespace ss = semiseg;
namespace aug = ss::data::aug;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Three 3×3 conv-BN-ReLU blocks of 16 channels and a 1×1 head to the 11 classes: a stand-in for
// the smallest segmentation network the loader must feed.
template <class Dim>
struct SmallNet {
  using Tensor = ss::Tensor<float, ss::cpu, Dim>;
  ss::Parameters<float, ss::cpu> params;
  ss::nn::Conv<float, ss::cpu, Dim> c1{params, {.in_channels = 1, .out_channels = 16, .padding = pad()}, "c1"};
  ss::nn::BatchNorm<float, ss::cpu, Dim> b1{params, {.channels = 16}, "b1"};
  ss::nn::ReLU<float, ss::cpu, Dim> r1;
  ss::nn::Conv<float, ss::cpu, Dim> c2{params, {.in_channels = 16, .out_channels = 16, .padding = pad()}, "c2"};
  ss::nn::BatchNorm<float, ss::cpu, Dim> b2{params, {.channels = 16}, "b2"};
  ss::nn::ReLU<float, ss::cpu, Dim> r2;
  ss::nn::Conv<float, ss::cpu, Dim> c3{params, {.in_channels = 16, .out_channels = 16, .padding = pad()}, "c3"};
  ss::nn::BatchNorm<float, ss::cpu, Dim> b3{params, {.channels = 16}, "b3"};
  ss::nn::ReLU<float, ss::cpu, Dim> r3;
  ss::nn::Conv<float, ss::cpu, Dim> head{params, {.in_channels = 16, .out_channels = 11, .kernel = kernel1()}, "head"};
  Tensor grad;

  static constexpr auto pad() { return ss::nn::all<Dim::spatial, 1>; }
  static constexpr auto kernel1() { return ss::nn::all<Dim::spatial, 1>; }

  // Forward and backward with a gradient of ones: the arithmetic of a step, without a loss.
  void step(const Tensor& x, std::uint32_t s) {
    const ss::Context c = ss::Context::training(s);
    const Tensor& y = head.forward(r3.forward(b3.forward(c3.forward(r2.forward(b2.forward(c2.forward(
                                                                         r1.forward(b1.forward(c1.forward(x, c), c), c), c), c), c), c), c), c), c);
    grad.resize(y.shape());
    std::vector<float> ones_host(static_cast<std::size_t>(y.size()), 1.0f / static_cast<float>(y.size()));
    ss::from_host(grad.view(), ones_host);
    params.zero_grad();
    c1.backward(b1.backward(r1.backward(c2.backward(b2.backward(r2.backward(c3.backward(b3.backward(r3.backward(head.backward(grad))))))))));
  }
};

template <class Dim>
void run(const char* name, std::size_t batch_size, int steps, std::size_t threads, const ss::data::FashionMnist& items) {
  ss::data::CompositeOptions<Dim> options;
  options.train_size = 20000;
  const ss::data::FashionComposite<Dim> dataset(items, ss::data::CompositeSplit::train, options);
  // A training augmentation: flips, 90° turns, zoom, brightness and noise.
  const ss::data::Transform<Dim> transform =
      aug::Compose<Dim>{aug::Flip{}, aug::Rotate90{.plane = aug::Plane::hw}, aug::Scale{.min = 0.8, .max = 1.25},
                        aug::Brightness{.min = 0.8, .max = 1.2}, aug::GaussianNoise{.sigma = 0.03}};

  // (1) One batch, made in this thread.
  ss::data::Loader<ss::data::FashionComposite<Dim>> serial(dataset, {.batch_size = batch_size, .seed = 1, .threads = 0},
                                                           transform);
  serial.next();
  auto t0 = Clock::now();
  const int made = 10;
  for (int i = 0; i < made; ++i) serial.next();
  const double make_s = seconds_since(t0) / made;

  // (2) One training step on a batch already in memory.
  SmallNet<Dim> net;
  net.params.finalize(1);
  auto batch = serial.next();
  net.step(batch.images, 0);
  t0 = Clock::now();
  const int timed = 5;
  for (int i = 0; i < timed; ++i) net.step(batch.images, static_cast<std::uint32_t>(i));
  const double step_s = seconds_since(t0) / timed;

  // (3) Training from the loader's background threads.
  ss::data::Loader<ss::data::FashionComposite<Dim>> loader(
      dataset, {.batch_size = batch_size, .seed = 2, .threads = threads, .prefetch = 4}, transform);
  t0 = Clock::now();
  for (int s = 0; s < steps; ++s) {
    auto b = loader.next();
    net.step(b.images, static_cast<std::uint32_t>(s));
  }
  const double loop_s = seconds_since(t0);
  const ss::data::LoaderStats& st = loader.stats();
  std::printf("%-4s batch %2zu: make %7.2f ms (1 thread), step %7.2f ms, make/step %.2f | loop of %d steps: "
              "waited %6.1f ms of %7.1f ms (%.1f%%, longest wait %5.1f ms)\n",
              name, batch_size, make_s * 1e3, step_s * 1e3, make_s / step_s, steps, st.wait_seconds * 1e3,
              loop_s * 1e3, 100.0 * st.wait_seconds / loop_s, st.max_wait_seconds * 1e3);
}

int main(int argc, char** argv) {
  int steps = 40;
  std::size_t threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--steps" && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (arg == "--threads" && i + 1 < argc) threads = std::strtoull(argv[++i], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: loader_benchmark [--steps N] [--threads T]\nunknown argument: %s\n", argv[i]);
      return 2;
    }
  }
  if (steps < 1) {
    std::fprintf(stderr, "loader_benchmark: --steps must be positive\n");
    return 2;
  }
  try {
    const ss::data::FashionMnist items(ss::data::Split::train);
    std::printf("loader benchmark: %d steps, %zu loader thread(s), OpenMP threads for the network as set\n", steps,
                threads);
    run<ss::dim2>("2D", 16, steps, threads, items);
    // A 3D step costs about twenty 2D steps; fewer of them show the same.
    run<ss::dim3>("3D", 4, std::max(3, steps / 5), threads, items);
  } catch (const ss::error& e) {
    std::fprintf(stderr, "loader_benchmark: %s\n", e.what());
    return 1;
  }
  return 0;
}
