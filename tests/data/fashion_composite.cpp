#include "semiseg/data/fashion_composite.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <thread>
#include <vector>

namespace semiseg::test {

using data::CompositeItem;
using data::CompositeOptions;
using data::CompositeSplit;
using data::FashionComposite;
using data::FashionMnist;
using data::Split;

static_assert(data::Dataset<FashionComposite<dim2>>);
static_assert(data::Dataset<FashionComposite<dim3>>);

// The real data, loaded once per program.
const FashionMnist& real(Split split) {
  const std::filesystem::path root = data::fashion_mnist_root();
  REQUIRE_MESSAGE(std::filesystem::exists(root / "train-images-idx3-ubyte.gz"),
                  "Fashion-MNIST is missing from " << root.string()
                      << ": install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) "
                         "or set SEMISEG_FASHION_MNIST");
  static const FashionMnist train(Split::train), test(Split::test);
  return split == Split::train ? train : test;
}

template <class Dim>
bool same(const data::Sample<Dim>& a, const data::Sample<Dim>& b) {
  return a.image == b.image && a.mask == b.mask && a.instances == b.instances && a.index == b.index;
}

// Checks sample i against its plan: every pixel belongs to the last item whose footprint covers
// it, the visible items get ids 1..k in draw order, and the masks agree with each other.
template <class Dim>
void check_sample(const FashionComposite<Dim>& ds, std::size_t i) {
  const data::Sample<Dim> s = ds.get(i);
  const std::vector<CompositeItem> plan = ds.plan(i);
  const std::size_t n = s.mask.size();
  REQUIRE(s.image.size() == n);
  REQUIRE(s.instances.size() == n);
  CHECK(s.channels() == 1);
  CHECK_FALSE(s.has_label());
  CHECK(s.index == i);
  CHECK(plan.size() >= ds.options().min_items);
  CHECK(plan.size() <= ds.options().max_items);

  std::vector<std::size_t> owner(n, 0);
  for (std::size_t k = 0; k < plan.size(); ++k) {
    const data::LabelMap<Dim> f = ds.footprint(plan[k]);
    REQUIRE(f.size() == n);
    std::size_t area = 0;
    for (std::size_t p = 0; p < n; ++p)
      if (f.data()[p]) {
        owner[p] = k + 1;
        ++area;
      }
    CHECK_MESSAGE(area > 0, "item " << k << " of sample " << i << " has no foreground");
  }
  std::vector<std::int32_t> id(plan.size() + 1, 0);
  for (std::size_t p = 0; p < n; ++p) id[owner[p]] = 1;
  std::int32_t next = 0;
  for (std::size_t k = 1; k <= plan.size(); ++k) id[k] = id[k] ? ++next : 0;
  // The last item is on top of everything, so it is always visible.
  if (!plan.empty()) CHECK(id[plan.size()] == next);

  std::size_t wrong_mask = 0, wrong_instance = 0, mask_instance_disagree = 0, out_of_range = 0;
  std::vector<std::set<std::int32_t>> classes_of(static_cast<std::size_t>(next) + 1);
  for (std::size_t p = 0; p < n; ++p) {
    const std::int32_t m = s.mask.data()[p], ins = s.instances.data()[p];
    const float v = s.image.data()[p];
    const std::int32_t expected = owner[p] ? 1 + plan[owner[p] - 1].label : 0;
    wrong_mask += m != expected;
    wrong_instance += ins != (owner[p] ? id[owner[p]] : 0);
    mask_instance_disagree += (m == 0) != (ins == 0);
    out_of_range += !(v >= 0.0f && v <= 1.0f) || m < 0 || m > 10 || ins < 0 || ins > next;
    if (ins >= 0 && ins <= next) classes_of[static_cast<std::size_t>(ins)].insert(m);
  }
  CHECK(wrong_mask == 0);
  CHECK(wrong_instance == 0);
  CHECK(mask_instance_disagree == 0);
  CHECK(out_of_range == 0);
  for (std::int32_t k = 1; k <= next; ++k)
    CHECK_MESSAGE(classes_of[static_cast<std::size_t>(k)].size() == 1, "instance " << k << " of sample " << i);
}

TEST_CASE_TEMPLATE("fashion_composite: samples are reproducible and differ by index, seed and split", Dim, dim2,
                   dim3) {
  const FashionComposite<Dim> a(real(Split::train), CompositeSplit::train);
  const FashionComposite<Dim> b(real(Split::train), CompositeSplit::train);
  const data::Sample<Dim> s = a.get(5);
  if constexpr (Dim::spatial == 2) {
    CHECK(s.image.shape() == std::array<std::size_t, 3>{1, 64, 64});
  } else {
    CHECK(s.image.shape() == std::array<std::size_t, 4>{1, 32, 64, 64});
  }
  CHECK(same(s, a.get(5)));
  CHECK(same(s, b.get(5)));
  CHECK_FALSE(a.get(6).image == s.image);
  CompositeOptions<Dim> reseeded;
  reseeded.seed = 1;
  CHECK_FALSE(FashionComposite<Dim>(real(Split::train), CompositeSplit::train, reseeded).get(5).image == s.image);
  CHECK_FALSE(FashionComposite<Dim>(real(Split::train), CompositeSplit::validation).get(5).image == s.image);
  CHECK(a.size() == 2000);
  CHECK(FashionComposite<Dim>(real(Split::train), CompositeSplit::validation).size() == 500);
  CHECK(FashionComposite<Dim>(real(Split::test), CompositeSplit::test).size() == 500);
  CHECK_THROWS_AS(a.get(2000), value_error);
}

TEST_CASE("fashion_composite: 2D masks follow the draw order and occlusion") {
  const FashionComposite<dim2> ds(real(Split::train), CompositeSplit::train);
  std::size_t hidden = 0, multi = 0;
  for (std::size_t i = 0; i < 150; ++i) {
    check_sample(ds, i);
    const data::Sample<dim2> s = ds.get(i);
    const auto visible = static_cast<std::size_t>(*std::max_element(s.instances.begin(), s.instances.end()));
    hidden += ds.plan(i).size() - visible;
    multi += visible > 1;
  }
  // The defaults make overlapping scenes common, and some items end up fully hidden.
  CHECK(multi > 50);
  CHECK(hidden > 0);
}

TEST_CASE("fashion_composite: 3D masks follow the draw order and items vary through depth") {
  const FashionComposite<dim3> ds(real(Split::train), CompositeSplit::train);
  for (std::size_t i = 0; i < 6; ++i) {
    check_sample(ds, i);
    const std::vector<CompositeItem> plan = ds.plan(i);
    REQUIRE_FALSE(plan.empty());
    const CompositeItem& last = plan.back();
    const data::LabelMap<dim3> f = ds.footprint(last);
    std::vector<std::size_t> area(32, 0);
    for (std::size_t z = 0; z < 32; ++z)
      for (std::size_t p = 0; p < 64 * 64; ++p) area[z] += static_cast<std::size_t>(f.data()[z * 64 * 64 + p]);
    const auto centre = static_cast<std::size_t>(last.centre_z);
    const auto off = static_cast<std::size_t>(last.centre_z + 0.7 * last.half_depth);
    CHECK(area[centre] > 0);
    CHECK(area[off] > 0);
    CHECK(static_cast<double>(area[centre]) > 1.3 * static_cast<double>(area[off]));
    for (std::size_t z = 0; z < 32; ++z)
      if (static_cast<double>(z) + 0.5 <= last.centre_z - last.half_depth ||
          static_cast<double>(z) + 0.5 >= last.centre_z + last.half_depth)
        CHECK(area[z] == 0);
  }
}

TEST_CASE("fashion_composite: train and validation draw from disjoint training images, test from test images") {
  const FashionComposite<dim2> train(real(Split::train), CompositeSplit::train);
  const FashionComposite<dim2> validation(real(Split::train), CompositeSplit::validation);
  const FashionComposite<dim2> test(real(Split::test), CompositeSplit::test);
  CHECK(train.pool() == std::pair<std::size_t, std::size_t>{0, 50000});
  CHECK(validation.pool() == std::pair<std::size_t, std::size_t>{50000, 60000});
  CHECK(test.pool() == std::pair<std::size_t, std::size_t>{0, 10000});
  CHECK(test.items().split() == Split::test);
  std::size_t train_max = 0, validation_min = 60000, test_max = 0;
  for (std::size_t i = 0; i < 500; ++i) {
    for (const CompositeItem& it : train.plan(i)) train_max = std::max(train_max, it.source);
    for (const CompositeItem& it : validation.plan(i)) validation_min = std::min(validation_min, it.source);
    for (const CompositeItem& it : test.plan(i)) {
      test_max = std::max(test_max, it.source);
      CHECK(it.label == real(Split::test).label(it.source));
    }
  }
  CHECK(train_max < 50000);
  CHECK(train_max > 45000);  // drawn from the whole pool, not its start
  CHECK(validation_min >= 50000);
  CHECK(test_max < 10000);
  CHECK(test_max > 9000);
  CHECK_THROWS_AS(FashionComposite<dim2>(real(Split::train), CompositeSplit::test), value_error);
  CHECK_THROWS_AS(FashionComposite<dim2>(real(Split::test), CompositeSplit::validation), value_error);
}

TEST_CASE("fashion_composite: an in-memory item is drawn with its holes filled, exactly at scale 1") {
  // A ring: a bright 20×20 square outline two pixels wide around a dark interior.
  std::vector<std::uint8_t> pixels(2 * 28 * 28, 0);
  for (std::size_t y = 4; y < 24; ++y)
    for (std::size_t x = 4; x < 24; ++x)
      if (y < 6 || y >= 22 || x < 6 || x >= 22) pixels[y * 28 + x] = 200;
  std::copy(pixels.begin(), pixels.begin() + 784, pixels.begin() + 784);
  const FashionMnist items(pixels, {3, 3});
  CompositeOptions<dim2> o;
  o.shape = {28, 28};
  o.min_items = o.max_items = 1;
  o.min_scale = o.max_scale = 1.0;
  o.min_contrast = o.max_contrast = 1.0;
  o.noise_sigma = 0.0;
  o.background_amplitude = 0.0;
  o.validation_items = 1;
  const FashionComposite<dim2> ds(items, CompositeSplit::train, o);
  const data::Sample<dim2> s = ds.get(0);
  std::size_t area = 0, wrong = 0;
  for (std::size_t y = 0; y < 28; ++y)
    for (std::size_t x = 0; x < 28; ++x) {
      const bool inside = y >= 4 && y < 24 && x >= 4 && x < 24;
      area += s.mask(y, x) != 0;
      wrong += s.mask(y, x) != (inside ? 4 : 0);
      wrong += s.instances(y, x) != (inside ? 1 : 0);
      wrong += std::abs(s.image(0, y, x) - static_cast<float>(pixels[y * 28 + x]) / 255.0f) > 1e-6f;
    }
  CHECK(area == 400);
  CHECK(wrong == 0);
  CHECK(ds.pool() == std::pair<std::size_t, std::size_t>{0, 1});
}

TEST_CASE("fashion_composite: the background is textured and noisy by default, and flat without either") {
  CompositeOptions<dim2> plain;
  plain.noise_sigma = 0.0;
  plain.background_amplitude = 0.0;
  const FashionComposite<dim2> flat(real(Split::train), CompositeSplit::train, plain);
  const FashionComposite<dim2> textured(real(Split::train), CompositeSplit::train);
  std::size_t lit_far = 0;
  double sum = 0, sum2 = 0, count = 0;
  for (std::size_t i = 0; i < 20; ++i) {
    const data::Sample<dim2> a = flat.get(i), b = textured.get(i);
    CHECK(a.mask == b.mask);  // texture and noise change the image only
    const std::vector<CompositeItem> plan = flat.plan(i);
    for (std::size_t y = 0; y < 64; ++y)
      for (std::size_t x = 0; x < 64; ++x) {
        // Pixels outside every item's 28×28 box, whatever its content.
        bool far = true;
        for (const CompositeItem& it : plan)
          far = far && (std::abs(static_cast<double>(y) + 0.5 - it.centre_y) >= 14.5 * it.scale ||
                        std::abs(static_cast<double>(x) + 0.5 - it.centre_x) >= 14.5 * it.scale);
        if (!far) continue;
        lit_far += a.image(0, y, x) != 0.0f;
        sum += b.image(0, y, x);
        sum2 += static_cast<double>(b.image(0, y, x)) * b.image(0, y, x);
        ++count;
      }
  }
  CHECK(lit_far == 0);
  REQUIRE(count > 1000);
  const double mean = sum / count, spread = std::sqrt(sum2 / count - mean * mean);
  CHECK(mean > 0.1);
  CHECK(mean < 0.35);
  CHECK(spread > 0.08);
}

TEST_CASE("fashion_composite: get is safe from several threads and gives the sequential result") {
  CompositeOptions<dim3> o;
  o.shape = {8, 32, 32};
  o.max_scale = 1.1;
  o.min_half_depth = 2;
  o.max_half_depth = 4;
  const FashionComposite<dim3> ds(real(Split::train), CompositeSplit::train, o);
  std::vector<data::Sample<dim3>> parallel(16);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (std::size_t i = t; i < parallel.size(); i += 2) parallel[i] = ds.get(i);
    });
  for (std::thread& t : threads) t.join();
  for (std::size_t i = 0; i < parallel.size(); ++i) CHECK(same(parallel[i], ds.get(i)));
  CHECK(FashionComposite<dim3>::class_names()[0] == "background");
  CHECK(FashionComposite<dim3>::class_names()[10] == "Ankle boot");
}

