// Photometric augmentations: intensity, colour, noise, blur and cutout. Contract: they change the
// image only (Cutout can also mark its box ignore_label in the mask, off by default); masks and
// instance maps are untouched. The colour functions follow torchvision.transforms.functional on
// float images with values in [0, 1]: results are clamped to [0, 1], the grey value is
// 0.2989·R + 0.587·G + 0.114·B, and a 1-channel image passes saturation, hue and grayscale
// unchanged. Colour work on any other channel count than 1 or 3 is a value_error.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "semiseg/core/dim.hpp"
#include "semiseg/core/error.hpp"
#include "semiseg/core/philox.hpp"
#include "semiseg/data/augment/compose.hpp"
#include "semiseg/data/rng.hpp"
#include "semiseg/data/sample.hpp"

namespace semiseg::data::aug {

namespace detail {

// Channel count and pixels per channel of a C×spatial image.
template <class Image>
std::pair<std::size_t, std::size_t> channels_and_pixels(const Image& image) {
  const std::size_t c = image.shape()[0];
  return {c, c ? image.size() / c : 0};
}

template <class Image>
void check_colour(const Image& image, const char* what) {
  const std::size_t c = image.shape()[0];
  if (c != 1 && c != 3)
    throw value_error(std::string(what) + ": needs a 1- or 3-channel (RGB) image, got " + std::to_string(c) +
                      " channels");
}

inline float clamp01(float v) { return std::min(1.0f, std::max(0.0f, v)); }

// torchvision's _blend: ratio·x + (1 − ratio)·other, optionally clamped to [0, 1].
inline float blend(float x, float other, float ratio, bool clip) {
  const float v = ratio * x + (1.0f - ratio) * other;
  return clip ? clamp01(v) : v;
}

inline float grey(float r, float g, float b) { return 0.2989f * r + 0.587f * g + 0.114f * b; }

template <class Image>
void brightness(Image& image, float factor, bool clip) {
  float* x = image.data();
  for (std::size_t i = 0; i < image.size(); ++i) x[i] = blend(x[i], 0.0f, factor, clip);
}

// Contrast about the mean grey value of an RGB image (torchvision), or about each channel's own
// mean otherwise, which for one channel is torchvision's rule too.
template <class Image>
void contrast(Image& image, float factor, bool clip) {
  const auto [c, n] = channels_and_pixels(image);
  float* x = image.data();
  std::vector<double> mean(c, 0.0);
  if (c == 3) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += grey(x[i], x[n + i], x[2 * n + i]);
    std::fill(mean.begin(), mean.end(), sum / static_cast<double>(n));
  } else {
    for (std::size_t k = 0; k < c; ++k) mean[k] = std::accumulate(x + k * n, x + (k + 1) * n, 0.0) / static_cast<double>(n);
  }
  for (std::size_t k = 0; k < c; ++k) {
    const auto m = static_cast<float>(mean[k]);
    for (float* p = x + k * n; p != x + (k + 1) * n; ++p) *p = blend(*p, m, factor, clip);
  }
}

template <class Image>
void saturation(Image& image, float factor) {
  const auto [c, n] = channels_and_pixels(image);
  if (c != 3) return;
  float *r = image.data(), *g = r + n, *b = g + n;
  for (std::size_t i = 0; i < n; ++i) {
    const float l = grey(r[i], g[i], b[i]);
    r[i] = blend(r[i], l, factor, true);
    g[i] = blend(g[i], l, factor, true);
    b[i] = blend(b[i], l, factor, true);
  }
}

// Hue rotation through HSV, by torchvision's conversion formulas.
template <class Image>
void hue(Image& image, float shift) {
  const auto [c, n] = channels_and_pixels(image);
  if (c != 3) return;
  float *r = image.data(), *g = r + n, *b = g + n;
  for (std::size_t i = 0; i < n; ++i) {
    const float maxc = std::max({r[i], g[i], b[i]}), minc = std::min({r[i], g[i], b[i]});
    const bool grey_pixel = maxc == minc;
    const float cr = maxc - minc, s = cr / (grey_pixel ? 1.0f : maxc), div = grey_pixel ? 1.0f : cr;
    const float rc = (maxc - r[i]) / div, gc = (maxc - g[i]) / div, bc = (maxc - b[i]) / div;
    float h = maxc == r[i] ? bc - gc : maxc == g[i] ? 2.0f + rc - bc : 4.0f + gc - rc;
    h = std::fmod(h / 6.0f + 1.0f, 1.0f);
    h = h + shift;
    h -= std::floor(h);
    const float v = maxc, h6 = h * 6.0f, fl = std::floor(h6), f = h6 - fl;
    const int sector = static_cast<int>(fl) % 6;
    const float p = clamp01(v * (1.0f - s)), q = clamp01(v * (1.0f - s * f)), t = clamp01(v * (1.0f - s * (1.0f - f)));
    const std::array<float, 6> rs{v, q, p, p, t, v}, gs{t, v, v, q, p, p}, bs{p, p, t, v, v, q};
    r[i] = rs[static_cast<std::size_t>(sector)];
    g[i] = gs[static_cast<std::size_t>(sector)];
    b[i] = bs[static_cast<std::size_t>(sector)];
  }
}

template <class Image>
void grayscale(Image& image) {
  const auto [c, n] = channels_and_pixels(image);
  if (c != 3) return;
  float *r = image.data(), *g = r + n, *b = g + n;
  for (std::size_t i = 0; i < n; ++i) r[i] = g[i] = b[i] = grey(r[i], g[i], b[i]);
}

// A normalised Gaussian truncated at three standard deviations.
inline std::vector<float> gaussian_kernel(double sigma) {
  const auto radius = static_cast<std::size_t>(std::max(1.0, std::ceil(3.0 * sigma)));
  std::vector<double> w(2 * radius + 1);
  for (std::size_t k = 0; k < w.size(); ++k) {
    const double d = static_cast<double>(k) - static_cast<double>(radius);
    w[k] = std::exp(-d * d / (2.0 * sigma * sigma));
  }
  const double sum = std::accumulate(w.begin(), w.end(), 0.0);
  std::vector<float> out(w.size());
  for (std::size_t k = 0; k < w.size(); ++k) out[k] = static_cast<float>(w[k] / sum);
  return out;
}

// Convolves axis `axis` of a row-major array of rank R with `kernel`, repeating the edge pixels
// beyond the border (so a constant stays constant).
template <std::size_t R>
void convolve_axis(float* data, const std::array<std::size_t, R>& shape, std::size_t axis, const std::vector<float>& kernel,
                   std::vector<float>& scratch) {
  std::size_t outer = 1, inner = 1;
  for (std::size_t a = 0; a < axis; ++a) outer *= shape[a];
  for (std::size_t a = axis + 1; a < R; ++a) inner *= shape[a];
  const std::size_t n = shape[axis], radius = kernel.size() / 2;
  if (n == 0 || inner == 0) return;
  const auto clamp_index = [&](std::size_t j, std::size_t k) {
    const auto v = static_cast<std::int64_t>(j + k) - static_cast<std::int64_t>(radius);
    return static_cast<std::size_t>(std::clamp<std::int64_t>(v, 0, static_cast<std::int64_t>(n) - 1));
  };
  if (inner == 1) {
    // Contiguous lines: pad one line with its edge values, then slide the kernel along it.
    scratch.resize(n + 2 * radius);
    for (std::size_t o = 0; o < outer; ++o) {
      float* line = data + o * n;
      for (std::size_t j = 0; j < scratch.size(); ++j) scratch[j] = line[clamp_index(j, 0)];
      for (std::size_t j = 0; j < n; ++j) {
        float acc = 0;
        for (std::size_t k = 0; k < kernel.size(); ++k) acc += kernel[k] * scratch[j + k];
        line[j] = acc;
      }
    }
    return;
  }
  // Strided axes: whole rows of the inner axes at a time, which vectorizes.
  scratch.resize(n * inner);
  for (std::size_t o = 0; o < outer; ++o) {
    float* block = data + o * n * inner;
    std::fill(scratch.begin(), scratch.end(), 0.0f);
    for (std::size_t j = 0; j < n; ++j) {
      float* y = scratch.data() + j * inner;
      for (std::size_t k = 0; k < kernel.size(); ++k) {
        const float w = kernel[k];
        const float* x = block + clamp_index(j, k) * inner;
        for (std::size_t i = 0; i < inner; ++i) y[i] += w * x[i];
      }
    }
    std::copy(scratch.begin(), scratch.end(), block);
  }
}

}  // namespace detail

