// The spatial-embedding conventions (EmbedSeg, Lalit et al. 2021) that the loss, the clustering
// and the strategies share. Contract: an embedding network's output has 2·S + 1 channels, S the
// spatial rank: S offsets, S sigmas and one seed logit, with the offsets and sigmas ordered
// x, y (, z) as EmbedSeg's, so embedding axis d is the tensor's spatial axis S − 1 − d (the
// tensor's axes are (D,) H, W). A pixel's embedding is e_d = tanh(offset_d) + coordinate_d, with
// coordinate_d = index · spacing_d / (grid − 1): EmbedSeg's grid, where `grid` pixels of unit
// spacing span one unit of embedding space (1024 by default), and a voxel spacing that makes
// anisotropic volumes isotropic in embedding space. An instance's score map is
// φ(x) = exp(−Σ_d exp(10·s_d)·(e_d(x) − c_d)²) around a centre c with sigmas s.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <string>

#include "semiseg/core/dim.hpp"
#include "semiseg/core/error.hpp"
#include "semiseg/core/launch.hpp"
#include "semiseg/core/shape.hpp"

namespace semiseg::instance {

// The embedding loss's targets: N×1×spatial int32 maps with 0 for background, k > 0 for the pixels
// of instance k, k | centre_flag for instance k's centre pixel (its medoid or centroid, marked by
// the data pipeline), and −1 for pixels to ignore.
inline constexpr std::int32_t centre_flag = std::int32_t{1} << 30;
SEMISEG_HD inline std::int32_t instance_id(std::int32_t target) { return target < 0 ? target : target & ~centre_flag; }
SEMISEG_HD inline bool is_centre(std::int32_t target) { return target > 0 && (target & centre_flag) != 0; }

template <SpatialDimension Dim>
struct EmbeddingLayout {
  static constexpr int S = Dim::spatial;
  static constexpr index_t offsets = 0;  // first offset channel (x)
  static constexpr index_t sigmas = S;   // first sigma channel (x)
  static constexpr index_t seed = 2 * S;
  static constexpr index_t channels = 2 * S + 1;
  // The tensor spatial axis (0-based, (D,) H, W order) of embedding axis d (x, y, z order).
  static constexpr int axis_of(int d) { return S - 1 - d; }
};

// Where the pixels sit in embedding space.
template <SpatialDimension Dim>
struct EmbeddingGrid {
  std::array<double, Dim::spatial> spacing = filled(1.0);  // per axis, (D,) H, W order
  double grid = 1024;  // pixels of unit spacing per unit of embedding space, plus one

  static constexpr std::array<double, Dim::spatial> filled(double v) {
    std::array<double, Dim::spatial> a{};
    for (double& x : a) x = v;
    return a;
  }
  void validate(const char* who) const {
    if (!(grid > 1 && std::isfinite(grid)))
      throw value_error(std::string("semiseg: ") + who + ": grid must be a finite number > 1, got " + std::to_string(grid));
    for (double s : spacing)
      if (!(s > 0 && std::isfinite(s)))
        throw value_error(std::string("semiseg: ") + who + ": every spacing must be finite and > 0, got " +
                          std::to_string(s));
  }
  // The embedding-space step between neighbours along embedding axis d (x, y, z order).
  double step(int d) const { return spacing[static_cast<std::size_t>(EmbeddingLayout<Dim>::axis_of(d))] / (grid - 1.0); }
};

// Per-axis steps in x, y, z order, as a device-copyable value.
template <class T, int S>
struct GridSteps {
  T step[S];
  index_t extent[S];  // tensor extents in x, y, z order
  // Coordinates of plane position p (row-major over (D,) H, W).
  SEMISEG_HD void coordinates(index_t p, T* out) const {
    for (int d = 0; d < S; ++d) {
      out[d] = static_cast<T>(p % extent[d]) * step[d];
      p /= extent[d];
    }
  }
};

template <class T, SpatialDimension Dim, int R>
GridSteps<T, Dim::spatial> grid_steps(const EmbeddingGrid<Dim>& g, const Shape<R>& shape) {
  GridSteps<T, Dim::spatial> s{};
  for (int d = 0; d < Dim::spatial; ++d) {
    s.step[d] = static_cast<T>(g.step(d));
    s.extent[d] = shape[2 + EmbeddingLayout<Dim>::axis_of(d)];
  }
  return s;
}

}  // namespace semiseg::instance
