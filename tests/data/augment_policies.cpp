#include "semiseg/data/augment/policies.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

TYPE_TO_STRING_AS("dim2", semiseg::dim2);
TYPE_TO_STRING_AS("dim3", semiseg::dim3);

namespace semiseg::test {

namespace aug = data::aug;
using aug::RandAugmentOp;
using data::Rng;
using data::Sample;

template <SpatialDimension Dim>
using Shape = data::SpatialShape<Dim>;

constexpr float fill = -1.0f;

template <SpatialDimension Dim>
Shape<Dim> shape3(std::size_t d, std::size_t h, std::size_t w) {
  const std::array<std::size_t, 3> all{d, h, w};
  Shape<Dim> s{};
  for (std::size_t a = 0; a < s.size(); ++a) s[a] = all[3 - s.size() + a];
  return s;
}

// A C-channel sample whose channel 0 holds each pixel's flat index (the other channels that
// plus 1000·c), whose mask is the index too and whose instances are index + 1, so any
// misalignment between the three shows.
template <SpatialDimension Dim>
Sample<Dim> coded_sample(const Shape<Dim>& shape, std::size_t channels = 2) {
  std::array<std::size_t, Dim::spatial + 1> image_shape{};
  image_shape[0] = channels;
  std::copy(shape.begin(), shape.end(), image_shape.begin() + 1);
  Sample<Dim> s;
  s.image = data::Image<Dim>::from_shape(image_shape);
  s.mask = data::LabelMap<Dim>::from_shape(shape);
  s.instances = data::LabelMap<Dim>::from_shape(shape);
  const std::size_t n = s.mask.size();
  for (std::size_t c = 0; c < channels; ++c)
    for (std::size_t i = 0; i < n; ++i) s.image.data()[c * n + i] = static_cast<float>(1000 * c + i);
  for (std::size_t i = 0; i < n; ++i) {
    s.mask.data()[i] = static_cast<std::int32_t>(i);
    s.instances.data()[i] = static_cast<std::int32_t>(i + 1);
  }
  return s;
}

// The mask and instances agree everywhere (filled: ignore_label and 0).
template <SpatialDimension Dim>
bool labels_aligned(const Sample<Dim>& s) {
  bool ok = s.mask.shape() == s.instances.shape();
  for (std::size_t i = 0; ok && i < s.mask.size(); ++i) {
    const std::int32_t m = s.mask.data()[i], k = s.instances.data()[i];
    ok = m == data::ignore_label ? k == 0 : k == m + 1;
  }
  return ok;
}

// Image channel 0 holds the mask's value (fill where the mask is ignore_label); returns the
// source index of every output pixel, -1 where filled.
template <SpatialDimension Dim>
std::vector<std::int64_t> aligned_sources(const Sample<Dim>& s, float fill_value = fill) {
  REQUIRE(labels_aligned(s));
  const std::size_t n = s.mask.size(), c = s.channels();
  std::vector<std::int64_t> source(n);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::int32_t m = s.mask.data()[i];
    for (std::size_t k = 0; k < c; ++k) {
      const float expected = m == data::ignore_label ? fill_value : static_cast<float>(1000 * k) + static_cast<float>(m);
      bad += s.image.data()[k * n + i] != expected;
    }
    source[i] = m == data::ignore_label ? -1 : m;
  }
  INFO("misaligned values: " << bad);
  CHECK(bad == 0);
  return source;
}

// An RGB-like sample with values in [0, 1] and a coded mask and instance map.
template <SpatialDimension Dim>
Sample<Dim> photo_sample(const Shape<Dim>& shape, std::size_t channels = 3) {
  Sample<Dim> s = coded_sample<Dim>(shape, channels);
  const std::size_t n = s.mask.size();
  for (std::size_t i = 0; i < s.image.size(); ++i)
    s.image.data()[i] = static_cast<float>(0.5 + 0.45 * std::sin(0.21 * static_cast<double>(i) + static_cast<double>(i / n)));
  return s;
}

