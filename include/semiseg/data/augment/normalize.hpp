// Intensity normalisation. Contract: the image only changes; Normalize is the fixed
// (x − mean)/std per channel, PercentileNormalize the per-image (x − lo)/(hi − lo + eps) with lo
// and hi numpy percentiles (linear interpolation) of the image's own values (EmbedSeg, after
// csbdeep's normalize: pmin 1, pmax 99.8, eps 1e-20, no clipping). Neither draws from the Rng.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "semiseg/core/dim.hpp"
#include "semiseg/core/error.hpp"
#include "semiseg/data/augment/compose.hpp"
#include "semiseg/data/rng.hpp"
#include "semiseg/data/sample.hpp"

namespace semiseg::data::aug {

// The q-th percentile (q in [0, 100]) of `values` by numpy's default linear interpolation between
// the two nearest ranks. Reorders `values`.
inline double percentile(std::vector<float>& values, double q) {
  if (values.empty()) throw value_error("percentile: no values");
  if (!(q >= 0 && q <= 100)) throw value_error("percentile: q must be in [0, 100], got " + std::to_string(q));
  const double pos = q / 100.0 * static_cast<double>(values.size() - 1);
  const auto k = static_cast<std::size_t>(std::floor(pos));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  const double lo = values[k];
  if (k + 1 >= values.size()) return lo;
  // After nth_element the next rank is the smallest value beyond k.
  const double hi = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(k) + 1, values.end());
  return lo + (hi - lo) * (pos - static_cast<double>(k));
}

// x ← (x − mean[c]) / std[c]; one entry applies to every channel, else one per channel.
struct Normalize {
  std::vector<double> mean{0.0};
  std::vector<double> std{1.0};

  // The ImageNet statistics that ImageNet-pretrained backbones expect of RGB images in [0, 1].
  static Normalize imagenet() { return {{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}}; }

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng&) const {
    const std::size_t c = s.channels(), n = c ? s.image.size() / c : 0;
    for (const auto* v : {&mean, &std})
      if (v->size() != 1 && v->size() != c)
        throw value_error("Normalize: needs 1 or " + std::to_string(c) + " (the channel count) means and stds, got " +
                          std::to_string(v->size()));
    for (double v : std)
      if (!(v > 0)) throw value_error("Normalize: std must be positive, got " + std::to_string(v));
    float* x = s.image.data();
    for (std::size_t k = 0; k < c; ++k) {
      const double m = mean[mean.size() == 1 ? 0 : k], inv = 1.0 / std[std.size() == 1 ? 0 : k];
      for (float* p = x + k * n; p != x + (k + 1) * n; ++p) *p = static_cast<float>((*p - m) * inv);
    }
  }
};

// Per image: lo, hi = the pmin and pmax percentiles of each channel (or of all channels together
// when per_channel is off), then x ← (x − lo)/(hi − lo + eps), clamped to [0, 1] when clip.
struct PercentileNormalize {
  double pmin = 1.0;
  double pmax = 99.8;
  bool clip = false;
  bool per_channel = true;
  double eps = 1e-20;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng&) const {
    if (!(pmin >= 0 && pmin <= pmax && pmax <= 100))
      throw value_error("PercentileNormalize: needs 0 <= pmin <= pmax <= 100, got pmin " + std::to_string(pmin) +
                        " and pmax " + std::to_string(pmax));
    const std::size_t groups = per_channel ? s.channels() : 1, n = groups ? s.image.size() / groups : 0;
    if (n == 0) return;
    std::vector<float> values;
    for (std::size_t g = 0; g < groups; ++g) {
      float* x = s.image.data() + g * n;
      values.assign(x, x + n);
      const double lo = percentile(values, pmin), hi = percentile(values, pmax), scale = 1.0 / (hi - lo + eps);
      for (float* p = x; p != x + n; ++p) {
        const double v = (*p - lo) * scale;
        *p = static_cast<float>(clip ? std::clamp(v, 0.0, 1.0) : v);
      }
    }
  }
};

}  // namespace semiseg::data::aug
