// Dimension policies. Contract: a dimension tag names its spatial rank at compile time, so a
// tensor's rank is N, C plus `spatial` axes. `flat` is the N×C form of features and logits.
#pragma once

#include <concepts>

namespace semiseg {

struct flat {
  static constexpr int spatial = 0;
  static constexpr const char* name = "flat";
};
struct dim2 {
  static constexpr int spatial = 2;
  static constexpr const char* name = "dim2";
};
struct dim3 {
  static constexpr int spatial = 3;
  static constexpr const char* name = "dim3";
};

template <class D>
concept Dimension = std::same_as<D, flat> || std::same_as<D, dim2> || std::same_as<D, dim3>;

template <class D>
concept SpatialDimension = std::same_as<D, dim2> || std::same_as<D, dim3>;

}  // namespace semiseg
