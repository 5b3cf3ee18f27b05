#include "semiseg/data/augment/geometric.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <set>
#include <vector>

#include "semiseg/data/augment/compose.hpp"

TYPE_TO_STRING_AS("dim2", semiseg::dim2);
TYPE_TO_STRING_AS("dim3", semiseg::dim3);

namespace semiseg::test {

namespace aug = data::aug;
using data::Rng;
using data::Sample;

template <SpatialDimension Dim>
using Shape = data::SpatialShape<Dim>;

constexpr float fill = -1.0f;

// The last Dim::spatial entries of a (D, H, W) triple.
template <SpatialDimension Dim>
Shape<Dim> shape3(std::size_t d, std::size_t h, std::size_t w) {
  const std::array<std::size_t, 3> all{d, h, w};
  Shape<Dim> s{};
  for (std::size_t a = 0; a < s.size(); ++a) s[a] = all[3 - s.size() + a];
  return s;
}

template <std::size_t N>
std::size_t count(const std::array<std::size_t, N>& s) {
  std::size_t n = 1;
  for (std::size_t v : s) n *= v;
  return n;
}

// Channel 0 holds each pixel's flat source index, channel 1 that plus 1000; the mask and the
// instance map are functions of the same index, so any misalignment shows.
template <SpatialDimension Dim>
Sample<Dim> coded_sample(const Shape<Dim>& shape) {
  std::array<std::size_t, Dim::spatial + 1> image_shape{};
  image_shape[0] = 2;
  for (std::size_t a = 0; a < shape.size(); ++a) image_shape[a + 1] = shape[a];
  Sample<Dim> s;
  s.image = data::Image<Dim>::from_shape(image_shape);
  s.mask = data::LabelMap<Dim>::from_shape(shape);
  s.instances = data::LabelMap<Dim>::from_shape(shape);
  const std::size_t n = count(shape);
  for (std::size_t i = 0; i < n; ++i) {
    s.image.data()[i] = static_cast<float>(i);
    s.image.data()[n + i] = static_cast<float>(1000 + i);
    s.mask.data()[i] = static_cast<std::int32_t>(i % 5);
    s.instances.data()[i] = static_cast<std::int32_t>(i % 7 + 1);
  }
  return s;
}

// Checks that image, mask and instances agree at every pixel (filled pixels: image fill, mask
// ignore_label, instances 0) and returns each output pixel's source index, -1 where filled.
template <SpatialDimension Dim>
std::vector<std::int64_t> aligned_sources(const Sample<Dim>& s) {
  const std::size_t n = s.mask.size();
  REQUIRE(s.image.size() == 2 * n);
  REQUIRE(s.instances.size() == n);
  for (std::size_t a = 0; a < static_cast<std::size_t>(Dim::spatial); ++a) {
    REQUIRE(s.mask.shape()[a] == s.image.shape()[a + 1]);
    REQUIRE(s.instances.shape()[a] == s.image.shape()[a + 1]);
  }
  std::vector<std::int64_t> source(n);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float v = s.image.data()[i], v1 = s.image.data()[n + i];
    const std::int32_t m = s.mask.data()[i], k = s.instances.data()[i];
    if (v == fill) {
      source[i] = -1;
      bad += !(v1 == fill && m == data::ignore_label && k == 0);
    } else {
      const auto idx = static_cast<std::int64_t>(v);
      source[i] = idx;
      bad += !(v == static_cast<float>(idx) && idx >= 0 && v1 == static_cast<float>(1000 + idx) && m == idx % 5 &&
               k == idx % 7 + 1);
    }
  }
  INFO("misaligned pixels: " << bad << " of " << n);
  CHECK(bad == 0);
  return source;
}

template <SpatialDimension Dim>
Shape<Dim> spatial_of(const Sample<Dim>& s) {
  return s.spatial_shape();
}

