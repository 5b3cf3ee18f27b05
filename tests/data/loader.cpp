#include "semiseg/data/loader.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <vector>

namespace semiseg::test {

using data::Batch;
using data::Loader;
using data::LoaderOptions;
using data::Rng;
using data::Sample;

// Sample i: a 2-channel image whose values encode (i, position), a mask and an instance map that
// encode i, and label i % 10. Optionally fails at one index, or varies its size.
template <SpatialDimension Dim>
struct CountingDataset {
  using dim_type = Dim;
  std::size_t count = 20;
  std::size_t fail_at = SIZE_MAX;
  std::size_t odd_size_at = SIZE_MAX;
  bool labeled = true;
  std::size_t size() const { return count; }
  Sample<Dim> get(std::size_t i) const {
    if (i == fail_at) throw io_error("counting dataset: sample " + std::to_string(i) + " is unreadable");
    const std::size_t side = i == odd_size_at ? 5 : 4;
    std::array<std::size_t, Dim::spatial + 1> shape;
    std::array<std::size_t, Dim::spatial> spatial;
    shape[0] = 2;
    for (int a = 0; a < Dim::spatial; ++a) shape[static_cast<std::size_t>(a) + 1] = spatial[static_cast<std::size_t>(a)] = side;
    Sample<Dim> s;
    s.image = data::Image<Dim>::from_shape(shape);
    for (std::size_t k = 0; k < s.image.size(); ++k) s.image.data()[k] = static_cast<float>(i * 1000 + k);
    if (labeled) {
      s.mask = data::LabelMap<Dim>::from_shape(spatial);
      s.mask.fill(static_cast<std::int32_t>(i));
      s.instances = data::LabelMap<Dim>::from_shape(spatial);
      s.instances.fill(static_cast<std::int32_t>(i + 1));
      s.label = static_cast<std::int32_t>(i % 10);
    }
    s.index = i;
    return s;
  }
};

// A transform that uses the Rng: adds a per-sample random offset to the image.
template <SpatialDimension Dim>
void jitter(Sample<Dim>& s, Rng& rng) {
  const float offset = static_cast<float>(rng.uniform());
  for (auto& v : s.image) v += offset;
}

template <SpatialDimension Dim>
void negate(Sample<Dim>& s, Rng& rng) {
  const float scale = -1.0f - static_cast<float>(rng.uniform());
  for (auto& v : s.image) v *= scale;
}

template <class T, class Dev, class Dim>
std::vector<T> values(const Tensor<T, Dev, Dim>& t) {
  return std::vector<T>(t.data(), t.data() + t.size());
}

template <SpatialDimension Dim>
void expect_same(const Batch<Dim>& a, const Batch<Dim>& b) {
  CHECK(a.indices == b.indices);
  CHECK(a.labels == b.labels);
  CHECK(a.epoch == b.epoch);
  CHECK(a.iteration == b.iteration);
  CHECK(a.step == b.step);
  CHECK(a.images.shape() == b.images.shape());
  CHECK(values(a.images) == values(b.images));
  CHECK(values(a.strong_images) == values(b.strong_images));
  CHECK(values(a.masks) == values(b.masks));
  CHECK(values(a.instances) == values(b.instances));
}

TEST_CASE_TEMPLATE("loader batches hold the samples of a shuffled epoch, stacked", Dim, dim2, dim3) {
  CountingDataset<Dim> dataset;
  Loader loader(dataset, {.batch_size = 6, .seed = 3, .threads = 2}, jitter<Dim>);
  CHECK(loader.batches_per_epoch() == 3);
  std::set<std::size_t> seen;
  for (std::size_t it = 0; it < 3; ++it) {
    Batch<Dim> b = loader.next();
    REQUIRE(b.size() == 6);
    CHECK(b.epoch == 0);
    CHECK(b.iteration == it);
    CHECK(b.images.shape()[0] == 6);
    CHECK(b.images.shape()[1] == 2);
    CHECK(b.masks.shape()[1] == 1);
    const index_t plane = b.masks.plane();
    for (std::size_t k = 0; k < b.size(); ++k) {
      const std::size_t i = b.indices[k];
      seen.insert(i);
      CHECK(b.labels[k] == static_cast<std::int32_t>(i % 10));
      CHECK(b.masks.data()[static_cast<index_t>(k) * plane] == static_cast<std::int32_t>(i));
      CHECK(b.instances.data()[static_cast<index_t>(k) * plane + plane - 1] == static_cast<std::int32_t>(i + 1));
      // Image values are i*1000 + position plus one offset in [0, 1) for the whole sample.
      const float* img = b.images.data() + static_cast<index_t>(k) * 2 * plane;
      const float offset = img[0] - static_cast<float>(i * 1000);
      CHECK(offset >= 0.0f);
      CHECK(offset < 1.0f);
      CHECK(img[2 * plane - 1] == doctest::Approx(static_cast<float>(i * 1000) + static_cast<float>(2 * plane - 1) + offset));
    }
  }
  // 18 of the 20 samples in epoch 0, the last two dropped; epoch 1 starts over in a new order.
  CHECK(seen.size() == 18);
  Batch<Dim> b = loader.next();
  CHECK(b.epoch == 1);
  CHECK(b.iteration == 0);
  CHECK(b.step == 3);
  CHECK(loader.epoch_order(0) != loader.epoch_order(1));
  CHECK(*loader.epoch_order(0) != *loader.epoch_order(1));
}

TEST_CASE_TEMPLATE("loader output is the same for 0, 1, 2 and 3 threads", Dim, dim2, dim3) {
  CountingDataset<Dim> dataset;
  dataset.count = 23;
  const LoaderOptions base{.batch_size = 4, .drop_last = false, .seed = 11, .threads = 0};
  Loader reference(dataset, base, jitter<Dim>, negate<Dim>);
  std::vector<Batch<Dim>> expected;
  for (int s = 0; s < 14; ++s) expected.push_back(reference.next());
  // The last batch of an epoch is smaller when drop_last is off.
  CHECK(expected[5].size() == 3);
  CHECK(expected[6].epoch == 1);
  for (std::size_t threads : {1u, 2u, 3u}) {
    CAPTURE(threads);
    LoaderOptions options = base;
    options.threads = threads;
    options.prefetch = 3;
    Loader loader(dataset, options, jitter<Dim>, negate<Dim>);
    for (const Batch<Dim>& e : expected) expect_same(loader.next(), e);
  }
}

TEST_CASE("the strong view is made from the weak view, so the two stay aligned") {
  CountingDataset<dim2> dataset;
  Loader loader(dataset, {.batch_size = 4, .seed = 5, .threads = 1}, jitter<dim2>, negate<dim2>);
  Batch<dim2> b = loader.next();
  REQUIRE(b.has_strong());
  const std::vector<float> weak = values(b.images), strong = values(b.strong_images);
  const std::size_t per_sample = weak.size() / b.size();
  for (std::size_t k = 0; k < b.size(); ++k) {
    // strong = weak × one factor in (-2, -1] per sample.
    const float factor = strong[k * per_sample + 1] / weak[k * per_sample + 1];
    CHECK(factor <= -1.0f);
    CHECK(factor > -2.0f);
    for (std::size_t j = 0; j < per_sample; ++j)
      CHECK(strong[k * per_sample + j] == doctest::Approx(weak[k * per_sample + j] * factor));
  }
}

TEST_CASE("seek(s) resumes with the batches an uninterrupted loader gives") {
  CountingDataset<dim3> dataset;
  Loader uninterrupted(dataset, {.batch_size = 3, .seed = 9, .threads = 2}, jitter<dim3>);
  std::vector<Batch<dim3>> expected;
  for (int s = 0; s < 12; ++s) expected.push_back(uninterrupted.next());
  Loader resumed(dataset, {.batch_size = 3, .seed = 9, .threads = 2}, jitter<dim3>);
  resumed.seek(7);
  CHECK(resumed.position() == 7);
  CHECK(resumed.epoch() == 1);
  CHECK(resumed.iteration() == 1);
  for (std::size_t s = 7; s < 12; ++s) expect_same(resumed.next(), expected[s]);
  // Seeking back while prepared batches are pending discards them.
  resumed.seek(2);
  expect_same(resumed.next(), expected[2]);
}

TEST_CASE("without shuffling the loader visits the dataset in order, and seeds change the order") {
  CountingDataset<dim2> dataset;
  Loader ordered(dataset, {.batch_size = 5, .shuffle = false, .threads = 0});
  CHECK(ordered.next().indices == std::vector<std::size_t>{0, 1, 2, 3, 4});
  CHECK(ordered.next().indices == std::vector<std::size_t>{5, 6, 7, 8, 9});
  Loader a(dataset, {.batch_size = 5, .seed = 1, .threads = 0}), b(dataset, {.batch_size = 5, .seed = 2, .threads = 0});
  CHECK(*a.epoch_order(0) != *b.epoch_order(0));
  std::vector<std::size_t> sorted = *a.epoch_order(4);
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == *ordered.epoch_order(0));
}

