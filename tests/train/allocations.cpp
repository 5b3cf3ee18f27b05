// A steady-state training step makes no heap allocation. The global operator new and delete and
// glibc's malloc family are replaced here by versions that count calls while `counting` is on;
// each composition takes a few warm-up steps (buffers reach their sizes, OpenMP starts its
// threads), then must take three more without one. With SEMISEG_ALLOC_TRACE=1 every counted
// allocation prints its size and a backtrace to stderr; resolve the frames with
// `addr2line -Cfipe <binary> <offset>` (a build with -g gives files and lines). Sanitizers
// bring their own allocator, so under them the hooks are left out and the tests are skipped. A
// build with SEMISEG_ONEDNN runs convolutions in oneDNN, which allocates inside every call: the
// convolutional compositions are skipped there.
#include <doctest/doctest.h>

#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "semiseg/backbone/branched_erfnet.hpp"
#include "semiseg/backbone/mlp.hpp"
#include "semiseg/backbone/unet.hpp"
#include "semiseg/loss/cross_entropy.hpp"
#include "semiseg/loss/spatial_embedding.hpp"
#include "semiseg/ssl/cross_pseudo.hpp"
#include "semiseg/ssl/fixmatch.hpp"
#include "semiseg/ssl/mean_teacher.hpp"
#include "semiseg/ssl/pseudo_label.hpp"
#include "semiseg/ssl/supervised.hpp"
#include "semiseg/train/trainer.hpp"
#include "support/harness.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SEMISEG_HOOK_ALLOCATIONS 0
#else
#define SEMISEG_HOOK_ALLOCATIONS 1
#endif

namespace {
constexpr bool hooked = SEMISEG_HOOK_ALLOCATIONS;
#if SEMISEG_HAS_ONEDNN
constexpr bool convolutions_counted = false;
#else
constexpr bool convolutions_counted = true;
#endif
std::atomic<bool> counting{false};   // count allocations now
std::atomic<long> allocations{0};    // allocations counted
std::atomic<bool> tracing{false};    // print a backtrace for each
}  // namespace

#if SEMISEG_HOOK_ALLOCATIONS
namespace {

// Set while a hook is tracing, so the allocations of backtrace() are neither counted nor traced.
thread_local bool inside_hook = false;

void note(std::size_t size) {
  if (!counting.load(std::memory_order_relaxed) || inside_hook) return;
  allocations.fetch_add(1, std::memory_order_relaxed);
  if (!tracing.load(std::memory_order_relaxed)) return;
  inside_hook = true;
  char line[64];
  const int length = std::snprintf(line, sizeof line, "allocation of %zu bytes at\n", size);
  if (length > 0 && ::write(2, line, static_cast<std::size_t>(length)) < 0) {}
  void* frames[48];
  backtrace_symbols_fd(frames, backtrace(frames, 48), 2);
  inside_hook = false;
}

}  // namespace

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void __libc_free(void* p);

void* malloc(std::size_t size) noexcept {
  note(size);
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
  note(count * size);
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) noexcept {
  note(size);
  return __libc_realloc(p, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  note(size);
  return __libc_memalign(alignment, size);
}
void* memalign(std::size_t alignment, std::size_t size) noexcept {
  note(size);
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** p, std::size_t alignment, std::size_t size) noexcept {
  note(size);
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  void* q = __libc_memalign(alignment, size);
  if (!q) return ENOMEM;
  *p = q;
  return 0;
}
void free(void* p) noexcept { __libc_free(p); }
}

