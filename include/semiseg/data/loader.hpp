// The loader: shuffled, augmented batches straight into host Tensors, prepared ahead on background
// threads. Contract: batch s (the s-th call to next()) is a pure function of the dataset, the
// transforms, the options' seed and s, so the output is the same for any number of threads, and a
// run resumed with seek(s) sees the batches an uninterrupted run would have seen.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "semiseg/core/error.hpp"
#include "semiseg/core/tensor.hpp"
#include "semiseg/data/dataset.hpp"
#include "semiseg/data/rng.hpp"
#include "semiseg/data/sample.hpp"

namespace semiseg::data {

template <SpatialDimension Dim>
using Transform = std::function<void(Sample<Dim>&, Rng&)>;

struct LoaderOptions {
  std::size_t batch_size = 16;
  bool shuffle = true;
  // Drop the last, smaller batch of an epoch (training); keep it for evaluation.
  bool drop_last = true;
  std::uint64_t seed = 0;
  // Background threads that read and augment; 0 prepares each batch in the caller's thread.
  std::size_t threads = 2;
  // Batches prepared ahead of the one being consumed.
  std::size_t prefetch = 4;
};

template <SpatialDimension Dim>
struct Batch {
  Tensor<float, cpu, Dim> images;          // N×C×spatial
  Tensor<float, cpu, Dim> strong_images;   // the strong view, when the loader has a strong transform
  Tensor<std::int32_t, cpu, Dim> masks;    // N×1×spatial, when the samples have masks
  Tensor<std::int32_t, cpu, Dim> instances;
  std::vector<std::int32_t> labels;        // one per sample, when the samples have labels
  std::vector<std::size_t> indices;        // each sample's position in the loader's dataset
  std::size_t epoch = 0;                   // the epoch this batch belongs to
  std::size_t iteration = 0;               // its position within that epoch
  std::size_t step = 0;                    // its position since the start (the s of next())

