// Geometric augmentations in 2D and 3D: crops, padding, flips, quarter turns, shifts, zoom and
// resizing. Contract: a transform moves the image, the mask and the instance map (those present)
// by one map from output pixels to source pixels, so they stay aligned exactly. Labels are always
// sampled nearest-neighbour. Output pixels without a source get `fill` in the image, ignore_label
// in the mask and 0 in the instance map. Sizes and per-axis options follow the (D,) H, W order;
// a mask or instance map whose shape differs from the image's is a shape_error.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "semiseg/core/dim.hpp"
#include "semiseg/core/error.hpp"
#include "semiseg/data/augment/compose.hpp"
#include "semiseg/data/rng.hpp"
#include "semiseg/data/sample.hpp"

namespace semiseg::data::aug {

enum class Interpolation { nearest, linear };

namespace detail {

// An axis-aligned integer map: output axis b reads source axis `axis[b]` at offset[b] + sign[b]·i.
// Crops, pads, flips, quarter turns and integer shifts all have this form, so one routine moves
// every array of a sample and alignment holds by construction.
template <std::size_t N>
struct AxisMap {
  std::array<std::size_t, N> out_shape{};
  std::array<std::size_t, N> axis{};
  std::array<std::int64_t, N> sign{};
  std::array<std::int64_t, N> offset{};

