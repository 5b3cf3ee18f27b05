// Column unfolding for convolution. Contract: for one image of `channels` planes, im2col writes
// the matrix col[(c·K + k), p] (K kernel taps, P output positions) of input values under each
// tap, zero outside the input; col2im is its adjoint: every input element receives the sum of
// the column entries that read it. Work is split by rows, so neither needs atomics.
#pragma once

#include "semiseg/core/launch.hpp"
#include "semiseg/core/shape.hpp"

namespace semiseg {

template <int S>
struct ConvGeometry {
  Small<index_t, S> in{}, out{}, kernel{}, stride{}, pad{}, dilation{};

  SEMISEG_HD index_t in_size() const { return in.product(); }
  SEMISEG_HD index_t out_size() const { return out.product(); }
  SEMISEG_HD index_t taps() const { return kernel.product(); }
};

// One work item per column row segment: channel c, tap k and every output coordinate except the
// last. The inner loop walks the last axis with a fixed step, so it has no divisions.
template <class T, int S>
struct Im2Col {
  const T* x;
  T* col;
  ConvGeometry<S> g;

  SEMISEG_HD void operator()(index_t item) const {
    const index_t out_last = g.out[S - 1], outer = g.out_size() / out_last, K = g.taps();
    const index_t o_outer = item % outer, k = (item / outer) % K, c = item / (outer * K);
    index_t kr = k, orr = o_outer, src = 0, scale = g.in[S - 1];
    const index_t k_last = kr % g.kernel[S - 1];
    kr /= g.kernel[S - 1];
    bool inside = true;
    for (int d = S - 2; d >= 0; --d) {
      const index_t pos = (orr % g.out[d]) * g.stride[d] - g.pad[d] + (kr % g.kernel[d]) * g.dilation[d];
      orr /= g.out[d];
      kr /= g.kernel[d];
      inside = inside && pos >= 0 && pos < g.in[d];
      src += pos * scale;
      scale *= g.in[d];
    }
    T* row = col + item * out_last;
    if (!inside) {
      for (index_t o = 0; o < out_last; ++o) row[o] = T(0);
      return;
    }
    const T* xr = x + c * g.in_size() + src;
    const index_t step = g.stride[S - 1], first = k_last * g.dilation[S - 1] - g.pad[S - 1], n = g.in[S - 1];
    for (index_t o = 0; o < out_last; ++o) {
      const index_t pos = first + o * step;
      row[o] = pos >= 0 && pos < n ? xr[pos] : T(0);
    }
  }
};

// One work item per input row: channel c and every input coordinate except the last. It owns
// that row of x, so it can add every tap's contribution into it without atomics.
template <class T, int S>
struct Col2Im {
  const T* col;
  T* x;
  ConvGeometry<S> g;

  SEMISEG_HD void operator()(index_t item) const {
    const index_t in_last = g.in[S - 1], in_outer = g.in_size() / in_last;
    const index_t out_last = g.out[S - 1], P = g.out_size(), K = g.taps();
    const index_t c = item / in_outer, r = item % in_outer;
    T* row = x + item * in_last;
    for (index_t i = 0; i < in_last; ++i) row[i] = T(0);
    for (index_t k = 0; k < K; ++k) {
      index_t kr = k, rr = r, o_outer = 0, scale = 1;
      const index_t k_last = kr % g.kernel[S - 1];
      kr /= g.kernel[S - 1];
      bool hit = true;
      for (int d = S - 2; d >= 0 && hit; --d) {
        const index_t shifted = rr % g.in[d] + g.pad[d] - (kr % g.kernel[d]) * g.dilation[d];
        rr /= g.in[d];
        kr /= g.kernel[d];
        if (shifted < 0 || shifted % g.stride[d] != 0 || shifted / g.stride[d] >= g.out[d]) {
          hit = false;
        } else {
          o_outer += (shifted / g.stride[d]) * scale;
          scale *= g.out[d];
        }
      }
      if (!hit) continue;
      const T* src = col + (c * K + k) * P + o_outer * out_last;
      const index_t step = g.stride[S - 1], first = k_last * g.dilation[S - 1] - g.pad[S - 1];
      for (index_t o = 0; o < out_last; ++o) {
        const index_t pos = first + o * step;
        if (pos >= 0 && pos < in_last) row[pos] += src[o];
      }
    }
  }
};

template <Device D, class T, int S>
void im2col(const T* x, T* col, const ConvGeometry<S>& g, index_t channels) {
  launch<D>(channels * g.taps() * (g.out_size() / g.out[S - 1]), Im2Col<T, S>{x, col, g},
            grain_for(g.out[S - 1]));
}

template <Device D, class T, int S>
void col2im(const T* col, T* x, const ConvGeometry<S>& g, index_t channels) {
  launch<D>(channels * (g.in_size() / g.in[S - 1]), Col2Im<T, S>{col, x, g},
            grain_for(g.in[S - 1] * g.taps()));
}

// y[n, c, p] += bias[c] over a N×C×P tensor; one work item per (n, c) plane.
template <class T>
struct AddChannelBias {
  T* y;
  const T* bias;
  index_t channels, plane;
  SEMISEG_HD void operator()(index_t row) const {
    const T b = bias[row % channels];
    T* yr = y + row * plane;
    for (index_t p = 0; p < plane; ++p) yr[p] += b;
  }
};

// db[c] += sum over n and p of dy[n, c, p]; one index per channel.
template <class T>
struct ChannelSum {
  const T* dy;
  T* db;
  index_t batch, channels, plane;
  SEMISEG_HD void operator()(index_t c) const {
    T s = 0;
    for (index_t n = 0; n < batch; ++n) {
      const T* row = dy + (n * channels + c) * plane;
      for (index_t p = 0; p < plane; ++p) s += row[p];
    }
    db[c] += s;
  }
};

}  // namespace semiseg