// torchvision.transforms.functional on a C×spatial float image, in place.
template <std::size_t R>
void adjust_brightness(xt::xtensor<float, R>& image, double factor) {
  detail::brightness(image, static_cast<float>(factor), true);
}
template <std::size_t R>
void adjust_contrast(xt::xtensor<float, R>& image, double factor) {
  detail::check_colour(image, "adjust_contrast");
  detail::contrast(image, static_cast<float>(factor), true);
}
template <std::size_t R>
void adjust_saturation(xt::xtensor<float, R>& image, double factor) {
  detail::check_colour(image, "adjust_saturation");
  detail::saturation(image, static_cast<float>(factor));
}
// `shift` in [−0.5, 0.5] turns the hue by that fraction of the colour wheel.
template <std::size_t R>
void adjust_hue(xt::xtensor<float, R>& image, double shift) {
  detail::check_colour(image, "adjust_hue");
  if (!(shift >= -0.5 && shift <= 0.5)) throw value_error("adjust_hue: shift must be in [-0.5, 0.5], got " + std::to_string(shift));
  detail::hue(image, static_cast<float>(shift));
}
// Replaces each channel of an RGB image by the grey value, keeping 3 channels.
template <std::size_t R>
void to_grayscale(xt::xtensor<float, R>& image) {
  detail::check_colour(image, "to_grayscale");
  detail::grayscale(image);
}

