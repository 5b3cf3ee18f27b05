// EmbedSeg's clustering of spatial embeddings into instances (Lalit et al. 2021). Contract: the
// input is one image's raw network output, 1×(2·S + 1)×spatial on any device, laid out as
// embedding.hpp describes (offsets, sigmas, seed logit; e_d = tanh(offset_d) + coordinate_d,
// seed = sigmoid(logit)); the output is a host label map of the image's spatial shape, 0 for
// background and 1..K for the instances found.
//
// Foreground is seed > foreground_threshold. Seeds are visited in descending seed order (equal
// seeds: the lower raster index first) over the foreground pixels only:
//   - greedy (EmbedSeg's): every unclustered foreground pixel, until the best unclustered one is
//     below seed_threshold;
//   - local_maxima (our variant; EmbedSeg's smooths the seed map first, has no seed threshold and
//     retries seeds inside clustered areas): only foreground pixels with seed ≥ seed_threshold that
//     are the maximum of the
//     (2·maxima_radius + 1)^S box of pixels around them (index space, clipped at the borders; an
//     equal seed at a lower raster index beats them); radius 0 makes every pixel a maximum, which
//     is exactly the greedy variant.
// A visited seed pixel is marked clustered (a clustered candidate is skipped). Its proposal is the
// set of foreground pixels x with φ(x) > proposal_threshold, where
// φ(x) = exp(−Σ_d exp(10·σ_d(seed))·(e_d(x) − e_d(seed))²) is centred on the seed pixel's own
// embedding with its own sigmas. The proposal becomes a new instance when its size is
// > min_object_size and more than half of its pixels are unclustered; later instances overwrite
// earlier ones where they overlap. The whole proposal is marked clustered either way. At the end,
// instances that lost every pixel to later ones are dropped and the rest renumbered 1..K in the
// order they were accepted (EmbedSeg keeps the gaps).
//
// Device split: the seed probabilities, the embeddings and sigma weights of the foreground
// pixels, the local-maxima test and each proposal's φ test run as launch<D> kernels on the
// prediction's device; the visiting loop is host side and copies the seed map once and each
// proposal's flags (one byte per foreground pixel) back. A Clusterer keeps its device and host
// buffers, so repeated calls on images no larger than before do not allocate (except the
// returned label map).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "semiseg/core/dim.hpp"
#include "semiseg/core/error.hpp"
#include "semiseg/core/launch.hpp"
#include "semiseg/core/math.hpp"
#include "semiseg/core/memory.hpp"
#include "semiseg/core/shape.hpp"
#include "semiseg/core/tensor.hpp"
#include "semiseg/instance/embedding.hpp"

namespace semiseg::instance {

// How the clustering picks its seed pixels.
enum class SeedSelection {
  greedy,        // EmbedSeg's: the best unclustered foreground pixel, again and again
  local_maxima,  // the local maxima of the seed map, best first
};

template <SpatialDimension Dim>
struct ClusteringOptions {
  EmbeddingGrid<Dim> grid{};  // must be the grid the network was trained with
  double foreground_threshold = 0.5;  // foreground = seed > this; in [0, 1)
  double seed_threshold = 0.9;        // no seed below this starts a proposal; in [0, 1]
  // A proposal needs more than this many pixels to become an instance. 36 is the default of
  // EmbedSeg's Cluster.cluster (its newer test configurations pass 10); 3D data usually want a
  // larger value, set from the data.
  index_t min_object_size = 36;
  double proposal_threshold = 0.5;  // proposal = φ > this; in (0, 1)
  SeedSelection seeds = SeedSelection::greedy;
  index_t maxima_radius = 2;  // local_maxima only: the box half-width in pixels, ≥ 0

