#include "semiseg/instance/clustering.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

namespace {

using instance::ClusteringOptions;
using instance::SeedSelection;

// The raw sigma whose φ falls to 0.5 at `pixels` pixels (unit spacing) from the centre:
// exp(10σ)·(pixels / (grid − 1))² = ln 2.
inline double sigma_for_radius(double pixels, double grid = 1024) {
  const double r = pixels / (grid - 1.0);
  return std::log(std::log(2.0) / (r * r)) / 10.0;
}

// A hand-built raw output: for every pixel, the point (in pixel index coordinates, tensor order)
// where it embeds, its sigma (the same on every axis) and its seed logit, plus the expected
// instance map. Pixels left alone embed at their own position, have sigma 0 and seed logit −6.
template <SpatialDimension Dim>
struct Scene {
  static constexpr int S = Dim::spatial;
  using Index = std::array<index_t, S>;  // tensor order: (D,) H, W
  using Point = std::array<double, S>;

  Index extent{};
  std::vector<Point> centre;
  std::vector<double> sigma, logit;
  std::vector<std::int32_t> truth;

  explicit Scene(Index e) : extent(e) {
    const auto n = static_cast<std::size_t>(plane());
    centre.resize(n);
    for (index_t p = 0; p < plane(); ++p) {
      const Index i = index_of(p);
      for (std::size_t a = 0; a < std::size_t(S); ++a) centre[static_cast<std::size_t>(p)][a] = double(i[a]);
    }
    sigma.assign(n, 0.0);
    logit.assign(n, -6.0);
    truth.assign(n, 0);
  }

  index_t plane() const {
    index_t p = 1;
    for (index_t e : extent) p *= e;
    return p;
  }
  Index index_of(index_t p) const {
    Index i{};
    for (int a = S - 1; a >= 0; --a) {
      i[static_cast<std::size_t>(a)] = p % extent[static_cast<std::size_t>(a)];
      p /= extent[static_cast<std::size_t>(a)];
    }
    return i;
  }
  static double distance(const Index& i, const Point& c) {
    double s = 0;
    for (int a = 0; a < S; ++a) {
      const double d = double(i[static_cast<std::size_t>(a)]) - c[static_cast<std::size_t>(a)];
      s += d * d;
    }
    return std::sqrt(s);
  }

  // Paints the box [lo, hi) as instance `label` (0: foreground that no instance should claim):
  // every pixel embeds at `c`, with the sigma of a φ radius of `radius` pixels and the seed logit
  // `top − slope·|pixel − peak|` (peak = c unless given).
  void box(Index lo, Index hi, std::int32_t label, Point c, double radius, double top, double slope = 0.0,
           const Point* peak = nullptr) {
    for (index_t p = 0; p < plane(); ++p) {
      const Index i = index_of(p);
      bool inside = true;
      for (int a = 0; a < S; ++a)
        inside = inside && i[static_cast<std::size_t>(a)] >= lo[static_cast<std::size_t>(a)] &&
                 i[static_cast<std::size_t>(a)] < hi[static_cast<std::size_t>(a)];
      if (!inside) continue;
      const auto q = static_cast<std::size_t>(p);
      centre[q] = c;
      sigma[q] = sigma_for_radius(radius);
      logit[q] = top - slope * distance(i, peak ? *peak : c);
      truth[q] = label;
    }
  }

