// Strong augmentation policies and the reference methods' presets. Contract: RandAugment applies n
// operations drawn uniformly (with repetition) from its list, each with a magnitude m ~ U(0, 1)
// mapped to FixMatch's ranges (Sohn et al. 2020, Table 12); its geometric operations move the
// mask and instances with the image, nearest-neighbour for all three as PIL does. Its intensity
// operations assume values in [0, 1] (8-bit quantisation for equalize and posterize), so it runs
// before normalisation. In 3D, rotate, shear, translate and sharpness act in the (H, W) plane.
// The presets return a Compose of the options each method's reference code uses.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "semiseg/core/dim.hpp"
#include "semiseg/core/error.hpp"
#include "semiseg/data/augment/compose.hpp"
#include "semiseg/data/augment/geometric.hpp"
#include "semiseg/data/augment/photometric.hpp"
#include "semiseg/data/rng.hpp"
#include "semiseg/data/sample.hpp"

namespace semiseg::data::aug {

enum class RandAugmentOp {
  identity,
  autocontrast,
  brightness,
  color,
  contrast,
  equalize,
  posterize,
  rotate,
  sharpness,
  shear_x,
  shear_y,
  solarize,
  translate_x,
  translate_y,
};

// FixMatch's fourteen operations.
inline std::vector<RandAugmentOp> fixmatch_ops() {
  using enum RandAugmentOp;
  return {identity, autocontrast, brightness, color,   contrast, equalize,    posterize,
          rotate,   sharpness,    shear_x,    shear_y, solarize, translate_x, translate_y};
}

namespace detail {

// The nearest 8-bit level of a value in [0, 1].
inline std::int32_t to_byte(float v) { return static_cast<std::int32_t>(clamp01(v) * 255.0f + 0.5f); }

// Per channel, the range [min, max] stretched to [0, 1]; a flat channel stays as it is.
template <class Image>
void autocontrast(Image& image) {
  const auto [c, n] = channels_and_pixels(image);
  for (std::size_t k = 0; k < c; ++k) {
    float* x = image.data() + k * n;
    const auto [lo, hi] = std::minmax_element(x, x + n);
    const float a = *lo, b = *hi;
    if (b > a)
      for (float* p = x; p != x + n; ++p) *p = (*p - a) / (b - a);
  }
}

// PIL's ImageOps.equalize per channel on 8-bit levels: each level maps to its cumulative count
// before it, in steps of (count without the top level)/256.
template <class Image>
void equalize(Image& image) {
  const auto [c, n] = channels_and_pixels(image);
  for (std::size_t k = 0; k < c; ++k) {
    float* x = image.data() + k * n;
    std::array<std::size_t, 256> hist{};
    for (float* p = x; p != x + n; ++p) ++hist[static_cast<std::size_t>(to_byte(*p))];
    std::size_t top = 255;
    while (top > 0 && hist[top] == 0) --top;
    const std::size_t step = (n - hist[top]) / 256;
    if (step == 0) continue;
    std::array<float, 256> lut{};
    std::size_t acc = step / 2;
    for (std::size_t i = 0; i < 256; ++i) {
      lut[i] = static_cast<float>(std::min<std::size_t>(acc / step, 255)) / 255.0f;
      acc += hist[i];
    }
    for (float* p = x; p != x + n; ++p) *p = lut[static_cast<std::size_t>(to_byte(*p))];
  }
}

// Keeps the top `bits` bits of each 8-bit level.
template <class Image>
void posterize(Image& image, int bits) {
  const std::int32_t keep = ~((1 << (8 - bits)) - 1) & 0xFF;
  float* x = image.data();
  for (std::size_t i = 0; i < image.size(); ++i) x[i] = static_cast<float>(to_byte(x[i]) & keep) / 255.0f;
}

// Values at or above the threshold are inverted.
template <class Image>
void solarize(Image& image, float threshold) {
  float* x = image.data();
  for (std::size_t i = 0; i < image.size(); ++i)
    if (x[i] >= threshold) x[i] = 1.0f - x[i];
}

// PIL's ImageEnhance.Sharpness: a blend with the image smoothed by the 3×3 kernel
// [1 1 1; 1 5 1; 1 1 1]/13 of each (H, W) plane, whose border pixels keep their values.
template <class Image>
void sharpness(Image& image, float factor) {
  const auto shape = shape_array(image);
  const std::size_t h = shape[shape.size() - 2], w = shape[shape.size() - 1], plane = h * w;
  if (h < 3 || w < 3) return;
  std::vector<float> smooth(plane);
  for (float* x = image.data(); x != image.data() + image.size(); x += plane) {
    std::copy(x, x + plane, smooth.begin());
    for (std::size_t y = 1; y + 1 < h; ++y)
      for (std::size_t i = 1; i + 1 < w; ++i) {
        const float* r = x + y * w + i;
        const float sum = r[-1] + r[1] + r[-static_cast<std::ptrdiff_t>(w) - 1] + r[-static_cast<std::ptrdiff_t>(w)] +
                          r[-static_cast<std::ptrdiff_t>(w) + 1] + r[w - 1] + r[w] + r[w + 1];
        smooth[y * w + i] = (sum + 5.0f * r[0]) / 13.0f;
      }
    for (std::size_t i = 0; i < plane; ++i) x[i] = blend(x[i], smooth[i], factor, true);
  }
}

}  // namespace detail

// RandAugment with random magnitudes (FixMatch). Magnitude m ~ U(0, 1) per operation maps to:
// brightness, color, contrast, sharpness: enhancement factor min_factor + (max_factor −
// min_factor)·m (PIL's, 1 = unchanged; color is identity unless RGB); posterize: 4 + ⌊5m⌋ bits;
// solarize: threshold m; rotate: (2m − 1)·max_degrees, counter-clockwise as displayed; shear:
// (2m − 1)·max_shear about the centre; translate: (2m − 1)·max_translate of the side, rounded to
// whole pixels. Uncovered pixels get `fill` (the mask ignore_label, instances 0).
struct RandAugment {
  std::size_t n = 2;
  std::vector<RandAugmentOp> ops = fixmatch_ops();
  double min_factor = 0.05;
  double max_factor = 0.95;
  double max_degrees = 30.0;
  double max_shear = 0.3;
  double max_translate = 0.3;
  float fill = 0.0f;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng& rng) const {
    if (ops.empty()) throw value_error("RandAugment: the operation list is empty");
    detail::check_range("RandAugment (factor)", min_factor, max_factor);
    if (!(min_factor >= 0 && max_degrees >= 0 && max_shear >= 0 && max_translate >= 0 && max_translate <= 1))
      throw value_error("RandAugment: factors and maxima must be >= 0 and max_translate <= 1");
    for (std::size_t i = 0; i < n; ++i) {
      const RandAugmentOp op = ops[static_cast<std::size_t>(rng.integer(0, static_cast<std::int64_t>(ops.size()) - 1))];
      apply(s, op, rng.uniform());
    }
  }