  static AxisMap identity(const std::array<std::size_t, N>& shape) {
    AxisMap m;
    m.out_shape = shape;
    for (std::size_t a = 0; a < N; ++a) {
      m.axis[a] = a;
      m.sign[a] = 1;
    }
    return m;
  }
  bool is_identity(const std::array<std::size_t, N>& in) const { return *this == identity(in); }
  bool operator==(const AxisMap&) const = default;
};

template <class T, std::size_t N>
void remap(const T* src, const std::array<std::size_t, N>& in, const AxisMap<N>& m, T fill, T* dst) {
  constexpr std::size_t last = N - 1;
  const auto stride = strides_of(in);
  const auto n = static_cast<std::int64_t>(m.out_shape[last]);
  if (n == 0) return;
  const auto len = static_cast<std::int64_t>(in[m.axis[last]]);
  const std::int64_t off = m.offset[last], sg = m.sign[last], step = sg * stride[m.axis[last]];
  // The run of output positions along the last axis whose source lies inside the image.
  const std::int64_t lo = std::clamp<std::int64_t>(sg > 0 ? -off : off - len + 1, 0, n);
  const std::int64_t hi = std::clamp<std::int64_t>(sg > 0 ? len - off : off + 1, lo, n);
  std::array<std::int64_t, N> idx{};
  const std::size_t rows = volume(m.out_shape) / static_cast<std::size_t>(n);
  for (std::size_t r = 0; r < rows; ++r, dst += n) {
    bool inside = hi > lo;
    std::int64_t base = 0;
    for (std::size_t b = 0; b < last; ++b) {
      const std::int64_t s = m.offset[b] + m.sign[b] * idx[b];
      if (s < 0 || s >= static_cast<std::int64_t>(in[m.axis[b]])) inside = false;
      base += s * stride[m.axis[b]];
    }
    if (!inside) {
      std::fill(dst, dst + n, fill);
    } else {
      std::fill(dst, dst + lo, fill);
      const T* p = src + base + (off + sg * lo) * stride[m.axis[last]];
      if (step == 1) {
        std::copy(p, p + (hi - lo), dst + lo);
      } else if (step == -1) {
        std::reverse_copy(p - (hi - lo - 1), p + 1, dst + lo);
      } else {
        for (std::int64_t i = lo; i < hi; ++i, p += step) dst[i] = *p;
      }
      std::fill(dst + hi, dst + n, fill);
    }
    for (std::size_t b = last; b-- > 0;) {
      if (++idx[b] < static_cast<std::int64_t>(m.out_shape[b])) break;
      idx[b] = 0;
    }
  }
}

template <class T, std::size_t N>
xt::xtensor<T, N> remap_labels(const xt::xtensor<T, N>& labels, const AxisMap<N>& m, T fill) {
  auto out = xt::xtensor<T, N>::from_shape(m.out_shape);
  remap(labels.data(), shape_array(labels), m, fill, out.data());
  return out;
}

template <SpatialDimension Dim>
void apply_map(Sample<Dim>& s, const AxisMap<static_cast<std::size_t>(Dim::spatial)>& m, float fill) {
  constexpr auto N = static_cast<std::size_t>(Dim::spatial);
  const auto in = s.spatial_shape();
  if (m.is_identity(in)) return;
  std::array<std::size_t, N + 1> shape{};
  shape[0] = s.channels();
  std::copy(m.out_shape.begin(), m.out_shape.end(), shape.begin() + 1);
  auto image = Image<Dim>::from_shape(shape);
  const std::size_t in_size = volume(in), out_size = volume(m.out_shape);
  for (std::size_t c = 0; c < shape[0]; ++c)
    remap(s.image.data() + c * in_size, in, m, fill, image.data() + c * out_size);
  s.image = std::move(image);
  if (s.has_mask()) s.mask = remap_labels(s.mask, m, ignore_label);
  if (s.has_instances()) s.instances = remap_labels(s.instances, m, std::int32_t{0});
}

// A spatial size option: one entry for every axis or one per axis; 0 keeps the image's extent.
template <std::size_t N>
std::array<std::size_t, N> resolve_size(const char* what, const std::vector<std::size_t>& size,
                                        const std::array<std::size_t, N>& image) {
  if (size.size() != 1 && size.size() != N)
    throw value_error(std::string(what) + ": size needs 1 or " + std::to_string(N) + " entries, got " +
                      std::to_string(size.size()));
  std::array<std::size_t, N> out{};
  for (std::size_t a = 0; a < N; ++a) {
    const std::size_t v = size.size() == 1 ? size[0] : size[a];
    out[a] = v == 0 ? image[a] : v;
  }
  return out;
}

// Where output position o samples the source along one axis.
struct Tap {
  std::int64_t nearest = -1;  // the nearest source pixel, or -1 when o maps outside the source
  std::int64_t i0 = 0, i1 = 0;  // linear neighbours, clamped to the source
  float w = 0;                  // weight of i1
};

// `source(o)` is the source coordinate of output o, in pixel units (pixel centres at integers).
template <class F>
std::vector<Tap> make_taps(std::size_t n_in, std::size_t n_out, F source) {
  std::vector<Tap> taps(n_out);
  const auto n = static_cast<std::int64_t>(n_in);
  for (std::size_t o = 0; o < n_out; ++o) {
    const double x = source(static_cast<double>(o));
    const auto near = static_cast<std::int64_t>(std::floor(x + 0.5));
    Tap& t = taps[o];
    t.nearest = near >= 0 && near < n ? near : -1;
    const double xc = std::clamp(x, 0.0, static_cast<double>(n - 1));
    t.i0 = static_cast<std::int64_t>(std::floor(xc));
    t.i1 = std::min(t.i0 + 1, n - 1);
    t.w = static_cast<float>(xc - static_cast<double>(t.i0));
  }
  return taps;
}

// PyTorch's align_corners=False geometry: output pixel centres spread evenly over the source.
inline std::vector<Tap> resize_taps(std::size_t n_in, std::size_t n_out) {
  const double scale = static_cast<double>(n_in) / static_cast<double>(n_out);
  return make_taps(n_in, n_out, [&](double o) { return (o + 0.5) * scale - 0.5; });
}

inline std::vector<Tap> identity_taps(std::size_t n) {
  return make_taps(n, n, [](double o) { return o; });
}

// Nearest gather over all N axes at once: out[p] = in[nearest(p)], or fill outside.
template <class T, std::size_t N>
void gather_nearest(const T* in, const std::array<std::size_t, N>& in_shape, const std::array<std::vector<Tap>, N>& taps,
                    T fill, T* out) {
  const auto stride = strides_of(in_shape);
  std::array<std::vector<std::int64_t>, N> off;
  for (std::size_t a = 0; a < N; ++a)
    for (const Tap& t : taps[a]) off[a].push_back(t.nearest < 0 ? -1 : t.nearest * stride[a]);
  const std::vector<std::int64_t>& inner = off[N - 1];
  const std::size_t n = inner.size();
  std::size_t rows = 1;
  for (std::size_t a = 0; a + 1 < N; ++a) rows *= off[a].size();
  if (n == 0) return;
  std::array<std::size_t, N> idx{};
  for (std::size_t r = 0; r < rows; ++r, out += n) {
    bool inside = true;
    std::int64_t base = 0;
    for (std::size_t b = 0; b + 1 < N; ++b) {
      const std::int64_t o = off[b][idx[b]];
      inside = inside && o >= 0;
      base += o;
    }
    if (!inside) {
      std::fill(out, out + n, fill);
    } else {
      for (std::size_t i = 0; i < n; ++i) out[i] = inner[i] < 0 ? fill : in[base + inner[i]];
    }
    for (std::size_t b = N - 1; b-- > 0;) {
      if (++idx[b] < off[b].size()) break;
      idx[b] = 0;
    }
  }
}

// One separable pass of linear resampling along `axis` of a row-major array of rank R; the pass
// runs over whole rows of the axes after `axis`, which the compiler vectorizes.
template <std::size_t R>
void linear_axis(const float* in, const std::array<std::size_t, R>& shape, std::size_t axis, const std::vector<Tap>& taps,
                 float fill, float* out) {
  std::size_t outer = 1, inner = 1;
  for (std::size_t a = 0; a < axis; ++a) outer *= shape[a];
  for (std::size_t a = axis + 1; a < R; ++a) inner *= shape[a];
  const std::size_t n_in = shape[axis], n_out = taps.size();
  for (std::size_t o = 0; o < outer; ++o) {
    const float* x = in + o * n_in * inner;
    float* y = out + o * n_out * inner;
    for (std::size_t j = 0; j < n_out; ++j, y += inner) {
      const Tap& t = taps[j];
      if (t.nearest < 0) {
        std::fill(y, y + inner, fill);
        continue;
      }
      const float* a = x + static_cast<std::size_t>(t.i0) * inner;
      const float* b = x + static_cast<std::size_t>(t.i1) * inner;
      const float w = t.w;
      // a + w·(b − a) keeps a constant (the fill, say) exact.
      for (std::size_t i = 0; i < inner; ++i) y[i] = a[i] + w * (b[i] - a[i]);
    }
  }
}

// Multilinear resampling of every channel of a C×spatial image, one axis at a time. Where a tap
// lies outside the source the result is `fill`: the outside region is a union of slabs, and
// blending fill with fill along the other axes gives fill again.
template <std::size_t N>
xt::xtensor<float, N + 1> resample_linear(const xt::xtensor<float, N + 1>& image, const std::array<std::vector<Tap>, N>& taps,
                                          float fill) {
  std::array<std::size_t, N + 1> shape = shape_array(image);
  std::vector<float> a(image.data(), image.data() + image.size()), b;
  for (std::size_t ax = 0; ax < N; ++ax) {
    std::array<std::size_t, N + 1> next = shape;
    next[ax + 1] = taps[ax].size();
    b.resize(volume(next));
    linear_axis(a.data(), shape, ax + 1, taps[ax], fill, b.data());
    std::swap(a, b);
    shape = next;
  }
  auto out = xt::xtensor<float, N + 1>::from_shape(shape);
  std::copy(a.begin(), a.end(), out.data());
  return out;
}

template <std::size_t N>
xt::xtensor<float, N + 1> resample_nearest(const xt::xtensor<float, N + 1>& image, const std::array<std::vector<Tap>, N>& taps,
                                           float fill) {
  std::array<std::size_t, N + 1> shape{};
  shape[0] = image.shape()[0];
  std::array<std::size_t, N> in{};
  for (std::size_t a = 0; a < N; ++a) {
    in[a] = image.shape()[a + 1];
    shape[a + 1] = taps[a].size();
  }
  auto out = xt::xtensor<float, N + 1>::from_shape(shape);
  const std::size_t in_size = volume(in), out_size = out.size() / std::max<std::size_t>(shape[0], 1);
  for (std::size_t c = 0; c < shape[0]; ++c)
    gather_nearest(image.data() + c * in_size, in, taps, fill, out.data() + c * out_size);
  return out;
}

template <class T, std::size_t N>
xt::xtensor<T, N> resample_labels(const xt::xtensor<T, N>& labels, const std::array<std::vector<Tap>, N>& taps, T fill) {
  std::array<std::size_t, N> shape{};
  for (std::size_t a = 0; a < N; ++a) shape[a] = taps[a].size();
  auto out = xt::xtensor<T, N>::from_shape(shape);
  gather_nearest(labels.data(), shape_array(labels), taps, fill, out.data());
  return out;
}

template <SpatialDimension Dim>
void resample_sample(Sample<Dim>& s, const std::array<std::vector<Tap>, static_cast<std::size_t>(Dim::spatial)>& taps,
                     Interpolation interpolation, float fill) {
  constexpr auto N = static_cast<std::size_t>(Dim::spatial);
  s.image = interpolation == Interpolation::linear ? resample_linear<N>(s.image, taps, fill)
                                                   : resample_nearest<N>(s.image, taps, fill);
  if (s.has_mask()) s.mask = resample_labels(s.mask, taps, ignore_label);
  if (s.has_instances()) s.instances = resample_labels(s.instances, taps, std::int32_t{0});
}

// A nearest-neighbour warp of the (H, W) plane, the same for every depth slice: `source` holds,
// for each output pixel of the plane, the flat index of its source pixel or -1.
template <class T>
void warp_planes(const T* in, std::size_t planes, const std::vector<std::int64_t>& source, T fill, T* out) {
  const std::size_t n = source.size();
  for (std::size_t p = 0; p < planes; ++p, in += n, out += n)
    for (std::size_t i = 0; i < n; ++i) out[i] = source[i] < 0 ? fill : in[source[i]];
}

// Warps the (H, W) plane of every slice and channel by the affine map that takes an output pixel
// p, relative to the plane's centre, to the source pixel inverse·p (2×2, row-major over (y, x)).
template <SpatialDimension Dim>
void warp_in_plane(Sample<Dim>& s, const std::array<double, 4>& inverse, float fill) {
  const auto shape = s.spatial_shape();
  const std::size_t h = shape[shape.size() - 2], w = shape[shape.size() - 1], plane = h * w;
  const double cy = (static_cast<double>(h) - 1) / 2, cx = (static_cast<double>(w) - 1) / 2;
  std::vector<std::int64_t> source(plane);
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x) {
      const double dy = static_cast<double>(y) - cy, dx = static_cast<double>(x) - cx;
      const auto sy = static_cast<std::int64_t>(std::floor(inverse[0] * dy + inverse[1] * dx + cy + 0.5));
      const auto sx = static_cast<std::int64_t>(std::floor(inverse[2] * dy + inverse[3] * dx + cx + 0.5));
      const bool inside = sy >= 0 && sx >= 0 && sy < static_cast<std::int64_t>(h) && sx < static_cast<std::int64_t>(w);
      source[y * w + x] = inside ? sy * static_cast<std::int64_t>(w) + sx : -1;
    }
  Image<Dim> image = Image<Dim>::from_shape(s.image.shape());
  warp_planes(s.image.data(), s.image.size() / std::max<std::size_t>(plane, 1), source, fill, image.data());
  s.image = std::move(image);
  if (s.has_mask()) {
    LabelMap<Dim> mask = LabelMap<Dim>::from_shape(s.mask.shape());
    warp_planes(s.mask.data(), s.mask.size() / std::max<std::size_t>(plane, 1), source, ignore_label, mask.data());
    s.mask = std::move(mask);
  }
  if (s.has_instances()) {
    LabelMap<Dim> inst = LabelMap<Dim>::from_shape(s.instances.shape());
    warp_planes(s.instances.data(), s.instances.size() / std::max<std::size_t>(plane, 1), source, std::int32_t{0},
                inst.data());
    s.instances = std::move(inst);
  }
}

// Moves the content by `shift` pixels per axis (positive towards higher indices).
template <SpatialDimension Dim>
void shift_sample(Sample<Dim>& s, const std::array<std::int64_t, static_cast<std::size_t>(Dim::spatial)>& shift,
                  float fill) {
  auto m = AxisMap<static_cast<std::size_t>(Dim::spatial)>::identity(s.spatial_shape());
  for (std::size_t a = 0; a < shift.size(); ++a) m.offset[a] = -shift[a];
  apply_map(s, m, fill);
}

// The largest whole shift within `fraction` of an axis; the epsilon keeps 0.125·32 at 4.
inline std::int64_t max_shift(double fraction, std::size_t n) {
  return static_cast<std::int64_t>(std::floor(fraction * static_cast<double>(n) + 1e-9));
}

}  // namespace detail

