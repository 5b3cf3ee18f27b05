// Test-time augmentation of 2D spatial-embedding predictions, as EmbedSeg's: the image is seen
// under the eight flips and quarter turns (transposes), each prediction is mapped back, and the
// eight are averaged channel by channel. Contract: `forward` maps a C×H×W image to the raw
// network output (2·2+1)×H×W (instance/embedding.hpp); the result has that shape. Mapping back
// moves pixels by the inverse transform and corrects the vector channels: a flip along x negates
// offset x, a flip along y negates offset y, a transpose swaps the x and y offsets and the x and
// y sigmas (the offsets' tanh is odd, so raw offsets may be negated). Transposes mix the axes, so
// the pixels must be square (equal spacing along H and W). Averaging is of raw outputs.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <utility>

#include <xtensor/xtensor.hpp>

#include "semiseg/core/error.hpp"

namespace semiseg::instance {

struct PlaneTransform {
  bool transpose = false, flip_x = false, flip_y = false;
};

// The eight transforms of the square's symmetry group, identity first.
inline std::array<PlaneTransform, 8> dihedral_transforms() {
  std::array<PlaneTransform, 8> out{};
  for (std::size_t k = 0; k < 8; ++k) out[k] = {(k & 4) != 0, (k & 1) != 0, (k & 2) != 0};
  return out;
}

// t applied to a C×H×W array: transpose first, then the flips (of the transposed axes).
inline xt::xtensor<float, 3> apply(const PlaneTransform& t, const xt::xtensor<float, 3>& a) {
  const std::size_t c = a.shape()[0], h = a.shape()[1], w = a.shape()[2];
  const std::size_t oh = t.transpose ? w : h, ow = t.transpose ? h : w;
  auto out = xt::xtensor<float, 3>::from_shape({c, oh, ow});
  for (std::size_t k = 0; k < c; ++k)
    for (std::size_t y = 0; y < oh; ++y)
      for (std::size_t x = 0; x < ow; ++x) {
        const std::size_t sy = t.flip_y ? oh - 1 - y : y, sx = t.flip_x ? ow - 1 - x : x;
        out(k, y, x) = t.transpose ? a(k, sx, sy) : a(k, sy, sx);
      }
  return out;
}

// Maps a raw embedding output of the transformed image back to the original image's frame.
inline xt::xtensor<float, 3> undo(const PlaneTransform& t, const xt::xtensor<float, 3>& out) {
  if (out.shape()[0] != 5)
    throw shape_error("semiseg: tta: a 2D embedding output has 5 channels, got " + std::to_string(out.shape()[0]));
  const std::size_t c = out.shape()[0], oh = out.shape()[1], ow = out.shape()[2];
  const std::size_t h = t.transpose ? ow : oh, w = t.transpose ? oh : ow;
  auto back = xt::xtensor<float, 3>::from_shape({c, h, w});
  // Channels of the original frame: x, y offsets (0, 1), x, y sigmas (2, 3), seed (4).
  const std::size_t swap[5] = {t.transpose ? 1u : 0u, t.transpose ? 0u : 1u, t.transpose ? 3u : 2u,
                               t.transpose ? 2u : 3u, 4u};
  for (std::size_t k = 0; k < c; ++k) {
    const std::size_t from = swap[k];
    // The flips act on the transformed frame's axes: its x offset is channel 0 there.
    const bool negate = (from == 0 && t.flip_x) || (from == 1 && t.flip_y);
    for (std::size_t y = 0; y < h; ++y)
      for (std::size_t x = 0; x < w; ++x) {
        // Pixel (y, x) of the original sits at (ty, tx) in the transformed frame.
        std::size_t ty = t.transpose ? x : y, tx = t.transpose ? y : x;
        if (t.flip_y) ty = oh - 1 - ty;
        if (t.flip_x) tx = ow - 1 - tx;
        const float v = out(from, ty, tx);
        back(k, y, x) = negate ? -v : v;
      }
  }
  return back;
}

// The mean of the eight mapped-back predictions of `image`.
template <class Forward>
xt::xtensor<float, 3> predict_with_tta(const xt::xtensor<float, 3>& image, Forward&& forward) {
  xt::xtensor<float, 3> sum;
  for (const PlaneTransform& t : dihedral_transforms()) {
    const xt::xtensor<float, 3> back = undo(t, forward(apply(t, image)));
    if (sum.size() == 0) sum = back;
    else sum += back;
  }
  sum *= 0.125f;
  return sum;
}

}  // namespace semiseg::instance
