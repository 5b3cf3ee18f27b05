// The benchmark workloads W1–W5 of docs/performance.md, each timed step by step. The PyTorch twin
// is workloads.py (same shapes, initialisation scheme and optimizer); run_benchmarks.py runs the
// two alternately and prints their ratio.
// Run: OMP_NUM_THREADS=2 workloads --workload W2 [--steps N] [--warmup K]
// The last line is `RESULT {json}` with every timed step's seconds.
#include <omp.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <semiseg/semiseg.hpp>

#include "../common/arguments.hpp"

namespace ss = semiseg;
using Clock = std::chrono::steady_clock;

namespace {

constexpr ss::index_t classes = 4;

template <class Dim>
ss::Tensor<float, ss::cpu, Dim> random_images(ss::index_t n, ss::index_t channels, ss::index_t extent, std::uint64_t key) {
  constexpr int S = Dim::spatial;
  ss::Small<ss::index_t, S> spatial;
  for (int d = 0; d < S; ++d) spatial[d] = extent;
  ss::Tensor<float, ss::cpu, Dim> t(ss::make_shape<S>(n, channels, spatial));
  std::vector<float> v(static_cast<std::size_t>(t.size()));
  const ss::Philox rng{key, 0, 0};
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = rng.normal<float>(i);
  ss::from_host(t.view(), v);
  return t;
}

template <class Dim>
ss::Tensor<std::int32_t, ss::cpu, Dim> random_labels(const ss::shape_of<Dim>& image_shape, std::uint64_t key) {
  ss::shape_of<Dim> shape = image_shape;
  shape[1] = 1;
  ss::Tensor<std::int32_t, ss::cpu, Dim> t(shape);
  std::vector<std::int32_t> v(static_cast<std::size_t>(t.size()));
  const ss::Philox rng{key, 1, 0};
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::int32_t>(rng.uniform<double>(i) * classes) % classes;
  ss::from_host(t.view(), v);
  return t;
}

// W2/W3/W5's network: 3 resolution levels (2 down-samplings), transposed-conv up, 1 → 4 classes.
ss::backbone::UNetOptions unet(ss::index_t base) {
  return {.in_channels = 1, .classes = classes, .base_channels = base, .depth = 2};
}

// A composed trainer with its batches, built in place (the strategy refers to the model).
template <class Trainer, class Dim, class TargetDim>
struct Training {
  std::optional<Trainer> trainer;
  ss::Tensor<float, ss::cpu, Dim> labeled, unlabeled;  // unlabeled stays empty for Supervised
  ss::Tensor<std::int32_t, ss::cpu, TargetDim> targets;
};

template <class State>
std::function<void()> train_steps(std::shared_ptr<State> s) {
  return [s] {
    typename std::remove_reference_t<decltype(*s->trainer)>::Runner::Inputs in;
    in.labeled = s->labeled.view();
    in.targets = s->targets.view();
    in.unlabeled = s->unlabeled.view();
    in.total_steps = 1000;
    s->trainer->train_step(in);
  };
}

// W1: MLP 784-5000-10 with dropout 0.5; one Pseudo-Label SGD step on 32 labeled + 256 unlabeled.
std::function<void()> w1() {
  using Trainer = ss::Trainer<ss::dim2, ss::backbone::MLP, ss::loss::CrossEntropy, ss::ssl::PseudoLabel, ss::cpu>;
  Trainer::Options o;
  o.model = {.in_features = 784, .hidden = {5000}, .classes = 10, .dropout = 0.5};
  o.optimizer = ss::optim::SgdOptions{.lr = 0.01, .momentum = 0.9};
  o.strategy = {.alpha_final = 3.0, .t1 = 0, .t2 = 0};  // α = 3 from the first step
  auto s = std::make_shared<Training<Trainer, ss::dim2, ss::flat>>();
  s->trainer.emplace(o);
  s->labeled = random_images<ss::dim2>(32, 1, 28, 1);
  s->unlabeled = random_images<ss::dim2>(256, 1, 28, 2);
  s->targets.resize(ss::make_shape<0>(32, 1, {}));
  std::vector<std::int32_t> labels(32);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(i % 10);
  ss::from_host(s->targets.view(), labels);
  return train_steps(s);
}

// W2: 2D U-Net (base 16) on 64×64; one Mean Teacher step on 8 labeled + 8 unlabeled images,
// Adam, then EMA 0.99 with the BatchNorm buffers copied.
std::function<void()> w2() {
  using Trainer = ss::Trainer<ss::dim2, ss::backbone::UNet, ss::loss::CrossEntropy, ss::ssl::MeanTeacher<>, ss::cpu>;
  Trainer::Options o;
  o.model = unet(16);
  o.optimizer = ss::optim::AdamOptions{.lr = 1e-3};
  o.strategy = {.consistency = 1.0, .rampup = 0, .ema_decay = 0.99};
  auto s = std::make_shared<Training<Trainer, ss::dim2, ss::dim2>>();
  s->trainer.emplace(o);
  s->labeled = random_images<ss::dim2>(8, 1, 64, 1);
  s->unlabeled = random_images<ss::dim2>(8, 1, 64, 2);
  s->targets = random_labels<ss::dim2>(s->labeled.shape(), 3);
  return train_steps(s);
}

// W3: the same U-Net in 3D, base 8, on 32³, batch 2; one supervised cross-entropy step with Adam.
std::function<void()> w3() {
  using Trainer = ss::Trainer<ss::dim3, ss::backbone::UNet, ss::loss::CrossEntropy, ss::ssl::Supervised, ss::cpu>;
  Trainer::Options o;
  o.model = unet(8);
  o.optimizer = ss::optim::AdamOptions{.lr = 1e-3};
  auto s = std::make_shared<Training<Trainer, ss::dim3, ss::dim3>>();
  s->trainer.emplace(o);
  s->labeled = random_images<ss::dim3>(2, 1, 32, 1);
  s->targets = random_labels<ss::dim3>(s->labeled.shape(), 3);
  return train_steps(s);
}

// W4: conv3×3 64→64 with bias on 8×64×64×64: forward, then input, weight and bias gradients.
std::function<void()> w4() {
  struct State {
    ss::Parameters<float, ss::cpu> params;
    std::optional<ss::nn::Conv<float, ss::cpu, ss::dim2>> conv;
    ss::Tensor<float, ss::cpu, ss::dim2> x, dy;
  };
  auto s = std::make_shared<State>();
  s->conv.emplace(s->params, ss::nn::ConvOptions<ss::dim2>{.in_channels = 64, .out_channels = 64, .padding = {1, 1}});
  s->params.finalize(1);
  s->x = random_images<ss::dim2>(8, 64, 64, 1);
  s->dy = random_images<ss::dim2>(8, 64, 64, 2);
  return [s] {
    s->params.zero_grad();
    s->conv->forward(s->x.view(), ss::Context::training());
    s->conv->backward(s->dy.view());
  };
}

// W5: W2's U-Net in eval mode on one 256×256 image.
std::function<void()> w5() {
  struct State {
    ss::backbone::UNet<float, ss::cpu, ss::dim2> net{unet(16), 1};
    ss::Tensor<float, ss::cpu, ss::dim2> x;
  };
  auto s = std::make_shared<State>();
  s->x = random_images<ss::dim2>(1, 1, 256, 1);
  return [s] { s->net.forward(s->x.view(), ss::Context::evaluation()); };
}

}  // namespace