// Resamples a C×spatial image to `shape` (PyTorch's interpolate geometry, align_corners=False).
template <std::size_t R>
xt::xtensor<float, R> resize(const xt::xtensor<float, R>& image, const std::array<std::size_t, R - 1>& shape,
                             Interpolation interpolation = Interpolation::linear) {
  std::array<std::vector<detail::Tap>, R - 1> taps;
  for (std::size_t a = 0; a + 1 < R; ++a) taps[a] = detail::resize_taps(image.shape()[a + 1], shape[a]);
  return interpolation == Interpolation::linear ? detail::resample_linear<R - 1>(image, taps, 0.0f)
                                                : detail::resample_nearest<R - 1>(image, taps, 0.0f);
}

// Resamples a label map to `shape` by the nearest source pixel centre (PyTorch's nearest-exact,
// PIL's NEAREST), so labels never blend.
template <std::size_t N>
xt::xtensor<std::int32_t, N> resize_labels(const xt::xtensor<std::int32_t, N>& labels, const std::array<std::size_t, N>& shape) {
  std::array<std::vector<detail::Tap>, N> taps;
  for (std::size_t a = 0; a < N; ++a) taps[a] = detail::resize_taps(labels.shape()[a], shape[a]);
  return detail::resample_labels(labels, taps, std::int32_t{0});
}