  // The raw network output under `grid`: offset_d = atanh(c_d − coordinate_d), so that
  // tanh(offset) + coordinate = c exactly, up to rounding.
  template <class T>
  Tensor<T, device, Dim> raw(const instance::EmbeddingGrid<Dim>& grid) const {
    using Layout = instance::EmbeddingLayout<Dim>;
    const index_t n = plane();
    std::vector<T> v(static_cast<std::size_t>(Layout::channels * n));
    for (index_t p = 0; p < n; ++p) {
      const Index i = index_of(p);
      const auto q = static_cast<std::size_t>(p);
      for (int d = 0; d < S; ++d) {
        const auto a = static_cast<std::size_t>(Layout::axis_of(d));
        const double step = grid.step(d);
        v[static_cast<std::size_t>((Layout::offsets + d) * n + p)] =
            static_cast<T>(std::atanh(centre[q][a] * step - double(i[a]) * step));
        v[static_cast<std::size_t>((Layout::sigmas + d) * n + p)] = static_cast<T>(sigma[q]);
      }
      v[static_cast<std::size_t>(Layout::seed * n + p)] = static_cast<T>(logit[q]);
    }
    shape_of<Dim> shape;
    shape[0] = 1;
    shape[1] = Layout::channels;
    for (int a = 0; a < S; ++a) shape[2 + a] = extent[static_cast<std::size_t>(a)];
    Tensor<T, device, Dim> t(shape);
    from_host(t.view(), v);
    return t;
  }
};

// The two label maps describe the same partition (background included), whatever the numbers.
template <class Labels>
bool same_partition(const Labels& got, const std::vector<std::int32_t>& want) {
  REQUIRE(got.size() == want.size());
  std::map<std::int32_t, std::int32_t> forward, backward;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const std::int32_t g = got.data()[i], w = want[i];
    if ((g == 0) != (w == 0)) {
      MESSAGE("pixel " << i << ": got " << g << ", want " << w);
      return false;
    }
    if (g == 0) continue;
    if (forward.emplace(g, w).first->second != w) return false;
    if (backward.emplace(w, g).first->second != g) return false;
  }
  return true;
}

// The distinct instance labels; also checks they are 1..K.
template <class Labels>
std::size_t instances(const Labels& got) {
  std::set<std::int32_t> labels;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (got.data()[i] != 0) labels.insert(got.data()[i]);
  CHECK(std::all_of(got.begin(), got.end(), [](std::int32_t l) { return l >= 0; }));
  if (!labels.empty()) CHECK(*labels.rbegin() == static_cast<std::int32_t>(labels.size()));
  return labels.size();
}

template <class Labels>
bool all_zero(const Labels& got) {
  return std::all_of(got.begin(), got.end(), [](std::int32_t l) { return l == 0; });
}

template <SpatialDimension Dim>
ClusteringOptions<Dim> options_for(SeedSelection seeds) {
  ClusteringOptions<Dim> o;
  o.seeds = seeds;
  return o;
}

constexpr SeedSelection both_variants[] = {SeedSelection::greedy, SeedSelection::local_maxima};

inline std::string name_of(SeedSelection s) { return s == SeedSelection::greedy ? "greedy" : "local_maxima"; }

// Three separated objects (every one larger than 36 pixels) whose pixels embed at their centres,
// each with constant seeds (a plateau); instance centres ≥ 6 pixels apart, φ radius 3.
template <SpatialDimension Dim>
Scene<Dim> three_objects(double logit_scale = 1.0) {
  if constexpr (Dim::spatial == 2) {
    Scene<Dim> s({24, 32});
    s.box({2, 2}, {8, 10}, 1, {4.5, 5.5}, 3, 4 * logit_scale);       // 48 pixels
    s.box({12, 4}, {20, 12}, 2, {15.5, 7.5}, 3, 5 * logit_scale);    // 64
    s.box({6, 18}, {14, 28}, 3, {9.5, 22.5}, 3, 3 * logit_scale);    // 80
    return s;
  } else {
    Scene<Dim> s({8, 12, 12});
    s.box({0, 0, 0}, {4, 5, 5}, 1, {1.5, 2, 2}, 3, 4 * logit_scale);       // 100 voxels
    s.box({3, 6, 2}, {8, 12, 8}, 2, {5, 8.5, 4.5}, 3, 5 * logit_scale);    // 180
    s.box({0, 6, 8}, {3, 10, 12}, 3, {1, 7.5, 9.5}, 3, 3 * logit_scale);   // 48
    return s;
  }
}

}  // namespace

#define CLUSTERING_CASES SEMISEG_PARITY_CASES
#define CLUSTERING_2D_CASES semiseg::test::Case<semiseg::dim2, float>, semiseg::test::Case<semiseg::dim2, double>
#define CLUSTERING_3D_CASES semiseg::test::Case<semiseg::dim3, float>, semiseg::test::Case<semiseg::dim3, double>