  // One operation at magnitude m in [0, 1].
  template <SpatialDimension Dim>
  void apply(Sample<Dim>& s, RandAugmentOp op, double m) const {
    detail::check_sample(s, "RandAugment");
    const auto factor = static_cast<float>(min_factor + (max_factor - min_factor) * m);
    const double signed_m = 2.0 * m - 1.0;
    constexpr auto N = static_cast<std::size_t>(Dim::spatial);
    switch (op) {
      case RandAugmentOp::identity:
        break;
      case RandAugmentOp::autocontrast:
        detail::autocontrast(s.image);
        break;
      case RandAugmentOp::brightness:
        detail::brightness(s.image, factor, true);
        break;
      case RandAugmentOp::color:
        detail::saturation(s.image, factor);
        break;
      case RandAugmentOp::contrast:
        detail::contrast(s.image, factor, true);
        break;
      case RandAugmentOp::equalize:
        detail::equalize(s.image);
        break;
      case RandAugmentOp::posterize:
        detail::posterize(s.image, 4 + std::min(4, static_cast<int>(5.0 * m)));
        break;
      case RandAugmentOp::rotate: {
        const double t = signed_m * max_degrees * 3.141592653589793 / 180.0, c = std::cos(t), sn = std::sin(t);
        detail::warp_in_plane(s, {c, sn, -sn, c}, fill);
        break;
      }
      case RandAugmentOp::sharpness:
        detail::sharpness(s.image, factor);
        break;
      case RandAugmentOp::shear_x:
        detail::warp_in_plane(s, {1.0, 0.0, signed_m * max_shear, 1.0}, fill);
        break;
      case RandAugmentOp::shear_y:
        detail::warp_in_plane(s, {1.0, signed_m * max_shear, 0.0, 1.0}, fill);
        break;
      case RandAugmentOp::solarize:
        detail::solarize(s.image, static_cast<float>(m));
        break;
      case RandAugmentOp::translate_x:
      case RandAugmentOp::translate_y: {
        const std::size_t axis = op == RandAugmentOp::translate_x ? N - 1 : N - 2;
        std::array<std::int64_t, N> shift{};
        shift[axis] = std::lround(signed_m * max_translate * static_cast<double>(s.spatial_shape()[axis]));
        detail::shift_sample(s, shift, fill);
        break;
      }
    }
  }
};

// FixMatch's weak view: horizontal flip with p 0.5, then a shift of up to 12.5% per axis (every
// axis in 3D). FixMatch pads by reflection; here uncovered pixels are filled with 0.
template <SpatialDimension Dim>
Compose<Dim> fixmatch_weak() {
  return {Flip{.p_depth = 0.0, .p_height = 0.0, .p_width = 0.5}, Translate{}};
}

// FixMatch's strong view: RandAugment (2 operations, random magnitudes), then Cutout of half the
// side filled with grey 0.5.
template <SpatialDimension Dim>
Compose<Dim> fixmatch_strong() {
  return {RandAugment{}, Cutout{}};
}

// UniMatch's (and its FixMatch baseline's) strong view on top of the weak one: colour jitter
// (0.5, 0.5, 0.5, 0.25) with p 0.8, grayscale with p 0.2, Gaussian blur σ in [0.1, 2] with p 0.5.
// CutMix belongs to the training step (cutmix.hpp). A 1-channel image gets brightness and
// contrast jitter only, and no grayscale.
template <SpatialDimension Dim>
Compose<Dim> unimatch_strong() {
  return {ColorJitter{}, Grayscale{}, GaussianBlur{}};
}

// EmbedSeg's training augmentation: a random quarter turn and random flips. In 3D the turn plane
// is random and a plane with the depth axis turns by 0° or 180° when its sides differ, as
// EmbedSeg's RandomRotationsAndFlips_3d; each axis flips with p 0.5 (EmbedSeg flips one axis).
template <SpatialDimension Dim>
Compose<Dim> embedseg_train() {
  return {Rotate90{.plane = Plane::random, .keep_shape = true}, Flip{}};
}

}  // namespace semiseg::data::aug
