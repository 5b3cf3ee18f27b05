// Stride-1 convolution on the cpu without packing the image: the micro-kernel of packed_gemm.hpp,
// with its B operand read straight from a zero-padded copy of the image. Contract: for one image
// of `channels` planes and weights [out, channels, taps] (row-major), y = W·col with col as in
// im2col.hpp, for a geometry with every stride 1.
//
// With few output channels each column value meets only a few weights, so packing the columns
// (implicit_columns.hpp) costs as much as the products. Here the padded image is the B operand:
// for tap (c, k) the 32 positions of a tile are one contiguous run of a padded row, so a tile of
// MR output channels × NR positions of one output row costs two unaligned loads per tap and no
// bounds test. Positions past a row's end are computed from the next row's values and dropped.
#pragma once

#include <omp.h>

#include <algorithm>
#include <vector>

#include "semiseg/kernels/im2col.hpp"
#include "semiseg/kernels/packed_gemm.hpp"

namespace semiseg::packed {

// tile(MR × NR) = Σ_k a[k] ⊗ x[offset[k] ...], then the rows × cols corner of C = tile.
inline void direct_kernel(index_t taps, const float* a, const float* x, const index_t* offset, float* c, index_t ldc,
                          index_t rows, index_t cols) {
  Tile acc;
  for (index_t r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = vfloat{};
  for (index_t k = 0; k < taps; ++k, a += MR) {
    const float* b = x + offset[k];
    const vfloat b0 = load(b), b1 = load(b + lanes);
    for (index_t r = 0; r < MR; ++r) {
      acc[r][0] += a[r] * b0;
      acc[r][1] += a[r] * b1;
    }
  }
  write_tile(acc, c, ldc, rows, cols, 1.f, 0.f);
}

// This thread's buffers: the padded image, packed weights and tap offsets.
struct DirectBuffers {
  std::vector<float> image, weights;
  std::vector<index_t> offset;
};
inline DirectBuffers& direct_buffers() {
  thread_local DirectBuffers buffers;
  return buffers;
}

// Whether direct_convolution takes this geometry: every stride 1.
template <int S>
bool direct_convolution_fits(const ConvGeometry<S>& g) {
  for (int d = 0; d < S; ++d)
    if (g.stride[d] != 1) return false;
  return true;
}

// For each of `batch` images: y (out × positions) = W (out × channels·taps) · col(x), for one
// group. Image i's channels start at x + i·x_stride and its outputs at y + i·y_stride.
template <int S>
void direct_convolution(const float* x, index_t x_stride, index_t batch, index_t channels, const float* w, index_t out,
                        const ConvGeometry<S>& g, float* y, index_t y_stride) {
  const index_t taps = g.taps(), depth = channels * taps;
  // The padded extents: output extent + dilated kernel span − 1 on each axis.
  Small<index_t, S> padded{};
  for (int d = 0; d < S; ++d) padded[d] = g.out[d] + g.dilation[d] * (g.kernel[d] - 1);
  const index_t plane = padded.product(), row = padded[S - 1];
  DirectBuffers& buf = direct_buffers();
  // Slack after the last plane: a tile may read up to NR values past the end of a row.
  const auto image_size = static_cast<std::size_t>(batch * channels * plane + NR);
  if (buf.image.size() < image_size) buf.image.resize(image_size);
  const auto weight_size = static_cast<std::size_t>((out + MR - 1) / MR * MR * depth);
  if (buf.weights.size() < weight_size) buf.weights.resize(weight_size);
  if (buf.offset.size() < static_cast<std::size_t>(depth)) buf.offset.resize(static_cast<std::size_t>(depth));
  float* xp = buf.image.data();
  float* wp = buf.weights.data();
  index_t* offset = buf.offset.data();

  // The padded copy of plane q = (image, channel): input position i on axis d sits at i + pad[d];
  // the rest is 0. One pass over the padded rows, each written once.
  const auto pad_channel = [&](index_t q) {
    const index_t n = q / channels, c = q % channels, in_last = g.in[S - 1], shift = g.pad[S - 1];
    const index_t begin = std::clamp<index_t>(shift, 0, row), end = std::clamp<index_t>(in_last + shift, begin, row);
    const float* src_plane = x + n * x_stride + c * g.in_size();
    float* to = xp + q * plane;
    Small<index_t, S> at{};  // padded coordinates of the row, every axis but the last
    for (index_t r = 0; r < plane / row; ++r, to += row) {
      index_t src_row = 0;
      bool inside = true;
      for (int d = 0; d < S - 1; ++d) {
        const index_t pos = at[d] - g.pad[d];
        inside = inside && pos >= 0 && pos < g.in[d];
        src_row = src_row * g.in[d] + pos;
      }
      if (inside) {
        const float* src = src_plane + src_row * in_last + (begin - shift);  // input column begin − shift
        std::fill(to, to + begin, 0.f);
        std::copy(src, src + (end - begin), to + begin);
        std::fill(to + end, to + row, 0.f);
      } else {
        std::fill(to, to + row, 0.f);
      }
      int d = S - 2;
      while (d >= 0 && ++at[d] == padded[d]) at[d--] = 0;
    }
  };
  // Tap (c, k) of output position 0 reads padded offset c·plane + Σ tap[d]·dilation[d]·stride_d.
  for (index_t c = 0; c < channels; ++c)
    for (index_t k = 0; k < taps; ++k) {
      const TapWalk<S> walk(g, k);
      index_t off = 0;
      for (int d = 0; d < S; ++d) off = off * padded[d] + walk.tap[d] * g.dilation[d];
      offset[c * taps + k] = c * plane + off;
    }
  pack_a(Operand{w, depth, false}, 0, out, 0, depth, wp);

  const index_t out_last = g.out[S - 1], out_rows = g.out_size() / out_last;
  const auto output_row = [&](index_t item) {
    // Output row r of image n; the padded row where its taps start.
    const index_t n = item / out_rows, r = item % out_rows;
    index_t rest = r, base = n * channels * plane, scale = row;
    for (int d = S - 2; d >= 0; --d) {
      base += (rest % g.out[d]) * scale;
      rest /= g.out[d];
      scale *= padded[d];
    }
    float* yr = y + n * y_stride + r * out_last;
    for (index_t s = 0; s < out; s += MR)
      for (index_t o = 0; o < out_last; o += NR)
        direct_kernel(depth, wp + s * depth, xp + base + o, offset, yr + s * g.out_size() + o, g.out_size(),
                      std::min(MR, out - s), std::min(NR, out_last - o));
  };
  // One parallel region: planes are padded, then output rows computed, each by one thread.
  const index_t planes = batch * channels, rows_total = batch * out_rows;
  if (!omp_in_parallel() && omp_get_max_threads() > 1 && rows_total > 1 &&
      2.0 * double(batch) * double(out) * double(depth) * double(g.out_size()) >= 4e6) {
#pragma omp parallel
    {
#pragma omp for schedule(static)
      for (index_t q = 0; q < planes; ++q) pad_channel(q);
#pragma omp for schedule(static)
      for (index_t i = 0; i < rows_total; ++i) output_row(i);
    }
  } else {
    for (index_t q = 0; q < planes; ++q) pad_channel(q);
    for (index_t i = 0; i < rows_total; ++i) output_row(i);
  }
}

}  // namespace semiseg::packed