TEST_CASE("a worker's error reaches the caller as the same typed error, and the step is tried again") {
  CountingDataset<dim2> dataset;
  dataset.fail_at = 7;
  for (std::size_t threads : {0u, 2u}) {
    CAPTURE(threads);
    Loader loader(dataset, {.batch_size = 4, .shuffle = false, .threads = threads});
    CHECK(loader.next().indices.front() == 0);
    CHECK_THROWS_AS(loader.next(), io_error);
    CHECK(loader.position() == 1);
    CHECK_THROWS_WITH_AS(loader.next(), doctest::Contains("sample 7 is unreadable"), io_error);
    // Skipping the bad batch continues the run.
    loader.seek(2);
    CHECK(loader.next().indices.front() == 8);
  }
}

// Fails the first `failures` reads of sample 5, then reads it: a brief I/O problem.
struct FlakyDataset : CountingDataset<dim2> {
  std::shared_ptr<std::atomic<int>> failures = std::make_shared<std::atomic<int>>(1);
  Sample<dim2> get(std::size_t i) const {
    if (i == 5 && failures->fetch_sub(1) > 0) throw io_error("flaky dataset: sample 5 is not there yet");
    return CountingDataset<dim2>::get(i);
  }
};

TEST_CASE("after a brief read error the same batch comes on the next call, for any thread count") {
  for (std::size_t threads : {0u, 1u, 2u}) {
    CAPTURE(threads);
    FlakyDataset dataset;
    Loader loader(dataset, {.batch_size = 3, .shuffle = false, .threads = threads});
    CHECK(loader.next().step == 0);
    CHECK_THROWS_AS(loader.next(), io_error);
    const Batch<dim2> b = loader.next();
    CHECK(b.step == 1);
    CHECK(b.indices == std::vector<std::size_t>{3, 4, 5});
  }
}