  std::size_t size() const { return indices.size(); }
  bool has_masks() const { return masks.size() != 0; }
  bool has_instances() const { return instances.size() != 0; }
  bool has_labels() const { return !labels.empty(); }
  bool has_strong() const { return strong_images.size() != 0; }
};

// How much a consumer waited for batches: time spent blocked inside next().
struct LoaderStats {
  std::size_t batches = 0;
  double wait_seconds = 0;
  double max_wait_seconds = 0;
};

namespace detail {

template <SpatialDimension Dim>
shape_of<Dim> batch_shape(std::size_t n, std::size_t c, const SpatialShape<Dim>& spatial) {
  shape_of<Dim> s;
  s[0] = static_cast<index_t>(n);
  s[1] = static_cast<index_t>(c);
  for (int a = 0; a < Dim::spatial; ++a) s[a + 2] = static_cast<index_t>(spatial[static_cast<std::size_t>(a)]);
  return s;
}

template <SpatialDimension Dim>
std::string shape_text(const SpatialShape<Dim>& s) {
  std::string out;
  for (std::size_t a = 0; a < s.size(); ++a) {
    if (a) out.push_back('x');
    out.append(std::to_string(s[a]));
  }
  return out;
}

template <class T, std::size_t R>
SpatialShape<std::conditional_t<R == 2, dim2, dim3>> label_shape(const xt::xtensor<T, R>& m) {
  SpatialShape<std::conditional_t<R == 2, dim2, dim3>> s{};
  for (std::size_t a = 0; a < R; ++a) s[a] = m.shape()[a];
  return s;
}

// Stacks the samples into `batch`, checking that they agree in shape and in what they carry.
template <SpatialDimension Dim>
void stack(const std::vector<Sample<Dim>>& samples, const std::vector<Sample<Dim>>& strong, Batch<Dim>& batch) {
  const Sample<Dim>& first = samples.front();
  const std::size_t n = samples.size(), c = first.channels();
  const SpatialShape<Dim> spatial = first.spatial_shape();
  std::size_t plane = 1;
  for (std::size_t e : spatial) plane *= e;

  for (const Sample<Dim>& s : samples) {
    const auto where = "loader: sample " + std::to_string(s.index);
    if (s.channels() != c || s.spatial_shape() != spatial)
      throw shape_error(where + " is " + std::to_string(s.channels()) + "x" + shape_text<Dim>(s.spatial_shape()) +
                        " but the batch's first sample is " + std::to_string(c) + "x" + shape_text<Dim>(spatial) +
                        "; crop or resize to one size in the transform");
    if (s.has_mask() != first.has_mask() || s.has_instances() != first.has_instances() ||
        s.has_label() != first.has_label())
      throw value_error(where + " differs from the batch's first sample in having a mask, instances or label");
    if (s.has_mask() && label_shape(s.mask) != spatial)
      throw shape_error(where + ": mask is " + shape_text<Dim>(label_shape(s.mask)) + ", image is " +
                        shape_text<Dim>(spatial));
    if (s.has_instances() && label_shape(s.instances) != spatial)
      throw shape_error(where + ": instance map is " + shape_text<Dim>(label_shape(s.instances)) + ", image is " +
                        shape_text<Dim>(spatial));
  }

  const auto fill = [&](auto& tensor, std::size_t channels, auto member) {
    tensor.resize(batch_shape<Dim>(n, channels, spatial));
    const std::size_t stride = channels * plane;
    for (std::size_t i = 0; i < n; ++i) std::memcpy(tensor.data() + i * stride, member(samples[i]), stride * sizeof(*tensor.data()));
  };
  fill(batch.images, c, [](const Sample<Dim>& s) { return s.image.data(); });
  if (first.has_mask()) fill(batch.masks, 1, [](const Sample<Dim>& s) { return s.mask.data(); });
  if (first.has_instances()) fill(batch.instances, 1, [](const Sample<Dim>& s) { return s.instances.data(); });
  batch.labels.clear();
  if (first.has_label())
    for (const Sample<Dim>& s : samples) batch.labels.push_back(s.label);
  if (!strong.empty()) {
    for (const Sample<Dim>& s : strong)
      if (s.channels() != c || s.spatial_shape() != spatial)
        throw shape_error("loader: the strong view of sample " + std::to_string(s.index) +
                          " changed the image's shape; the strong transform must keep it");
    batch.strong_images.resize(batch_shape<Dim>(n, c, spatial));
    for (std::size_t i = 0; i < n; ++i)
      std::memcpy(batch.strong_images.data() + i * c * plane, strong[i].image.data(), c * plane * sizeof(float));
  }
}

}  // namespace detail

template <Dataset D>
class Loader {
 public:
  using dim_type = typename D::dim_type;
  using batch_type = Batch<dim_type>;

  // `transform` makes each sample's view (the weak view); `strong`, when given, is applied to a
  // copy of that view and fills batch.strong_images (FixMatch-style pairs that stay aligned).
  Loader(D dataset, LoaderOptions options, Transform<dim_type> transform = {}, Transform<dim_type> strong = {})
      : dataset_(std::move(dataset)), options_(options), transform_(std::move(transform)), strong_(std::move(strong)) {
    if (options_.batch_size == 0) throw value_error("loader: batch_size must be at least 1");
    if (dataset_.size() == 0) throw value_error("loader: the dataset is empty");
    if (options_.drop_last && dataset_.size() < options_.batch_size)
      throw value_error("loader: the dataset holds " + std::to_string(dataset_.size()) +
                        " samples, fewer than one batch of " + std::to_string(options_.batch_size) +
                        " (lower batch_size or set drop_last = false)");
    if (options_.prefetch == 0) options_.prefetch = 1;
  }
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;
  ~Loader() { stop(); }