// Flat index of a coordinate in a row-major shape.
template <std::size_t N>
std::int64_t flat(const std::array<std::int64_t, N>& p, const std::array<std::size_t, N>& shape) {
  std::int64_t f = 0;
  for (std::size_t a = 0; a < N; ++a) f = f * static_cast<std::int64_t>(shape[a]) + p[a];
  return f;
}

// Visits every coordinate of a shape in row-major order.
template <std::size_t N, class F>
void for_each_coord(const std::array<std::size_t, N>& shape, F f) {
  std::array<std::int64_t, N> p{};
  for (std::size_t i = 0; i < count(shape); ++i) {
    f(p);
    for (std::size_t a = N; a-- > 0;) {
      if (++p[a] < static_cast<std::int64_t>(shape[a])) break;
      p[a] = 0;
    }
  }
}

// numpy.rot90(x, 1, axes=(a, b)) of a flat array by its definition: out[.., i@a, j@b, ..] =
// x[.., j@a, (n_b − 1 − i)@b, ..]; k turns apply it k times.
template <std::size_t N>
std::vector<std::int64_t> rot90_reference(std::vector<std::int64_t> x, std::array<std::size_t, N>& shape, std::size_t a,
                                          std::size_t b, int k) {
  for (int t = 0; t < k; ++t) {
    std::array<std::size_t, N> out_shape = shape;
    std::swap(out_shape[a], out_shape[b]);
    std::vector<std::int64_t> out(x.size());
    for_each_coord(out_shape, [&](const std::array<std::int64_t, N>& p) {
      std::array<std::int64_t, N> q = p;
      q[a] = p[b];
      q[b] = static_cast<std::int64_t>(shape[b]) - 1 - p[a];
      out[static_cast<std::size_t>(flat(p, out_shape))] = x[static_cast<std::size_t>(flat(q, shape))];
    });
    x = std::move(out);
    shape = out_shape;
  }
  return x;
}

std::vector<std::int64_t> iota(std::size_t n) {
  std::vector<std::int64_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::int64_t>(i);
  return v;
}

TEST_CASE_TEMPLATE("Flip mirrors the chosen axes of image, mask and instances alike", Dim, dim2, dim3) {
  const auto shape = shape3<Dim>(3, 2, 3);
  Rng rng(1, data::streams::augment);
  SUBCASE("width only, on a known array") {
    Sample<Dim> s = coded_sample<Dim>(shape);
    aug::Flip{.p_depth = 0.0, .p_height = 0.0, .p_width = 1.0}(s, rng);
    const auto src = aligned_sources(s);
    // Each row [0 1 2] becomes [2 1 0].
    for (std::size_t i = 0; i < src.size(); ++i) CHECK(src[i] == static_cast<std::int64_t>(i - i % 3 + (2 - i % 3)));
  }
  SUBCASE("every axis reverses the whole array") {
    Sample<Dim> s = coded_sample<Dim>(shape);
    aug::Flip{.p_depth = 1.0, .p_height = 1.0, .p_width = 1.0}(s, rng);
    const auto src = aligned_sources(s);
    for (std::size_t i = 0; i < src.size(); ++i) CHECK(src[i] == static_cast<std::int64_t>(src.size() - 1 - i));
  }
  SUBCASE("p 0 leaves the sample alone") {
    Sample<Dim> s = coded_sample<Dim>(shape);
    aug::Flip{.p_depth = 0.0, .p_height = 0.0, .p_width = 0.0}(s, rng);
    CHECK(aligned_sources(s) == iota(count(shape)));
  }
  SUBCASE("p 0.5 flips about half the time") {
    int flipped = 0;
    for (int t = 0; t < 400; ++t) {
      Sample<Dim> s = coded_sample<Dim>(shape);
      aug::Flip{.p_depth = 0.0, .p_height = 0.5, .p_width = 0.0}(s, rng);
      flipped += aligned_sources(s)[0] != 0;
    }
    CHECK(flipped > 150);
    CHECK(flipped < 250);
  }
}