TEST_CASE("samples that do not stack give a shape error naming the sample") {
  CountingDataset<dim2> dataset;
  dataset.odd_size_at = 2;
  Loader loader(dataset, {.batch_size = 4, .shuffle = false, .threads = 0});
  CHECK_THROWS_WITH_AS(loader.next(), doctest::Contains("sample 2 is 2x5x5"), shape_error);
}

TEST_CASE("bad loader options are refused") {
  CountingDataset<dim2> dataset;
  CHECK_THROWS_AS(Loader(dataset, {.batch_size = 0}), value_error);
  CHECK_THROWS_WITH_AS(Loader(dataset, {.batch_size = 21}), doctest::Contains("fewer than one batch"), value_error);
  CountingDataset<dim2> empty;
  empty.count = 0;
  CHECK_THROWS_AS(Loader(empty, {.batch_size = 1}), value_error);
}

TEST_CASE("unlabeled samples give batches without masks or labels") {
  CountingDataset<dim2> dataset;
  dataset.labeled = false;
  Loader loader(dataset, {.batch_size = 4, .threads = 0});
  Batch<dim2> b = loader.next();
  CHECK_FALSE(b.has_masks());
  CHECK_FALSE(b.has_instances());
  CHECK_FALSE(b.has_labels());
  CHECK(b.images.size() == 4 * 2 * 16);
}

TEST_CASE("the semi-supervised loader runs two streams with their own batch sizes and epochs") {
  CountingDataset<dim2> labeled;
  labeled.count = 8;
  CountingDataset<dim2> unlabeled;
  unlabeled.labeled = false;
  unlabeled.count = 40;
  Loader l(labeled, {.batch_size = 4, .seed = 1, .threads = 1});
  Loader u(unlabeled, {.batch_size = 12, .seed = 2, .threads = 1});
  data::SemiSupervisedLoader both(l, u);
  for (int s = 0; s < 5; ++s) {
    auto step = both.next();
    CHECK(step.labeled.size() == 4);
    CHECK(step.unlabeled.size() == 12);
    CHECK(step.labeled.has_masks());
    CHECK_FALSE(step.unlabeled.has_masks());
    CHECK(step.labeled.epoch == static_cast<std::size_t>(s / 2));
    CHECK(step.unlabeled.epoch == static_cast<std::size_t>(s / 3));
  }
}

TEST_CASE("the semi-supervised loader refuses shared seeds and keeps its streams in step after an error") {
  CountingDataset<dim2> labeled;
  FlakyDataset unlabeled;
  unlabeled.labeled = false;
  Loader l(labeled, {.batch_size = 2, .shuffle = false, .seed = 1, .threads = 1});
  Loader same(unlabeled, {.batch_size = 3, .shuffle = false, .seed = 1, .threads = 1});
  CHECK_THROWS_WITH_AS(data::SemiSupervisedLoader(l, same), doctest::Contains("share seed 1"), value_error);
  Loader u(unlabeled, {.batch_size = 3, .shuffle = false, .seed = 2, .threads = 1});
  data::SemiSupervisedLoader both(l, u);
  CHECK(both.next().labeled.step == 0);
  CHECK_THROWS_AS(both.next(), io_error);  // the unlabeled batch {3, 4, 5} fails once
  CHECK(l.position() == 1);
  auto step = both.next();
  CHECK(step.labeled.step == 1);
  CHECK(step.unlabeled.step == 1);
  CHECK(step.unlabeled.indices == std::vector<std::size_t>{3, 4, 5});
}

}  // namespace semiseg::test