TEST_CASE_TEMPLATE("clustering: objects that embed at their centres are found exactly, by both seed variants", C,
                   CLUSTERING_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const Scene<Dim> scene = three_objects<Dim>();
  const instance::EmbeddingGrid<Dim> grid;
  const auto raw = scene.template raw<T>(grid);
  for (const SeedSelection seeds : both_variants) {
    CAPTURE(name_of(seeds));
    instance::Clusterer<T, device, Dim> clusterer;
    const auto got = clusterer(raw.view(), options_for<Dim>(seeds));
    CHECK(got.dimension() == std::size_t(Dim::spatial));
    for (int a = 0; a < Dim::spatial; ++a) CHECK(index_t(got.shape()[std::size_t(a)]) == scene.extent[std::size_t(a)]);
    CHECK(same_partition(got, scene.truth));
    CHECK(instances(got) == 3);
    // Each object's first visited seed claims all of it: one proposal per object.
    CHECK(clusterer.proposals() == 3);
    // The free function agrees, from a Tensor and from a view.
    CHECK(instance::cluster(raw, options_for<Dim>(seeds)) == got);
    CHECK(instance::cluster(raw.view(), options_for<Dim>(seeds)) == got);
  }
}

TEST_CASE_TEMPLATE("clustering: an object no larger than min_object_size is dropped", C, CLUSTERING_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  Scene<Dim> scene = three_objects<Dim>();
  index_t small_size = 0;
  if constexpr (Dim::spatial == 2) {
    scene.box({18, 20}, {22, 25}, 4, {19.5, 22}, 3, 4.5);  // 4×5 = 20 pixels
    small_size = 20;
  } else {
    scene.box({4, 0, 8}, {8, 3, 11}, 4, {5.5, 1, 9}, 3, 4.5);  // 4×3×3 = 36 voxels
    small_size = 36;
  }
  const auto raw = scene.template raw<T>({});
  std::vector<std::int32_t> without = scene.truth;
  for (auto& l : without) l = l == 4 ? 0 : l;
  for (const SeedSelection seeds : both_variants) {
    CAPTURE(name_of(seeds));
    auto o = options_for<Dim>(seeds);
    o.min_object_size = small_size;  // size must be > min_object_size
    const auto dropped = instance::cluster(raw, o);
    CHECK(same_partition(dropped, without));
    CHECK(instances(dropped) == 3);
    o.min_object_size = small_size - 1;
    const auto kept = instance::cluster(raw, o);
    CHECK(same_partition(kept, scene.truth));
    CHECK(instances(kept) == 4);
  }
  // The default (36) drops the 20-pixel 2D object and the 36-voxel 3D one.
  const auto by_default = instance::cluster(raw, ClusteringOptions<Dim>{});
  CHECK(same_partition(by_default, without));
}

TEST_CASE_TEMPLATE("clustering: foreground seeds below seed_threshold give no instances", C, CLUSTERING_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  // Logits 0.35·(4, 5, 3): seeds 0.80, 0.85, 0.74: foreground, all below 0.9.
  const Scene<Dim> scene = three_objects<Dim>(0.35);
  const auto raw = scene.template raw<T>({});
  for (const SeedSelection seeds : both_variants) {
    CAPTURE(name_of(seeds));
    instance::Clusterer<T, device, Dim> clusterer;
    auto o = options_for<Dim>(seeds);
    const auto none = clusterer(raw.view(), o);
    CHECK(all_zero(none));
    CHECK(clusterer.proposals() == 0);
    // A lower seed threshold finds them; one between the seeds finds only the best object.
    o.seed_threshold = 0.7;
    CHECK(same_partition(clusterer(raw.view(), o), scene.truth));
    o.seed_threshold = 0.83;
    std::vector<std::int32_t> best = scene.truth;
    for (auto& l : best) l = l == 2 ? 2 : 0;
    CHECK(same_partition(clusterer(raw.view(), o), best));
    // A foreground threshold above every seed leaves nothing to cluster.
    o.seed_threshold = 0.0;
    o.foreground_threshold = 0.9;
    CHECK(all_zero(clusterer(raw.view(), o)));
  }
}