// A fixed resize of the whole sample to `size` (1 entry or one per axis; 0 keeps an axis).
struct Resize {
  std::vector<std::size_t> size;
  Interpolation interpolation = Interpolation::linear;  // of the image; labels use nearest

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng&) const {
    detail::check_sample(s, "Resize");
    const auto in = s.spatial_shape();
    const auto out = detail::resolve_size("Resize", size, in);
    std::array<std::vector<detail::Tap>, static_cast<std::size_t>(Dim::spatial)> taps;
    for (std::size_t a = 0; a < taps.size(); ++a) taps[a] = detail::resize_taps(in[a], out[a]);
    detail::resample_sample(s, taps, interpolation, 0.0f);
  }
};

// A crop of `size` (1 entry or one per axis; 0 keeps an axis whole) at a uniform random position.
// With pad_if_needed, an axis shorter than the crop is placed at a random position inside it
// and the rest is filled; without, it is a value_error.
struct RandomCrop {
  std::vector<std::size_t> size;
  bool pad_if_needed = false;
  float fill = 0.0f;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng& rng) const {
    detail::check_sample(s, "RandomCrop");
    const auto in = s.spatial_shape();
    const auto out = detail::resolve_size("RandomCrop", size, in);
    auto m = detail::AxisMap<static_cast<std::size_t>(Dim::spatial)>::identity(out);
    for (std::size_t a = 0; a < in.size(); ++a) {
      const auto slack = static_cast<std::int64_t>(in[a]) - static_cast<std::int64_t>(out[a]);
      if (slack < 0 && !pad_if_needed)
        throw value_error("RandomCrop: crop " + detail::shape_string(out) + " is larger than the image " +
                          detail::shape_string(in) + " and pad_if_needed is off");
      m.offset[a] = rng.integer(std::min<std::int64_t>(slack, 0), std::max<std::int64_t>(slack, 0));
    }
    detail::apply_map(s, m, fill);
  }
};

