// Convolution products on the cpu without a column matrix in memory: the packed GEMM asks for
// panels of op(B), and these packers make them straight from the image, with im2col's values.
// Contract: ColumnPanel's op(B) is the column matrix col[(c·K + k), p] of one image (im2col.hpp);
// TransposedColumnPanel's is its transpose. The forward product W·col and the weight gradient
// dY·colᵀ then read each input value where the kernel needs it, instead of writing and reading
// a matrix K times the image's size.
#pragma once

#include "semiseg/kernels/im2col.hpp"
#include "semiseg/kernels/packed_gemm.hpp"

namespace semiseg::packed {

// An output position as coordinates: every axis but the last, and the last.
template <int S>
struct Position {
  Small<index_t, S> outer{};
  index_t last = 0;

  static Position at(const ConvGeometry<S>& g, index_t q) {
    Position p;
    p.last = q % g.out[S - 1];
    q /= g.out[S - 1];
    for (int d = S - 2; d >= 0; --d) {
      p.outer[d] = q % g.out[d];
      q /= g.out[d];
    }
    return p;
  }
  // Moves on by n positions, counting up instead of dividing.
  void advance(const ConvGeometry<S>& g, index_t n) {
    last += n;
    while (last >= g.out[S - 1]) {
      last -= g.out[S - 1];
      TapWalk<S>::next_row(g, outer);
    }
  }
};

// One row of the column matrix (channel c, tap k): its values at consecutive output positions.
template <int S>
struct ColumnRow {
  const float* channel;
  TapWalk<S> walk;
  index_t first;  // input position on the last axis of output position 0 on that axis

  ColumnRow(const float* x, const ConvGeometry<S>& g, index_t row)
      : channel(x + (row / g.taps()) * g.in_size()), walk(g, row % g.taps()),
        first(walk.tap[S - 1] * g.dilation[S - 1] - g.pad[S - 1]) {}

  // The values at `count` positions from `from`, written to out[0], out[stride], ...
  void read(const ConvGeometry<S>& g, Position<S> from, index_t count, float* out, index_t stride) const {
    const index_t out_last = g.out[S - 1], in_last = g.in[S - 1], step = g.stride[S - 1];
    while (count > 0) {
      const index_t len = std::min(out_last - from.last, count);
      const index_t in_row = walk.input_row(g, from.outer);
      if (in_row < 0) {
        for (index_t i = 0; i < len; ++i) out[i * stride] = 0.f;
      } else {
        // Positions from.last + i, i in [begin, end), read inside the row; the rest read padding.
        const index_t start = first + from.last * step;
        const float* xr = channel + in_row * in_last;
        Span span;
        if (step == 1) {
          span.begin = std::min(len, std::max<index_t>(0, -start));
          span.end = std::max(span.begin, std::min(len, in_last - start));
        } else {
          span = inside_span(start, step, in_last, len);
        }
        if (step == 1 && stride == 1 && len == NR && span.begin == 0 && span.end == NR) {
          // A whole strip inside the image: two vector copies.
          store(out, load(xr + start));
          store(out + lanes, load(xr + start + lanes));
          out += len;
          count -= len;
          from.advance(g, len);
          continue;
        }
        for (index_t i = 0; i < span.begin; ++i) out[i * stride] = 0.f;
        if (step == 1 && stride == 1) {
          for (index_t i = span.begin; i < span.end; ++i) out[i] = xr[start + i];
        } else {
          for (index_t i = span.begin; i < span.end; ++i) out[i * stride] = xr[start + i * step];
        }
        for (index_t i = span.end; i < len; ++i) out[i * stride] = 0.f;
      }
      out += len * stride;
      count -= len;
      from.advance(g, len);
    }
  }
};

// op(B) = col (rows × positions): depth is the column row, columns are output positions.
template <int S>
struct ColumnPanel {
  const float* x;  // the image's first channel of this group
  ConvGeometry<S> g;
  void operator()(index_t p0, index_t kc, index_t j0, index_t nc, float* out) const {
    const Position<S> origin = Position<S>::at(g, j0);
    for (index_t k = 0; k < kc; ++k) {
      const ColumnRow<S> row(x, g, p0 + k);
      Position<S> at = origin;
      for (index_t s = 0; s < nc; s += NR) {
        const index_t cols = std::min(NR, nc - s);
        float* o = out + s * kc + k * NR;
        row.read(g, at, cols, o, 1);
        for (index_t c = cols; c < NR; ++c) o[c] = 0.f;
        at.advance(g, cols);
      }
    }
  }
};

// op(B) = colᵀ (positions × rows): depth is the output position, columns are column rows.
template <int S>
struct TransposedColumnPanel {
  const float* x;
  ConvGeometry<S> g;
  void operator()(index_t p0, index_t kc, index_t j0, index_t nc, float* out) const {
    const Position<S> origin = Position<S>::at(g, p0);
    for (index_t s = 0; s < nc; s += NR) {
      const index_t cols = std::min(NR, nc - s);
      float* o = out + s * kc;
      for (index_t c = 0; c < cols; ++c) ColumnRow<S>(x, g, j0 + s + c).read(g, origin, kc, o + c, NR);
      for (index_t c = cols; c < NR; ++c)
        for (index_t k = 0; k < kc; ++k) o[k * NR + c] = 0.f;
    }
  }
};

}  // namespace semiseg::packed
