// EmbedSeg's spatial-embedding loss (Lalit et al. 2021, after Neven et al. 2019), in 2D and 3D.
// Contract: for a prediction N×(2S+1)×spatial laid out as instance/embedding.hpp describes and
// instance targets N×1×spatial (0 background, k instance k, k | centre_flag its centre pixel, −1
// ignored), it returns the mean over images of
//   w_inst·mean_k LovaszHinge(2φ_k − 1, mask_k) + w_var·mean_k mean_{mask_k, d}(σ_d − s_k,d)²
//   + w_seed·[Σ_background seed² + w_fg·Σ_k Σ_{mask_k} (seed − φ_k)²] / pixels,
// with e = tanh(offset) + coordinate, s_k = mean of σ over mask_k, φ_k = exp(−Σ_d exp(10·s_k,d)·
// (e_d − c_k,d)²) over the whole image, seed = sigmoid(seed logit); the variance term's s_k and the
// seed term's φ_k are constants, as in EmbedSeg. The centre c_k is the coordinate of instance k's
// flagged pixel (data::mark_centres: medoid or centroid), or its mean coordinate when no pixel
// is flagged; several flagged pixels (a zoom may copy one) are averaged. Ignored pixels are left
// out of the Lovász hinge and the background term and count in `pixels`, as EmbedSeg's
// normaliser is the image size. Because φ_k is a constant in the seed term, the returned gradient
// is not the derivative of the returned value with respect to the offsets and sigmas unless
// w_seed = 0 (the seed channel's gradient is always exact). The Lovász gradient is the hinge's subgradient at the current
// sort order, as PyTorch's autograd computes it. Defaults are EmbedSeg's: w_inst 1, w_var 10,
// w_seed 1, w_fg 10 (2D; EmbedSeg's 3D configurations set it from the data's background/
// foreground ratio). The work is per instance and per image (a sort per instance), so it runs on
// the host: a cuda prediction is copied over and its gradient copied back.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "semiseg/core/error.hpp"
#include "semiseg/core/tensor.hpp"
#include "semiseg/instance/embedding.hpp"
#include "semiseg/loss/common.hpp"

namespace semiseg::loss {

struct SpatialEmbeddingParts {
  double instance = 0, variance = 0, seed = 0;  // batch means of the three terms, unweighted
};

// Sums for the IoU of φ > 0.5 against each instance's mask, EmbedSeg's validation score.
struct EmbeddingIou {
  double sum = 0;
  std::size_t instances = 0;
  double mean() const { return instances ? sum / static_cast<double>(instances) : NAN; }
  EmbeddingIou& operator+=(const EmbeddingIou& o) {
    sum += o.sum;
    instances += o.instances;
    return *this;
  }
};

template <class T, Device D, Dimension Dim>
class SpatialEmbedding {
  static_assert(Dim::spatial == 2 || Dim::spatial == 3, "semiseg: SpatialEmbedding needs a 2D or 3D prediction");

 public:
  static constexpr const char* name = "SpatialEmbedding";
  static constexpr bool embedding = true;  // targets are instance maps with centres
  using value_type = T;
  using device = D;
  using dim = Dim;
  using Layout = instance::EmbeddingLayout<Dim>;
  static constexpr int S = Dim::spatial;

  struct Options {
    double w_inst = 1.0;
    double w_var = 10.0;
    double w_seed = 1.0;
    double foreground_weight = 10.0;  // w_fg
    instance::EmbeddingGrid<Dim> grid{};
  };

  SpatialEmbedding() = default;
  explicit SpatialEmbedding(Options options) : options_(options) { validate(); }
  const Options& options() const { return options_; }
  // The three terms of the last call, for logs.
  const SpatialEmbeddingParts& parts() const { return parts_; }

  double value_and_grad(TensorView<const T, D, Dim> prediction, TensorView<const std::int32_t, D, Dim> target,
                        Tensor<T, D, Dim>& dprediction, TensorView<const T, D, Dim> weights = {}) {
    return run(prediction, target, &dprediction, weights, nullptr);
  }
  double value(TensorView<const T, D, Dim> prediction, TensorView<const std::int32_t, D, Dim> target,
               TensorView<const T, D, Dim> weights = {}) {
    return run(prediction, target, nullptr, weights, nullptr);
  }
  // EmbedSeg's validation score: for each instance, the IoU of φ_k > 0.5 with its mask (over the
  // pixels that are not ignored). Also returns the loss, as value() does.
  double value_and_iou(TensorView<const T, D, Dim> prediction, TensorView<const std::int32_t, D, Dim> target,
                       EmbeddingIou& iou) {
    return run(prediction, target, nullptr, {}, &iou);
  }

