// The smallest end-to-end example: a four-layer fully convolutional network learns to tell discs
// from squares on generated 2D images, trained with Adam and a per-pixel cross-entropy, then
// reports IoU on held-out images. Run: tiny_segmentation [--steps N] [--seed S]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <semiseg/semiseg.hpp>

namespace ss = semiseg;
using T = float;
using Dev = ss::cpu;
using Dim = ss::dim2;
using Image = ss::Tensor<T, Dev, Dim>;

constexpr ss::index_t size = 24, classes = 3;  // background, disc, square

// A batch of images with one disc and one square each, at random places, plus noise; labels are
// per-pixel class indices. Everything is drawn from Philox, so a seed fixes the data.
struct Batch {
  Image images;
  std::vector<int> labels;
};

Batch make_batch(ss::index_t n, std::uint64_t seed, std::uint32_t index) {
  const ss::Philox rng{seed, 100, index};
  std::vector<T> pixels(static_cast<std::size_t>(n * size * size));
  std::vector<int> labels(pixels.size(), 0);
  std::uint64_t draw = 0;
  for (ss::index_t b = 0; b < n; ++b) {
    for (int shape = 1; shape <= 2; ++shape) {
      const double r = 3.0 + 2.0 * rng.uniform<double>(draw++);
      const double cy = r + (size - 2 * r) * rng.uniform<double>(draw++);
      const double cx = r + (size - 2 * r) * rng.uniform<double>(draw++);
      for (ss::index_t y = 0; y < size; ++y)
        for (ss::index_t x = 0; x < size; ++x) {
          const double dy = double(y) - cy, dx = double(x) - cx;
          const bool inside = shape == 1 ? dx * dx + dy * dy <= r * r : std::abs(dx) <= r * 0.85 && std::abs(dy) <= r * 0.85;
          if (inside) labels[std::size_t((b * size + y) * size + x)] = shape;
        }
    }
    for (ss::index_t p = 0; p < size * size; ++p) {
      const std::size_t i = std::size_t(b * size * size + p);
      pixels[i] = T((labels[i] ? 1.0 : 0.0) + 0.3 * rng.normal<double>(draw++));
    }
  }
  Batch batch{Image(ss::make_shape<2>(n, 1, {{size, size}})), std::move(labels)};
  ss::from_host(batch.images.view(), pixels);
  return batch;
}

struct Network {
  ss::Parameters<T, Dev> params;
  ss::nn::Conv<T, Dev, Dim> conv1{params, {.in_channels = 1, .out_channels = 16, .padding = {1, 1}}, "conv1"};
  ss::nn::BatchNorm<T, Dev, Dim> bn1{params, {.channels = 16}, "bn1"};
  ss::nn::ReLU<T, Dev, Dim> relu1;
  ss::nn::Conv<T, Dev, Dim> conv2{
      params, {.in_channels = 16, .out_channels = 16, .padding = {2, 2}, .dilation = {2, 2}}, "conv2"};
  ss::nn::BatchNorm<T, Dev, Dim> bn2{params, {.channels = 16}, "bn2"};
  ss::nn::ReLU<T, Dev, Dim> relu2;
  ss::nn::Conv<T, Dev, Dim> conv3{
      params, {.in_channels = 16, .out_channels = 16, .padding = {4, 4}, .dilation = {4, 4}}, "conv3"};
  ss::nn::BatchNorm<T, Dev, Dim> bn3{params, {.channels = 16}, "bn3"};
  ss::nn::ReLU<T, Dev, Dim> relu3;
  ss::nn::Conv<T, Dev, Dim> head{params, {.in_channels = 16, .out_channels = classes, .kernel = {1, 1}}, "head"};
  ss::nn::LogSoftmax<T, Dev, Dim> log_softmax;