TEST_CASE_TEMPLATE("clustering: an empty foreground gives all zeros", C, CLUSTERING_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  Scene<Dim> scene = three_objects<Dim>();
  for (auto& l : scene.logit) l = -3.0;  // every seed 0.047
  const auto raw = scene.template raw<T>({});
  for (const SeedSelection seeds : both_variants) {
    CAPTURE(name_of(seeds));
    instance::Clusterer<T, device, Dim> clusterer;
    auto o = options_for<Dim>(seeds);
    o.seed_threshold = 0.0;
    const auto got = clusterer(raw.view(), o);
    CHECK(got.size() == std::size_t(scene.plane()));
    CHECK(all_zero(got));
    CHECK(clusterer.proposals() == 0);
  }
}

TEST_CASE_TEMPLATE("clustering: greedy and local maxima differ on an object whose halves embed apart", C,
                   CLUSTERING_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  // One object whose two halves embed 6 pixels apart (φ radius 3), with one seed peak in the
  // left half and seeds ≥ 0.97 everywhere on it. Greedy visits the best unclustered pixel again
  // after the left half is claimed and finds the right half too; the seed map has one local
  // maximum, so local maxima finds the left half only.
  const Scene<Dim> scene = [] {
    if constexpr (Dim::spatial == 2) {
      Scene<Dim> s({10, 14});
      const typename Scene<Dim>::Point peak{4, 3};
      s.box({1, 1}, {9, 7}, 1, {4.5, 4}, 3, 5, 0.1, &peak);  // 8×6 = 48 pixels
      s.box({1, 7}, {9, 13}, 2, {4.5, 10}, 3, 5, 0.1, &peak);
      return s;
    } else {
      Scene<Dim> s({5, 8, 12});
      const typename Scene<Dim>::Point peak{2, 3, 2};
      s.box({0, 1, 1}, {5, 7, 6}, 1, {2, 3.5, 3}, 3, 5, 0.1, &peak);  // 5×6×5 = 150 voxels
      s.box({0, 1, 6}, {5, 7, 11}, 2, {2, 3.5, 9}, 3, 5, 0.1, &peak);
      return s;
    }
  }();
  std::vector<std::int32_t> left = scene.truth;
  for (auto& l : left) l = l == 1 ? 1 : 0;
  const auto raw = scene.template raw<T>({});
  const auto greedy = instance::cluster(raw, options_for<Dim>(SeedSelection::greedy));
  CHECK(same_partition(greedy, scene.truth));
  CHECK(instances(greedy) == 2);
  for (const index_t radius : {index_t{1}, index_t{2}, index_t{20}}) {
    CAPTURE(radius);
    auto o = options_for<Dim>(SeedSelection::local_maxima);
    o.maxima_radius = radius;
    instance::Clusterer<T, device, Dim> clusterer;
    const auto maxima = clusterer(raw.view(), o);
    CHECK(same_partition(maxima, left));
    CHECK(instances(maxima) == 1);
    CHECK(clusterer.proposals() == 1);
  }
}

