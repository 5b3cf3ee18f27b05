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

// The outputs o in [begin, end) of a row of `outputs` whose input position first + o·step lies
// in [0, extent); the others read padding.
struct Span {
  index_t begin, end;
};
SEMISEG_HD inline Span inside_span(index_t first, index_t step, index_t extent, index_t outputs) {
  if (step == 1) {
    const index_t b = first >= 0 ? 0 : (-first < outputs ? -first : outputs);
    const index_t e = extent - first < outputs ? extent - first : outputs;
    return {b, e > b ? e : b};
  }
  const index_t begin = first >= 0 ? 0 : (-first + step - 1) / step;
  const index_t end = first >= extent ? 0 : (extent - 1 - first) / step + 1;
  const index_t b = begin < outputs ? begin : outputs;
  const index_t e = end < outputs ? end : outputs;
  return {b, e > b ? e : b};
}

// One row of outputs from one input row `xr`: output o reads xr[first + o·step], inside for o in
// span = inside_span(first, step, extent, outputs), 0 outside.
template <class T>
SEMISEG_HD inline void gather_row(const T* xr, T* row, index_t first, index_t step, Span span, index_t outputs) {
  for (index_t o = 0; o < span.begin; ++o) row[o] = T(0);
  if (step == 1) {
    for (index_t o = span.begin; o < span.end; ++o) row[o] = xr[first + o];
  } else {
    for (index_t o = span.begin; o < span.end; ++o) row[o] = xr[first + o * step];
  }
  for (index_t o = span.end; o < outputs; ++o) row[o] = T(0);
}

// gather_row's adjoint: xr[first + o·step] += row[o] for o in span.
template <class T>
SEMISEG_HD inline void scatter_row(const T* row, T* xr, index_t first, index_t step, Span span) {
  if (step == 1) {
    for (index_t o = span.begin; o < span.end; ++o) xr[first + o] += row[o];
  } else {
    for (index_t o = span.begin; o < span.end; ++o) xr[first + o * step] += row[o];
  }
}

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
    const index_t first = k_last * g.dilation[S - 1] - g.pad[S - 1];
    gather_row(x + c * g.in_size() + src, row, first, g.stride[S - 1],
               inside_span(first, g.stride[S - 1], g.in[S - 1], out_last), out_last);
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
      const index_t first = k_last * g.dilation[S - 1] - g.pad[S - 1];
      scatter_row(col + (c * K + k) * P + o_outer * out_last, row, first, g.stride[S - 1],
                  inside_span(first, g.stride[S - 1], in_last, out_last));
    }
  }
};

// The cpu forms: one work item per (channel, tap) row of the column matrix for im2col, and per
// channel for col2im, walking the output rows with a counter instead of dividing per row, so
// short rows (a 64-wide image) cost a copy and not a dozen divisions.
template <int S>
struct TapWalk {
  Small<index_t, S> tap{};  // kernel coordinates of the tap
  SEMISEG_HD TapWalk(const ConvGeometry<S>& g, index_t k) {
    for (int d = S - 1; d >= 0; --d) {
      tap[d] = k % g.kernel[d];
      k /= g.kernel[d];
    }
  }
  // Input row (over every axis but the last) that output row `o` reads under this tap, or −1.
  SEMISEG_HD index_t input_row(const ConvGeometry<S>& g, const Small<index_t, S>& o) const {
    index_t row = 0;
    for (int d = 0; d < S - 1; ++d) {
      const index_t pos = o[d] * g.stride[d] - g.pad[d] + tap[d] * g.dilation[d];
      if (pos < 0 || pos >= g.in[d]) return -1;
      row = row * g.in[d] + pos;
    }
    return row;
  }
  SEMISEG_HD static void next_row(const ConvGeometry<S>& g, Small<index_t, S>& o) {
    int d = S - 2;
    while (d >= 0 && ++o[d] == g.out[d]) o[d--] = 0;
  }
};

template <class T, int S>
struct Im2ColTap {
  const T* x;
  T* col;
  ConvGeometry<S> g;
  SEMISEG_HD void operator()(index_t item) const {
    const index_t K = g.taps(), c = item / K, out_last = g.out[S - 1], in_last = g.in[S - 1];
    const TapWalk<S> walk(g, item % K);
    const index_t first = walk.tap[S - 1] * g.dilation[S - 1] - g.pad[S - 1];
    const Span span = inside_span(first, g.stride[S - 1], in_last, out_last);
    const T* xc = x + c * g.in_size();
    T* row = col + item * g.out_size();
    Small<index_t, S> o{};
    for (index_t r = 0; r < g.out_size() / out_last; ++r, row += out_last) {
      const index_t in_row = walk.input_row(g, o);
      TapWalk<S>::next_row(g, o);
      if (in_row < 0) {
        for (index_t i = 0; i < out_last; ++i) row[i] = T(0);
      } else {
        gather_row(xc + in_row * in_last, row, first, g.stride[S - 1], span, out_last);
      }
    }
  }
};

template <class T, int S>
struct Col2ImChannel {
  const T* col;
  T* x;
  ConvGeometry<S> g;
  SEMISEG_HD void operator()(index_t c) const {
    const index_t K = g.taps(), out_last = g.out[S - 1], in_last = g.in[S - 1];
    T* xc = x + c * g.in_size();
    for (index_t i = 0; i < g.in_size(); ++i) xc[i] = T(0);
    for (index_t k = 0; k < K; ++k) {
      const TapWalk<S> walk(g, k);
      const index_t first = walk.tap[S - 1] * g.dilation[S - 1] - g.pad[S - 1];
      const Span span = inside_span(first, g.stride[S - 1], in_last, out_last);
      const T* src = col + (c * K + k) * g.out_size();
      Small<index_t, S> o{};
      for (index_t r = 0; r < g.out_size() / out_last; ++r, src += out_last) {
        const index_t in_row = walk.input_row(g, o);
        TapWalk<S>::next_row(g, o);
        if (in_row >= 0) scatter_row(src, xc + in_row * in_last, first, g.stride[S - 1], span);
      }
    }
  }
};

template <Device D, class T, int S>
void im2col(const T* x, T* col, const ConvGeometry<S>& g, index_t channels) {
  if constexpr (is_cuda<D>)
    launch<D>(channels * g.taps() * (g.out_size() / g.out[S - 1]), Im2Col<T, S>{x, col, g}, grain_for(g.out[S - 1]));
  else
    launch<D>(channels * g.taps(), Im2ColTap<T, S>{x, col, g}, grain_for(g.out_size()));
}

template <Device D, class T, int S>
void col2im(const T* col, T* x, const ConvGeometry<S>& g, index_t channels) {
  if constexpr (is_cuda<D>)
    launch<D>(channels * (g.in_size() / g.in[S - 1]), Col2Im<T, S>{col, x, g}, grain_for(g.in[S - 1] * g.taps()));
  else
    launch<D>(channels, Col2ImChannel<T, S>{col, x, g}, grain_for(g.in_size() * g.taps()));
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