TEST_CASE_TEMPLATE("RandAugment's geometric operations move image, mask and instances together", Dim, dim2, dim3) {
  const auto shape = shape3<Dim>(3, 13, 16);
  for (RandAugmentOp op : {RandAugmentOp::rotate, RandAugmentOp::shear_x, RandAugmentOp::shear_y,
                           RandAugmentOp::translate_x, RandAugmentOp::translate_y}) {
    int moved = 0;
    for (std::uint32_t lane = 0; lane < 20; ++lane) {
      Sample<Dim> s = coded_sample<Dim>(shape);
      Rng rng(1, data::streams::augment, 0, lane);
      aug::RandAugment{.n = 2, .ops = {op}, .fill = fill}(s, rng);
      CHECK(s.spatial_shape() == shape);
      const auto src = aligned_sources(s);
      bool identity = true;
      for (std::size_t i = 0; i < src.size(); ++i) identity = identity && src[i] == static_cast<std::int64_t>(i);
      moved += !identity;
      // In-plane in 3D: every pixel stays in its slice.
      const std::size_t plane = shape[shape.size() - 1] * shape[shape.size() - 2];
      bool in_slice = true;
      for (std::size_t i = 0; i < src.size(); ++i)
        in_slice = in_slice && (src[i] < 0 || static_cast<std::size_t>(src[i]) / plane == i / plane);
      CHECK(in_slice);
    }
    CHECK(moved >= 18);
  }
}

TEST_CASE_TEMPLATE("The full RandAugment list keeps mask and instances aligned and applies n operations", Dim, dim2,
                   dim3) {
  const auto shape = shape3<Dim>(2, 12, 12);
  for (std::uint32_t lane = 0; lane < 60; ++lane) {
    Sample<Dim> s = photo_sample<Dim>(shape);
    Rng rng(2, data::streams::augment, 0, lane);
    aug::RandAugment{}(s, rng);
    CHECK(labels_aligned(s));
    bool finite = true;
    for (std::size_t i = 0; i < s.image.size(); ++i) finite = finite && std::isfinite(s.image.data()[i]);
    CHECK(finite);
  }
  // Two shifts of up to a quarter of the width add up to more than one could.
  std::int64_t largest = 0;
  for (std::uint32_t lane = 0; lane < 200; ++lane) {
    Sample<Dim> s = coded_sample<Dim>(shape3<Dim>(1, 2, 64));
    Rng rng(3, data::streams::augment, 0, lane);
    aug::RandAugment{.ops = {RandAugmentOp::translate_x}, .max_translate = 0.25, .fill = fill}(s, rng);
    const auto src = aligned_sources(s);
    for (std::size_t x = 0; x < 64; ++x)
      if (src[x] >= 0) {
        largest = std::max<std::int64_t>(largest, std::abs(static_cast<std::int64_t>(x) - src[x]));
        break;
      }
  }
  CHECK(largest > 16);
  CHECK(largest <= 32);
  Sample<Dim> s = coded_sample<Dim>(shape);
  const Sample<Dim> original = s;
  Rng rng(4, data::streams::augment);
  aug::RandAugment{.n = 5, .ops = {RandAugmentOp::identity}}(s, rng);
  CHECK(s.image == original.image);
  CHECK_THROWS_AS((aug::RandAugment{.ops = {}}(s, rng)), value_error);
  CHECK_THROWS_AS((aug::RandAugment{.min_factor = 1.0, .max_factor = 0.5}(s, rng)), value_error);
}