// The central crop of `size`, starting at ⌊(n − size)/2⌋ (the odd pixel is cut after). With
// pad_if_needed a shorter axis is padded evenly, the odd pixel after (torchvision), else it is a
// value_error.
struct CenterCrop {
  std::vector<std::size_t> size;
  bool pad_if_needed = false;
  float fill = 0.0f;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng&) const {
    detail::check_sample(s, "CenterCrop");
    const auto in = s.spatial_shape();
    const auto out = detail::resolve_size("CenterCrop", size, in);
    auto m = detail::AxisMap<static_cast<std::size_t>(Dim::spatial)>::identity(out);
    for (std::size_t a = 0; a < in.size(); ++a) {
      const auto slack = static_cast<std::int64_t>(in[a]) - static_cast<std::int64_t>(out[a]);
      if (slack < 0 && !pad_if_needed)
        throw value_error("CenterCrop: crop " + detail::shape_string(out) + " is larger than the image " +
                          detail::shape_string(in) + " and pad_if_needed is off");
      m.offset[a] = slack >= 0 ? slack / 2 : -(-slack / 2);
    }
    detail::apply_map(s, m, fill);
  }
};

// Pads every axis shorter than `min_size` (1 entry or one per axis; 0 sets no minimum) up to
// it: evenly on both sides when centered (the extra pixel after), else after the content.
struct PadIfNeeded {
  std::vector<std::size_t> min_size;
  bool centered = true;
  float fill = 0.0f;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng&) const {
    detail::check_sample(s, "PadIfNeeded");
    const auto in = s.spatial_shape();
    const auto minimum = detail::resolve_size("PadIfNeeded", min_size, in);
    auto m = detail::AxisMap<static_cast<std::size_t>(Dim::spatial)>::identity(in);
    for (std::size_t a = 0; a < in.size(); ++a) {
      m.out_shape[a] = std::max(in[a], minimum[a]);
      m.offset[a] = centered ? -static_cast<std::int64_t>((m.out_shape[a] - in[a]) / 2) : 0;
    }
    detail::apply_map(s, m, fill);
  }
};