void* operator new(std::size_t size) {
  note(size);
  if (void* p = __libc_malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, std::align_val_t alignment) {
  note(size);
  if (void* p = __libc_memalign(static_cast<std::size_t>(alignment), size ? size : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  note(size);
  return __libc_malloc(size ? size : 1);
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  note(size);
  return __libc_memalign(static_cast<std::size_t>(alignment), size ? size : 1);
}
void* operator new[](std::size_t size) { return operator new(size); }
void* operator new[](std::size_t size, std::align_val_t alignment) { return operator new(size, alignment); }
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t& tag) noexcept {
  return operator new(size, alignment, tag);
}
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete(void* p, std::size_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { __libc_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { __libc_free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete[](void* p, std::size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { __libc_free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { __libc_free(p); }
#endif

namespace semiseg::test {

namespace {

// Allocations made by `work`, traced to stderr with SEMISEG_ALLOC_TRACE=1.
template <class F>
long allocations_of(F&& work) {
  const char* trace = std::getenv("SEMISEG_ALLOC_TRACE");
  if (trace && *trace && *trace != '0') {
    void* frames[1];
    backtrace(frames, 1);  // loads the unwinder before counting starts
    tracing = true;
  }
  allocations = 0;
  counting = true;
  work();
  counting = false;
  tracing = false;
  return allocations.load();
}

// Three warm-up steps, then the allocations of three more.
template <class Trainer>
long steady_state_allocations(Trainer& trainer, const typename Trainer::Runner::Inputs& in) {
  for (int i = 0; i < 3; ++i) trainer.train_step(in);
  return allocations_of([&] {
    for (int i = 0; i < 3; ++i) trainer.train_step(in);
  });
}

// Deterministic one-channel images in [0, 1), and labels: 1 where the image is above 0.5.
template <Dimension Dim>
Tensor<float, cpu, Dim> images(const shape_of<Dim>& shape, std::uint64_t seed) {
  std::vector<float> v(static_cast<std::size_t>(shape.size()));
  const Philox rng{seed, 2, 0};
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = rng.uniform<float>(i);
  Tensor<float, cpu, Dim> t(shape);
  from_host(t.view(), v);
  return t;
}

template <Dimension Dim>
Tensor<std::int32_t, cpu, Dim> labels_of(const Tensor<float, cpu, Dim>& x) {
  shape_of<Dim> s = x.shape();
  s[1] = 1;
  Tensor<std::int32_t, cpu, Dim> y(s);
  for (index_t i = 0; i < y.size(); ++i) y.data()[i] = x.data()[i] > 0.5f ? 1 : 0;
  return y;
}

// The batches of one step: 2 labeled and 2 unlabeled samples, a second view of the unlabeled.
template <Dimension Dim, Dimension Out = Dim>
struct Batches {
  Tensor<float, cpu, Dim> labeled, unlabeled, second;
  Tensor<std::int32_t, cpu, Out> targets;

  template <class Inputs>
  Inputs inputs() const {
    Inputs in;
    in.labeled = labeled.view();
    in.targets = targets.view();
    in.unlabeled = unlabeled.view();
    in.unlabeled_second_view = second.view();
    // Half-way through a run, so every strategy's unlabeled term is on.
    in.epoch = 5;
    in.progress = 0.5;
    in.total_steps = 100;
    return in;
  }
};

template <SpatialDimension Dim>
Batches<Dim> segmentation_batches(std::initializer_list<index_t> spatial) {
  Batches<Dim> b{images<Dim>(shape_nc<Dim>(2, 1, spatial), 1), images<Dim>(shape_nc<Dim>(2, 1, spatial), 2),
                 images<Dim>(shape_nc<Dim>(2, 1, spatial), 3), {}};
  b.targets = labels_of(b.labeled);
  return b;
}

template <SpatialDimension Dim, class Strategy>
using SegTrainer = Trainer<Dim, backbone::UNet, loss::CrossEntropy, Strategy, cpu, float>;

template <SpatialDimension Dim, class Strategy>
long unet_allocations(index_t depth, index_t base, index_t side, typename Strategy::Options strategy = {}) {
  typename SegTrainer<Dim, Strategy>::Options o;
  o.model = {.in_channels = 1, .classes = 2, .base_channels = base, .depth = depth};
  o.optimizer = optim::AdamOptions{.lr = 1e-3};
  o.strategy = strategy;
  o.seed = 3;
  SegTrainer<Dim, Strategy> trainer(o);
  const Batches<Dim> b = segmentation_batches<Dim>({side, side, side});
  return steady_state_allocations(trainer, b.template inputs<typename SegTrainer<Dim, Strategy>::Runner::Inputs>());
}

}  // namespace

TEST_CASE("a steady-state training step makes no heap allocation: 2D U-Net" * doctest::skip(!hooked || !convolutions_counted)) {
  CHECK(unet_allocations<dim2, ssl::Supervised>(2, 8, 32) == 0);
  CHECK(unet_allocations<dim2, ssl::MeanTeacher<>>(2, 8, 32) == 0);
  CHECK(unet_allocations<dim2, ssl::FixMatch>(2, 8, 32) == 0);
  CHECK(unet_allocations<dim2, ssl::CrossPseudo>(2, 8, 32) == 0);
  CHECK(unet_allocations<dim2, ssl::CrossPseudo>(2, 8, 32, {.cutmix = true}) == 0);
  CHECK(unet_allocations<dim2, ssl::PseudoLabel>(2, 8, 32, {.alpha_final = 1, .t1 = 0, .t2 = 1, .fractions = true}) == 0);
}

TEST_CASE("a steady-state training step makes no heap allocation: 3D U-Net" * doctest::skip(!hooked || !convolutions_counted)) {
  CHECK(unet_allocations<dim3, ssl::Supervised>(1, 4, 8) == 0);
}

TEST_CASE("a steady-state training step makes no heap allocation: MLP classifier" * doctest::skip(!hooked)) {
  using MlpTrainer = Trainer<dim2, backbone::MLP, loss::CrossEntropy, ssl::PseudoLabel, cpu, float>;
  MlpTrainer::Options o;
  o.model = {.in_features = 256, .hidden = {32}, .classes = 2, .dropout = 0.5};
  o.optimizer = optim::AdamOptions{.lr = 1e-3};
  o.strategy = {.alpha_final = 1, .t1 = 0, .t2 = 1, .fractions = true};
  MlpTrainer trainer(o);
  Batches<dim2, flat> b{images<dim2>(shape_nc<dim2>(2, 1, {16, 16}), 1), images<dim2>(shape_nc<dim2>(2, 1, {16, 16}), 2),
                        images<dim2>(shape_nc<dim2>(2, 1, {16, 16}), 3), Tensor<std::int32_t, cpu, flat>(flat_shape(2, 1))};
  b.targets.data()[0] = 0;
  b.targets.data()[1] = 1;
  CHECK(steady_state_allocations(trainer, b.inputs<MlpTrainer::Runner::Inputs>()) == 0);
}

TEST_CASE("a steady-state training step makes no heap allocation: BranchedERFNet embeddings, Mean Teacher" *
          doctest::skip(!hooked || !convolutions_counted)) {
  using EmbeddingTrainer = Trainer<dim2, backbone::BranchedERFNet, loss::SpatialEmbedding, ssl::MeanTeacher<>, cpu, float>;
  EmbeddingTrainer::Options o;
  o.model.in_channels = 1;
  o.model.widths = {4, 8, 16};
  o.model.stage2_blocks = 1;
  o.model.stage3_repeats = 1;
  o.model.dilations = {2};
  o.model.decoder_blocks = 1;
  o.optimizer = optim::AdamOptions{.lr = 1e-3};
  o.loss.grid.grid = 64;
  o.seed = 5;
  EmbeddingTrainer trainer(o);
  Batches<dim2> b = segmentation_batches<dim2>({16, 16});
  // Two 4 × 4 instances, each with its centre pixel flagged.
  b.targets.zero();
  for (index_t y = 0; y < 4; ++y)
    for (index_t x = 0; x < 4; ++x)
      for (index_t n = 0; n < 2; ++n) {
        b.targets.data()[n * 256 + (2 + y) * 16 + 2 + x] = 1;
        b.targets.data()[n * 256 + (8 + y) * 16 + 9 + x] = 2;
      }
  for (index_t n = 0; n < 2; ++n) {
    b.targets.data()[n * 256 + 4 * 16 + 4] |= instance::centre_flag;
    b.targets.data()[n * 256 + 10 * 16 + 11] |= instance::centre_flag;
  }
  CHECK(steady_state_allocations(trainer, b.inputs<EmbeddingTrainer::Runner::Inputs>()) == 0);
}

}  // namespace semiseg::test