 private:
  void validate() const {
    const auto check = [](double v, const char* what) {
      if (!(v >= 0 && std::isfinite(v)))
        throw value_error(std::string("semiseg: spatial_embedding: ") + what + " must be finite and >= 0, got " +
                          std::to_string(v));
    };
    check(options_.w_inst, "w_inst");
    check(options_.w_var, "w_var");
    check(options_.w_seed, "w_seed");
    check(options_.foreground_weight, "foreground_weight");
    options_.grid.validate("spatial_embedding");
  }

  double run(TensorView<const T, D, Dim> prediction, TensorView<const std::int32_t, D, Dim> target,
             Tensor<T, D, Dim>* dprediction, TensorView<const T, D, Dim> weights, EmbeddingIou* iou) {
    constexpr const char* who = "spatial_embedding";
    detail::check_logits(who, prediction);
    if (prediction.c() != Layout::channels)
      throw shape_error(std::string("semiseg: spatial_embedding: the prediction needs ") +
                        std::to_string(Layout::channels) + " channels (offsets, sigmas, seed), got " +
                        prediction.shape.str());
    detail::expect_same_spatial<Dim>(who, "target", prediction.shape, target.shape, 1);
    if (weights.data != nullptr || weights.size() != 0)
      throw value_error("semiseg: spatial_embedding: per-pixel weights are not supported");
    x_.resize(static_cast<std::size_t>(prediction.size()));
    y_.resize(static_cast<std::size_t>(target.size()));
    copy<cpu, D>(x_.data(), prediction.data, prediction.size());
    copy<cpu, D>(y_.data(), target.data, target.size());
    const bool grad = dprediction != nullptr;
    if (grad) dx_.assign(x_.size(), 0.0);
    const index_t n = prediction.n(), plane = prediction.plane();
    if (n == 0 || plane == 0) {
      if (dprediction) dprediction->resize(prediction.shape);
      parts_ = {};
      return 0.0;
    }
    steps_ = instance::grid_steps<double>(options_.grid, prediction.shape);
    parts_ = {};
    double total = 0;
    for (index_t b = 0; b < n; ++b) total += image(b, plane, grad, 1.0 / static_cast<double>(n), iou);
    parts_.instance /= static_cast<double>(n);
    parts_.variance /= static_cast<double>(n);
    parts_.seed /= static_cast<double>(n);
    if (grad) {
      dprediction->resize(prediction.shape);
      dx_out_.assign(dx_.begin(), dx_.end());
      copy<D, cpu>(dprediction->data(), dx_out_.data(), prediction.size());
    }
    return total / static_cast<double>(n);
  }