// Mirrors each axis independently with its probability; p_depth applies to 3D only. One draw per
// spatial axis, flipped or not.
struct Flip {
  double p_depth = 0.5;
  double p_height = 0.5;
  double p_width = 0.5;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng& rng) const {
    detail::check_probability("Flip (p_depth)", p_depth);
    detail::check_probability("Flip (p_height)", p_height);
    detail::check_probability("Flip (p_width)", p_width);
    detail::check_sample(s, "Flip");
    const auto in = s.spatial_shape();
    constexpr auto N = static_cast<std::size_t>(Dim::spatial);
    const std::array<double, 3> p{p_depth, p_height, p_width};
    auto m = detail::AxisMap<N>::identity(in);
    for (std::size_t a = 0; a < N; ++a)
      if (rng.bernoulli(p[3 - N + a])) {
        m.sign[a] = -1;
        m.offset[a] = static_cast<std::int64_t>(in[a]) - 1;
      }
    detail::apply_map(s, m, 0.0f);
  }
};

// The plane of a quarter turn in 3D, named by its two axes; 2D has only hw.
enum class Plane { random, hw, dh, dw };

// Turns the sample by k·90° with k uniform in {0, 1, 2, 3}, as numpy.rot90(x, k, axes=(first,
// second)) for the plane's (first, second) axes. In 3D a random plane is uniform over hw, dh, dw;
// Plane::hw keeps anisotropic volumes in-plane. keep_shape turns a plane whose two sides differ
// by 0° or 180° only (k → 2k mod 4), so crops keep stacking (EmbedSeg's 3D rule).
struct Rotate90 {
  Plane plane = Plane::random;
  bool keep_shape = false;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng& rng) const {
    detail::check_sample(s, "Rotate90");
    constexpr auto N = static_cast<std::size_t>(Dim::spatial);
    if (N == 2 && plane != Plane::random && plane != Plane::hw)
      throw value_error("Rotate90: a 2D image turns in the hw plane only; got a plane with the depth axis");
    std::int64_t k = rng.integer(0, 3);
    Plane chosen = plane;
    if (N == 2) chosen = Plane::hw;
    else if (plane == Plane::random) chosen = static_cast<Plane>(1 + rng.integer(0, 2));
    const std::size_t a = chosen == Plane::hw ? N - 2 : 0, b = chosen == Plane::dh ? 1 : N - 1;
    const auto in = s.spatial_shape();
    if (keep_shape && in[a] != in[b]) k = (2 * k) % 4;
    auto m = detail::AxisMap<N>::identity(in);
    const auto last_a = static_cast<std::int64_t>(in[a]) - 1, last_b = static_cast<std::int64_t>(in[b]) - 1;
    if (k == 2) {
      m.sign[a] = m.sign[b] = -1;
      m.offset[a] = last_a;
      m.offset[b] = last_b;
    } else if (k != 0) {
      // A quarter turn swaps the plane's extents; output axis a reads source axis b and back.
      std::swap(m.out_shape[a], m.out_shape[b]);
      m.axis[a] = b;
      m.axis[b] = a;
      m.sign[k == 1 ? a : b] = -1;
      m.offset[a] = k == 1 ? last_b : 0;
      m.offset[b] = k == 1 ? 0 : last_a;
    }
    detail::apply_map(s, m, 0.0f);
  }
};