  void validate() const {
    grid.validate("clustering");
    auto fail = [](const char* what, double v) {
      throw value_error(std::string("semiseg: clustering: ") + what + ", got " + std::to_string(v));
    };
    if (!(foreground_threshold >= 0 && foreground_threshold < 1))
      fail("foreground_threshold must be in [0, 1)", foreground_threshold);
    if (!(seed_threshold >= 0 && seed_threshold <= 1)) fail("seed_threshold must be in [0, 1]", seed_threshold);
    if (!(proposal_threshold > 0 && proposal_threshold < 1))
      fail("proposal_threshold must be in (0, 1)", proposal_threshold);
    if (min_object_size < 0)
      throw value_error(std::string("semiseg: clustering: min_object_size must be >= 0, got ") +
                        std::to_string(min_object_size));
    if (maxima_radius < 0)
      throw value_error(std::string("semiseg: clustering: maxima_radius must be >= 0, got ") +
                        std::to_string(maxima_radius));
    if (seeds != SeedSelection::greedy && seeds != SeedSelection::local_maxima)
      throw value_error(std::string("semiseg: clustering: seeds must be greedy or local_maxima, got ") +
                        std::to_string(static_cast<int>(seeds)));
  }
};

namespace detail {

// seed[p] = sigmoid(logit[p]).
template <class T>
struct SeedProbabilityKernel {
  const T* logit;
  T* seed;
  SEMISEG_HD void operator()(index_t p) const { seed[p] = T(1) / (T(1) + math::exp(-logit[p])); }
};

// For foreground pixel j at plane position fg[j]: its embedding and its sigma weights
// exp(10·σ_d), stored axis-major (emb[d·count + j]).
template <class T, int S>
struct GatherEmbeddingKernel {
  const T* prediction;  // 1×(2S+1)×spatial
  index_t plane;
  const index_t* fg;
  index_t count;
  GridSteps<T, S> steps;
  T* emb;
  T* weight;
  SEMISEG_HD void operator()(index_t j) const {
    const index_t p = fg[j];
    T coord[S];
    steps.coordinates(p, coord);
    for (int d = 0; d < S; ++d) {
      emb[d * count + j] = math::tanh(prediction[d * plane + p]) + coord[d];
      weight[d * count + j] = math::exp(T(10) * prediction[(S + d) * plane + p]);
    }
  }
};

// flag[j] = 1 when foreground pixel j is the maximum of the seed map over the box of half-width
// `radius` around it (clipped at the borders); an equal seed at a lower index wins.
template <class T, int S>
struct LocalMaximumKernel {
  const T* seed;
  const index_t* fg;
  index_t extent[S];  // x, y (, z) order
  index_t radius;
  std::uint8_t* flag;
  SEMISEG_HD void operator()(index_t j) const {
    const index_t p = fg[j];
    const T v = seed[p];
    index_t lo[S], hi[S], at[S], stride[S];
    index_t rest = p, s = 1;
    for (int d = 0; d < S; ++d) {
      const index_t x = rest % extent[d];
      rest /= extent[d];
      lo[d] = x - radius > 0 ? x - radius : 0;
      hi[d] = x + radius < extent[d] - 1 ? x + radius : extent[d] - 1;
      at[d] = lo[d];
      stride[d] = s;
      s *= extent[d];
    }
    for (;;) {
      index_t q = 0;
      for (int d = 0; d < S; ++d) q += at[d] * stride[d];
      const T u = seed[q];
      if (u > v || (u == v && q < p)) {
        flag[j] = 0;
        return;
      }
      int d = 0;
      while (d < S && at[d] == hi[d]) {
        at[d] = lo[d];
        ++d;
      }
      if (d == S) break;
      ++at[d];
    }
    flag[j] = 1;
  }
};

// flag[j] = φ_centre(j) > threshold for every foreground pixel j.
template <class T, int S>
struct ProposalKernel {
  const T* emb;
  const T* weight;
  index_t count;
  index_t centre;
  T threshold;
  std::uint8_t* flag;
  SEMISEG_HD void operator()(index_t j) const {
    T sum = 0;
    for (int d = 0; d < S; ++d) {
      const T diff = emb[d * count + j] - emb[d * count + centre];
      // A zero difference adds nothing, even with an overflowing weight (so the centre is in
      // its own proposal).
      if (diff != T(0)) sum += weight[d * count + centre] * diff * diff;
    }
    flag[j] = math::exp(-sum) > threshold ? std::uint8_t{1} : std::uint8_t{0};
  }
};

}  // namespace detail

template <class T, Device D, SpatialDimension Dim>
class Clusterer {
  static_assert(std::is_floating_point_v<T>, "semiseg: Clusterer needs a floating-point prediction type");
  static constexpr int S = Dim::spatial;
  using Layout = EmbeddingLayout<Dim>;