TEST_CASE("Flip in 3D mirrors the depth axis") {
  const Shape<dim3> shape{3, 2, 2};
  Sample<dim3> s = coded_sample<dim3>(shape);
  Rng rng(2, data::streams::augment);
  aug::Flip{.p_depth = 1.0, .p_height = 0.0, .p_width = 0.0}(s, rng);
  const auto src = aligned_sources(s);
  for (std::size_t i = 0; i < src.size(); ++i) CHECK(src[i] == static_cast<std::int64_t>((2 - i / 4) * 4 + i % 4));
}

TEST_CASE("Rotate90 in 2D matches numpy.rot90 and draws every k") {
  // numpy.rot90([[0, 1, 2], [3, 4, 5]], k) for k = 0..3.
  const std::vector<std::vector<std::int64_t>> expected{
      {0, 1, 2, 3, 4, 5}, {2, 5, 1, 4, 0, 3}, {5, 4, 3, 2, 1, 0}, {3, 0, 4, 1, 5, 2}};
  const std::vector<Shape<dim2>> shapes{{2, 3}, {3, 2}, {2, 3}, {3, 2}};
  std::set<int> seen;
  for (std::uint32_t lane = 0; lane < 64; ++lane) {
    Rng rng(3, data::streams::augment, 0, lane);
    Sample<dim2> s = coded_sample<dim2>({2, 3});
    aug::Rotate90{}(s, rng);
    const auto src = aligned_sources(s);
    int k = -1;
    for (int c = 0; c < 4; ++c)
      if (src == expected[static_cast<std::size_t>(c)] && spatial_of(s) == shapes[static_cast<std::size_t>(c)]) k = c;
    CHECK(k >= 0);
    seen.insert(k);
  }
  CHECK(seen == std::set<int>{0, 1, 2, 3});
}

TEST_CASE("Rotate90 in 3D turns in a random plane, or in the chosen one") {
  const Shape<dim3> shape{2, 3, 4};
  const std::array<std::pair<std::size_t, std::size_t>, 3> planes{{{1, 2}, {0, 1}, {0, 2}}};
  // Every candidate result: plane × k.
  std::vector<std::pair<std::vector<std::int64_t>, Shape<dim3>>> candidates;
  for (auto [a, b] : planes)
    for (int k = 0; k < 4; ++k) {
      Shape<dim3> out = shape;
      candidates.push_back({rot90_reference(iota(24), out, a, b, k), out});
    }
  const auto which = [&](const Sample<dim3>& s) {
    const auto src = aligned_sources(s);
    for (std::size_t c = 0; c < candidates.size(); ++c)
      if (src == candidates[c].first && spatial_of(s) == candidates[c].second) return static_cast<int>(c);
    return -1;
  };
  SUBCASE("random plane: all three planes and all turns occur") {
    std::set<int> seen;
    for (std::uint32_t lane = 0; lane < 300; ++lane) {
      Rng rng(4, data::streams::augment, 0, lane);
      Sample<dim3> s = coded_sample<dim3>(shape);
      aug::Rotate90{}(s, rng);
      const int c = which(s);
      CHECK(c >= 0);
      // k = 0 is the identity in every plane.
      seen.insert(c % 4 == 0 ? 0 : c);
    }
    CHECK(seen.size() == 10);
  }
  SUBCASE("hw plane only") {
    for (std::uint32_t lane = 0; lane < 40; ++lane) {
      Rng rng(5, data::streams::augment, 0, lane);
      Sample<dim3> s = coded_sample<dim3>(shape);
      aug::Rotate90{.plane = aug::Plane::hw}(s, rng);
      const int c = which(s);
      CHECK(c >= 0);
      CHECK(c < 4);
    }
  }
  SUBCASE("keep_shape turns planes with unequal sides by 0 or 180 degrees") {
    std::set<int> seen;
    for (std::uint32_t lane = 0; lane < 60; ++lane) {
      Rng rng(6, data::streams::augment, 0, lane);
      Sample<dim3> s = coded_sample<dim3>(shape);
      aug::Rotate90{.plane = aug::Plane::dw, .keep_shape = true}(s, rng);
      CHECK(spatial_of(s) == shape);
      const int c = which(s);
      CHECK((c == 0 || c == 10));  // the identity or 180 degrees in the dw plane
      seen.insert(c);
    }
    CHECK(seen == std::set<int>{0, 10});
  }
}