TEST_CASE_TEMPLATE("clustering: local maxima with radius 0 is the greedy variant", C, CLUSTERING_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  // A noisy raw output: small random offsets (so pixels embed near their own position), sigmas
  // around a 3-pixel radius and random seeds, so the proposals overlap and compete.
  const auto shape = Dim::spatial == 2 ? shape_nc<Dim>(1, 5, {24, 20}) : shape_nc<Dim>(1, 7, {6, 10, 9});
  const index_t plane = shape.plane();
  std::vector<T> v(static_cast<std::size_t>(shape.size()));
  const Philox rng{77, 3, 0};
  for (index_t i = 0; i < shape.size(); ++i) {
    const double u = 2.0 * rng.uniform<double>(static_cast<std::uint64_t>(i)) - 1.0;
    const index_t channel = i / plane;
    double x = 0;
    if (channel < Dim::spatial) x = 0.004 * u;                                 // offsets: ±4 pixels
    else if (channel < 2 * Dim::spatial) x = sigma_for_radius(3) + 0.1 * u;  // sigmas
    else x = 4.0 * u + 1.5;                                                  // seed logits
    v[static_cast<std::size_t>(i)] = static_cast<T>(x);
  }
  Tensor<T, device, Dim> raw(shape);
  from_host(raw.view(), v);
  instance::Clusterer<T, device, Dim> greedy, maxima;
  auto o = options_for<Dim>(SeedSelection::greedy);
  o.min_object_size = 5;
  const auto a = greedy(raw.view(), o);
  o.seeds = SeedSelection::local_maxima;
  o.maxima_radius = 0;
  const auto b = maxima(raw.view(), o);
  CHECK(a == b);
  CHECK(greedy.proposals() == maxima.proposals());
  CHECK(instances(a) >= 3);
  CHECK(greedy.proposals() > index_t(instances(a)));  // some proposals were rejected
  // Radius 1 visits fewer seeds.
  o.maxima_radius = 1;
  (void)maxima(raw.view(), o);
  CHECK(maxima.proposals() < greedy.proposals());
}

TEST_CASE_TEMPLATE("clustering: spacing along z splits a proposal that merges two objects at unit spacing", C,
                   CLUSTERING_3D_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  // Two blocks stacked along z, embedding at centres 3 voxels apart along z, φ radius 6 (in
  // unit-spacing pixels), seeds peaked at the centres. At unit spacing the first proposal covers
  // both; with spacing 4 along z the centres are 12 apart and each block is its own instance.
  // Spacing along y and x changes nothing here.
  Scene<Dim> scene({6, 7, 7});
  scene.box({0, 1, 1}, {3, 6, 6}, 1, {1, 3, 3}, 6, 5, 0.2);  // 75 voxels
  scene.box({3, 1, 1}, {6, 6, 6}, 2, {4, 3, 3}, 6, 5, 0.2);
  std::vector<std::int32_t> merged = scene.truth;
  for (auto& l : merged) l = l != 0 ? 1 : 0;
  for (const SeedSelection seeds : both_variants) {
    CAPTURE(name_of(seeds));
    instance::Clusterer<T, device, Dim> clusterer;
    auto o = options_for<Dim>(seeds);
    const auto unit = clusterer(scene.template raw<T>(o.grid).view(), o);
    CHECK(same_partition(unit, merged));
    CHECK(instances(unit) == 1);
    CHECK(clusterer.proposals() == 1);
    o.grid.spacing = {4.0, 1.0, 1.0};
    const auto anisotropic = clusterer(scene.template raw<T>(o.grid).view(), o);
    CHECK(same_partition(anisotropic, scene.truth));
    CHECK(instances(anisotropic) == 2);
    CHECK(clusterer.proposals() == 2);
    o.grid.spacing = {1.0, 1.5, 1.5};
    CHECK(same_partition(clusterer(scene.template raw<T>(o.grid).view(), o), merged));
  }
}

TEST_CASE_TEMPLATE("clustering: a proposal needs more than half of it unclustered; a later one overwrites", C,
                   CLUSTERING_2D_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  // A (98 pixels, φ radius 2, the best seeds) is claimed first. B's pixels embed 8 pixels from
  // A's centre with a φ radius of 12, so B's proposal is A ∪ B, of which B minus its own seed
  // pixel is unclustered. B of 60 pixels: 59 of 158, rejected; of 100: 99 of 198, exactly half,
  // rejected; of 120: 119 of 218, accepted, and B's label overwrites A's, which is then dropped:
  // one instance A ∪ B.
  for (const index_t rows : {index_t{6}, index_t{10}, index_t{12}}) {
    CAPTURE(rows);
    Scene<Dim> scene({22, 14});
    scene.box({0, 0}, {7, 14}, 1, {3, 6.5}, 2, 5);
    scene.box({9, 0}, {9 + rows, 10}, 2, {3, 14.5}, 12, 4);
    const auto raw = scene.template raw<T>({});
    std::vector<std::int32_t> want = scene.truth;
    for (auto& l : want) l = rows < 12 ? (l == 1 ? 1 : 0) : (l != 0 ? 1 : 0);
    for (const SeedSelection seeds : both_variants) {
      CAPTURE(name_of(seeds));
      instance::Clusterer<T, device, Dim> clusterer;
      const auto got = clusterer(raw.view(), options_for<Dim>(seeds));
      CHECK(same_partition(got, want));
      CHECK(instances(got) == 1);
      CHECK(clusterer.proposals() == 2);
    }
  }
}