 public:
  using Labels = xt::xtensor<std::int32_t, Dim::spatial>;
  using Options = ClusteringOptions<Dim>;

  Clusterer() = default;

  // The instance labels of one image's raw output (1×(2S+1)×spatial on D).
  Labels operator()(TensorView<const T, D, Dim> prediction, const Options& options = {}) {
    check(prediction, options);
    const index_t plane = prediction.plane();
    std::array<std::size_t, Dim::spatial> shape{};
    for (int a = 0; a < S; ++a) shape[static_cast<std::size_t>(a)] = static_cast<std::size_t>(prediction.shape[2 + a]);
    Labels labels = Labels::from_shape(shape);
    std::fill(labels.begin(), labels.end(), std::int32_t{0});
    proposals_ = 0;
    if (plane == 0) return labels;

    // Seed probabilities on the device, then foreground on the host.
    seed_.resize(flat_shape(1, plane));
    launch<D>(plane, detail::SeedProbabilityKernel<T>{prediction.data + Layout::seed * plane, seed_.data()});
    const T* seed = seed_.data();
    if constexpr (is_cuda<D>) {
      seed_host_.resize(static_cast<std::size_t>(plane));
      copy<cpu, D>(seed_host_.data(), seed_.data(), plane);
      seed = seed_host_.data();
    }
    fg_.clear();
    for (index_t p = 0; p < plane; ++p)
      if (static_cast<double>(seed[p]) > options.foreground_threshold) fg_.push_back(p);
    const index_t count = static_cast<index_t>(fg_.size());
    if (count == 0) return labels;

    fg_dev_.resize(flat_shape(1, count));
    copy<D, cpu>(fg_dev_.data(), fg_.data(), count);
    emb_.resize(flat_shape(1, S * count));
    weight_.resize(flat_shape(1, S * count));
    flag_.resize(flat_shape(1, count));
    const GridSteps<T, S> steps = grid_steps<T>(options.grid, prediction.shape);
    launch<D>(count, detail::GatherEmbeddingKernel<T, S>{prediction.data, plane, fg_dev_.data(), count, steps,
                                                          emb_.data(), weight_.data()});

    // The seeds to visit, best first (equal seeds: lower index first).
    order_.clear();
    if (options.seeds == SeedSelection::greedy) {
      for (index_t j = 0; j < count; ++j) order_.push_back(j);
    } else {
      detail::LocalMaximumKernel<T, S> k{};
      k.seed = seed_.data();
      k.fg = fg_dev_.data();
      for (int d = 0; d < S; ++d) k.extent[d] = steps.extent[d];
      k.radius = options.maxima_radius;
      k.flag = flag_.data();
      index_t box = 1;
      for (int d = 0; d < S; ++d) box *= std::min<index_t>(2 * options.maxima_radius + 1, steps.extent[d]);
      launch<D>(count, k, grain_for(box));
      const std::uint8_t* is_max = host_flags(count);
      for (index_t j = 0; j < count; ++j)
        if (is_max[j] && static_cast<double>(seed[fg_[static_cast<std::size_t>(j)]]) >= options.seed_threshold)
          order_.push_back(j);
    }
    std::sort(order_.begin(), order_.end(), [&](index_t a, index_t b) {
      const T sa = seed[fg_[static_cast<std::size_t>(a)]], sb = seed[fg_[static_cast<std::size_t>(b)]];
      return sa > sb || (sa == sb && a < b);
    });

    unclustered_.assign(static_cast<std::size_t>(count), 1);
    std::int32_t instances = 0;
    for (const index_t centre : order_) {
      if (static_cast<double>(seed[fg_[static_cast<std::size_t>(centre)]]) < options.seed_threshold) break;
      if (!unclustered_[static_cast<std::size_t>(centre)]) continue;
      unclustered_[static_cast<std::size_t>(centre)] = 0;
      ++proposals_;
      launch<D>(count, detail::ProposalKernel<T, S>{emb_.data(), weight_.data(), count, centre,
                                                     static_cast<T>(options.proposal_threshold), flag_.data()});
      const std::uint8_t* in = host_flags(count);
      index_t size = 0, unclaimed = 0;
      for (index_t j = 0; j < count; ++j)
        if (in[j]) {
          ++size;
          unclaimed += unclustered_[static_cast<std::size_t>(j)];
        }
      const bool accept = size > options.min_object_size && 2 * unclaimed > size;
      if (accept) ++instances;
      for (index_t j = 0; j < count; ++j)
        if (in[j]) {
          unclustered_[static_cast<std::size_t>(j)] = 0;
          if (accept) labels.data()[fg_[static_cast<std::size_t>(j)]] = instances;
        }
    }

    // Renumber the instances that kept pixels 1..K, in acceptance order.
    if (instances > 0) {
      renumber_.assign(static_cast<std::size_t>(instances) + 1, 0);
      for (const index_t p : fg_) renumber_[static_cast<std::size_t>(labels.data()[p])] = 1;
      renumber_[0] = 0;  // background, and foreground that no instance claimed, stays 0
      std::int32_t next = 0;
      for (std::size_t l = 1; l < renumber_.size(); ++l) renumber_[l] = renumber_[l] ? ++next : 0;
      for (const index_t p : fg_) labels.data()[p] = renumber_[static_cast<std::size_t>(labels.data()[p])];
    }
    return labels;
  }

