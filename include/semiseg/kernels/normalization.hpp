// Normalization kernels shared by BatchNorm and GroupNorm. Contract: statistics are taken over
// "segments" of contiguous planes: for BatchNorm, segment c gathers plane c of every image; for
// GroupNorm, segment (n, g) is one contiguous run of channels. Variances are biased (divided by
// the count), as both layers normalise with them; two passes keep them accurate.
#pragma once

#include "semiseg/core/launch.hpp"
#include "semiseg/core/math.hpp"

namespace semiseg {

// Where segment s's element j lives: `batch` runs of `run` elements, `stride` apart.
struct Segments {
  index_t batch, run, stride, step;  // segment s starts at s * step
  SEMISEG_HD index_t count() const { return batch * run; }
  SEMISEG_HD index_t at(index_t s, index_t j) const { return s * step + (j / run) * stride + j % run; }
};

template <class T>
struct SegmentMoments {
  const T* x;
  T* mean;
  T* invstd;
  T* variance;  // biased variance, for running statistics; may be null
  Segments seg;
  T eps;
  SEMISEG_HD void operator()(index_t s) const {
    const index_t m = seg.count();
    T sum = 0;
    for (index_t b = 0; b < seg.batch; ++b) {
      const T* r = x + s * seg.step + b * seg.stride;
      SEMISEG_SIMD_SUM(sum)
      for (index_t j = 0; j < seg.run; ++j) sum += r[j];
    }
    const T mu = sum / T(m);
    T sq = 0;
    for (index_t b = 0; b < seg.batch; ++b) {
      const T* r = x + s * seg.step + b * seg.stride;
      SEMISEG_SIMD_SUM(sq)
      for (index_t j = 0; j < seg.run; ++j) sq += (r[j] - mu) * (r[j] - mu);
    }
    const T var = sq / T(m);
    mean[s] = mu;
    invstd[s] = T(1) / math::sqrt(var + eps);
    if (variance) variance[s] = var;
  }
};

// y = (x - mean) * invstd * gamma + beta; statistics indexed by segment, affine by channel.
template <class T>
struct NormalizeAffine {
  const T* x;
  T* y;
  const T* mean;
  const T* invstd;
  const T* gamma;  // null: no affine transform
  const T* beta;
  index_t channels, plane, channels_per_stat, stats_per_image;  // see stat_index
  bool per_channel_stats;  // BatchNorm: stat = channel; GroupNorm: stat = (n, c / channels_per_stat)
  SEMISEG_HD index_t stat_index(index_t i) const {
    const index_t c = (i / plane) % channels;
    return per_channel_stats ? c : (i / (plane * channels)) * stats_per_image + c / channels_per_stat;
  }
  SEMISEG_HD void operator()(index_t i) const {
    const index_t c = (i / plane) % channels, s = stat_index(i);
    T v = (x[i] - mean[s]) * invstd[s];
    if (gamma) v = v * gamma[c] + beta[c];
    y[i] = v;
  }
  // Plane q = (n, c) as y = x·a + b.
  SEMISEG_HD void over_plane(index_t q) const {
    const index_t c = q % channels, s = stat_index(q * plane);
    const T a = invstd[s] * (gamma ? gamma[c] : T(1));
    const T b = (gamma ? beta[c] : T(0)) - mean[s] * a;
    const T* xp = x + q * plane;
    T* yp = y + q * plane;
    for (index_t p = 0; p < plane; ++p) yp[p] = xp[p] * a + b;
  }
};

// Per segment: sum of g and of g·x̂, where g = dy·gamma (dy alone without affine).
template <class T>
struct SegmentGradSums {
  const T* x;
  const T* dy;
  const T* mean;
  const T* invstd;
  const T* gamma;
  T* sum_g;
  T* sum_gx;
  Segments seg;
  index_t channels, plane;
  SEMISEG_HD void operator()(index_t s) const {
    // Each run holds whole planes, so gamma is constant over each plane's loop.
    T a = 0, b = 0;
    const T mu = mean[s];
    for (index_t r = 0; r < seg.batch; ++r) {
      const index_t start = s * seg.step + r * seg.stride;
      for (index_t q = 0; q < seg.run; q += plane) {
        const T gm = gamma ? gamma[((start + q) / plane) % channels] : T(1);
        const T* xp = x + start + q;
        const T* dyp = dy + start + q;
        T pa = 0, pb = 0;
        SEMISEG_SIMD_SUM(pa, pb)
        for (index_t p = 0; p < plane; ++p) {
          pa += dyp[p];
          pb += dyp[p] * (xp[p] - mu);
        }
        a += gm * pa;
        b += gm * pb;
      }
    }
    b *= invstd[s];
    sum_g[s] = a;
    sum_gx[s] = b;
  }
};

// dx = invstd / m · (m·g − Σg − x̂·Σg·x̂), the gradient through batch statistics.
template <class T>
struct NormalizeBackward {
  const T* x;
  const T* dy;
  T* dx;
  const T* mean;
  const T* invstd;
  const T* gamma;
  const T* sum_g;
  const T* sum_gx;
  NormalizeAffine<T> layout;  // for stat_index only
  index_t count;              // elements per segment
  SEMISEG_HD void operator()(index_t i) const {
    const index_t c = (i / layout.plane) % layout.channels, s = layout.stat_index(i);
    const T g = gamma ? dy[i] * gamma[c] : dy[i];
    const T xhat = (x[i] - mean[s]) * invstd[s];
    dx[i] = invstd[s] / T(count) * (T(count) * g - sum_g[s] - xhat * sum_gx[s]);
  }
  // Plane q = (n, c): dx = g·k1 − x̂·k2 − k3 with per-plane constants.
  SEMISEG_HD void over_plane(index_t q) const {
    const index_t c = q % layout.channels, s = layout.stat_index(q * layout.plane);
    const T is = invstd[s], gm = gamma ? gamma[c] : T(1), m = T(count);
    const T k1 = is * gm, k2 = is * sum_gx[s] / m * is, k3 = is * sum_g[s] / m, mu = mean[s];
    const T* xp = x + q * layout.plane;
    const T* dyp = dy + q * layout.plane;
    T* dxp = dx + q * layout.plane;
    for (index_t p = 0; p < layout.plane; ++p) dxp[p] = dyp[p] * k1 - (xp[p] - mu) * k2 - k3;
  }
};

// dgamma[c] += Σ dy·x̂, dbeta[c] += Σ dy over images and the plane; one index per channel.
template <class T>
struct AffineGrad {
  const T* x;
  const T* dy;
  const T* mean;
  const T* invstd;
  T* dgamma;
  T* dbeta;
  NormalizeAffine<T> layout;
  index_t batch;
  SEMISEG_HD void operator()(index_t c) const {
    T a = 0, b = 0;
    for (index_t n = 0; n < batch; ++n) {
      const index_t start = (n * layout.channels + c) * layout.plane, s = layout.stat_index(start);
      const T mu = mean[s];
      const T* xp = x + start;
      const T* dyp = dy + start;
      T pa = 0, pb = 0;
      SEMISEG_SIMD_SUM(pa, pb)
      for (index_t p = 0; p < layout.plane; ++p) {
        pa += dyp[p] * (xp[p] - mu);
        pb += dyp[p];
      }
      a += pa * invstd[s];
      b += pb;
    }
    dgamma[c] += a;
    dbeta[c] += b;
  }
};

}  // namespace semiseg