int main(int argc, char** argv) {
  std::string workload;
  std::size_t steps = 10, warmup = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--workload" && i + 1 < argc) workload = argv[++i];
    else if ((arg == "--steps" || arg == "--warmup") && i + 1 < argc) {
      if (!examples::parse(argv[++i], arg == "--steps" ? steps : warmup)) {
        std::fprintf(stderr, "workloads: %s takes a whole number (got '%s')\n", arg.c_str(), argv[i]);
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: workloads --workload W1|W2|W3|W4|W5 [--steps N] [--warmup K]\nunknown argument: %s\n", argv[i]);
      return 2;
    }
  }
  std::function<void()> step;
  if (workload == "W1") step = w1();
  else if (workload == "W2") step = w2();
  else if (workload == "W3") step = w3();
  else if (workload == "W4") step = w4();
  else if (workload == "W5") step = w5();
  else {
    std::fprintf(stderr, "workloads: --workload must be one of W1, W2, W3, W4, W5 (got '%s')\n", workload.c_str());
    return 2;
  }
  if (steps == 0) {
    std::fprintf(stderr, "workloads: --steps must be positive\n");
    return 2;
  }
  for (std::size_t i = 0; i < warmup; ++i) step();
  std::string times;
  for (std::size_t i = 0; i < steps; ++i) {
    const auto start = Clock::now();
    step();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%s%.6g", i ? ", " : "", seconds);
    times += buffer;
  }
  std::printf("RESULT {\"impl\": \"semiseg\", \"workload\": \"%s\", \"threads\": %d, \"times\": [%s]}\n", workload.c_str(),
              omp_get_max_threads(), times.c_str());
  return 0;
}