// x ← x·f (or x + f when additive) with f uniform in [min, max], with probability p; clip clamps
// to [0, 1] afterwards.
struct Brightness {
  double min = 0.5;
  double max = 1.5;
  bool additive = false;
  bool clip = false;
  double p = 1.0;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng& rng) const {
    detail::check_range("Brightness", min, max);
    detail::check_probability("Brightness", p);
    if (!rng.bernoulli(p)) return;
    const auto f = static_cast<float>(rng.uniform(min, max));
    float* x = s.image.data();
    for (std::size_t i = 0; i < s.image.size(); ++i) {
      const float v = additive ? x[i] + f : x[i] * f;
      x[i] = clip ? detail::clamp01(v) : v;
    }
  }
};

// x ← m + f·(x − m) with f uniform in [min, max], about the mean grey value of an RGB image or
// each channel's own mean otherwise (torchvision's rule), with probability p.
struct Contrast {
  double min = 0.5;
  double max = 1.5;
  bool clip = false;
  double p = 1.0;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng& rng) const {
    detail::check_range("Contrast", min, max);
    detail::check_probability("Contrast", p);
    if (!rng.bernoulli(p)) return;
    detail::contrast(s.image, static_cast<float>(rng.uniform(min, max)), clip);
  }
};

// x ← x^γ with γ uniform in [min, max], with probability p. Assumes values in [0, 1], where 0 and
// 1 stay fixed; negative values are taken as 0.
struct Gamma {
  double min = 0.7;
  double max = 1.5;
  double p = 1.0;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng& rng) const {
    detail::check_range("Gamma", min, max);
    if (!(min > 0)) throw value_error("Gamma: exponents must be positive, got min " + std::to_string(min));
    detail::check_probability("Gamma", p);
    if (!rng.bernoulli(p)) return;
    const auto g = static_cast<float>(rng.uniform(min, max));
    float* x = s.image.data();
    for (std::size_t i = 0; i < s.image.size(); ++i) x[i] = std::pow(std::max(x[i], 0.0f), g);
  }
};