// Reference values from PIL 9.4 on an 8-bit 9×11 image holding 1..99 (here 0..98, fill −1).
TEST_CASE_TEMPLATE("RandAugment's rotate and shear match PIL's nearest-neighbour transforms", Dim, dim2, dim3) {
  const auto shape = shape3<Dim>(2, 9, 11);
  const auto run = [&](const aug::RandAugment& ra, RandAugmentOp op, double m) {
    Sample<Dim> s = coded_sample<Dim>(shape, 1);
    ra.apply(s, op, m);
    const auto src = aligned_sources(s);
    // Both slices of a volume turn alike.
    std::vector<std::int64_t> first(src.begin(), src.begin() + 99);
    for (std::size_t i = 99; i < src.size(); ++i) CHECK(src[i] == (first[i % 99] < 0 ? -1 : first[i % 99] + 99));
    return first;
  };
  const std::vector<std::int64_t> rotate17{
      -1, -1, -1, 4,  5,  6,  7,  19, 20, 21, -1, 1,  2,  3,  15, 16, 17, 18, 30, 31, 32, -1, 12, 13, 14,
      26, 27, 28, 29, 40, 41, 42, 54, 23, 23, 24, 25, 37, 38, 39, 51, 52, 53, 65, 33, 34, 35, 36, 48, 49,
      50, 62, 63, 64, 65, 33, 45, 46, 47, 59, 60, 61, 73, 74, 75, 75, 44, 56, 57, 58, 69, 70, 71, 72, 84,
      85, 86, -1, 66, 67, 68, 80, 81, 82, 83, 95, 96, 97, -1, 77, 78, 79, 91, 92, 93, 94, -1, -1, -1};
  const std::vector<std::int64_t> rotate_minus23{
      -1, 22, 12, 13, 14, 3,  4,  5,  -1, -1, -1, -1, 33, 23, 24, 25, 15, 16, 6,  7,  8,  -1, 44, 45, 34,
      35, 36, 26, 27, 17, 18, 19, 9,  55, 56, 46, 47, 37, 38, 39, 28, 29, 30, 20, 66, 67, 57, 58, 48, 49,
      50, 40, 41, 31, 32, 78, 68, 69, 70, 59, 60, 61, 51, 52, 42, 43, 89, 79, 80, 81, 71, 72, 62, 63, 64,
      53, 54, -1, 90, 91, 92, 82, 83, 73, 74, 75, 65, -1, -1, -1, -1, 93, 94, 95, 84, 85, 86, 76, -1};
  const std::vector<std::int64_t> rotate90{
      -1, 9,  20, 31, 42, 53, 64, 75, 86, 97, -1, -1, 8,  19, 30, 41, 52, 63, 74, 85, 96, -1, -1, 7,  18,
      29, 40, 51, 62, 73, 84, 95, -1, -1, 6,  17, 28, 39, 50, 61, 72, 83, 94, -1, -1, 5,  16, 27, 38, 49,
      60, 71, 82, 93, -1, -1, 4,  15, 26, 37, 48, 59, 70, 81, 92, -1, -1, 3,  14, 25, 36, 47, 58, 69, 80,
      91, -1, -1, 2,  13, 24, 35, 46, 57, 68, 79, 90, -1, -1, 1,  12, 23, 34, 45, 56, 67, 78, 89, -1};
  const std::vector<std::int64_t> shear_x{
      -1, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  -1, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24,
      25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49,
      50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74,
      75, 76, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, -1, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, -1};
  const std::vector<std::int64_t> shear_y{
      -1, -1, -1, 3,  4,  5,  6,  7,  19, 20, 21, 0,  1,  2,  14, 15, 16, 17, 18, 30, 31, 32, 11, 12, 13,
      25, 26, 27, 28, 29, 41, 42, 43, 22, 23, 24, 36, 37, 38, 39, 40, 52, 53, 54, 33, 34, 35, 47, 48, 49,
      50, 51, 63, 64, 65, 44, 45, 46, 58, 59, 60, 61, 62, 74, 75, 76, 55, 56, 57, 69, 70, 71, 72, 73, 85,
      86, 87, 66, 67, 68, 80, 81, 82, 83, 84, 96, 97, 98, 77, 78, 79, 91, 92, 93, 94, 95, -1, -1, -1};
  CHECK(run({.max_degrees = 17, .fill = fill}, RandAugmentOp::rotate, 1.0) == rotate17);
  CHECK(run({.max_degrees = 23, .fill = fill}, RandAugmentOp::rotate, 0.0) == rotate_minus23);
  CHECK(run({.max_degrees = 90, .fill = fill}, RandAugmentOp::rotate, 1.0) == rotate90);
  CHECK(run({.max_shear = 0.21, .fill = fill}, RandAugmentOp::shear_x, 1.0) == shear_x);
  CHECK(run({.max_shear = 0.21, .fill = fill}, RandAugmentOp::shear_y, 1.0) == shear_y);
}