TEST_CASE("Rotate90 in 2D accepts only the hw plane") {
  Sample<dim2> s = coded_sample<dim2>({3, 3});
  Rng rng(7, data::streams::augment);
  CHECK_THROWS_AS((aug::Rotate90{.plane = aug::Plane::dh}(s, rng)), value_error);
}

TEST_CASE_TEMPLATE("RandomCrop takes a block at a uniform position, or pads when allowed", Dim, dim2, dim3) {
  const auto shape = shape3<Dim>(4, 6, 6);
  const auto crop = shape3<Dim>(2, 4, 4);
  SUBCASE("every start position occurs and the block is contiguous") {
    std::set<std::int64_t> starts;
    for (std::uint32_t lane = 0; lane < 300; ++lane) {
      Rng rng(8, data::streams::augment, 0, lane);
      Sample<Dim> s = coded_sample<Dim>(shape);
      aug::RandomCrop{.size = {crop.begin(), crop.end()}}(s, rng);
      REQUIRE(spatial_of(s) == crop);
      const auto src = aligned_sources(s);
      const std::int64_t start = src[0];
      std::array<std::int64_t, Dim::spatial> origin{};
      for (std::int64_t a = Dim::spatial - 1, rest = start; a >= 0; --a) {
        origin[static_cast<std::size_t>(a)] = rest % static_cast<std::int64_t>(shape[static_cast<std::size_t>(a)]);
        rest /= static_cast<std::int64_t>(shape[static_cast<std::size_t>(a)]);
      }
      bool block = true;
      std::size_t i = 0;
      for_each_coord(crop, [&](const std::array<std::int64_t, Dim::spatial>& p) {
        std::array<std::int64_t, Dim::spatial> q = p;
        for (std::size_t a = 0; a < q.size(); ++a) q[a] += origin[a];
        block = block && src[i++] == flat(q, shape);
      });
      CHECK(block);
      starts.insert(start);
    }
    // 3 positions per axis of 6 − 4 + 1 (and 3 on depth, 4 − 2 + 1).
    CHECK(starts.size() == (Dim::spatial == 2 ? 9u : 27u));
  }
  SUBCASE("a 0 entry keeps the axis, one entry applies to every axis") {
    Rng rng(9, data::streams::augment);
    Sample<Dim> s = coded_sample<Dim>(shape);
    std::vector<std::size_t> size(Dim::spatial, 0);
    size.back() = 3;
    aug::RandomCrop{.size = size}(s, rng);
    Shape<Dim> expected = shape;
    expected.back() = 3;
    CHECK(spatial_of(s) == expected);
    aug::RandomCrop{.size = {2}}(s, rng);
    CHECK(spatial_of(s) == shape3<Dim>(2, 2, 2));
    aligned_sources(s);
  }
  SUBCASE("larger than the image pads with fill, ignore_label and 0") {
    Rng rng(10, data::streams::augment);
    Sample<Dim> s = coded_sample<Dim>(shape3<Dim>(1, 3, 3));
    aug::RandomCrop{.size = {5}, .pad_if_needed = true, .fill = fill}(s, rng);
    CHECK(spatial_of(s) == shape3<Dim>(5, 5, 5));
    const auto src = aligned_sources(s);
    std::set<std::int64_t> kept;
    for (std::int64_t v : src)
      if (v >= 0) kept.insert(v);
    CHECK(kept.size() == count(shape3<Dim>(1, 3, 3)));
  }
  SUBCASE("larger than the image without padding is a value_error") {
    Rng rng(11, data::streams::augment);
    Sample<Dim> s = coded_sample<Dim>(shape);
    CHECK_THROWS_AS((aug::RandomCrop{.size = {7}}(s, rng)), value_error);
    CHECK_THROWS_AS((aug::RandomCrop{.size = {2, 2, 2, 2}}(s, rng)), value_error);
  }
}

