// Pooling kernels. Contract: windows follow PyTorch (floor mode): output o of axis d covers
// inputs [o·stride − pad, o·stride − pad + kernel). Forward runs per output element, backward per
// input element by gathering the outputs whose window holds it, so neither needs atomics.
#pragma once

#include "semiseg/core/launch.hpp"
#include "semiseg/core/shape.hpp"

namespace semiseg {

template <int S>
struct PoolGeometry {
  Small<index_t, S> in{}, out{}, kernel{}, stride{}, pad{};
  bool count_include_pad = true;

  SEMISEG_HD index_t in_size() const { return in.product(); }
  SEMISEG_HD index_t out_size() const { return out.product(); }

  // Spatial coordinates of position p of a plane of extents e.
  SEMISEG_HD static Small<index_t, S> coords(index_t p, const Small<index_t, S>& e) {
    Small<index_t, S> c{};
    for (int d = S - 1; d >= 0; --d) {
      c[d] = p % e[d];
      p /= e[d];
    }
    return c;
  }
  // Outputs whose window holds input coordinate `pos` on axis d: [first, last].
  SEMISEG_HD void covering(int d, index_t pos, index_t& first, index_t& last) const {
    const index_t hi = pos + pad[d];
    const index_t lo = hi - kernel[d] + 1;
    first = lo <= 0 ? 0 : (lo + stride[d] - 1) / stride[d];
    last = hi / stride[d];
    if (last > out[d] - 1) last = out[d] - 1;
  }
  // PyTorch's average divisor for output coordinates o.
  SEMISEG_HD index_t divisor(const Small<index_t, S>& o) const {
    index_t count = 1;
    for (int d = 0; d < S; ++d) {
      index_t start = o[d] * stride[d] - pad[d], end = start + kernel[d];
      if (count_include_pad) {
        if (end > in[d] + pad[d]) end = in[d] + pad[d];
      } else {
        if (start < 0) start = 0;
        if (end > in[d]) end = in[d];
      }
      count *= end - start;
    }
    return count;
  }
};

// Visits the flat plane index of every in-bounds input under output window `o`.
template <int S, class F>
SEMISEG_HD void for_window(const PoolGeometry<S>& g, const Small<index_t, S>& o, F&& f) {
  const index_t taps = g.kernel.product();
  for (index_t k = 0; k < taps; ++k) {
    index_t rest = k, idx = 0, scale = 1;
    bool inside = true;
    for (int d = S - 1; d >= 0; --d) {
      const index_t pos = o[d] * g.stride[d] - g.pad[d] + rest % g.kernel[d];
      rest /= g.kernel[d];
      inside = inside && pos >= 0 && pos < g.in[d];
      idx += pos * scale;
      scale *= g.in[d];
    }
    if (inside) f(idx);
  }
}

// Visits the flat plane index of every output whose window holds input coordinates `pos`.
template <int S, class F>
SEMISEG_HD void for_covering(const PoolGeometry<S>& g, const Small<index_t, S>& pos, F&& f) {
  Small<index_t, S> first{}, last{}, o{};
  for (int d = 0; d < S; ++d) {
    g.covering(d, pos[d], first[d], last[d]);
    if (first[d] > last[d]) return;
    o[d] = first[d];
  }
  while (true) {
    index_t idx = 0;
    for (int d = 0; d < S; ++d) idx = idx * g.out[d] + o[d];
    f(o, idx);
    int d = S - 1;
    while (d >= 0 && o[d] == last[d]) {
      o[d] = first[d];
      --d;
    }
    if (d < 0) return;
    ++o[d];
  }
}

template <class T, int S>
struct MaxPoolForward {
  const T* x;
  T* y;
  index_t* argmax;  // plane index of the winner, or -1 when the window holds only padding
  PoolGeometry<S> g;
  SEMISEG_HD void operator()(index_t i) const {
    const index_t plane = i / g.out_size();
    const T* xp = x + plane * g.in_size();
    index_t best = -1;
    T m = T(0);
    for_window(g, PoolGeometry<S>::coords(i % g.out_size(), g.out), [&](index_t idx) {
      if (best < 0 || xp[idx] > m || xp[idx] != xp[idx]) {
        m = xp[idx];
        best = idx;
      }
    });
    y[i] = m;
    argmax[i] = best;
  }
  // Plane q: every output in order, the coordinates of output and tap counted up instead of
  // divided out.
  SEMISEG_HD void over_plane(index_t q) const {
    const T* xp = x + q * g.in_size();
    T* yp = y + q * g.out_size();
    index_t* ap = argmax + q * g.out_size();
    bool padded = false;
    for (int d = 0; d < S; ++d) padded = padded || g.pad[d] != 0;
    if (!padded && g.kernel.product() <= 27) {
      // No padding: every window lies inside, so each output reads fixed offsets from its corner.
      index_t offset[27];
      const index_t taps = g.kernel.product();
      for (index_t k = 0; k < taps; ++k) {
        index_t rest = k, idx = 0, scale = 1;
        for (int d = S - 1; d >= 0; --d) {
          idx += (rest % g.kernel[d]) * scale;
          rest /= g.kernel[d];
          scale *= g.in[d];
        }
        offset[k] = idx;
      }
      Small<index_t, S> o{};
      for (index_t i = 0; i < g.out_size(); ++i) {
        index_t corner = 0;
        for (int d = 0; d < S; ++d) corner = corner * g.in[d] + o[d] * g.stride[d];
        index_t best = corner + offset[0];
        T m = xp[best];
        for (index_t k = 1; k < taps; ++k) {
          const index_t idx = corner + offset[k];
          if (xp[idx] > m || xp[idx] != xp[idx]) {
            m = xp[idx];
            best = idx;
          }
        }
        yp[i] = m;
        ap[i] = best;
        int d = S - 1;
        while (d >= 0 && ++o[d] == g.out[d]) o[d--] = 0;
      }
      return;
    }
    Small<index_t, S> o{};
    for (index_t i = 0; i < g.out_size(); ++i) {
      Small<index_t, S> t{};
      index_t best = -1;
      T m = T(0);
      while (true) {
        index_t idx = 0;
        bool inside = true;
        for (int d = 0; d < S; ++d) {
          const index_t pos = o[d] * g.stride[d] - g.pad[d] + t[d];
          inside = inside && pos >= 0 && pos < g.in[d];
          idx = idx * g.in[d] + pos;
        }
        if (inside && (best < 0 || xp[idx] > m || xp[idx] != xp[idx])) {
          m = xp[idx];
          best = idx;
        }
        int d = S - 1;
        while (d >= 0 && ++t[d] == g.kernel[d]) t[d--] = 0;
        if (d < 0) break;
      }
      yp[i] = m;
      ap[i] = best;
      int d = S - 1;
      while (d >= 0 && ++o[d] == g.out[d]) o[d--] = 0;
    }
  }
};

template <class T, int S>
struct MaxPoolBackward {
  const T* dy;
  const index_t* argmax;
  T* dx;
  PoolGeometry<S> g;
  SEMISEG_HD void operator()(index_t i) const {
    const index_t plane = i / g.in_size(), p = i % g.in_size();
    const index_t base = plane * g.out_size();
    T sum = 0;
    for_covering(g, PoolGeometry<S>::coords(p, g.in), [&](const Small<index_t, S>&, index_t o) {
      if (argmax[base + o] == p) sum += dy[base + o];
    });
    dx[i] = sum;
  }
  // Plane q: zero, then each output's gradient to its winner.
  SEMISEG_HD void over_plane(index_t q) const {
    T* dxp = dx + q * g.in_size();
    const T* dyp = dy + q * g.out_size();
    const index_t* ap = argmax + q * g.out_size();
    for (index_t p = 0; p < g.in_size(); ++p) dxp[p] = T(0);
    for (index_t o = 0; o < g.out_size(); ++o)
      if (ap[o] >= 0) dxp[ap[o]] += dyp[o];
  }
};

template <class T, int S>
struct AvgPoolForward {
  const T* x;
  T* y;
  PoolGeometry<S> g;
  SEMISEG_HD void operator()(index_t i) const {
    const index_t plane = i / g.out_size();
    const T* xp = x + plane * g.in_size();
    const Small<index_t, S> o = PoolGeometry<S>::coords(i % g.out_size(), g.out);
    T sum = 0;
    for_window(g, o, [&](index_t idx) { sum += xp[idx]; });
    y[i] = sum / T(g.divisor(o));
  }
};

template <class T, int S>
struct AvgPoolBackward {
  const T* dy;
  T* dx;
  PoolGeometry<S> g;
  SEMISEG_HD void operator()(index_t i) const {
    const index_t plane = i / g.in_size(), p = i % g.in_size();
    const index_t base = plane * g.out_size();
    T sum = 0;
    for_covering(g, PoolGeometry<S>::coords(p, g.in),
                 [&](const Small<index_t, S>& o, index_t idx) { sum += dy[base + idx] / T(g.divisor(o)); });
    dx[i] = sum;
  }
};

}  // namespace semiseg
