// Pictures of samples: colour-coded masks and grids of tiles, for looking at data, augmentations
// and predictions. Contract: every function returns an 8-bit RGB Raster (3×1×H×W, values 0..255)
// that write_png() saves; 3D data is shown one z-slice at a time.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "semiseg/core/error.hpp"
#include "semiseg/data/class_table.hpp"
#include "semiseg/data/io/raster.hpp"
#include "semiseg/data/sample.hpp"

namespace semiseg::data {

using Colour = std::array<std::uint8_t, 3>;

// n well-separated colours: black for class 0 (background), then hues around the colour wheel.
inline std::vector<Colour> palette(std::size_t n) {
  std::vector<Colour> out;
  out.push_back({0, 0, 0});
  for (std::size_t i = 1; i < n; ++i) {
    // Golden-ratio hue steps keep neighbouring classes apart; alternate brightness for more contrast.
    const double h = std::fmod(0.13 + 0.618034 * static_cast<double>(i), 1.0) * 6.0;
    const double v = i % 2 ? 1.0 : 0.75, sat = 0.8;
    const double f = h - std::floor(h), p = v * (1 - sat), q = v * (1 - sat * f), t = v * (1 - sat * (1 - f));
    double r = v, g = t, b = p;
    switch (static_cast<int>(h)) {
      case 1: r = q, g = v, b = p; break;
      case 2: r = p, g = v, b = t; break;
      case 3: r = p, g = q, b = v; break;
      case 4: r = t, g = p, b = v; break;
      case 5: r = v, g = p, b = q; break;
      default: break;
    }
    out.push_back({static_cast<std::uint8_t>(r * 255), static_cast<std::uint8_t>(g * 255),
                   static_cast<std::uint8_t>(b * 255)});
  }
  return out;
}

// The colours of a class table, in its order.
inline std::vector<Colour> palette(const ClassTable& table) {
  std::vector<Colour> out;
  for (const ClassColour& c : table.classes()) out.push_back(c.rgb);
  return out;
}

inline Raster rgb_raster(std::size_t h, std::size_t w, float fill = 0) {
  Raster r;
  r.bits = 8;
  r.values = xt::xtensor<float, 4>::from_shape({3, 1, h, w});
  r.values.fill(fill);
  return r;
}

namespace detail {
// The offset of z-slice `z` of a spatial map with the given shape, and its height and width.
template <SpatialDimension Dim>
std::array<std::size_t, 3> slice_of(const SpatialShape<Dim>& s, std::size_t z) {
  if constexpr (Dim::spatial == 2) {
    if (z != 0) throw value_error("preview: a 2D map has one slice, asked for slice " + std::to_string(z));
    return {0, s[0], s[1]};
  } else {
    if (z >= s[0]) throw value_error("preview: slice " + std::to_string(z) + " of a volume of depth " + std::to_string(s[0]));
    return {z * s[1] * s[2], s[1], s[2]};
  }
}
}  // namespace detail

// One slice of a label map in colour; labels past the palette wrap around it, ignore_label is grey.
template <SpatialDimension Dim>
Raster colour_code(const LabelMap<Dim>& labels, const std::vector<Colour>& colours, std::size_t z = 0) {
  if (colours.empty()) throw value_error("preview: empty palette");
  SpatialShape<Dim> s{};
  for (std::size_t a = 0; a < s.size(); ++a) s[a] = labels.shape()[a];
  const auto [offset, h, w] = detail::slice_of<Dim>(s, z);
  Raster out = rgb_raster(h, w);
  const std::size_t plane = h * w;
  for (std::size_t k = 0; k < plane; ++k) {
    const std::int32_t v = labels.data()[offset + k];
    const Colour c = v < 0 ? Colour{128, 128, 128} : colours[static_cast<std::size_t>(v) % colours.size()];
    for (std::size_t ch = 0; ch < 3; ++ch) out.values.data()[ch * plane + k] = c[ch];
  }
  return out;
}

// One slice of an image as 8-bit RGB: grey images are repeated over the channels, and values are
// stretched from [lo, hi] (the slice's range when lo == hi) to 0..255.
template <SpatialDimension Dim>
Raster to_rgb(const Image<Dim>& image, std::size_t z = 0, float lo = 0, float hi = 1) {
  const std::size_t c = image.shape()[0];
  if (c != 1 && c != 3 && c != 4)
    throw shape_error("preview: an image of " + std::to_string(c) + " channels has no RGB picture");
  SpatialShape<Dim> s{};
  for (std::size_t a = 0; a < s.size(); ++a) s[a] = image.shape()[a + 1];
  const auto [offset, h, w] = detail::slice_of<Dim>(s, z);
  std::size_t volume = 1;
  for (std::size_t e : s) volume *= e;
  const std::size_t plane = h * w;
  if (lo == hi) {
    const float* first = image.data() + offset;
    const auto [mn, mx] = std::minmax_element(first, first + plane);
    lo = *mn;
    hi = *mx > *mn ? *mx : *mn + 1;
  }
  Raster out = rgb_raster(h, w);
  for (std::size_t ch = 0; ch < 3; ++ch) {
    const float* src = image.data() + (c == 1 ? 0 : ch) * volume + offset;
    for (std::size_t k = 0; k < plane; ++k)
      out.values.data()[ch * plane + k] = std::clamp(std::round((src[k] - lo) / (hi - lo) * 255.0f), 0.0f, 255.0f);
  }
  return out;
}

// Tiles of equal size in rows of `columns`, separated by `gap` pixels of a light grey.
inline Raster grid(const std::vector<Raster>& tiles, std::size_t columns, std::size_t gap = 2) {
  if (tiles.empty() || columns == 0) throw value_error("preview: a grid needs tiles and at least one column");
  const std::size_t h = tiles[0].height(), w = tiles[0].width();
  for (const Raster& t : tiles)
    if (t.height() != h || t.width() != w || t.channels() != 3 || t.depth() != 1)
      throw shape_error("preview: grid tiles must all be RGB " + std::to_string(h) + "x" + std::to_string(w));
  const std::size_t rows = (tiles.size() + columns - 1) / columns;
  const std::size_t cols = std::min(columns, tiles.size());
  const std::size_t H = rows * h + (rows + 1) * gap, W = cols * w + (cols + 1) * gap;
  Raster out = rgb_raster(H, W, 200);
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    const std::size_t y0 = gap + (i / columns) * (h + gap), x0 = gap + (i % columns) * (w + gap);
    for (std::size_t ch = 0; ch < 3; ++ch)
      for (std::size_t y = 0; y < h; ++y)
        for (std::size_t x = 0; x < w; ++x)
          out.values(ch, 0, y0 + y, x0 + x) = tiles[i].values(ch, 0, y, x);
  }
  return out;
}

// Nearest-neighbour enlargement by an integer factor, so small tiles stay legible.
inline Raster enlarge(const Raster& r, std::size_t factor) {
  if (factor <= 1) return r;
  Raster out = rgb_raster(r.height() * factor, r.width() * factor);
  for (std::size_t ch = 0; ch < 3; ++ch)
    for (std::size_t y = 0; y < out.height(); ++y)
      for (std::size_t x = 0; x < out.width(); ++x) out.values(ch, 0, y, x) = r.values(ch, 0, y / factor, x / factor);
  return out;
}

}  // namespace semiseg::data