// Adds independent N(0, σ²) noise to every value, with probability p. The values come from a
// Philox key drawn from the Rng (two draws), four normals per Philox call.
struct GaussianNoise {
  double sigma = 0.1;
  double p = 1.0;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng& rng) const {
    if (!(sigma >= 0)) throw value_error("GaussianNoise: sigma must be >= 0, got " + std::to_string(sigma));
    detail::check_probability("GaussianNoise", p);
    if (!rng.bernoulli(p)) return;
    const std::uint64_t seed = (static_cast<std::uint64_t>(rng.bits()) << 32) | rng.bits();
    const Philox key{seed, streams::augment, 0};
    float* x = s.image.data();
    const std::size_t n = s.image.size();
    const auto sd = static_cast<float>(sigma);
    // Box-Muller in float on 24-bit uniforms, plenty for noise; u1 lies in (0, 1] so the
    // logarithm is finite.
    constexpr float two_pi = 6.2831853f, inv24 = 1.0f / 16777216.0f;
    for (std::size_t i = 0; i < n; i += 4) {
      const PhiloxResult r = key.bits(i / 4);
      std::array<float, 4> z{};
      for (std::size_t k = 0; k < 2; ++k) {
        const float u1 = static_cast<float>((r.v[2 * k] >> 8) + 1) * inv24;
        const float u2 = static_cast<float>(r.v[2 * k + 1] >> 8) * inv24;
        const float rad = sd * std::sqrt(-2.0f * std::log(u1)), angle = two_pi * u2;
        z[2 * k] = rad * std::cos(angle);
        z[2 * k + 1] = rad * std::sin(angle);
      }
      for (std::size_t k = 0; k < 4 && i + k < n; ++k) x[i + k] += z[k];
    }
  }
};

// Separable Gaussian blur with σ uniform in [sigma_min, sigma_max], with probability p (UniMatch:
// σ in [0.1, 2.0], p 0.5, where PIL's radius is σ). The kernel is truncated at 3σ and the border
// repeats the edge pixel; in_plane spares the depth axis of 3D samples.
struct GaussianBlur {
  double sigma_min = 0.1;
  double sigma_max = 2.0;
  double p = 0.5;
  bool in_plane = false;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng& rng) const {
    detail::check_range("GaussianBlur", sigma_min, sigma_max);
    if (!(sigma_min > 0)) throw value_error("GaussianBlur: sigma must be positive, got " + std::to_string(sigma_min));
    detail::check_probability("GaussianBlur", p);
    if (!rng.bernoulli(p)) return;
    const auto kernel = detail::gaussian_kernel(rng.uniform(sigma_min, sigma_max));
    const auto shape = detail::shape_array(s.image);
    std::vector<float> scratch;
    for (std::size_t axis = in_plane && Dim::spatial == 3 ? 2 : 1; axis < shape.size(); ++axis)
      detail::convolve_axis(s.image.data(), shape, axis, kernel, scratch);
  }
};

// torchvision's ColorJitter (brightness, contrast, saturation in [max(0, 1 − v), 1 + v], hue
// shift in [−hue, hue], applied in a random order), itself applied with probability p. The
// defaults are UniMatch's strong view: ColorJitter(0.5, 0.5, 0.5, 0.25) with p 0.8. A 0 amount
// skips that adjustment, as torchvision does.
struct ColorJitter {
  double brightness = 0.5;
  double contrast = 0.5;
  double saturation = 0.5;
  double hue = 0.25;
  double p = 0.8;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng& rng) const {
    if (!(brightness >= 0 && contrast >= 0 && saturation >= 0))
      throw value_error("ColorJitter: brightness, contrast and saturation must be >= 0");
    if (!(hue >= 0 && hue <= 0.5)) throw value_error("ColorJitter: hue must be in [0, 0.5], got " + std::to_string(hue));
    detail::check_probability("ColorJitter", p);
    detail::check_colour(s.image, "ColorJitter");
    if (!rng.bernoulli(p)) return;
    std::array<int, 4> order{0, 1, 2, 3};
    for (std::size_t i = order.size(); i > 1; --i)
      std::swap(order[i - 1], order[static_cast<std::size_t>(rng.integer(0, static_cast<std::int64_t>(i) - 1))]);
    const auto factor = [&](double v) { return static_cast<float>(rng.uniform(std::max(0.0, 1.0 - v), 1.0 + v)); };
    const float fb = factor(brightness), fc = factor(contrast), fs = factor(saturation);
    const auto fh = static_cast<float>(rng.uniform(-hue, hue));
    for (int op : order) {
      if (op == 0 && brightness > 0) detail::brightness(s.image, fb, true);
      if (op == 1 && contrast > 0) detail::contrast(s.image, fc, true);
      if (op == 2 && saturation > 0) detail::saturation(s.image, fs);
      if (op == 3 && hue > 0) detail::hue(s.image, fh);
    }
  }
};

