// One sample as datasets return it and augmentations transform it. Contract: the image is
// channels-first (C×H×W or C×D×H×W) in float; the mask and instance map share the image's spatial
// shape, or are empty when the sample has none. Host side only; xtensor is the edge type.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include <xtensor/xtensor.hpp>

#include "semiseg/core/dim.hpp"

namespace semiseg::data {

// A mask value that losses and metrics skip (for pixels outside the selected classes, padding).
inline constexpr std::int32_t ignore_label = -1;
// The class label of a sample that has none.
inline constexpr std::int32_t no_label = -1;

template <SpatialDimension Dim>
using Image = xt::xtensor<float, Dim::spatial + 1>;
template <SpatialDimension Dim>
using LabelMap = xt::xtensor<std::int32_t, Dim::spatial>;
template <SpatialDimension Dim>
using SpatialShape = std::array<std::size_t, Dim::spatial>;

template <SpatialDimension Dim>
struct Sample {
  using dim_type = Dim;
  Image<Dim> image;        // C × spatial
  LabelMap<Dim> mask;      // class index per pixel, ignore_label where unknown; empty if unlabeled
  LabelMap<Dim> instances; // 0 background, 1.. one id per object; empty if absent
  std::int32_t label = no_label;  // class of the whole sample (classification)
  std::size_t index = 0;          // position in the dataset it came from

  bool has_mask() const { return mask.size() != 0; }
  bool has_instances() const { return instances.size() != 0; }
  bool has_label() const { return label != no_label; }
  std::size_t channels() const { return image.shape()[0]; }
  SpatialShape<Dim> spatial_shape() const {
    SpatialShape<Dim> s{};
    for (int a = 0; a < Dim::spatial; ++a) s[static_cast<std::size_t>(a)] = image.shape()[static_cast<std::size_t>(a) + 1];
    return s;
  }
};

}  // namespace semiseg::data