  const Image& forward(const Image& x, ss::Context c) {
    const auto& h1 = relu1.forward(bn1.forward(conv1.forward(x, c), c), c);
    const auto& h2 = relu2.forward(bn2.forward(conv2.forward(h1, c), c), c);
    const auto& h3 = relu3.forward(bn3.forward(conv3.forward(h2, c), c), c);
    return log_softmax.forward(head.forward(h3, c), c);
  }
  void backward(const Image& dlogp) {
    const auto& g3 = bn3.backward(relu3.backward(head.backward(log_softmax.backward(dlogp))));
    const auto& g2 = bn2.backward(relu2.backward(conv3.backward(g3)));
    const auto& g1 = bn1.backward(relu1.backward(conv2.backward(g2)));
    conv1.backward(g1);
  }
};

// Mean negative log-likelihood over pixels, and its gradient with respect to the log-probabilities.
double nll(const Image& logp, const std::vector<int>& labels, Image& grad) {
  const auto lp = ss::to_host(logp.view());
  std::vector<T> g(lp.size(), T(0));
  const ss::index_t plane = logp.plane(), pixels = logp.n() * plane;
  double loss = 0;
  for (ss::index_t i = 0; i < pixels; ++i) {
    const ss::index_t n = i / plane, p = i % plane;
    const std::size_t at = std::size_t((n * classes + labels[std::size_t(i)]) * plane + p);
    loss -= lp[at];
    g[at] = T(-1.0 / double(pixels));
  }
  grad.resize(logp.shape());
  ss::from_host(grad.view(), g);
  return loss / double(pixels);
}

int main(int argc, char** argv) {
  int steps = 300;
  std::uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--steps" && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (arg == "--seed" && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: tiny_segmentation [--steps N] [--seed S]\nunknown argument: %s\n", argv[i]);
      return 2;
    }
  }
  if (steps < 1) {
    std::fprintf(stderr, "tiny_segmentation: --steps must be positive\n");
    return 2;
  }
  std::printf("semiseg tiny segmentation: device %s, %d steps, seed %llu\n", Dev::name, steps,
              static_cast<unsigned long long>(seed));
  Network net;
  net.params.finalize(seed);
  ss::optim::Adam<T, Dev> adam({.lr = 3e-3});
  const ss::optim::Cosine schedule{.t_max = steps, .min_factor = 0.03};
  Image grad;
  const auto start = std::chrono::steady_clock::now();
  for (int step = 0; step < steps; ++step) {
    Batch batch = make_batch(8, seed, static_cast<std::uint32_t>(step));
    net.params.zero_grad();
    const double loss = nll(net.forward(batch.images, ss::Context::training(std::uint32_t(step))), batch.labels, grad);
    net.backward(grad);
    adam.set_lr(3e-3 * schedule(step));
    adam.step(net.params);
    if (step % 50 == 0 || step == steps - 1) std::printf("step %4d  loss %.4f\n", step, loss);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Held-out images from a separate Philox stream: per-class IoU of the arg-max prediction.
  Batch test = make_batch(64, seed + 1000, 0);
  const auto lp = ss::to_host(net.forward(test.images, ss::Context::evaluation()).view());
  std::vector<double> inter(classes, 0), uni(classes, 0);
  const ss::index_t plane = size * size;
  for (ss::index_t i = 0; i < 64 * plane; ++i) {
    const ss::index_t n = i / plane, p = i % plane;
    int best = 0;
    for (int c = 1; c < classes; ++c)
      if (lp[std::size_t((n * classes + c) * plane + p)] > lp[std::size_t((n * classes + best) * plane + p)]) best = c;
    const int truth = test.labels[std::size_t(i)];
    for (int c = 0; c < classes; ++c) {
      inter[std::size_t(c)] += (best == c && truth == c);
      uni[std::size_t(c)] += (best == c || truth == c);
    }
  }
  const char* names[] = {"background", "disc", "square"};
  double miou = 0;
  for (int c = 0; c < classes; ++c) {
    const double iou = inter[std::size_t(c)] / std::max(1.0, uni[std::size_t(c)]);
    miou += iou / classes;
    std::printf("IoU %-10s %.3f\n", names[c], iou);
  }
  std::printf("mIoU %.3f on 64 held-out images; training took %.1f s\n", miou, seconds);
  return 0;
}
