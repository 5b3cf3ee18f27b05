#include "semiseg/data/augment/photometric.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

TYPE_TO_STRING_AS("dim2", semiseg::dim2);
TYPE_TO_STRING_AS("dim3", semiseg::dim3);

namespace semiseg::test {

namespace aug = data::aug;
using data::Rng;
using data::Sample;

// A C-channel sample of spatial size (D,) H, W (the last Dim::spatial of d, h, w), values
// c·0.1 + a smooth pattern in [0, 0.9), with a mask and an instance map.
template <SpatialDimension Dim>
Sample<Dim> make_sample(std::size_t c, std::size_t d, std::size_t h, std::size_t w) {
  const std::array<std::size_t, 3> all{d, h, w};
  std::array<std::size_t, Dim::spatial + 1> shape{};
  data::SpatialShape<Dim> spatial{};
  shape[0] = c;
  for (std::size_t a = 0; a < spatial.size(); ++a) shape[a + 1] = spatial[a] = all[3 - spatial.size() + a];
  Sample<Dim> s;
  s.image = data::Image<Dim>::from_shape(shape);
  s.mask = data::LabelMap<Dim>::from_shape(spatial);
  s.instances = data::LabelMap<Dim>::from_shape(spatial);
  const std::size_t n = s.mask.size();
  for (std::size_t k = 0; k < c; ++k)
    for (std::size_t i = 0; i < n; ++i)
      s.image.data()[k * n + i] = static_cast<float>(0.1 * static_cast<double>(k) + 0.3 + 0.25 * std::sin(0.37 * static_cast<double>(i)));
  for (std::size_t i = 0; i < n; ++i) {
    s.mask.data()[i] = static_cast<std::int32_t>(i % 4);
    s.instances.data()[i] = static_cast<std::int32_t>(i % 9);
  }
  return s;
}

// The four test pixels (0.9, 0.2, 0.1), (0.3, 0.6, 0.8), (0.5, 0.5, 0.5), (0.05, 0.95, 0.4) as a
// 3×2×2 or 3×1×2×2 image.
template <SpatialDimension Dim>
data::Image<Dim> rgb_pixels() {
  std::array<std::size_t, Dim::spatial + 1> shape{};
  shape.fill(1);
  shape[0] = 3;
  shape[shape.size() - 1] = shape[shape.size() - 2] = 2;
  auto image = data::Image<Dim>::from_shape(shape);
  const std::vector<float> v{0.9f, 0.3f, 0.5f, 0.05f, 0.2f, 0.6f, 0.5f, 0.95f, 0.1f, 0.8f, 0.5f, 0.4f};
  std::copy(v.begin(), v.end(), image.data());
  return image;
}

template <class Image>
void check_values(const Image& image, const std::vector<double>& expected) {
  REQUIRE(image.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    INFO("value " << i);
    CHECK(image.data()[i] == doctest::Approx(expected[i]).epsilon(1e-5));
  }
}

TEST_CASE_TEMPLATE("Colour functions match torchvision's formulas (values from numpy and colorsys)", Dim, dim2, dim3) {
  SUBCASE("brightness 1.3") {
    auto x = rgb_pixels<Dim>();
    aug::adjust_brightness(x, 1.3);
    check_values(x, {1, 0.39, 0.65, 0.065, 0.26, 0.78, 0.65, 1, 0.13, 1, 0.65, 0.52});
  }
  SUBCASE("contrast 0.6 about the mean grey value") {
    auto x = rgb_pixels<Dim>();
    aug::adjust_contrast(x, 0.6);
    check_values(x, {0.7449025, 0.3849025, 0.5049025, 0.2349025, 0.3249025, 0.5649025, 0.5049025, 0.7749025, 0.2649025,
                     0.6849025, 0.5049025, 0.4449025});
  }
  SUBCASE("saturation 1.7") {
    auto x = rgb_pixels<Dim>();
    aug::adjust_saturation(x, 1.7);
    check_values(x, {1, 0.136851, 0.500035, 0, 0.061533, 0.646851, 0.500035, 1, 0, 0.986851, 0.500035, 0.2472635});
  }
  SUBCASE("hue +0.2 and -0.45") {
    auto x = rgb_pixels<Dim>();
    aug::adjust_hue(x, 0.2);
    check_values(x, {0.64, 0.6, 0.5, 0.05, 0.9, 0.3, 0.5, 0.42, 0.1, 0.8, 0.5, 0.95});
    auto y = rgb_pixels<Dim>();
    aug::adjust_hue(y, -0.45);
    check_values(y, {0.1, 0.8, 0.5, 0.95, 0.56, 0.65, 0.5, 0.05, 0.9, 0.3, 0.5, 0.33});
    CHECK_THROWS_AS(aug::adjust_hue(y, 0.6), value_error);
  }
  SUBCASE("grayscale keeps three equal channels") {
    auto x = rgb_pixels<Dim>();
    aug::to_grayscale(x);
    const std::vector<double> g{0.39781, 0.53307, 0.49995, 0.618195};
    std::vector<double> expected;
    for (int c = 0; c < 3; ++c) expected.insert(expected.end(), g.begin(), g.end());
    check_values(x, expected);
  }
}

TEST_CASE_TEMPLATE("ColorJitter applies torchvision's adjustments with one random factor each", Dim, dim2, dim3) {
  const Sample<Dim> original = make_sample<Dim>(3, 3, 8, 8);
  const std::size_t n = original.mask.size();
  const float* x0 = original.image.data();
  SUBCASE("brightness only: one factor in [0.5, 1.5] for every value") {
    std::set<float> factors;
    for (std::uint32_t lane = 0; lane < 20; ++lane) {
      Sample<Dim> s = original;
      Rng rng(1, data::streams::augment, 0, lane);
      aug::ColorJitter{.brightness = 0.5, .contrast = 0.0, .saturation = 0.0, .hue = 0.0, .p = 1.0}(s, rng);
      const float f = s.image.data()[0] / x0[0];
      bool same = f >= 0.5f && f <= 1.5f;
      for (std::size_t i = 0; i < s.image.size(); ++i)
        same = same && std::abs(s.image.data()[i] - std::min(1.0f, f * x0[i])) < 1e-5f;
      CHECK(same);
      factors.insert(f);
    }
    CHECK(factors.size() == 20);
  }
  SUBCASE("saturation only: a blend with the grey image") {
    Sample<Dim> s = original;
    Rng rng(2, data::streams::augment);
    aug::ColorJitter{.brightness = 0.0, .contrast = 0.0, .saturation = 0.5, .hue = 0.0, .p = 1.0}(s, rng);
    // Solve the factor from pixel 0's red channel, then check every other value.
    const auto grey = [&](std::size_t i) { return 0.2989f * x0[i] + 0.587f * x0[n + i] + 0.114f * x0[2 * n + i]; };
    const float f = (s.image.data()[0] - grey(0)) / (x0[0] - grey(0));
    CHECK(f >= 0.5f);
    CHECK(f <= 1.5f);
    bool blend = true;
    for (std::size_t c = 0; c < 3; ++c)
      for (std::size_t i = 0; i < n; ++i) {
        const float expected = std::clamp(f * x0[c * n + i] + (1 - f) * grey(i), 0.0f, 1.0f);
        blend = blend && std::abs(s.image.data()[c * n + i] - expected) < 1e-4f;
      }
    CHECK(blend);
  }
  SUBCASE("hue only: value and saturation kept, hue turned by one shift") {
    Sample<Dim> s = original;
    Rng rng(3, data::streams::augment);
    aug::ColorJitter{.brightness = 0.0, .contrast = 0.0, .saturation = 0.0, .hue = 0.25, .p = 1.0}(s, rng);
    const auto hsv = [&](const float* img, std::size_t i) {
      const double r = img[i], g = img[n + i], b = img[2 * n + i];
      const double mx = std::max({r, g, b}), mn = std::min({r, g, b}), d = mx - mn;
      double h = 0;
      if (d > 0) h = mx == r ? std::fmod((g - b) / d + 6, 6.0) : mx == g ? (b - r) / d + 2 : (r - g) / d + 4;
      return std::array<double, 3>{h / 6, mx > 0 ? d / mx : 0, mx};
    };
    const double shift = hsv(s.image.data(), 0)[0] - hsv(x0, 0)[0];
    bool ok = true;
    for (std::size_t i = 0; i < n; ++i) {
      const auto a = hsv(x0, i), b = hsv(s.image.data(), i);
      double dh = b[0] - a[0] - shift;
      dh -= std::round(dh);
      ok = ok && std::abs(dh) < 1e-4 && std::abs(a[1] - b[1]) < 1e-4 && std::abs(a[2] - b[2]) < 1e-5;
    }
    CHECK(ok);
    double wrapped = shift - std::round(shift);
    CHECK(std::abs(wrapped) <= 0.25 + 1e-6);
  }
  SUBCASE("p 0.8 of the samples change") {
    int changed = 0;
    for (std::uint32_t lane = 0; lane < 500; ++lane) {
      Sample<Dim> s = original;
      Rng rng(4, data::streams::augment, 0, lane);
      aug::ColorJitter{}(s, rng);
      changed += !(s.image == original.image);
      CHECK(s.mask == original.mask);
      CHECK(s.instances == original.instances);
    }
    CHECK(changed > 370);
    CHECK(changed < 430);
  }
  SUBCASE("one channel gets brightness and contrast; two channels are a value_error") {
    Sample<Dim> grey = make_sample<Dim>(1, 3, 8, 8);
    const Sample<Dim> grey0 = grey;
    Rng rng(5, data::streams::augment);
    aug::ColorJitter{.p = 1.0}(grey, rng);
    CHECK(!(grey.image == grey0.image));
    Sample<Dim> two = make_sample<Dim>(2, 3, 8, 8);
    CHECK_THROWS_AS((aug::ColorJitter{}(two, rng)), value_error);
    CHECK_THROWS_AS((aug::Grayscale{}(two, rng)), value_error);
    CHECK_THROWS_AS((aug::ColorJitter{.hue = 0.6}(grey, rng)), value_error);
    CHECK_THROWS_AS((aug::ColorJitter{.p = -0.1}(grey, rng)), value_error);
  }
}

TEST_CASE_TEMPLATE("Grayscale makes RGB grey with probability p and leaves one channel alone", Dim, dim2, dim3) {
  const Sample<Dim> original = make_sample<Dim>(3, 2, 6, 6);
  int grey = 0;
  for (std::uint32_t lane = 0; lane < 500; ++lane) {
    Sample<Dim> s = original;
    Rng rng(6, data::streams::augment, 0, lane);
    aug::Grayscale{}(s, rng);
    const std::size_t n = s.mask.size();
    if (!(s.image == original.image)) {
      ++grey;
      bool equal = true;
      for (std::size_t i = 0; i < n; ++i)
        equal = equal && s.image.data()[i] == s.image.data()[n + i] && s.image.data()[i] == s.image.data()[2 * n + i];
      CHECK(equal);
    }
  }
  CHECK(grey > 70);
  CHECK(grey < 130);
  Sample<Dim> one = make_sample<Dim>(1, 2, 6, 6);
  const Sample<Dim> one0 = one;
  Rng rng(7, data::streams::augment);
  aug::Grayscale{.p = 1.0}(one, rng);
  CHECK(one.image == one0.image);
}

TEST_CASE_TEMPLATE("Brightness, Contrast and Gamma follow their formulas", Dim, dim2, dim3) {
  const Sample<Dim> original = make_sample<Dim>(2, 3, 7, 9);
  const float* x0 = original.image.data();
  Rng rng(8, data::streams::augment);
  SUBCASE("multiplicative and additive brightness, clipped or not") {
    Sample<Dim> s = original;
    aug::Brightness{.min = 2.0, .max = 2.0}(s, rng);
    for (std::size_t i = 0; i < s.image.size(); ++i) CHECK(s.image.data()[i] == 2 * x0[i]);
    Sample<Dim> t = original;
    aug::Brightness{.min = 0.5, .max = 0.5, .additive = true, .clip = true}(t, rng);
    for (std::size_t i = 0; i < t.image.size(); ++i) CHECK(t.image.data()[i] == std::min(1.0f, x0[i] + 0.5f));
  }
  SUBCASE("contrast halves each channel's deviations from its mean") {
    Sample<Dim> s = original;
    aug::Contrast{.min = 0.5, .max = 0.5}(s, rng);
    const std::size_t n = s.mask.size();
    for (std::size_t c = 0; c < 2; ++c) {
      double mean = 0;
      for (std::size_t i = 0; i < n; ++i) mean += x0[c * n + i];
      mean /= static_cast<double>(n);
      for (std::size_t i = 0; i < n; ++i)
        CHECK(s.image.data()[c * n + i] == doctest::Approx(mean + 0.5 * (x0[c * n + i] - mean)).epsilon(1e-5));
    }
  }
  SUBCASE("gamma 2 squares, negatives count as 0") {
    Sample<Dim> s = original;
    s.image.data()[0] = -0.5f;
    aug::Gamma{.min = 2.0, .max = 2.0}(s, rng);
    CHECK(s.image.data()[0] == 0.0f);
    for (std::size_t i = 1; i < s.image.size(); ++i) CHECK(s.image.data()[i] == doctest::Approx(x0[i] * x0[i]).epsilon(1e-6));
    CHECK_THROWS_AS((aug::Gamma{.min = 0.0}(s, rng)), value_error);
  }
  SUBCASE("p 0 changes nothing, a bad range or p throws") {
    Sample<Dim> s = original;
    aug::Brightness{.p = 0.0}(s, rng);
    aug::Contrast{.p = 0.0}(s, rng);
    aug::Gamma{.p = 0.0}(s, rng);
    aug::GaussianNoise{.p = 0.0}(s, rng);
    aug::GaussianBlur{.p = 0.0}(s, rng);
    CHECK(s.image == original.image);
    CHECK_THROWS_AS((aug::Brightness{.min = 1.5, .max = 0.5}(s, rng)), value_error);
    CHECK_THROWS_AS((aug::Contrast{.p = 2.0}(s, rng)), value_error);
    CHECK_THROWS_AS((aug::GaussianNoise{.sigma = -1.0}(s, rng)), value_error);
    CHECK_THROWS_AS((aug::GaussianBlur{.sigma_min = 0.0}(s, rng)), value_error);
  }
}

TEST_CASE_TEMPLATE("GaussianNoise has the requested moments, independent values, and reproduces by seed", Dim, dim2,
                   dim3) {
  Sample<Dim> s = make_sample<Dim>(1, 16, 128, 128);
  std::fill(s.image.data(), s.image.data() + s.image.size(), 0.0f);
  const Sample<Dim> zero = s;
  Rng rng(9, data::streams::augment);
  aug::GaussianNoise{.sigma = 0.1}(s, rng);
  const std::size_t n = s.image.size();
  double m1 = 0, m2 = 0, m4 = 0, lag = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double v = s.image.data()[i];
    m1 += v;
    m2 += v * v;
    m4 += v * v * v * v;
    if (i + 1 < n) lag += v * s.image.data()[i + 1];
  }
  m1 /= static_cast<double>(n);
  m2 /= static_cast<double>(n);
  m4 /= static_cast<double>(n);
  lag /= static_cast<double>(n - 1);
  CHECK(std::abs(m1) < 0.002);
  CHECK(std::sqrt(m2) == doctest::Approx(0.1).epsilon(0.01));
  CHECK(m4 / (m2 * m2) == doctest::Approx(3.0).epsilon(0.05));
  CHECK(std::abs(lag / m2) < 0.02);
  CHECK(s.mask == zero.mask);
  Sample<Dim> again = zero, other = zero;
  Rng same(9, data::streams::augment), lane1(9, data::streams::augment, 0, 1);
  aug::GaussianNoise{.sigma = 0.1}(again, same);
  aug::GaussianNoise{.sigma = 0.1}(other, lane1);
  CHECK(again.image == s.image);
  CHECK(!(other.image == s.image));
}