TEST_CASE("CenterCrop and PadIfNeeded place the content as documented") {
  Rng rng(12, data::streams::augment);
  SUBCASE("crop 5x6 to 3x4 starts at (1, 1)") {
    Sample<dim2> s = coded_sample<dim2>({5, 6});
    aug::CenterCrop{.size = {3, 4}}(s, rng);
    CHECK(spatial_of(s) == Shape<dim2>{3, 4});
    const auto src = aligned_sources(s);
    for (std::size_t i = 0; i < src.size(); ++i) CHECK(src[i] == static_cast<std::int64_t>((1 + i / 4) * 6 + 1 + i % 4));
  }
  SUBCASE("crop larger than the image pads evenly, odd pixel after") {
    Sample<dim2> s = coded_sample<dim2>({2, 2});
    aug::CenterCrop{.size = {3, 4}, .pad_if_needed = true, .fill = fill}(s, rng);
    // Rows: 0 pixels before, 1 after; columns: 1 before, 1 after.
    const std::vector<std::int64_t> expected{-1, 0, 1, -1, -1, 2, 3, -1, -1, -1, -1, -1};
    CHECK(aligned_sources(s) == expected);
    Sample<dim2> t = coded_sample<dim2>({2, 2});
    CHECK_THROWS_AS((aug::CenterCrop{.size = {3, 4}}(t, rng)), value_error);
  }
  SUBCASE("PadIfNeeded centred and not") {
    Sample<dim2> s = coded_sample<dim2>({2, 3});
    aug::PadIfNeeded{.min_size = {5, 0}, .fill = fill}(s, rng);
    CHECK(spatial_of(s) == Shape<dim2>{5, 3});
    CHECK(aligned_sources(s) == std::vector<std::int64_t>{-1, -1, -1, 0, 1, 2, 3, 4, 5, -1, -1, -1, -1, -1, -1});
    Sample<dim2> t = coded_sample<dim2>({2, 3});
    aug::PadIfNeeded{.min_size = {3, 4}, .centered = false, .fill = fill}(t, rng);
    CHECK(aligned_sources(t) == std::vector<std::int64_t>{0, 1, 2, -1, 3, 4, 5, -1, -1, -1, -1, -1});
  }
  SUBCASE("PadIfNeeded in 3D pads depth too and keeps larger axes") {
    Sample<dim3> s = coded_sample<dim3>({1, 4, 2});
    aug::PadIfNeeded{.min_size = {3}, .fill = fill}(s, rng);
    CHECK(spatial_of(s) == Shape<dim3>{3, 4, 3});
    const auto src = aligned_sources(s);
    std::size_t kept = 0;
    for (std::int64_t v : src) kept += v >= 0;
    CHECK(kept == 8);
    // The single slice sits in the middle, columns 0 and 1 of 3.
    CHECK(src[12] == 0);
    CHECK(src[13] == 1);
    CHECK(src[14] == -1);
  }
}

TEST_CASE_TEMPLATE("Translate shifts by whole pixels within the fraction and fills the rest", Dim, dim2, dim3) {
  const auto shape = shape3<Dim>(4, 8, 8);
  std::set<std::int64_t> shifts;
  for (std::uint32_t lane = 0; lane < 200; ++lane) {
    Rng rng(13, data::streams::augment, 0, lane);
    Sample<Dim> s = coded_sample<Dim>(shape);
    aug::Translate{.fraction_depth = 0.0, .fraction_height = 0.0, .fraction_width = 0.25, .fill = fill}(s, rng);
    REQUIRE(spatial_of(s) == shape);
    const auto src = aligned_sources(s);
    // The shift t follows from the first row: output x reads source x − t.
    std::int64_t t = 0;
    for (std::int64_t x = 0; x < 8; ++x)
      if (src[static_cast<std::size_t>(x)] >= 0) {
        t = x - src[static_cast<std::size_t>(x)];
        break;
      }
    bool exact = true;
    for (std::size_t i = 0; i < src.size(); ++i) {
      const auto x = static_cast<std::int64_t>(i % 8), from = x - t;
      exact = exact && src[i] == (from >= 0 && from < 8 ? static_cast<std::int64_t>(i) - t : -1);
    }
    CHECK(exact);
    shifts.insert(t);
  }
  CHECK(shifts == std::set<std::int64_t>{-2, -1, 0, 1, 2});
}

