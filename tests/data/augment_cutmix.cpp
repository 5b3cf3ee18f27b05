#include "semiseg/data/augment/cutmix.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

TYPE_TO_STRING_AS("dim2", semiseg::dim2);
TYPE_TO_STRING_AS("dim3", semiseg::dim3);

namespace semiseg::test {

namespace aug = data::aug;
using data::Rng;

template <SpatialDimension Dim>
using Shape = data::SpatialShape<Dim>;
template <SpatialDimension Dim>
using Box = aug::Box<static_cast<std::size_t>(Dim::spatial)>;

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

template <std::size_t N>
bool inside(const aug::Box<N>& b, const std::array<std::size_t, N>& shape) {
  bool ok = true;
  for (std::size_t a = 0; a < N; ++a) ok = ok && b.begin[a] <= b.end[a] && b.end[a] <= shape[a];
  return ok;
}

// How many boxes cover each pixel, by the definition of a box.
template <std::size_t N>
std::vector<int> coverage(const std::vector<aug::Box<N>>& boxes, const std::array<std::size_t, N>& shape) {
  std::vector<int> cover(count(shape), 0);
  for (std::size_t i = 0; i < cover.size(); ++i) {
    std::array<std::size_t, N> p{};
    std::size_t rest = i;
    for (std::size_t a = N; a-- > 0;) {
      p[a] = rest % shape[a];
      rest /= shape[a];
    }
    for (const auto& b : boxes) {
      bool in = true;
      for (std::size_t a = 0; a < N; ++a) in = in && p[a] >= b.begin[a] && p[a] < b.end[a];
      cover[i] += in;
    }
  }
  return cover;
}

TEST_CASE_TEMPLATE("CPS boxes: three per mask, area p/3 with p in [0.25, 0.5], inside, XOR where they overlap", Dim,
                   dim2, dim3) {
  constexpr std::size_t N = Dim::spatial;
  const auto shape = shape3<Dim>(24, 48, 64);
  const double total = static_cast<double>(count(shape));
  double fraction_sum = 0, log_aspect_sum = 0;
  int boxes_seen = 0, overlapping = 0, at_start = 0, at_end = 0;
  bool all_inside = true, areas_ok = true, xor_ok = true;
  for (std::uint32_t lane = 0; lane < 300; ++lane) {
    Rng rng(1, data::streams::augment, 0, lane), again(1, data::streams::augment, 0, lane);
    const auto boxes = aug::cutmix_boxes_cps<Dim>(shape, rng);
    const auto mask = aug::cutmix_mask_cps<Dim>(shape, again);
    REQUIRE(boxes.size() == 3);
    for (const auto& b : boxes) {
      all_inside = all_inside && inside(b, shape);
      // Rounding moves each side by at most half a pixel from the exact p/3 box.
      double lo = 1, hi = 1;
      for (std::size_t a = 0; a < N; ++a) {
        const double side = static_cast<double>(b.end[a] - b.begin[a]);
        lo *= std::max(side - 0.5, 0.0);
        hi *= side + 0.5;
        at_start += b.begin[a] == 0;
        at_end += b.end[a] == shape[a];
      }
      areas_ok = areas_ok && lo <= 0.5 / 3 * total && hi >= 0.25 / 3 * total;
      fraction_sum += static_cast<double>(b.volume()) / total;
      // Height over width, each as a fraction of its axis: p^u / p^(1−u) is symmetric in log.
      const double fh = static_cast<double>(b.end[N - 2] - b.begin[N - 2]) / static_cast<double>(shape[N - 2]);
      const double fw = static_cast<double>(b.end[N - 1] - b.begin[N - 1]) / static_cast<double>(shape[N - 1]);
      log_aspect_sum += std::log(fh / fw);
      ++boxes_seen;
    }
    const auto cover = coverage(boxes, shape);
    bool overlap = false;
    for (std::size_t i = 0; i < cover.size(); ++i) {
      xor_ok = xor_ok && mask.data()[i] == cover[i] % 2;
      overlap = overlap || cover[i] >= 2;
    }
    overlapping += overlap;
  }
  CHECK(all_inside);
  CHECK(areas_ok);
  CHECK(xor_ok);
  CHECK(overlapping > 10);
  CHECK(at_start > 10);
  CHECK(at_end > 10);
  // E[p]/3 = 0.125 per box.
  CHECK(fraction_sum / boxes_seen == doctest::Approx(0.125).epsilon(0.03));
  CHECK(std::abs(log_aspect_sum / boxes_seen) < 0.05);
}

TEST_CASE("CPS in 3D with full_depth: boxes span the depth, area p/3 in the plane") {
  const Shape<dim3> shape{5, 40, 40};
  bool ok = true;
  for (std::uint32_t lane = 0; lane < 100; ++lane) {
    Rng rng(2, data::streams::augment, 0, lane);
    for (const auto& b : aug::cutmix_boxes_cps<dim3>(shape, rng, {.full_depth = true})) {
      const double h = static_cast<double>(b.end[1] - b.begin[1]), w = static_cast<double>(b.end[2] - b.begin[2]);
      ok = ok && b.begin[0] == 0 && b.end[0] == 5 && inside(b, shape) && (h - 0.5) * (w - 0.5) <= 0.5 / 3 * 1600 &&
           (h + 0.5) * (w + 0.5) >= 0.25 / 3 * 1600;
    }
  }
  CHECK(ok);
}

TEST_CASE_TEMPLATE("UniMatch box: present with probability p, area within [0.02, 0.4], ratio within [0.3, 1/0.3]", Dim,
                   dim2, dim3) {
  constexpr std::size_t N = Dim::spatial;
  const auto shape = shape3<Dim>(20, 40, 50);
  const double total = static_cast<double>(count(shape));
  int present = 0;
  double smallest = 1, largest = 0;
  bool ok = true, masks_match = true;
  const int draws = 3000;
  for (std::uint32_t lane = 0; lane < static_cast<std::uint32_t>(draws); ++lane) {
    Rng rng(3, data::streams::augment, 0, lane), again(3, data::streams::augment, 0, lane);
    const auto box = aug::cutmix_box_unimatch<Dim>(shape, rng);
    const auto mask = aug::cutmix_mask_unimatch<Dim>(shape, again);
    std::vector<aug::Box<N>> boxes;
    if (box) boxes.push_back(*box);
    const auto cover = coverage(boxes, shape);
    if (lane < 200)
      for (std::size_t i = 0; i < cover.size(); ++i) masks_match = masks_match && mask.data()[i] == cover[i];
    if (!box) continue;
    ++present;
    ok = ok && inside(*box, shape);
    const double fraction = static_cast<double>(box->volume()) / total;
    ok = ok && fraction <= 0.4;
    smallest = std::min(smallest, fraction);
    largest = std::max(largest, fraction);
    // Truncated sides: h = ⌊sqrt(area·r)⌋, w = ⌊sqrt(area/r)⌋, so h < r·(w + 1) and h + 1 > r·w.
    const double h = static_cast<double>(box->end[N - 2] - box->begin[N - 2]);
    const double w = static_cast<double>(box->end[N - 1] - box->begin[N - 1]);
    if constexpr (N == 2) ok = ok && h < (1 / 0.3) * (w + 1) && h + 1 > 0.3 * w;
  }
  CHECK(ok);
  CHECK(masks_match);
  CHECK(static_cast<double>(present) / draws == doctest::Approx(0.5).epsilon(0.06));
  CHECK(smallest < 0.04);
  CHECK(largest > 0.3);
}

TEST_CASE("UniMatch box: full_depth in 3D, and shapes where few boxes fit still end") {
  Rng rng(4, data::streams::augment);
  for (int t = 0; t < 50; ++t) {
    const auto box = aug::cutmix_box_unimatch<dim3>({6, 30, 30}, rng, {.p = 1.0, .full_depth = true});
    REQUIRE(box.has_value());
    CHECK(box->begin[0] == 0);
    CHECK(box->end[0] == 6);
    CHECK(inside(*box, Shape<dim3>{6, 30, 30}));
    const auto thin = aug::cutmix_box_unimatch<dim2>({1, 200}, rng, {.p = 1.0, .min_area = 0.3});
    REQUIRE(thin.has_value());
    CHECK(inside(*thin, Shape<dim2>{1, 200}));
  }
}

TEST_CASE_TEMPLATE("mix takes b where the mask is set, a elsewhere, in every channel", Dim, dim2, dim3) {
  const auto shape = shape3<Dim>(3, 4, 5);
  const std::size_t n = count(shape);
  std::array<std::size_t, Dim::spatial + 1> image_shape{};
  image_shape[0] = 2;
  std::copy(shape.begin(), shape.end(), image_shape.begin() + 1);
  auto a = data::Image<Dim>::from_shape(image_shape), b = data::Image<Dim>::from_shape(image_shape);
  auto la = data::LabelMap<Dim>::from_shape(shape), lb = data::LabelMap<Dim>::from_shape(shape);
  for (std::size_t i = 0; i < 2 * n; ++i) {
    a.data()[i] = static_cast<float>(i);
    b.data()[i] = -static_cast<float>(i) - 1;
  }
  for (std::size_t i = 0; i < n; ++i) {
    la.data()[i] = static_cast<std::int32_t>(i);
    lb.data()[i] = -static_cast<std::int32_t>(i) - 1;
  }
  Rng rng(5, data::streams::augment);
  const auto m = aug::cutmix_mask_unimatch<Dim>(shape, rng, {.p = 1.0, .min_area = 0.2});
  const auto mixed = aug::mix(a, b, m);
  const auto mixed_labels = aug::mix(la, lb, m);
  std::size_t taken = 0;
  bool ok = true;
  for (std::size_t i = 0; i < n; ++i) {
    taken += m.data()[i] != 0;
    for (std::size_t c = 0; c < 2; ++c)
      ok = ok && mixed.data()[c * n + i] == (m.data()[i] ? b.data()[c * n + i] : a.data()[c * n + i]);
    ok = ok && mixed_labels.data()[i] == (m.data()[i] ? lb.data()[i] : la.data()[i]);
  }
  CHECK(ok);
  CHECK(taken > 0);
  CHECK(taken < n);
  const auto wrong = data::LabelMap<Dim>::from_shape(shape3<Dim>(3, 4, 6));
  CHECK_THROWS_AS((aug::mix(a, b, wrong)), shape_error);
  CHECK_THROWS_AS((aug::mix(la, lb, wrong)), shape_error);
}

TEST_CASE("CutMix samplers reproduce by seed, differ by lane, and reject bad options") {
  Rng a(6, data::streams::augment), b(6, data::streams::augment), c(6, data::streams::augment, 0, 1);
  const auto ma = aug::cutmix_mask_cps<dim2>({32, 32}, a), mb = aug::cutmix_mask_cps<dim2>({32, 32}, b);
  const auto mc = aug::cutmix_mask_cps<dim2>({32, 32}, c);
  CHECK(ma == mb);
  CHECK(!(ma == mc));
  Rng r(7, data::streams::augment);
  CHECK_THROWS_AS((aug::cutmix_mask_cps<dim2>({8, 8}, r, {.boxes = 0})), value_error);
  CHECK_THROWS_AS((aug::cutmix_mask_cps<dim2>({8, 8}, r, {.min_area = 0.5, .max_area = 1.5})), value_error);
  CHECK_THROWS_AS((aug::cutmix_mask_unimatch<dim2>({8, 8}, r, {.p = 1.5})), value_error);
  CHECK_THROWS_AS((aug::cutmix_mask_unimatch<dim2>({8, 8}, r, {.min_ratio = 2.0, .max_ratio = 1.0})), value_error);
  CHECK_THROWS_AS((aug::cutmix_mask_unimatch<dim3>({0, 8, 8}, r)), shape_error);
}

}  // namespace semiseg::test