// Reference values from PIL 9.4's ImageOps and ImageEnhance on 8-bit images.
TEST_CASE_TEMPLATE("RandAugment's intensity operations match PIL", Dim, dim2, dim3) {
  const std::vector<int> src{37,  90,  143, 196, 49, 102, 155, 208, 61,  114, 167, 20,  73, 126,
                             179, 32,  85,  138, 191, 44, 97,  150, 203, 56,  109, 162, 215, 68,
                             121, 174, 27,  80,  133, 186, 39, 92,  145, 198, 51,  104, 157, 210};
  const auto shape = shape3<Dim>(1, 6, 7);
  const auto run = [&](RandAugmentOp op, double m) {
    Sample<Dim> s = coded_sample<Dim>(shape, 1);
    for (std::size_t i = 0; i < src.size(); ++i) s.image.data()[i] = static_cast<float>(src[i]) / 255.0f;
    aug::RandAugment{}.apply(s, op, m);
    CHECK(labels_aligned(s));
    std::vector<double> out(s.image.data(), s.image.data() + s.image.size());
    for (double& v : out) v *= 255.0;
    return out;
  };
  const auto near = [](const std::vector<double>& a, const std::vector<int>& b, double tolerance) {
    bool ok = a.size() == b.size();
    for (std::size_t i = 0; ok && i < a.size(); ++i) ok = std::abs(a[i] - b[i]) <= tolerance;
    return ok;
  };
  const std::vector<int> posterize5{32,  88,  136, 192, 48, 96,  152, 208, 56,  112, 160, 16,  72, 120,
                                    176, 32,  80,  136, 184, 40, 96,  144, 200, 56,  104, 160, 208, 64,
                                    120, 168, 24,  80,  128, 184, 32, 88,  144, 192, 48,  104, 152, 208};
  const std::vector<int> solarize128{37,  90,  112, 59,  49, 102, 100, 47,  61, 114, 88, 20, 73,  126,
                                     76,  32,  85,  117, 64, 44,  97,  105, 52, 56,  109, 93, 40, 68,
                                     121, 81,  27,  80,  122, 69, 39,  92,  110, 57, 51,  104, 98, 45};
  const std::vector<int> autocontrast{22,  91,  160, 230, 37, 107, 176, 245, 53,  122, 192, 0,   69, 138,
                                      207, 15,  85,  154, 223, 31, 100, 170, 239, 47,  116, 185, 254, 62,
                                      132, 201, 9,   78,  147, 217, 24, 94,  163, 232, 40,  109, 179, 248};
  const std::vector<int> sharpness03{37,  90,  143, 196, 49, 102, 155, 208, 82,  114, 145, 63,  83, 126,
                                     179, 75,  95,  127, 158, 76, 97,  150, 159, 77,  109, 151, 171, 68,
                                     121, 152, 70,  90,  133, 164, 39, 92,  145, 198, 51,  104, 157, 210};
  CHECK(near(run(RandAugmentOp::posterize, 0.3), posterize5, 1e-3));
  CHECK(near(run(RandAugmentOp::solarize, 128.0 / 255.0), solarize128, 1e-3));
  // PIL truncates its lookup tables and rounds the smoothed image; the float versions differ by
  // less than one level.
  CHECK(near(run(RandAugmentOp::autocontrast, 0.0), autocontrast, 1.0));
  aug::RandAugment sharp{.min_factor = 0.3, .max_factor = 0.3};
  Sample<Dim> s = coded_sample<Dim>(shape, 1);
  for (std::size_t i = 0; i < src.size(); ++i) s.image.data()[i] = static_cast<float>(src[i]) / 255.0f;
  sharp.apply(s, RandAugmentOp::sharpness, 0.5);
  std::vector<double> out(s.image.data(), s.image.data() + s.image.size());
  for (double& v : out) v *= 255.0;
  CHECK(near(out, sharpness03, 1.0));
  // The enhancement factor is min + (max − min)·m: brightness at m = 0.5 halves.
  const auto half = run(RandAugmentOp::brightness, 0.5);
  for (std::size_t i = 0; i < src.size(); ++i) CHECK(half[i] == doctest::Approx(src[i] * 0.5).epsilon(1e-5));
}