// torchvision's RandomGrayscale: with probability p an RGB image becomes grey in all 3 channels.
// The default p 0.2 is UniMatch's.
struct Grayscale {
  double p = 0.2;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng& rng) const {
    detail::check_probability("Grayscale", p);
    detail::check_colour(s.image, "Grayscale");
    if (rng.bernoulli(p)) detail::grayscale(s.image);
  }
};

// Cutout (DeVries & Taylor; FixMatch's strong view): a box of `size` times each side, centred on
// a uniform random pixel and clipped at the border, filled with `fill` in every channel (FixMatch
// fills with grey 0.5 and uses half the side), with probability p. in_plane makes the box span
// the whole depth of 3D samples. The mask is left alone unless mask_ignore, which marks the box
// ignore_label: the label is still true for a pseudo-label target, but not for a labeled
// sample whose evidence was erased.
struct Cutout {
  double size = 0.5;
  float fill = 0.5f;
  double p = 1.0;
  bool in_plane = false;
  bool mask_ignore = false;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& s, Rng& rng) const {
    if (!(size >= 0 && size <= 1)) throw value_error("Cutout: size must be in [0, 1], got " + std::to_string(size));
    detail::check_probability("Cutout", p);
    detail::check_sample(s, "Cutout");
    if (!rng.bernoulli(p)) return;
    constexpr auto N = static_cast<std::size_t>(Dim::spatial);
    const auto shape = s.spatial_shape();
    std::array<std::size_t, N> begin{}, end{};
    for (std::size_t a = 0; a < N; ++a) {
      const auto n = static_cast<std::int64_t>(shape[a]);
      if (in_plane && N == 3 && a == 0) {
        end[a] = shape[a];
        continue;
      }
      const auto side = static_cast<std::int64_t>(std::lround(size * static_cast<double>(n)));
      const std::int64_t centre = rng.integer(0, std::max<std::int64_t>(n - 1, 0)), lo = centre - side / 2;
      begin[a] = static_cast<std::size_t>(std::clamp<std::int64_t>(lo, 0, n));
      end[a] = static_cast<std::size_t>(std::clamp<std::int64_t>(lo + side, 0, n));
    }
    const auto stride = detail::strides_of(shape);
    const std::size_t plane = detail::volume(shape);
    // Visits the box row by row along the last axis.
    const auto for_box = [&](auto&& f) {
      std::array<std::size_t, N> idx = begin;
      if (begin[N - 1] >= end[N - 1]) return;
      for (std::size_t a = 0; a + 1 < N; ++a)
        if (begin[a] >= end[a]) return;
      while (true) {
        std::int64_t base = 0;
        for (std::size_t a = 0; a + 1 < N; ++a) base += static_cast<std::int64_t>(idx[a]) * stride[a];
        f(static_cast<std::size_t>(base) + begin[N - 1], end[N - 1] - begin[N - 1]);
        std::size_t a = N - 1;
        while (a-- > 0) {
          if (++idx[a] < end[a]) break;
          idx[a] = begin[a];
        }
        if (a == static_cast<std::size_t>(-1)) return;
      }
    };
    for (std::size_t c = 0; c < s.channels(); ++c) {
      float* x = s.image.data() + c * plane;
      for_box([&](std::size_t at, std::size_t len) { std::fill(x + at, x + at + len, fill); });
    }
    if (mask_ignore && s.has_mask())
      for_box([&](std::size_t at, std::size_t len) { std::fill(s.mask.data() + at, s.mask.data() + at + len, ignore_label); });
  }
};

}  // namespace semiseg::data::aug