TEST_CASE_TEMPLATE("clustering: a Clusterer reused across image sizes gives the one-off results", C, CLUSTERING_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const Scene<Dim> big = three_objects<Dim>();
  const Scene<Dim> small = [] {
    if constexpr (Dim::spatial == 2) {
      Scene<Dim> s({12, 10});
      s.box({1, 1}, {11, 9}, 1, {5, 4}, 3, 4);
      return s;
    } else {
      Scene<Dim> s({4, 5, 6});
      s.box({0, 0, 0}, {4, 5, 6}, 1, {2, 2, 3}, 3, 4);
      return s;
    }
  }();
  const auto raw_big = big.template raw<T>({});
  const auto raw_small = small.template raw<T>({});
  instance::Clusterer<T, device, Dim> clusterer;
  for (const SeedSelection seeds : both_variants) {
    CAPTURE(name_of(seeds));
    const auto o = options_for<Dim>(seeds);
    for (int round = 0; round < 2; ++round) {
      CHECK(clusterer(raw_big.view(), o) == instance::cluster(raw_big, o));
      const auto s = clusterer(raw_small.view(), o);
      CHECK(s == instance::cluster(raw_small, o));
      CHECK(same_partition(s, small.truth));
    }
  }
}

TEST_CASE_TEMPLATE("clustering: bad inputs and options throw typed errors", C, CLUSTERING_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr int S = Dim::spatial;
  const ClusteringOptions<Dim> good;
  Tensor<T, device, Dim> wrong_channels(shape_nc<Dim>(1, 2 * S, {4, 4, 4}));
  wrong_channels.zero();
  CHECK_THROWS_AS(instance::cluster(wrong_channels, good), shape_error);
  try {
    (void)instance::cluster(wrong_channels, good);
  } catch (const shape_error& e) {
    CHECK(std::string(e.what()).find(std::to_string(2 * S + 1) + " channels") != std::string::npos);
  }
  Tensor<T, device, Dim> two_images(shape_nc<Dim>(2, 2 * S + 1, {4, 4, 4}));
  two_images.zero();
  CHECK_THROWS_AS(instance::cluster(two_images, good), shape_error);

  Tensor<T, device, Dim> raw(shape_nc<Dim>(1, 2 * S + 1, {4, 4, 4}));
  raw.zero();
  CHECK(all_zero(instance::cluster(raw, good)));  // seeds 0.5: not foreground
  auto bad = [&](auto change) {
    ClusteringOptions<Dim> o;
    change(o);
    CHECK_THROWS_AS(instance::cluster(raw, o), value_error);
  };
  bad([](auto& o) { o.foreground_threshold = 1.0; });
  bad([](auto& o) { o.foreground_threshold = -0.1; });
  bad([](auto& o) { o.foreground_threshold = std::nan(""); });
  bad([](auto& o) { o.seed_threshold = 1.5; });
  bad([](auto& o) { o.seed_threshold = -1.0; });
  bad([](auto& o) { o.proposal_threshold = 0.0; });
  bad([](auto& o) { o.proposal_threshold = 1.0; });
  bad([](auto& o) { o.min_object_size = -1; });
  bad([](auto& o) { o.maxima_radius = -1; });
  bad([](auto& o) { o.seeds = static_cast<SeedSelection>(7); });
  bad([](auto& o) { o.grid.grid = 1.0; });
  bad([](auto& o) { o.grid.spacing[0] = 0.0; });

  // An image with no pixels gives an empty label map.
  Tensor<T, device, Dim> empty(shape_nc<Dim>(1, 2 * S + 1, {0, 4, 4}));
  CHECK(instance::cluster(empty, good).size() == 0);
}

}  // namespace semiseg::test