  // How many proposals the last call evaluated (one per visited seed).
  index_t proposals() const { return proposals_; }

 private:
  static void check(TensorView<const T, D, Dim> prediction, const Options& options) {
    options.validate();
    if (prediction.n() != 1)
      throw shape_error(std::string("semiseg: clustering expects one image (N = 1), got shape ") +
                        prediction.shape.str());
    if (prediction.c() != Layout::channels)
      throw shape_error(std::string("semiseg: clustering expects ") + std::to_string(Layout::channels) +
                        " channels (S offsets, S sigmas, one seed) for " + Dim::name + ", got shape " +
                        prediction.shape.str());
    for (int a = 0; a < S; ++a)
      if (prediction.shape[2 + a] < 0)
        throw shape_error(std::string("semiseg: clustering: negative extent in shape ") + prediction.shape.str());
    if (prediction.size() > 0 && prediction.data == nullptr)
      throw value_error(std::string("semiseg: clustering: the prediction of shape ") + prediction.shape.str() +
                        " has no data");
  }

  // flag_ readable on the host.
  const std::uint8_t* host_flags(index_t count) {
    if constexpr (is_cuda<D>) {
      flag_host_.resize(static_cast<std::size_t>(count));
      copy<cpu, D>(flag_host_.data(), flag_.data(), count);
      return flag_host_.data();
    } else {
      return flag_.data();
    }
  }

  Tensor<T, D, flat> seed_, emb_, weight_;
  Tensor<index_t, D, flat> fg_dev_;
  Tensor<std::uint8_t, D, flat> flag_;
  std::vector<T> seed_host_;
  std::vector<std::uint8_t> flag_host_, unclustered_;
  std::vector<index_t> fg_, order_;
  std::vector<std::int32_t> renumber_;
  index_t proposals_ = 0;
};

// One-off clustering; use a Clusterer to reuse its buffers across images.
template <class U, Device D, SpatialDimension Dim>
xt::xtensor<std::int32_t, Dim::spatial> cluster(TensorView<U, D, Dim> prediction,
                                                const ClusteringOptions<Dim>& options = {}) {
  Clusterer<std::remove_const_t<U>, D, Dim> c;
  return c(prediction, options);
}

template <class T, Device D, SpatialDimension Dim>
xt::xtensor<std::int32_t, Dim::spatial> cluster(const Tensor<T, D, Dim>& prediction,
                                                const ClusteringOptions<Dim>& options = {}) {
  return cluster(prediction.view(), options);
}

}  // namespace semiseg::instance