  const D& dataset() const { return dataset_; }
  const LoaderOptions& options() const { return options_; }
  std::size_t batches_per_epoch() const {
    const std::size_t n = dataset_.size(), b = options_.batch_size;
    return options_.drop_last ? n / b : (n + b - 1) / b;
  }
  // The step the next call to next() returns.
  std::size_t position() const { return next_step_; }
  std::size_t epoch() const { return next_step_ / batches_per_epoch(); }
  std::size_t iteration() const { return next_step_ % batches_per_epoch(); }
  const LoaderStats& stats() const { return stats_; }

  // Continues from step s, as after s calls to next() (resuming a run).
  void seek(std::size_t s) {
    stop();
    next_step_ = s;
  }

  // The dataset positions of epoch e, in the order the loader visits them.
  std::shared_ptr<const std::vector<std::size_t>> epoch_order(std::size_t e) const {
    std::lock_guard lock(order_mutex_);
    for (const auto& [epoch, order] : orders_)
      if (order && epoch == e) return order;
    auto order = std::make_shared<std::vector<std::size_t>>(dataset_.size());
    for (std::size_t i = 0; i < order->size(); ++i) (*order)[i] = i;
    if (options_.shuffle) {
      Rng rng(options_.seed, streams::shuffle, static_cast<std::uint32_t>(e));
      for (std::size_t i = order->size(); i > 1; --i)
        std::swap((*order)[i - 1], (*order)[static_cast<std::size_t>(rng.integer(0, static_cast<std::int64_t>(i) - 1))]);
    }
    // Replace the older of the two cached epochs: near an epoch's end, workers need both.
    auto& slot = !orders_[0].second || (orders_[1].second && orders_[0].first < orders_[1].first) ? orders_[0] : orders_[1];
    slot = {e, order};
    return order;
  }

  // Batch number s, computed in the calling thread: what next() returns as its s-th batch.
  batch_type make_batch(std::size_t s) const {
    const std::size_t per_epoch = batches_per_epoch(), e = s / per_epoch, it = s % per_epoch;
    const std::shared_ptr<const std::vector<std::size_t>> order_ptr = epoch_order(e);
    const std::vector<std::size_t>& order = *order_ptr;
    const std::size_t begin = it * options_.batch_size, end = std::min(order.size(), begin + options_.batch_size);
    std::vector<Sample<dim_type>> samples, strong;
    samples.reserve(end - begin);
    batch_type batch;
    for (std::size_t k = begin; k < end; ++k) {
      Sample<dim_type> sample = dataset_.get(order[k]);
      // One independent sequence per (epoch, position) keeps the draws apart from thread timing.
      Rng rng(options_.seed, streams::augment, static_cast<std::uint32_t>(e), static_cast<std::uint32_t>(k));
      if (transform_) transform_(sample, rng);
      if (strong_) {
        Sample<dim_type> view = sample;
        Rng strong_rng = rng.fork(forks::strong_view);
        strong_(view, strong_rng);
        strong.push_back(std::move(view));
      }
      batch.indices.push_back(order[k]);
      samples.push_back(std::move(sample));
    }
    detail::stack(samples, strong, batch);
    batch.epoch = e;
    batch.iteration = it;
    batch.step = s;
    return batch;
  }

  // The next batch; blocks while the background threads prepare it. Rethrows a worker's error
  // (a bad file, say) here, in the caller's thread; the failed step is tried again on the next
  // call, whatever the number of threads.
  batch_type next() {
    if (options_.threads == 0) return take_counted([&] { return make_batch(next_step_); });
    start();
    const std::size_t s = next_step_;
    return take_counted([&] {
      std::exception_ptr failure;
      {
        std::unique_lock lock(mutex_);
        ready_cv_.wait(lock, [&] { return ready_.count(s) != 0 || failure_step_ <= s; });
        if (ready_.count(s) != 0) {
          batch_type b = std::move(ready_.at(s));
          ready_.erase(s);
          consumed_ = s + 1;
          space_cv_.notify_all();
          return b;
        }
        failure = failure_;
      }
      stop();
      std::rethrow_exception(failure);
    });
  }

