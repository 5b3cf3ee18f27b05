// Resize kernels. Contract: source coordinates follow PyTorch's interpolate with an explicit
// output size: nearest takes floor(dst·in/out); linear maps dst·(in−1)/(out−1) with
// align_corners, else (dst + 0.5)·in/out − 0.5 clamped at 0, and blends the two neighbours per
// axis. Backward scatters one plane per index, so it needs no atomics.
#pragma once

#include "semiseg/core/launch.hpp"
#include "semiseg/core/math.hpp"
#include "semiseg/core/shape.hpp"

namespace semiseg {

enum class ResizeMode { nearest, linear };

template <int S>
struct ResizeGeometry {
  Small<index_t, S> in{}, out{};
  ResizeMode mode = ResizeMode::nearest;
  bool align_corners = false;

  // For output coordinate o on axis d: the two source neighbours and the weight of the second.
  template <class T>
  SEMISEG_HD void source(int d, index_t o, index_t& i0, index_t& i1, T& w1) const {
    if (mode == ResizeMode::nearest) {
      const T pos = T(o) * (T(in[d]) / T(out[d]));
      i0 = static_cast<index_t>(math::floor(pos));
      if (i0 > in[d] - 1) i0 = in[d] - 1;
      i1 = i0;
      w1 = T(0);
      return;
    }
    T pos;
    if (align_corners) {
      pos = out[d] > 1 ? T(o) * T(in[d] - 1) / T(out[d] - 1) : T(0);
    } else {
      pos = (T(o) + T(0.5)) * (T(in[d]) / T(out[d])) - T(0.5);
      if (pos < T(0)) pos = T(0);
    }
    i0 = static_cast<index_t>(math::floor(pos));
    if (i0 > in[d] - 1) i0 = in[d] - 1;
    i1 = i0 + 1 < in[d] ? i0 + 1 : i0;
    w1 = pos - T(i0);
  }

  // Calls f(input plane index, weight) for the 2^S corners that output position p blends.
  template <class T, class F>
  SEMISEG_HD void corners(index_t p, F&& f) const {
    index_t lo[S], hi[S];
    T w[S];
    for (int d = S - 1; d >= 0; --d) {
      source<T>(d, p % out[d], lo[d], hi[d], w[d]);
      p /= out[d];
    }
    for (int corner = 0; corner < (1 << S); ++corner) {
      index_t idx = 0;
      T weight = T(1);
      for (int d = 0; d < S; ++d) {
        const bool upper = (corner >> (S - 1 - d)) & 1;
        idx = idx * in[d] + (upper ? hi[d] : lo[d]);
        weight *= upper ? w[d] : T(1) - w[d];
      }
      f(idx, weight);
    }
  }
};

template <class T, int S>
struct ResizeForward {
  const T* x;
  T* y;
  ResizeGeometry<S> g;
  SEMISEG_HD void operator()(index_t i) const {
    const index_t P = g.out.product();
    const T* xp = x + (i / P) * g.in.product();
    T sum = 0;
    g.template corners<T>(i % P, [&](index_t idx, T weight) { sum += weight * xp[idx]; });
    y[i] = sum;
  }
};

template <class T, int S>
struct ResizeBackwardPlane {
  const T* dy;
  T* dx;
  ResizeGeometry<S> g;
  SEMISEG_HD void operator()(index_t plane) const {
    const index_t P = g.out.product(), Q = g.in.product();
    T* dxp = dx + plane * Q;
    for (index_t q = 0; q < Q; ++q) dxp[q] = T(0);
    for (index_t p = 0; p < P; ++p) {
      const T grad = dy[plane * P + p];
      g.template corners<T>(p, [&](index_t idx, T weight) { dxp[idx] += weight * grad; });
    }
  }
};

}  // namespace semiseg