TEST_CASE_TEMPLATE("RandAugment's equalize matches PIL", Dim, dim2, dim3) {
  const auto equalize = [](const Shape<Dim>& shape, const std::vector<int>& levels) {
    Sample<Dim> s = coded_sample<Dim>(shape, 1);
    for (std::size_t i = 0; i < levels.size(); ++i) s.image.data()[i] = static_cast<float>(levels[i]) / 255.0f;
    aug::RandAugment{}.apply(s, RandAugmentOp::equalize, 0.0);
    std::vector<int> out(levels.size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int>(std::lround(s.image.data()[i] * 255.0f));
    return out;
  };
  // 256 pixels at level 10, 128 at 100, 128 at 200: PIL maps them to 0, 255, 255.
  std::vector<int> three(512, 10);
  std::fill(three.begin() + 256, three.begin() + 384, 100);
  std::fill(three.begin() + 384, three.end(), 200);
  const auto out = equalize(shape3<Dim>(1, 16, 32), three);
  for (std::size_t i = 0; i < 512; ++i) CHECK(out[i] == (i < 256 ? 0 : 255));
  // Levels (i²·7 + 3i) mod 256 on 24×24: PIL's first mapped levels and the sum of its output.
  std::vector<int> levels(576);
  for (std::size_t i = 0; i < levels.size(); ++i) levels[i] = static_cast<int>((i * i * 7 + i * 3) % 256);
  const auto mapped = equalize(shape3<Dim>(1, 24, 24), levels);
  const std::vector<std::pair<int, int>> pil{{0, 0},   {2, 3},   {4, 5},   {6, 7},   {8, 9},   {10, 12},
                                             {12, 14}, {14, 17}, {16, 19}, {18, 22}, {20, 24}, {22, 27}};
  long sum = 0;
  for (std::size_t i = 0; i < levels.size(); ++i) {
    sum += mapped[i];
    for (auto [from, to] : pil)
      if (levels[i] == from) CHECK(mapped[i] == to);
  }
  CHECK(sum == 81419);
}

TEST_CASE_TEMPLATE("fixmatch_weak flips horizontally and shifts by at most 12.5%", Dim, dim2, dim3) {
  const auto shape = shape3<Dim>(8, 16, 16);
  const auto weak = aug::fixmatch_weak<Dim>();
  CHECK(weak.size() == 2);
  std::set<bool> flipped;
  for (std::uint32_t lane = 0; lane < 60; ++lane) {
    Sample<Dim> s = coded_sample<Dim>(shape);
    Rng rng(5, data::streams::augment, 0, lane);
    weak(s, rng);
    const auto src = aligned_sources(s, 0.0f);
    bool bounded = true;
    std::set<bool> direction;
    for (std::size_t i = 0; i < src.size(); ++i) {
      if (src[i] < 0) continue;
      const auto j = static_cast<std::size_t>(src[i]);
      // Rows and slices move by at most 2 (12.5% of 16) or 1 (of 8); columns keep or reverse order.
      bounded = bounded && std::abs(static_cast<long>(j / 16 % 16) - static_cast<long>(i / 16 % 16)) <= 2;
      if constexpr (Dim::spatial == 3) bounded = bounded && std::abs(static_cast<long>(j / 256) - static_cast<long>(i / 256)) <= 1;
      if (i % 16 + 1 < 16 && src[i + 1] >= 0) direction.insert(src[i + 1] > src[i]);
    }
    CHECK(bounded);
    CHECK(direction.size() == 1);
    flipped.insert(*direction.begin() == false);
  }
  CHECK(flipped.size() == 2);
}

TEST_CASE_TEMPLATE("fixmatch_strong and unimatch_strong: labels aligned or untouched, reproducible by seed", Dim, dim2,
                   dim3) {
  const auto shape = shape3<Dim>(4, 16, 16);
  const auto fixmatch = aug::fixmatch_strong<Dim>();
  const auto unimatch = aug::unimatch_strong<Dim>();
  std::set<std::vector<float>> distinct;
  int unimatch_changed = 0;
  for (std::uint32_t lane = 0; lane < 40; ++lane) {
    Sample<Dim> a = photo_sample<Dim>(shape), b = photo_sample<Dim>(shape);
    Rng ra(6, data::streams::augment, 0, lane), rb(6, data::streams::augment, 0, lane);
    fixmatch(a, ra);
    fixmatch(b, rb);
    CHECK(a.image == b.image);
    CHECK(a.mask == b.mask);
    CHECK(labels_aligned(a));
    // Cutout comes last: a box of grey 0.5 in every channel.
    const std::size_t n = a.mask.size();
    std::size_t grey = 0;
    for (std::size_t i = 0; i < n; ++i)
      grey += a.image.data()[i] == 0.5f && a.image.data()[n + i] == 0.5f && a.image.data()[2 * n + i] == 0.5f;
    CHECK(grey > 0);
    distinct.insert(std::vector<float>(a.image.begin(), a.image.end()));

    Sample<Dim> u = photo_sample<Dim>(shape);
    const Sample<Dim> u0 = u;
    Rng ru(7, data::streams::augment, 0, lane);
    unimatch(u, ru);
    CHECK(u.mask == u0.mask);
    CHECK(u.instances == u0.instances);
    unimatch_changed += !(u.image == u0.image);
  }
  CHECK(distinct.size() == 40);
  // Nothing happens with probability 0.2 · 0.8 · 0.5 = 0.08.
  CHECK(unimatch_changed > 30);
  // One channel: jitter without the RGB-only parts, no error.
  Sample<Dim> grey = photo_sample<Dim>(shape, 1);
  Rng rng(8, data::streams::augment);
  for (int t = 0; t < 10; ++t) unimatch(grey, rng);
  CHECK(grey.channels() == 1);
}

TEST_CASE_TEMPLATE("embedseg_train turns and flips, keeping shape and alignment", Dim, dim2, dim3) {
  const auto shape = shape3<Dim>(4, 6, 6);
  const auto train = aug::embedseg_train<Dim>();
  std::set<std::vector<std::int64_t>> results;
  for (std::uint32_t lane = 0; lane < 400; ++lane) {
    Sample<Dim> s = coded_sample<Dim>(shape);
    Rng rng(9, data::streams::augment, 0, lane);
    train(s, rng);
    CHECK(s.spatial_shape() == shape);
    const auto src = aligned_sources(s);
    CHECK(std::count(src.begin(), src.end(), -1) == 0);
    results.insert(src);
  }
  // 2D: the 8 symmetries of the square. 3D: every flip combination, combined with turns in the
  // square hw plane (16 of them) or 180° turns in the others, which are flips too: 16 results.
  CHECK(results.size() == (Dim::spatial == 2 ? 8u : 16u));
}

}  // namespace semiseg::test
