// CutMix box masks and mixing. Contract: a mask is a 0/1 label map of the requested spatial shape,
// 1 where the mixed result takes the second input; every box lies inside the shape. mix(a, b, M)
// is a·(1 − M) + b·M per pixel (for every channel of an image), a shape_error when shapes differ.
//
// Two samplers. CPS (Chen et al. 2021, after French et al.'s BoxMaskGenerator): `boxes` boxes,
// each of area proportion p/boxes with p ~ U(min_area, max_area); the height proportion is p^u
// with u ~ U(0, 1) and the width p / p^u, both times sqrt(1/boxes); sizes and positions round to
// whole pixels and overlapping boxes toggle (XOR). UniMatch (Yang et al. 2023, obtain_cutmix_box):
// with probability p one box of area U(min_area, max_area)·H·W, aspect ratio r ~ U(min_ratio,
// max_ratio), width ⌊sqrt(area/r)⌋, height ⌊sqrt(area·r)⌋, top-left corner uniform, redrawn
// (ratio and corner) until the box fits.
//
// 3D: CPS splits the exponent of p over (D, H, W) uniformly on the simplex, so the sides are
// p^a, p^b, p^c with a + b + c = 1 (2D's (u, 1 − u) is the same rule), each times (1/boxes)^(1/3).
// UniMatch takes the volume U(min_area, max_area)·D·H·W, a second ratio r_d ~ U(min_ratio,
// max_ratio) for depth over the in-plane side, d = cbrt(volume·r_d²), then height and width from
// the in-plane area volume/d as in 2D. full_depth instead makes every box span the whole depth
// and samples its (H, W) rectangle as in 2D (anisotropic volumes).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "semiseg/core/dim.hpp"
#include "semiseg/core/error.hpp"
#include "semiseg/data/augment/compose.hpp"
#include "semiseg/data/rng.hpp"
#include "semiseg/data/sample.hpp"

namespace semiseg::data::aug {

// A box [begin, end) per spatial axis, in (D,) H, W order.
template <std::size_t N>
struct Box {
  std::array<std::size_t, N> begin{};
  std::array<std::size_t, N> end{};

