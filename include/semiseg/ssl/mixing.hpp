// CutMix inside a strategy: box masks drawn on the host, one per sample, and mixing on the
// device. Contract: masks are N × 1 × spatial int32 (1 where the sample takes its partner);
// mix_with_next gives sample n the pixels of sample (n + 1) mod N where its mask is 1, for images
// (any channel count) and for label maps alike, so a batch is mixed with a rolled copy of itself:
// CPS's u0·(1 − M) + u1·M and UniMatch's mixing of two strong views, without a second batch.
// Masks depend only on (seed, stream, step, sample), so a resumed run draws the same boxes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "semiseg/core/launch.hpp"
#include "semiseg/core/tensor.hpp"
#include "semiseg/data/rng.hpp"
#include "semiseg/data/sample.hpp"

namespace semiseg::ssl {

namespace detail {
template <class V>
struct MixWithNext {
  const V* a;
  const std::int32_t* mask;
  V* out;
  index_t samples, channels, plane;
  SEMISEG_HD void operator()(index_t i) const {
    const index_t p = i % plane, c = (i / plane) % channels, s = i / (plane * channels);
    const index_t source = mask[s * plane + p] ? (s + 1) % samples : s;
    out[i] = a[(source * channels + c) * plane + p];
  }
};
}  // namespace detail

// The spatial shape of a batch, as the data layer's samplers take it.
template <SpatialDimension Dim, class T, Device D>
data::SpatialShape<Dim> spatial_shape(TensorView<T, D, Dim> t) {
  data::SpatialShape<Dim> s;
  for (int a = 0; a < Dim::spatial; ++a) s[static_cast<std::size_t>(a)] = static_cast<std::size_t>(t.shape[a + 2]);
  return s;
}

// One mask per sample, painted by `draw(rng, shape, mask)` into a zeroed host plane, uploaded as
// N × 1 × spatial; sample n's generator is Rng(seed, stream, step, n). `host` is the caller's
// staging buffer, kept between steps so that drawing does not allocate.
template <SpatialDimension Dim, Device D, class Draw>
void draw_masks(index_t samples, const data::SpatialShape<Dim>& shape, std::uint64_t seed, std::uint32_t stream,
                std::uint32_t step, Draw draw, Tensor<std::int32_t, D, Dim>& masks, std::vector<std::int32_t>& host) {
  shape_of<Dim> s;
  s[0] = samples;
  s[1] = 1;
  for (int a = 0; a < Dim::spatial; ++a) s[a + 2] = static_cast<index_t>(shape[static_cast<std::size_t>(a)]);
  masks.resize(s);
  const std::size_t plane = static_cast<std::size_t>(masks.size() / std::max<index_t>(samples, 1));
  host.assign(static_cast<std::size_t>(masks.size()), 0);
  for (index_t n = 0; n < samples; ++n) {
    data::Rng rng(seed, stream, step, static_cast<std::uint32_t>(n));
    draw(rng, shape, host.data() + static_cast<std::size_t>(n) * plane);
  }
  copy<D, cpu>(masks.data(), host.data(), masks.size());
}

// out[n] = a[n] where masks[n] is 0, a[(n + 1) mod N] where it is 1.
template <class V, Device D, SpatialDimension Dim>
void mix_with_next(TensorView<const V, D, Dim> a, TensorView<const std::int32_t, D, Dim> masks, Tensor<V, D, Dim>& out) {
  if (masks.n() != a.n() || masks.c() != 1 || masks.plane() != a.plane())
    throw shape_error("semiseg: mix_with_next: masks " + masks.shape.str() + " do not fit the batch " + a.shape.str());
  out.resize(a.shape);
  launch<D>(a.size(), detail::MixWithNext<V>{a.data, masks.data, out.data(), a.n(), a.c(), a.plane()});
}

}  // namespace semiseg::ssl