  // Image b's loss; adds scale·d(loss)/d(prediction) into dx_.
  double image(index_t b, index_t plane, bool grad, double scale, EmbeddingIou* iou) {
    const index_t base = b * Layout::channels * plane;
    const T* x = x_.data() + base;
    const std::int32_t* y = y_.data() + b * plane;
    double* dx = grad ? dx_.data() + base : nullptr;
    const auto channel = [&](index_t c) { return c * plane; };

    // Embeddings, tanh' and seed probabilities of the image.
    emb_.resize(static_cast<std::size_t>(S * plane));
    dtanh_.resize(emb_.size());
    seed_.resize(static_cast<std::size_t>(plane));
    double coord[S];
    for (index_t p = 0; p < plane; ++p) {
      steps_.coordinates(p, coord);
      for (int d = 0; d < S; ++d) {
        const double t = std::tanh(static_cast<double>(x[channel(Layout::offsets + d) + p]));
        emb_[static_cast<std::size_t>(d * plane + p)] = t + coord[d];
        dtanh_[static_cast<std::size_t>(d * plane + p)] = 1 - t * t;
      }
      seed_[static_cast<std::size_t>(p)] = 1.0 / (1.0 + std::exp(-static_cast<double>(x[channel(Layout::seed) + p])));
    }

    // The instance ids, ascending; then each instance's pixels and flagged pixels.
    ids_.clear();
    for (index_t p = 0; p < plane; ++p)
      if (y[p] > 0 && (ids_.empty() || ids_.back() != instance::instance_id(y[p])))
        ids_.push_back(instance::instance_id(y[p]));
    std::sort(ids_.begin(), ids_.end());
    ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
    if (members_.size() < ids_.size()) members_.resize(ids_.size());
    for (std::size_t k = 0; k < ids_.size(); ++k) {
      members_[k].pixels.clear();
      members_[k].flagged.clear();
    }
    valid_.clear();
    dseed_.assign(static_cast<std::size_t>(plane), 0.0);
    double seed_sum = 0;
    for (index_t p = 0; p < plane; ++p) {
      const std::int32_t v = y[p];
      if (v < 0) continue;
      valid_.push_back(p);
      if (v == 0) {
        const double s = seed_[static_cast<std::size_t>(p)];
        seed_sum += s * s;
        dseed_[static_cast<std::size_t>(p)] += 2 * s;
        continue;
      }
      Members& m = members_[static_cast<std::size_t>(
          std::lower_bound(ids_.begin(), ids_.end(), instance::instance_id(v)) - ids_.begin())];
      m.pixels.push_back(p);
      if (instance::is_centre(v)) m.flagged.push_back(p);
    }

    const double k_count = static_cast<double>(ids_.size());
    const double w_fg = options_.foreground_weight;
    double inst_sum = 0, var_sum = 0;
    phi_.resize(static_cast<std::size_t>(plane));
    dphi_.resize(static_cast<std::size_t>(plane));
    for (std::size_t k = 0; k < ids_.size(); ++k) {
      const std::int32_t id = ids_[k];
      const std::vector<index_t>& pixels = members_[k].pixels;
      const double count = static_cast<double>(pixels.size());
      // Centre: the flagged pixels' mean coordinate, else the instance's mean coordinate.
      const std::vector<index_t>& centre_pixels = members_[k].flagged.empty() ? pixels : members_[k].flagged;
      double c[S] = {};
      for (index_t p : centre_pixels) {
        steps_.coordinates(p, coord);
        for (int d = 0; d < S; ++d) c[d] += coord[d] / static_cast<double>(centre_pixels.size());
      }
      // Mean sigma and the variance term.
      double s[S] = {}, bandwidth[S];
      for (int d = 0; d < S; ++d) {
        for (index_t p : pixels) s[d] += static_cast<double>(x[channel(Layout::sigmas + d) + p]);
        s[d] /= count;
        bandwidth[d] = std::exp(10 * s[d]);
      }
      double var = 0;
      for (int d = 0; d < S; ++d)
        for (index_t p : pixels) {
          const double r = static_cast<double>(x[channel(Layout::sigmas + d) + p]) - s[d];
          var += r * r;
          if (grad)
            dx[channel(Layout::sigmas + d) + p] += scale * options_.w_var / k_count * 2 * r / (S * count);
        }
      var_sum += var / (S * count);

      // φ over the whole image.
      for (index_t p = 0; p < plane; ++p) {
        double q = 0;
        for (int d = 0; d < S; ++d) {
          const double r = emb_[static_cast<std::size_t>(d * plane + p)] - c[d];
          q += bandwidth[d] * r * r;
        }
        phi_[static_cast<std::size_t>(p)] = std::exp(-q);
      }
      if (iou) {
        double inter = 0, uni = 0;
        for (index_t p : valid_) {
          const bool a = phi_[static_cast<std::size_t>(p)] > 0.5, m = instance::instance_id(y[p]) == id;
          inter += a && m;
          uni += a || m;
        }
        iou->sum += uni > 0 ? inter / uni : 0.0;
        ++iou->instances;
      }
      std::fill(dphi_.begin(), dphi_.end(), 0.0);
      inst_sum += lovasz_hinge(y, id, grad ? scale * options_.w_inst / k_count : 0.0);

      // The seed's foreground term, with φ as a constant.
      for (index_t p : pixels) {
        const double r = seed_[static_cast<std::size_t>(p)] - phi_[static_cast<std::size_t>(p)];
        seed_sum += w_fg * r * r;
        dseed_[static_cast<std::size_t>(p)] += w_fg * 2 * r;
      }

      // Chain d(instance term)/dφ into the offsets and, through s_k, the sigmas of the instance.
      if (!grad) continue;
      double ds[S] = {};
      for (index_t p = 0; p < plane; ++p) {
        const double g = dphi_[static_cast<std::size_t>(p)];
        if (g == 0) continue;
        const double gp = g * phi_[static_cast<std::size_t>(p)];
        for (int d = 0; d < S; ++d) {
          const double r = emb_[static_cast<std::size_t>(d * plane + p)] - c[d];
          dx[channel(Layout::offsets + d) + p] += gp * -2 * bandwidth[d] * r * dtanh_[static_cast<std::size_t>(d * plane + p)];
          ds[d] += gp * -(r * r) * 10 * bandwidth[d];
        }
      }
      for (int d = 0; d < S; ++d)
        for (index_t p : pixels) dx[channel(Layout::sigmas + d) + p] += ds[d] / count;
    }

    const double pixels = static_cast<double>(plane);
    if (grad)
      for (index_t p = 0; p < plane; ++p) {
        const double s = seed_[static_cast<std::size_t>(p)];
        dx[channel(Layout::seed) + p] += scale * options_.w_seed / pixels * dseed_[static_cast<std::size_t>(p)] * s * (1 - s);
      }
    const double inst = k_count > 0 ? inst_sum / k_count : 0.0, variance = k_count > 0 ? var_sum / k_count : 0.0;
    const double seed = seed_sum / pixels;
    parts_.instance += inst;
    parts_.variance += variance;
    parts_.seed += seed;
    return options_.w_inst * inst + options_.w_var * variance + options_.w_seed * seed;
  }