TEST_CASE_TEMPLATE("Scale zooms about the centre; labels follow the nearest source pixel", Dim, dim2, dim3) {
  const auto shape = shape3<Dim>(6, 9, 10);
  SUBCASE("nearest interpolation keeps everything aligned, zoom in or out") {
    for (std::uint32_t lane = 0; lane < 20; ++lane) {
      Rng rng(14, data::streams::augment, 0, lane);
      Sample<Dim> s = coded_sample<Dim>(shape);
      aug::Scale{.min = 0.5, .max = 2.0, .interpolation = aug::Interpolation::nearest, .fill = fill}(s, rng);
      CHECK(spatial_of(s) == shape);
      aligned_sources(s);
    }
  }
  SUBCASE("linear interpolation reproduces a ramp exactly and labels take the nearest pixel") {
    for (double f : {0.6, 1.7}) {
      Rng rng(15, data::streams::augment);
      Sample<Dim> s = coded_sample<Dim>(shape);
      const std::size_t n = count(shape), w = shape.back();
      for (std::size_t i = 0; i < n; ++i) s.image.data()[i] = static_cast<float>(i % w);  // value = x
      aug::Scale{.min = f, .max = f, .fill = fill}(s, rng);
      std::size_t bad_image = 0, bad_labels = 0, filled = 0, i = 0;
      for_each_coord(shape, [&](const std::array<std::int64_t, Dim::spatial>& p) {
        // Source coordinate per axis, and its nearest pixel.
        bool inside = true;
        std::array<std::int64_t, Dim::spatial> near{};
        double x = 0;
        for (std::size_t a = 0; a < p.size(); ++a) {
          const double c = (static_cast<double>(shape[a]) - 1) / 2, src = (static_cast<double>(p[a]) - c) / f + c;
          near[a] = static_cast<std::int64_t>(std::floor(src + 0.5));
          inside = inside && near[a] >= 0 && near[a] < static_cast<std::int64_t>(shape[a]);
          x = std::clamp(src, 0.0, static_cast<double>(shape[a]) - 1);  // the last axis wins
        }
        const std::int32_t m = s.mask.data()[i], k = s.instances.data()[i];
        const float v = s.image.data()[i];
        if (inside) {
          const std::int64_t idx = flat(near, shape);
          bad_labels += !(m == idx % 5 && k == idx % 7 + 1);
          bad_image += std::abs(v - x) > 1e-5;
        } else {
          ++filled;
          bad_labels += !(m == data::ignore_label && k == 0);
          bad_image += v != fill;
        }
        ++i;
      });
      CHECK(bad_image == 0);
      CHECK(bad_labels == 0);
      // Zooming out leaves a filled frame, zooming in none.
      CHECK((f < 1 ? filled > 0 : filled == 0));
    }
  }
  SUBCASE("in_plane leaves the depth axis alone") {
    if constexpr (Dim::spatial == 3) {
      Rng rng(16, data::streams::augment);
      Sample<Dim> s = coded_sample<Dim>(shape);
      aug::Scale{.min = 2.0, .max = 2.0, .in_plane = true, .interpolation = aug::Interpolation::nearest}(s, rng);
      const auto src = aligned_sources(s);
      const std::size_t plane = shape[1] * shape[2];
      bool depth_kept = true;
      for (std::size_t i = 0; i < src.size(); ++i) depth_kept = depth_kept && static_cast<std::size_t>(src[i]) / plane == i / plane;
      CHECK(depth_kept);
    }
  }
  SUBCASE("bad ranges are value errors") {
    Rng rng(17, data::streams::augment);
    Sample<Dim> s = coded_sample<Dim>(shape);
    CHECK_THROWS_AS((aug::Scale{.min = 2.0, .max = 1.0}(s, rng)), value_error);
    CHECK_THROWS_AS((aug::Scale{.min = 0.0, .max = 1.0}(s, rng)), value_error);
  }
}