  std::size_t volume() const {
    std::size_t v = 1;
    for (std::size_t a = 0; a < N; ++a) v *= end[a] - begin[a];
    return v;
  }
};

struct CpsBoxOptions {
  double min_area = 0.25;
  double max_area = 0.5;
  std::size_t boxes = 3;
  bool full_depth = false;
};

struct UniMatchBoxOptions {
  double p = 0.5;
  double min_area = 0.02;
  double max_area = 0.4;
  double min_ratio = 0.3;
  double max_ratio = 1.0 / 0.3;
  bool full_depth = false;
};

namespace detail {

template <std::size_t N>
void check_box_shape(const std::array<std::size_t, N>& shape, const char* what) {
  for (std::size_t v : shape)
    if (v == 0) throw shape_error(std::string(what) + ": every axis needs at least one pixel, got " + shape_string(shape));
}

// Toggles the pixels of one box in a row-major mask of `shape`.
template <std::size_t N>
void paint_box(std::int32_t* mask, const std::array<std::size_t, N>& shape, const Box<N>& b) {
  if (b.volume() == 0) return;
  const auto stride = strides_of(shape);
  std::array<std::size_t, N> idx = b.begin;
  for (bool more = true; more;) {
    std::int64_t base = 0;
    for (std::size_t a = 0; a + 1 < N; ++a) base += static_cast<std::int64_t>(idx[a]) * stride[a];
    std::int32_t* row = mask + base;
    for (std::size_t i = b.begin[N - 1]; i < b.end[N - 1]; ++i) row[i] ^= 1;
    more = false;
    for (std::size_t a = N - 1; a-- > 0;) {
      if (++idx[a] < b.end[a]) {
        more = true;
        break;
      }
      idx[a] = b.begin[a];
    }
  }
}

// Paints boxes into a zero mask, toggling where they overlap.
template <std::size_t N>
xt::xtensor<std::int32_t, N> paint_boxes(const std::array<std::size_t, N>& shape, const std::vector<Box<N>>& boxes) {
  auto mask = xt::xtensor<std::int32_t, N>::from_shape(shape);
  std::fill(mask.data(), mask.data() + mask.size(), 0);
  for (const Box<N>& b : boxes) paint_box(mask.data(), shape, b);
  return mask;
}

// Draws the CPS boxes of one mask and passes each to `f`, in the order they are drawn.
template <SpatialDimension Dim, class F>
void for_each_cps_box(const SpatialShape<Dim>& shape, Rng& rng, const CpsBoxOptions& options, F&& f) {
  constexpr auto N = static_cast<std::size_t>(Dim::spatial);
  check_range("cutmix_boxes_cps (area)", options.min_area, options.max_area);
  if (!(options.min_area > 0 && options.max_area <= 1))
    throw value_error("cutmix_boxes_cps: area proportions must lie in (0, 1], got [" + std::to_string(options.min_area) +
                      ", " + std::to_string(options.max_area) + "]");
  if (options.boxes == 0) throw value_error("cutmix_boxes_cps: needs at least one box");
  check_box_shape(shape, "cutmix_boxes_cps");
  const std::size_t first = options.full_depth && N == 3 ? 1 : 0, k = N - first;
  const double scale = std::pow(1.0 / static_cast<double>(options.boxes), 1.0 / static_cast<double>(k));
  for (std::size_t i = 0; i < options.boxes; ++i) {
    Box<N> box;
    const double p = rng.uniform(options.min_area, options.max_area);
    // Exponent shares uniform on the simplex: one cut in 2D, two sorted cuts in 3D.
    std::array<double, N> share{};
    if (k == 2) {
      share[first] = rng.uniform();
      share[first + 1] = 1.0 - share[first];
    } else {
      const double u = rng.uniform(), v = rng.uniform();
      share[0] = std::min(u, v);
      share[1] = std::max(u, v) - share[0];
      share[2] = 1.0 - std::max(u, v);
    }
    for (std::size_t a = 0; a < N; ++a) {
      if (a < first) {
        box.end[a] = shape[a];
        continue;
      }
      const double n = static_cast<double>(shape[a]);
      const double size = std::round(std::pow(p, share[a]) * scale * n);
      const double at = std::round((n - size) * rng.uniform());
      box.begin[a] = static_cast<std::size_t>(at);
      box.end[a] = static_cast<std::size_t>(at + size);
    }
    f(box);
  }
}

}  // namespace detail

// The CPS boxes for one mask, in the order they are drawn.
template <SpatialDimension Dim>
std::vector<Box<static_cast<std::size_t>(Dim::spatial)>> cutmix_boxes_cps(const SpatialShape<Dim>& shape, Rng& rng,
                                                                          const CpsBoxOptions& options = {}) {
  std::vector<Box<static_cast<std::size_t>(Dim::spatial)>> boxes;
  boxes.reserve(options.boxes);
  detail::for_each_cps_box<Dim>(shape, rng, options, [&](const auto& box) { boxes.push_back(box); });
  return boxes;
}

template <SpatialDimension Dim>
LabelMap<Dim> cutmix_mask_cps(const SpatialShape<Dim>& shape, Rng& rng, const CpsBoxOptions& options = {}) {
  return detail::paint_boxes(shape, cutmix_boxes_cps<Dim>(shape, rng, options));
}

// cutmix_mask_cps painted into `mask`, a zeroed row-major buffer of `shape`, without allocating.
template <SpatialDimension Dim>
void paint_cutmix_mask_cps(std::int32_t* mask, const SpatialShape<Dim>& shape, Rng& rng, const CpsBoxOptions& options = {}) {
  detail::for_each_cps_box<Dim>(shape, rng, options, [&](const auto& box) { detail::paint_box(mask, shape, box); });
}

// The UniMatch box, or none (with probability 1 − p).
template <SpatialDimension Dim>
std::optional<Box<static_cast<std::size_t>(Dim::spatial)>> cutmix_box_unimatch(const SpatialShape<Dim>& shape, Rng& rng,
                                                                               const UniMatchBoxOptions& options = {}) {
  constexpr auto N = static_cast<std::size_t>(Dim::spatial);
  detail::check_probability("cutmix_box_unimatch", options.p);
  detail::check_range("cutmix_box_unimatch (area)", options.min_area, options.max_area);
  detail::check_range("cutmix_box_unimatch (ratio)", options.min_ratio, options.max_ratio);
  if (!(options.min_area >= 0 && options.max_area <= 1 && options.min_ratio > 0))
    throw value_error("cutmix_box_unimatch: areas must lie in [0, 1] and ratios be positive");
  detail::check_box_shape(shape, "cutmix_box_unimatch");
  if (!rng.bernoulli(options.p)) return std::nullopt;
  const bool full = options.full_depth && N == 3;
  const std::size_t first = full ? 1 : 0;
  double volume = rng.uniform(options.min_area, options.max_area);
  for (std::size_t a = first; a < N; ++a) volume *= static_cast<double>(shape[a]);
  Box<N> box;
  // The reference redraws until the box fits; the cap only guards shapes where it never could,
  // where the last draw is clipped to the shape instead.
  constexpr int attempts = 1000;
  for (int attempt = 1;; ++attempt) {
    const double ratio = rng.uniform(options.min_ratio, options.max_ratio);
    std::array<double, N> side{};
    double area = volume;
    if constexpr (N == 3) {
      if (full) {
        side[0] = static_cast<double>(shape[0]);
      } else {
        const double depth_ratio = rng.uniform(options.min_ratio, options.max_ratio);
        side[0] = std::cbrt(volume * depth_ratio * depth_ratio);
        area = volume / side[0];
      }
    }
    side[N - 2] = std::sqrt(area * ratio);
    side[N - 1] = std::sqrt(area / ratio);
    bool fits = true;
    for (std::size_t a = 0; a < N; ++a) {
      const auto n = static_cast<std::int64_t>(shape[a]);
      auto len = static_cast<std::int64_t>(side[a]);
      std::int64_t begin = a < first ? 0 : rng.integer(0, n - 1);
      if (attempt == attempts) {
        len = std::min(len, n);
        begin = std::min(begin, n - len);
      }
      fits = fits && begin + len <= n;
      box.begin[a] = static_cast<std::size_t>(begin);
      box.end[a] = static_cast<std::size_t>(begin + len);
    }
    if (fits) return box;
  }
}

template <SpatialDimension Dim>
LabelMap<Dim> cutmix_mask_unimatch(const SpatialShape<Dim>& shape, Rng& rng, const UniMatchBoxOptions& options = {}) {
  std::vector<Box<static_cast<std::size_t>(Dim::spatial)>> boxes;
  if (auto box = cutmix_box_unimatch<Dim>(shape, rng, options)) boxes.push_back(*box);
  return detail::paint_boxes(shape, boxes);
}

// cutmix_mask_unimatch painted into `mask`, a zeroed row-major buffer of `shape`, without allocating.
template <SpatialDimension Dim>
void paint_cutmix_mask_unimatch(std::int32_t* mask, const SpatialShape<Dim>& shape, Rng& rng,
                                const UniMatchBoxOptions& options = {}) {
  if (auto box = cutmix_box_unimatch<Dim>(shape, rng, options)) detail::paint_box(mask, shape, *box);
}

// a where M is 0, b where M is nonzero, for every channel of a C×spatial image.
template <std::size_t R>
xt::xtensor<float, R> mix(const xt::xtensor<float, R>& a, const xt::xtensor<float, R>& b,
                          const xt::xtensor<std::int32_t, R - 1>& m) {
  const auto sa = detail::shape_array(a), sb = detail::shape_array(b);
  const auto sm = detail::shape_array(m);
  if (sa != sb) throw shape_error("mix: images differ in shape, " + detail::shape_string(sa) + " and " + detail::shape_string(sb));
  if (!std::equal(sm.begin(), sm.end(), sa.begin() + 1))
    throw shape_error("mix: mask shape " + detail::shape_string(sm) + " differs from the images' spatial shape in " +
                      detail::shape_string(sa));
  auto out = xt::xtensor<float, R>::from_shape(sa);
  const std::size_t n = m.size();
  for (std::size_t c = 0; c < sa[0]; ++c) {
    const float *x = a.data() + c * n, *y = b.data() + c * n;
    float* z = out.data() + c * n;
    for (std::size_t i = 0; i < n; ++i) z[i] = m.data()[i] ? y[i] : x[i];
  }
  return out;
}

// a where M is 0, b where M is nonzero, for label maps (masks, pseudo-labels).
template <std::size_t N>
xt::xtensor<std::int32_t, N> mix(const xt::xtensor<std::int32_t, N>& a, const xt::xtensor<std::int32_t, N>& b,
                                 const xt::xtensor<std::int32_t, N>& m) {
  const auto sa = detail::shape_array(a), sb = detail::shape_array(b), sm = detail::shape_array(m);
  if (sa != sb || sa != sm)
    throw shape_error("mix: label maps " + detail::shape_string(sa) + ", " + detail::shape_string(sb) + " and mask " +
                      detail::shape_string(sm) + " must share one shape");
  auto out = xt::xtensor<std::int32_t, N>::from_shape(sa);
  for (std::size_t i = 0; i < out.size(); ++i) out.data()[i] = m.data()[i] ? b.data()[i] : a.data()[i];
  return out;
}

}  // namespace semiseg::data::aug