 private:
  template <class F>
  batch_type take_counted(F&& take) {
    const auto t0 = std::chrono::steady_clock::now();
    batch_type b = take();
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++stats_.batches;
    stats_.wait_seconds += waited;
    stats_.max_wait_seconds = std::max(stats_.max_wait_seconds, waited);
    ++next_step_;
    return b;
  }

  void start() {
    if (!workers_.empty()) return;
    stopping_ = false;
    claimed_ = consumed_ = next_step_;
    failure_step_ = SIZE_MAX;
    failure_ = nullptr;
    for (std::size_t t = 0; t < options_.threads; ++t) workers_.emplace_back([this] { work(); });
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    space_cv_.notify_all();
    for (std::thread& t : workers_) t.join();
    workers_.clear();
    ready_.clear();
  }

  void work() {
    for (;;) {
      std::size_t s;
      {
        std::unique_lock lock(mutex_);
        space_cv_.wait(lock, [&] { return stopping_ || claimed_ < consumed_ + options_.prefetch; });
        if (stopping_ || failure_step_ != SIZE_MAX) return;
        s = claimed_++;
      }
      try {
        batch_type b = make_batch(s);
        std::lock_guard lock(mutex_);
        ready_.emplace(s, std::move(b));
      } catch (...) {
        std::lock_guard lock(mutex_);
        if (s < failure_step_) {
          failure_step_ = s;
          failure_ = std::current_exception();
        }
      }
      ready_cv_.notify_all();
    }
  }

  D dataset_;
  LoaderOptions options_;
  Transform<dim_type> transform_, strong_;
  std::size_t next_step_ = 0;
  LoaderStats stats_;
  // The orders of the two latest epochs, shared by the workers so a batch does not reshuffle.
  mutable std::mutex order_mutex_;
  mutable std::pair<std::size_t, std::shared_ptr<const std::vector<std::size_t>>> orders_[2];

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable ready_cv_, space_cv_;
  std::map<std::size_t, batch_type> ready_;
  std::size_t claimed_ = 0, consumed_ = 0;
  bool stopping_ = false;
  std::size_t failure_step_ = SIZE_MAX;
  std::exception_ptr failure_;
};

// Two streams for semi-supervised training: labeled and unlabeled batches with their own sizes,
// seeds and transforms. Each stream runs through its own epochs; a step takes one batch of each.
template <Dataset L, Dataset U>
  requires std::same_as<typename L::dim_type, typename U::dim_type>
class SemiSupervisedLoader {
 public:
  using dim_type = typename L::dim_type;
  struct Step {
    Batch<dim_type> labeled;
    Batch<dim_type> unlabeled;
  };

  SemiSupervisedLoader(Loader<L>& labeled, Loader<U>& unlabeled) : labeled_(labeled), unlabeled_(unlabeled) {
    if (labeled.options().seed == unlabeled.options().seed)
      throw value_error("semi-supervised loader: the labeled and unlabeled loaders share seed " +
                        std::to_string(labeled.options().seed) +
                        "; give them different seeds so their orders and augmentations are independent");
  }

  // One batch of each stream. If the unlabeled stream fails, the labeled one is set back, so the
  // two stay in step when the caller tries again.
  Step next() {
    const std::size_t at = labeled_.position();
    Batch<dim_type> l = labeled_.next();
    try {
      return {std::move(l), unlabeled_.next()};
    } catch (...) {
      labeled_.seek(at);
      throw;
    }
  }
  void seek(std::size_t s) {
    labeled_.seek(s);
    unlabeled_.seek(s);
  }
  Loader<L>& labeled() { return labeled_; }
  Loader<U>& unlabeled() { return unlabeled_; }

 private:
  Loader<L>& labeled_;
  Loader<U>& unlabeled_;
};

}  // namespace semiseg::data