TEST_CASE("fashion_composite: bad options are value_errors") {
  const FashionMnist& train = real(Split::train);
  auto with = [](auto change) {
    CompositeOptions<dim2> o;
    change(o);
    return o;
  };
  CHECK_THROWS_AS(FashionComposite<dim2>(train, CompositeSplit::train, with([](auto& o) { o.max_scale = 3.0; })),
                  value_error);
  CHECK_THROWS_AS(FashionComposite<dim2>(train, CompositeSplit::train, with([](auto& o) { o.min_items = 5; })),
                  value_error);
  CHECK_THROWS_AS(FashionComposite<dim2>(train, CompositeSplit::train, with([](auto& o) { o.threshold = 1.0; })),
                  value_error);
  CHECK_THROWS_AS(
      FashionComposite<dim2>(train, CompositeSplit::train, with([](auto& o) { o.validation_items = 60000; })),
      value_error);
  CHECK_THROWS_AS(FashionComposite<dim2>(train, CompositeSplit::train, with([](auto& o) { o.shape = {64, 0}; })),
                  value_error);
  CompositeOptions<dim3> deep;
  deep.max_half_depth = 17;
  CHECK_THROWS_AS(FashionComposite<dim3>(train, CompositeSplit::train, deep), value_error);
}

}  // namespace semiseg::test
