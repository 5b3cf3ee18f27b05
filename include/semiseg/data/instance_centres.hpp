// Instance centres for the spatial-embedding loss, computed by the data pipeline as EmbedSeg's
// preprocessing does. Contract: mark_centres sets instance::centre_flag on one pixel of every
// instance of an instance map (0 background, k > 0 objects, negative values left alone): its
// medoid (the pixel with the least summed distance to the instance's pixels) or its centroid
// (the instance's pixel nearest its mean position, which stays inside a non-convex instance where
// EmbedSeg's rounded mean may not). Distances use the voxel spacing, so anisotropic volumes
// get their physical medoid. Flags travel with the ids through flips, quarter turns, crops and
// shifts, which move whole pixels; the loss falls back to the mean coordinate for an instance
// whose flag was lost. WithCentres is a dataset view that marks the centres of each sample it
// returns: right when no crop or zoom follows. After crops (EmbedSeg marks the centres of each
// crop), append the MarkCentres transform to the loader's transform instead. Ids must stay below
// instance::centre_flag (2^30).
// The medoid is exact up to 2048 pixels per instance; larger instances take the best of the 256
// pixels nearest their geometric median (Weiszfeld's iteration), which is the medoid for convex
// shapes and costs O(256·n) instead of O(n²).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "semiseg/core/error.hpp"
#include "semiseg/data/dataset.hpp"
#include "semiseg/data/sample.hpp"
#include "semiseg/instance/embedding.hpp"

namespace semiseg::data {

enum class CentreKind { medoid, centroid };

template <SpatialDimension Dim>
struct CentreOptions {
  CentreKind kind = CentreKind::medoid;
  std::array<double, Dim::spatial> spacing = instance::EmbeddingGrid<Dim>::filled(1.0);  // (D,) H, W order
};

namespace detail {

template <int S>
using Point = std::array<double, S>;

template <int S>
double distance(const Point<S>& a, const Point<S>& b) {
  double s = 0;
  for (int d = 0; d < S; ++d) s += (a[d] - b[d]) * (a[d] - b[d]);
  return std::sqrt(s);
}

template <int S>
double summed_distance(const Point<S>& a, const std::vector<Point<S>>& points) {
  double s = 0;
  for (const Point<S>& p : points) s += distance<S>(a, p);
  return s;
}

// The point minimising the summed distance to `points` (Weiszfeld, from the mean).
template <int S>
Point<S> geometric_median(const std::vector<Point<S>>& points) {
  Point<S> m{};
  for (const Point<S>& p : points)
    for (int d = 0; d < S; ++d) m[d] += p[d] / static_cast<double>(points.size());
  for (int it = 0; it < 100; ++it) {
    Point<S> num{};
    double den = 0;
    for (const Point<S>& p : points) {
      const double w = 1.0 / std::max(distance<S>(m, p), 1e-9);
      for (int d = 0; d < S; ++d) num[d] += w * p[d];
      den += w;
    }
    Point<S> next{};
    double moved = 0;
    for (int d = 0; d < S; ++d) {
      next[d] = num[d] / den;
      moved += std::abs(next[d] - m[d]);
    }
    m = next;
    if (moved < 1e-6) break;
  }
  return m;
}

// The index into `points` of the instance's centre.
template <int S>
std::size_t centre_of(const std::vector<Point<S>>& points, CentreKind kind) {
  constexpr std::size_t exact_limit = 2048, candidates = 256;
  Point<S> target{};
  if (kind == CentreKind::centroid) {
    for (const Point<S>& p : points)
      for (int d = 0; d < S; ++d) target[d] += p[d] / static_cast<double>(points.size());
  } else if (points.size() <= exact_limit) {
    std::size_t best = 0;
    double best_sum = summed_distance<S>(points[0], points);
    for (std::size_t i = 1; i < points.size(); ++i) {
      const double s = summed_distance<S>(points[i], points);
      if (s < best_sum - 1e-12) {
        best = i;
        best_sum = s;
      }
    }
    return best;
  } else {
    target = geometric_median<S>(points);
  }
  std::vector<std::size_t> order(points.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  const std::size_t keep = kind == CentreKind::centroid ? 1 : std::min(candidates, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(keep), order.end(),
                    [&](std::size_t a, std::size_t b) {
                      const double da = distance<S>(points[a], target), db = distance<S>(points[b], target);
                      return da < db || (da == db && a < b);
                    });
  if (kind == CentreKind::centroid) return order[0];
  std::size_t best = order[0];
  double best_sum = summed_distance<S>(points[best], points);
  for (std::size_t k = 1; k < keep; ++k) {
    const double s = summed_distance<S>(points[order[k]], points);
    if (s < best_sum - 1e-12 || (s <= best_sum + 1e-12 && order[k] < best)) {
      best = order[k];
      best_sum = s;
    }
  }
  return best;
}

}  // namespace detail

// Sets the centre flag on one pixel of each instance, clearing any flag set before.
template <SpatialDimension Dim>
void mark_centres(LabelMap<Dim>& instances, const CentreOptions<Dim>& options = {}) {
  constexpr int S = Dim::spatial;
  for (double s : options.spacing)
    if (!(s > 0 && std::isfinite(s))) throw value_error("mark_centres: every spacing must be finite and > 0");
  std::array<std::size_t, S> extent{};
  for (int a = 0; a < S; ++a) extent[static_cast<std::size_t>(a)] = instances.shape()[static_cast<std::size_t>(a)];
  std::int32_t* v = instances.data();
  std::map<std::int32_t, std::vector<std::size_t>> pixels;
  for (std::size_t i = 0; i < instances.size(); ++i) {
    if (v[i] > 0) v[i] = instance::instance_id(v[i]);
    if (v[i] > 0) pixels[v[i]].push_back(i);
  }
  std::vector<detail::Point<S>> points;
  for (const auto& [id, list] : pixels) {
    points.resize(list.size());
    for (std::size_t k = 0; k < list.size(); ++k) {
      std::size_t rest = list[k];
      for (int a = S - 1; a >= 0; --a) {
        const std::size_t e = extent[static_cast<std::size_t>(a)];
        points[k][a] = static_cast<double>(rest % e) * options.spacing[static_cast<std::size_t>(a)];
        rest /= e;
      }
    }
    v[list[detail::centre_of<S>(points, options.kind)]] |= instance::centre_flag;
  }
}

// A transform (for data::aug::Compose) that marks the centres of a sample's instance map, after
// the crops and zooms before it.
template <SpatialDimension Dim>
struct MarkCentres {
  CentreOptions<Dim> options{};
  template <class Rng>
  void operator()(Sample<Dim>& s, Rng&) const {
    if (s.has_instances()) mark_centres<Dim>(s.instances, options);
  }
};

// A dataset whose samples' instance maps carry their centres (see mark_centres).
template <Dataset D>
class WithCentres {
 public:
  using dim_type = typename D::dim_type;
  explicit WithCentres(D parent, CentreOptions<dim_type> options = {}) : parent_(std::move(parent)), options_(options) {}
  std::size_t size() const { return parent_.size(); }
  Sample<dim_type> get(std::size_t i) const {
    Sample<dim_type> s = parent_.get(i);
    if (s.has_instances()) mark_centres<dim_type>(s.instances, options_);
    return s;
  }
  const D& parent() const { return parent_; }

 private:
  D parent_;
  CentreOptions<dim_type> options_;
};

}  // namespace semiseg::data
