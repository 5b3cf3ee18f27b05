// Consistency between two spatial-embedding predictions (instance/embedding.hpp), the unlabeled
// term of semi-supervised EmbedSeg. Contract: for a student prediction x and a teacher prediction
// t of the same shape N×(2S+1)×spatial (t a constant), it returns
//   seed term + embedding term, where
//   seed term      = Σ_p w_p·(σ(x_seed) − σ(t_seed))² / positions        (soft, Mean Teacher), or
//                    Σ_p w_p·c_p·BCE(x_seed, 1[σ(t_seed) > ½]) / positions, c_p = 1[max(q, 1−q) ≥ τ]
//                    with q = σ(t_seed)                                    (hard, FixMatch-style);
//   embedding term = Σ_{p: σ(t_seed) > ½} w_p·Σ_d [(tanh x_off,d − tanh t_off,d)² + (x_σ,d − t_σ,d)²]
//                    / (2S · #{p: σ(t_seed) > ½})                           (0 without such pixels),
// so the seed map is treated as a probability and offsets and sigmas are pulled to the teacher's
// on the pixels the teacher's seed marks as foreground. Offsets are compared after tanh, where
// they are displacements in embedding space. Optional per-pixel weights w (N×1×spatial, empty =
// ones) scale both terms. `parts()` holds the two terms and the fraction of positions counted
// (confident for the hard seed term, foreground for the soft one) of the last call.
#pragma once

#include "semiseg/instance/embedding.hpp"
#include "semiseg/loss/binary_cross_entropy.hpp"
#include "semiseg/loss/common.hpp"

namespace semiseg::loss {

struct EmbeddingConsistencyParts {
  double seed = 0, embedding = 0, fraction = 0;
};

namespace detail {

template <class T, int S>
struct EmbeddingConsistencyParams {
  const T* x;
  const T* t;
  const T* w;  // null: all ones
  index_t plane;
  bool hard;
  T threshold;

  static constexpr index_t channels = 2 * S + 1;
  SEMISEG_HD index_t at(index_t p, index_t c) const { return ((p / plane) * channels + c) * plane + p % plane; }
  SEMISEG_HD T weight(index_t p) const { return w ? w[p] : T(1); }
  SEMISEG_HD static T sigmoid(T v) { return T(1) / (T(1) + math::exp(-v)); }
  SEMISEG_HD T teacher_seed(index_t p) const { return sigmoid(t[at(p, 2 * S)]); }
  SEMISEG_HD bool confident(T q) const { return (q > T(1) - q ? q : T(1) - q) >= threshold; }
};

// Per position: {seed term, embedding sum, 1 if teacher foreground, 1 if the seed term counts}.
template <class T, int S>
struct EmbeddingConsistencyTerm {
  EmbeddingConsistencyParams<T, S> q;
  SEMISEG_HD Sums<4> operator()(index_t, index_t p) const {
    Sums<4> s;
    const T w = q.weight(p), qt = q.teacher_seed(p), xs = q.x[q.at(p, 2 * S)];
    if (q.hard) {
      if (q.confident(qt)) {
        s[0] = static_cast<double>(w * (qt > T(0.5) ? softplus(-xs) : softplus(xs)));
        s[3] = 1;
      }
    } else {
      const T r = EmbeddingConsistencyParams<T, S>::sigmoid(xs) - qt;
      s[0] = static_cast<double>(w * r * r);
    }
    if (qt > T(0.5)) {
      T e = 0;
      for (int d = 0; d < S; ++d) {
        const T o = math::tanh(q.x[q.at(p, d)]) - math::tanh(q.t[q.at(p, d)]);
        const T g = q.x[q.at(p, S + d)] - q.t[q.at(p, S + d)];
        e += o * o + g * g;
      }
      s[1] = static_cast<double>(w * e);
      s[2] = 1;
      if (!q.hard) s[3] = 1;
    }
    return s;
  }
};

template <class T, int S>
struct EmbeddingConsistencyGrad {
  EmbeddingConsistencyParams<T, S> q;
  T* dx;
  T seed_scale, embedding_scale;  // 1/positions and 1/(2S·foreground)
  SEMISEG_HD void operator()(index_t p) const {
    const T w = q.weight(p), qt = q.teacher_seed(p), xs = q.x[q.at(p, 2 * S)];
    const T ps = EmbeddingConsistencyParams<T, S>::sigmoid(xs);
    T g = 0;
    if (q.hard) {
      if (q.confident(qt)) g = ps - (qt > T(0.5) ? T(1) : T(0));
    } else {
      g = T(2) * (ps - qt) * ps * (T(1) - ps);
    }
    dx[q.at(p, 2 * S)] = seed_scale * w * g;
    const bool fg = qt > T(0.5);
    for (int d = 0; d < S; ++d) {
      const T th = math::tanh(q.x[q.at(p, d)]);
      dx[q.at(p, d)] = fg ? embedding_scale * w * T(2) * (th - math::tanh(q.t[q.at(p, d)])) * (T(1) - th * th) : T(0);
      dx[q.at(p, S + d)] = fg ? embedding_scale * w * T(2) * (q.x[q.at(p, S + d)] - q.t[q.at(p, S + d)]) : T(0);
    }
  }
};

}  // namespace detail

template <class T, Device D, Dimension Dim>
class EmbeddingConsistency {
  static_assert(Dim::spatial == 2 || Dim::spatial == 3, "semiseg: EmbeddingConsistency needs a 2D or 3D prediction");