TEST_CASE_TEMPLATE("GaussianBlur keeps a constant and spreads a delta as a product of 1D Gaussians", Dim, dim2, dim3) {
  Rng rng(10, data::streams::augment);
  SUBCASE("constant") {
    Sample<Dim> s = make_sample<Dim>(2, 5, 9, 11);
    std::fill(s.image.data(), s.image.data() + s.image.size(), 0.7f);
    aug::GaussianBlur{.p = 1.0}(s, rng);
    bool constant = true;
    for (std::size_t i = 0; i < s.image.size(); ++i) constant = constant && std::abs(s.image.data()[i] - 0.7f) < 1e-6f;
    CHECK(constant);
  }
  SUBCASE("delta") {
    const double sigma = 1.3;
    const std::size_t side = 21, centre = 10;
    for (bool in_plane : {false, true}) {
      Sample<Dim> s = make_sample<Dim>(1, side, side, side);
      std::fill(s.image.data(), s.image.data() + s.image.size(), 0.0f);
      const std::size_t n = s.image.size();
      s.image.data()[n / 2] = 1.0f;  // the centre pixel: side is odd on every axis
      aug::GaussianBlur{.sigma_min = sigma, .sigma_max = sigma, .p = 1.0, .in_plane = in_plane}(s, rng);
      // The truncated kernel: radius ⌈3σ⌉ = 4, normalised.
      std::vector<double> g(side, 0.0);
      double sum = 0;
      for (int k = -4; k <= 4; ++k) sum += std::exp(-k * k / (2 * sigma * sigma));
      for (int k = -4; k <= 4; ++k) g[static_cast<std::size_t>(static_cast<int>(centre) + k)] = std::exp(-k * k / (2 * sigma * sigma)) / sum;
      std::size_t bad = 0;
      for (std::size_t i = 0; i < n; ++i) {
        double expected = 1;
        std::size_t rest = i;
        for (int a = Dim::spatial - 1; a >= 0; --a) {
          const std::size_t p = rest % side;
          rest /= side;
          const bool spared = in_plane && Dim::spatial == 3 && a == 0;
          expected *= spared ? (p == centre ? 1.0 : 0.0) : g[p];
        }
        bad += std::abs(s.image.data()[i] - expected) > 1e-6;
      }
      CHECK(bad == 0);
    }
  }
  SUBCASE("p 0.5 blurs about half the samples") {
    const Sample<Dim> original = make_sample<Dim>(1, 4, 8, 8);
    int blurred = 0;
    for (std::uint32_t lane = 0; lane < 400; ++lane) {
      Sample<Dim> s = original;
      Rng r(11, data::streams::augment, 0, lane);
      aug::GaussianBlur{}(s, r);
      blurred += !(s.image == original.image);
      CHECK(s.mask == original.mask);
    }
    CHECK(blurred > 160);
    CHECK(blurred < 240);
  }
}