  // The Lovász hinge of logits 2φ − 1 against instance `id`'s mask over the valid pixels; adds
  // `scale`·d(hinge)/dφ into dphi_ when scale is not 0.
  double lovasz_hinge(const std::int32_t* y, std::int32_t id, double scale) {
    const std::size_t m = valid_.size();
    errors_.resize(m);
    order_.resize(m);
    double positives = 0;
    for (std::size_t i = 0; i < m; ++i) {
      const index_t p = valid_[i];
      const bool in = instance::instance_id(y[p]) == id;
      const double logit = 2 * phi_[static_cast<std::size_t>(p)] - 1;
      errors_[i] = 1 - logit * (in ? 1.0 : -1.0);
      positives += in;
    }
    // Descending errors, ties in pixel order: a stable sort that needs no buffer.
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    std::sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) {
      return errors_[a] > errors_[b] || (errors_[a] == errors_[b] && a < b);
    });
    // Jaccard increments along the sorted order: J_i − J_{i−1}, J_i = 1 − (P − tp_i)/(P + fp_i).
    double loss = 0, tp = 0, fp = 0, previous = 0;
    for (std::size_t i = 0; i < m; ++i) {
      const std::size_t j = order_[i];
      const index_t p = valid_[j];
      const bool in = instance::instance_id(y[p]) == id;
      (in ? tp : fp) += 1;
      const double jaccard = 1 - (positives - tp) / (positives + fp);
      const double g = jaccard - previous;
      previous = jaccard;
      if (errors_[j] <= 0) continue;
      loss += errors_[j] * g;
      // d error/d logit = −sign, d logit/dφ = 2.
      if (scale != 0) dphi_[static_cast<std::size_t>(p)] += scale * g * (in ? -2.0 : 2.0);
    }
    return loss;
  }

  Options options_{};
  SpatialEmbeddingParts parts_{};
  instance::GridSteps<double, S> steps_{};
  std::vector<T> x_, dx_out_;
  std::vector<std::int32_t> y_;
  std::vector<double> dx_, emb_, dtanh_, seed_, dseed_, phi_, dphi_, errors_;
  std::vector<index_t> valid_;
  std::vector<std::size_t> order_;
  // Pixels and flagged pixels of the image's instances, in the order of ids_; kept between calls
  // with their capacity, so a steady training step does not allocate.
  struct Members {
    std::vector<index_t> pixels, flagged;
  };
  std::vector<std::int32_t> ids_;
  std::vector<Members> members_;
};

}  // namespace semiseg::loss