 public:
  static constexpr const char* name = "EmbeddingConsistency";
  using value_type = T;
  using device = D;
  using dim = Dim;
  static constexpr int S = Dim::spatial;

  struct Options {
    bool hard_seed = false;  // FixMatch-style: BCE to the teacher's thresholded seed
    double threshold = 0.95; // τ of the hard seed term's confidence
  };

  EmbeddingConsistency() = default;
  explicit EmbeddingConsistency(Options options) : options_(options) {
    if (!(options_.threshold >= 0.5 && options_.threshold <= 1))
      throw value_error("semiseg: embedding_consistency: threshold must lie in [0.5, 1], got " +
                        std::to_string(options_.threshold));
  }
  const Options& options() const { return options_; }
  const EmbeddingConsistencyParts& parts() const { return parts_; }

  double value_and_grad(TensorView<const T, D, Dim> student, TensorView<const T, D, Dim> teacher,
                        Tensor<T, D, Dim>& dstudent, TensorView<const T, D, Dim> weights = {}) {
    return run(student, teacher, &dstudent, weights);
  }
  double value(TensorView<const T, D, Dim> student, TensorView<const T, D, Dim> teacher,
               TensorView<const T, D, Dim> weights = {}) {
    return run(student, teacher, nullptr, weights);
  }

 private:
  double run(TensorView<const T, D, Dim> x, TensorView<const T, D, Dim> t, Tensor<T, D, Dim>* dx,
             TensorView<const T, D, Dim> w) {
    constexpr const char* who = "embedding_consistency";
    detail::check_logits(who, x);
    if (x.c() != instance::EmbeddingLayout<Dim>::channels)
      throw shape_error(std::string("semiseg: embedding_consistency: the prediction needs ") +
                        std::to_string(instance::EmbeddingLayout<Dim>::channels) + " channels, got " + x.shape.str());
    detail::expect_same_spatial<Dim>(who, "teacher", x.shape, t.shape, x.c());
    detail::check_weights(who, x.shape, w);
    const detail::EmbeddingConsistencyParams<T, S> q{x.data, t.data, w.data, x.plane(), options_.hard_seed,
                                                     static_cast<T>(options_.threshold)};
    const index_t positions = x.n() * x.plane();
    const std::vector<double>& s =
        reducer_.template segmented_sum<4>(1, positions, detail::EmbeddingConsistencyTerm<T, S>{q});
    const double seed = positions > 0 ? s[0] / static_cast<double>(positions) : 0.0;
    const double fg = s[2];
    const double embedding = fg > 0 ? s[1] / (2.0 * S * fg) : 0.0;
    parts_ = {seed, embedding, positions > 0 ? s[3] / static_cast<double>(positions) : 0.0};
    if (dx) {
      dx->resize(x.shape);
      launch<D>(positions, detail::EmbeddingConsistencyGrad<T, S>{
                               q, dx->data(), static_cast<T>(positions > 0 ? 1.0 / static_cast<double>(positions) : 0.0),
                               static_cast<T>(fg > 0 ? 1.0 / (2.0 * S * fg) : 0.0)});
    }
    return seed + embedding;
  }

  Options options_{};
  EmbeddingConsistencyParts parts_{};
  Reducer<D> reducer_;
};

}  // namespace semiseg::loss