TEST_CASE("Scale's labels are the nearest-interpolated image") {
  // With the image coded by source index, nearest interpolation of the image must give exactly
  // the labels that linear mode samples.
  const Shape<dim2> shape{9, 10};
  for (std::uint32_t lane = 0; lane < 10; ++lane) {
    Sample<dim2> lin = coded_sample<dim2>(shape), near = coded_sample<dim2>(shape);
    Rng r1(18, data::streams::augment, 0, lane), r2(18, data::streams::augment, 0, lane);
    aug::Scale{.fill = fill}(lin, r1);
    aug::Scale{.interpolation = aug::Interpolation::nearest, .fill = fill}(near, r2);
    CHECK(lin.mask == near.mask);
    CHECK(lin.instances == near.instances);
    aligned_sources(near);
  }
}

TEST_CASE("resize matches PyTorch's interpolate (linear, align_corners=False; nearest-exact)") {
  SUBCASE("2D") {
    xt::xtensor<float, 3> x = xt::xtensor<float, 3>::from_shape({1, 3, 4});
    for (std::size_t i = 0; i < 12; ++i) x.data()[i] = static_cast<float>(i);
    const auto y = aug::resize(x, {5, 3});
    const std::vector<double> expected{0.1666667, 1.5, 2.8333335, 1.7666668, 3.1000001, 4.4333334, 4.166667, 5.5,
                                       6.8333335, 6.566667,  7.9000006, 9.233334, 8.166667, 9.5, 10.833333};
    REQUIRE(y.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) CHECK(y.data()[i] == doctest::Approx(expected[i]).epsilon(1e-6));
    xt::xtensor<std::int32_t, 2> l = xt::xtensor<std::int32_t, 2>::from_shape({3, 4});
    for (std::size_t i = 0; i < 12; ++i) l.data()[i] = static_cast<std::int32_t>(i);
    const auto m = aug::resize_labels(l, {5, 3});
    const std::vector<std::int32_t> expected_labels{0, 2, 3, 0, 2, 3, 4, 6, 7, 8, 10, 11, 8, 10, 11};
    CHECK(std::vector<std::int32_t>(m.begin(), m.end()) == expected_labels);
    const auto yn = aug::resize(x, {5, 3}, aug::Interpolation::nearest);
    for (std::size_t i = 0; i < expected_labels.size(); ++i) CHECK(yn.data()[i] == static_cast<float>(expected_labels[i]));
  }
  SUBCASE("3D") {
    xt::xtensor<float, 4> x = xt::xtensor<float, 4>::from_shape({1, 2, 3, 4});
    for (std::size_t i = 0; i < 24; ++i) x.data()[i] = static_cast<float>(std::pow(static_cast<double>(i), 1.5));
    const auto y = aug::resize(x, {3, 2, 5});
    const std::vector<double> expected{2.0,      3.08156,  4.67032,  6.61504,  8.52718,  18.97056, 21.82273, 25.2182,
                                       28.77159, 31.99222, 24.58846, 27.05438, 30.09931, 33.38165, 36.4015,  51.0263,
                                       54.76824, 59.15473, 63.67003, 67.71254, 47.17691, 51.0272,  55.5283,  60.14824,
                                       64.27583, 83.08204, 87.71375, 93.09126, 98.56847, 103.43286};
    REQUIRE(y.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) CHECK(y.data()[i] == doctest::Approx(expected[i]).epsilon(1e-5));
    xt::xtensor<std::int32_t, 3> l = xt::xtensor<std::int32_t, 3>::from_shape({2, 3, 4});
    for (std::size_t i = 0; i < 24; ++i) l.data()[i] = static_cast<std::int32_t>(i);
    const auto m = aug::resize_labels(l, {3, 2, 5});
    const std::vector<std::int32_t> expected_labels{0,  1,  2,  2,  3,  8,  9,  10, 10, 11, 12, 13, 14, 14, 15,
                                                    20, 21, 22, 22, 23, 12, 13, 14, 14, 15, 20, 21, 22, 22, 23};
    CHECK(std::vector<std::int32_t>(m.begin(), m.end()) == expected_labels);
  }
  SUBCASE("the Resize transform keeps the sample aligned") {
    Rng rng(19, data::streams::augment);
    Sample<dim3> s = coded_sample<dim3>({3, 5, 7});
    aug::Resize{.size = {4, 0, 3}, .interpolation = aug::Interpolation::nearest}(s, rng);
    CHECK(spatial_of(s) == Shape<dim3>{4, 5, 3});
    aligned_sources(s);
  }
}