TEST_CASE_TEMPLATE("Cutout fills one clipped box in every channel and leaves labels unless asked", Dim, dim2, dim3) {
  const Sample<Dim> original = make_sample<Dim>(2, 8, 8, 8);
  const std::size_t n = original.mask.size();
  std::set<std::size_t> areas;
  for (std::uint32_t lane = 0; lane < 200; ++lane) {
    Sample<Dim> s = original;
    Rng rng(12, data::streams::augment, 0, lane);
    aug::Cutout{.size = 0.5, .fill = 2.0f, .mask_ignore = lane % 2 == 1}(s, rng);
    // The filled pixels, their bounding box, and that it is full.
    std::array<std::size_t, 3> lo{99, 99, 99}, hi{0, 0, 0};
    std::size_t filled = 0;
    bool channels_agree = true, labels_ok = true;
    for (std::size_t i = 0; i < n; ++i) {
      const bool f0 = s.image.data()[i] == 2.0f, f1 = s.image.data()[n + i] == 2.0f;
      channels_agree = channels_agree && f0 == f1;
      const bool ignored = s.mask.data()[i] == data::ignore_label;
      labels_ok = labels_ok && (lane % 2 == 1 ? ignored == f0 : s.mask.data()[i] == original.mask.data()[i]);
      labels_ok = labels_ok && s.instances.data()[i] == original.instances.data()[i];
      if (!f0) {
        channels_agree = channels_agree && s.image.data()[i] == original.image.data()[i];
        continue;
      }
      ++filled;
      std::size_t rest = i;
      for (int a = Dim::spatial - 1; a >= 0; --a) {
        const auto u = static_cast<std::size_t>(a);
        lo[u] = std::min(lo[u], rest % 8);
        hi[u] = std::max(hi[u], rest % 8);
        rest /= 8;
      }
    }
    CHECK(channels_agree);
    CHECK(labels_ok);
    std::size_t box = 1;
    for (std::size_t a = 0; a < static_cast<std::size_t>(Dim::spatial); ++a) {
      CHECK(hi[a] - lo[a] + 1 <= 4);
      box *= hi[a] - lo[a] + 1;
    }
    CHECK(filled == box);
    areas.insert(filled);
  }
  // Boxes in the middle are whole (4 per side), boxes at the border clipped.
  CHECK(areas.count(Dim::spatial == 2 ? 16u : 64u) == 1);
  CHECK(areas.size() > 3);
  if constexpr (Dim::spatial == 3) {
    Sample<Dim> s = original;
    Rng rng(13, data::streams::augment);
    aug::Cutout{.size = 0.25, .fill = 2.0f, .in_plane = true}(s, rng);
    std::size_t filled = 0;
    for (std::size_t i = 0; i < n; ++i) filled += s.image.data()[i] == 2.0f;
    CHECK(filled % 8 == 0);  // whole depth columns
    CHECK(filled > 0);
  }
  Sample<Dim> s = original;
  Rng rng(14, data::streams::augment);
  CHECK_THROWS_AS((aug::Cutout{.size = 1.5}(s, rng)), value_error);
}

}  // namespace semiseg::test