// Shifts the content by a whole number of pixels, uniform in [−⌊f·n⌋, ⌊f·n⌋] per axis for the
// axis' fraction f (fraction_depth applies to 3D only); uncovered pixels are filled.
struct Translate {
  double fraction_depth = 0.125;
  double fraction_height = 0.125;
  double fraction_width = 0.125;
  float fill = 0.0f;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng& rng) const {
    const std::array<double, 3> f{fraction_depth, fraction_height, fraction_width};
    for (double v : f)
      if (!(v >= 0.0 && v <= 1.0))
        throw value_error("Translate: fractions must be in [0, 1], got " + std::to_string(v));
    detail::check_sample(s, "Translate");
    const auto in = s.spatial_shape();
    constexpr auto N = static_cast<std::size_t>(Dim::spatial);
    std::array<std::int64_t, N> shift{};
    for (std::size_t a = 0; a < N; ++a) {
      const std::int64_t m = detail::max_shift(f[3 - N + a], in[a]);
      shift[a] = rng.integer(-m, m);
    }
    detail::shift_sample(s, shift, fill);
  }
};

// Zooms about the centre by a factor uniform in [min, max], keeping the spatial size: factors
// above 1 enlarge the content and cut its borders, below 1 shrink it inside a filled frame.
// in_plane leaves the depth axis of 3D samples alone. The image is interpolated as chosen; labels
// take the nearest source pixel of the same coordinate, so they match a nearest-interpolated image.
struct Scale {
  double min = 0.5;
  double max = 2.0;
  bool in_plane = false;
  Interpolation interpolation = Interpolation::linear;
  float fill = 0.0f;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng& rng) const {
    detail::check_range("Scale", min, max);
    if (!(min > 0)) throw value_error("Scale: factors must be positive, got min " + std::to_string(min));
    detail::check_sample(s, "Scale");
    const double factor = rng.uniform(min, max);
    const auto in = s.spatial_shape();
    constexpr auto N = static_cast<std::size_t>(Dim::spatial);
    std::array<std::vector<detail::Tap>, N> taps;
    for (std::size_t a = 0; a < N; ++a) {
      const double c = (static_cast<double>(in[a]) - 1) / 2, f = in_plane && N == 3 && a == 0 ? 1.0 : factor;
      taps[a] = detail::make_taps(in[a], in[a], [&](double o) { return (o - c) / f + c; });
    }
    detail::resample_sample(s, taps, interpolation, fill);
  }
};

}  // namespace semiseg::data::aug