TEST_CASE_TEMPLATE("A composition of geometric transforms keeps the sample aligned and is reproducible", Dim, dim2,
                   dim3) {
  const auto shape = shape3<Dim>(6, 12, 10);
  const auto pad = shape3<Dim>(8, 14, 14), crop = shape3<Dim>(5, 11, 9);
  const aug::Compose<Dim> chain{
      aug::PadIfNeeded{.min_size = {pad.begin(), pad.end()}, .fill = fill},
      aug::RandomCrop{.size = {crop.begin(), crop.end()}, .pad_if_needed = true, .fill = fill},
      aug::Flip{},
      aug::Rotate90{},
      aug::Translate{.fill = fill},
      aug::Scale{.min = 0.7, .max = 1.4, .interpolation = aug::Interpolation::nearest, .fill = fill},
      aug::RandomApply{aug::CenterCrop{.size = {4}}, 0.5},
  };
  CHECK(chain.size() == 7);
  std::set<std::vector<std::int64_t>> distinct;
  for (std::uint32_t lane = 0; lane < 30; ++lane) {
    Sample<Dim> a = coded_sample<Dim>(shape), b = coded_sample<Dim>(shape);
    Rng ra(20, data::streams::augment, 0, lane), rb(20, data::streams::augment, 0, lane);
    chain(a, ra);
    chain(b, rb);
    const auto src = aligned_sources(a);
    CHECK(a.image == b.image);
    CHECK(a.mask == b.mask);
    CHECK(a.instances == b.instances);
    distinct.insert(src);
  }
  // Different lanes draw different transforms.
  CHECK(distinct.size() > 25);
}

TEST_CASE("Geometric transforms leave absent masks absent and reject misaligned ones") {
  Rng rng(21, data::streams::augment);
  Sample<dim2> s = coded_sample<dim2>({4, 4});
  s.mask = {};
  s.instances = {};
  aug::RandomCrop{.size = {6}, .pad_if_needed = true}(s, rng);
  CHECK(!s.has_mask());
  CHECK(!s.has_instances());
  CHECK(spatial_of(s) == Shape<dim2>{6, 6});
  Sample<dim2> t = coded_sample<dim2>({4, 4});
  t.mask = data::LabelMap<dim2>::from_shape({4, 5});
  CHECK_THROWS_AS((aug::Flip{}(t, rng)), shape_error);
  Sample<dim2> u = coded_sample<dim2>({4, 4});
  CHECK_THROWS_AS((aug::Flip{.p_width = 1.5}(u, rng)), value_error);
  CHECK_THROWS_AS((aug::Translate{.fraction_width = -0.1}(u, rng)), value_error);
  CHECK_THROWS_AS((aug::RandomApply{aug::Flip{}, 2.0}(u, rng)), value_error);
}

}  // namespace semiseg::test
