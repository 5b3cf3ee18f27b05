#include "semiseg/data/augment/normalize.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <vector>

TYPE_TO_STRING_AS("dim2", semiseg::dim2);
TYPE_TO_STRING_AS("dim3", semiseg::dim3);

namespace semiseg::test {

namespace aug = data::aug;
using data::Rng;
using data::Sample;

// Two channels of 63 (7×9) or 105 (3×5×7) values, the same formula as the numpy reference.
template <SpatialDimension Dim>
Sample<Dim> make_sample() {
  std::array<std::size_t, Dim::spatial + 1> shape{};
  data::SpatialShape<Dim> spatial{};
  if constexpr (Dim::spatial == 2) spatial = {7, 9};
  else spatial = {3, 5, 7};
  shape[0] = 2;
  std::copy(spatial.begin(), spatial.end(), shape.begin() + 1);
  Sample<Dim> s;
  s.image = data::Image<Dim>::from_shape(shape);
  s.mask = data::LabelMap<Dim>::from_shape(spatial);
  const std::size_t n = s.mask.size();
  for (std::size_t c = 0; c < 2; ++c)
    for (std::size_t i = 0; i < n; ++i)
      s.image.data()[c * n + i] = static_cast<float>(static_cast<double>((i * 37 + 11 * c) % 101) / 7.0 -
                                                     static_cast<double>(c) * 3.0 + static_cast<double>(i % 5) * 0.013);
  for (std::size_t i = 0; i < n; ++i) s.mask.data()[i] = static_cast<std::int32_t>(i % 3);
  return s;
}

struct Reference {
  std::array<std::array<double, 6>, 2> channel;  // q = 1, 99.8, 0, 100, 50, 37.5
  std::array<double, 2> all;                     // q = 1, 99.8 over both channels
};

// numpy.percentile of the values above (float32, computed in float64).
template <SpatialDimension Dim>
Reference reference() {
  if constexpr (Dim::spatial == 2)
    return {{{{0.185202854, 14.2679999, 0, 14.2857141, 7.14285707, 5.37339282},
              {-2.70022566, 11.2746736, -2.97399998, 11.3117142, 4.1688571, 2.43510705}}},
            {-2.49671423, 14.25}};
  else
    return {{{{0.0187142861, 14.256, 0, 14.2857141, 7, 5.29871416},
              {-2.81242861, 11.282, -2.97399998, 11.3117142, 4.02600002, 2.32471418}}},
            {-2.66242866, 14.2260001}};
}

TEST_CASE_TEMPLATE("percentile matches numpy's linear interpolation", Dim, dim2, dim3) {
  const Sample<Dim> s = make_sample<Dim>();
  const Reference ref = reference<Dim>();
  const std::size_t n = s.mask.size();
  const std::array<double, 6> qs{1, 99.8, 0, 100, 50, 37.5};
  for (std::size_t c = 0; c < 2; ++c)
    for (std::size_t k = 0; k < qs.size(); ++k) {
      std::vector<float> v(s.image.data() + c * n, s.image.data() + (c + 1) * n);
      INFO("channel " << c << ", q " << qs[k]);
      CHECK(aug::percentile(v, qs[k]) == doctest::Approx(ref.channel[c][k]).epsilon(1e-6));
    }
  std::vector<float> empty;
  CHECK_THROWS_AS(aug::percentile(empty, 50), value_error);
}

TEST_CASE_TEMPLATE("PercentileNormalize maps the 1st and 99.8th percentiles to 0 and 1", Dim, dim2, dim3) {
  const Sample<Dim> original = make_sample<Dim>();
  const Reference ref = reference<Dim>();
  const std::size_t n = original.mask.size();
  Rng rng(1, data::streams::augment);
  SUBCASE("per channel, unclipped") {
    Sample<Dim> s = original;
    aug::PercentileNormalize{}(s, rng);
    for (std::size_t c = 0; c < 2; ++c) {
      const double lo = ref.channel[c][0], hi = ref.channel[c][1];
      for (std::size_t i = 0; i < n; ++i)
        CHECK(s.image.data()[c * n + i] ==
              doctest::Approx((original.image.data()[c * n + i] - lo) / (hi - lo)).epsilon(1e-5));
    }
    CHECK(s.mask == original.mask);
  }
  SUBCASE("over all channels, clipped") {
    Sample<Dim> s = original;
    aug::PercentileNormalize{.clip = true, .per_channel = false}(s, rng);
    const double lo = ref.all[0], hi = ref.all[1];
    bool below = false;
    for (std::size_t i = 0; i < 2 * n; ++i) {
      const double expected = std::clamp((original.image.data()[i] - lo) / (hi - lo), 0.0, 1.0);
      below = below || (original.image.data()[i] - lo) < 0;
      CHECK(s.image.data()[i] == doctest::Approx(expected).epsilon(1e-5));
    }
    CHECK(below);  // the clip was exercised
  }
  SUBCASE("a flat image divides by eps only and stays finite") {
    Sample<Dim> s = original;
    std::fill(s.image.data(), s.image.data() + s.image.size(), 3.0f);
    aug::PercentileNormalize{}(s, rng);
    for (std::size_t i = 0; i < s.image.size(); ++i) CHECK(s.image.data()[i] == 0.0f);
  }
  SUBCASE("bad percentiles are value errors") {
    Sample<Dim> s = original;
    CHECK_THROWS_AS((aug::PercentileNormalize{.pmin = 50, .pmax = 10}(s, rng)), value_error);
    CHECK_THROWS_AS((aug::PercentileNormalize{.pmax = 101}(s, rng)), value_error);
  }
}

TEST_CASE_TEMPLATE("Normalize subtracts the mean and divides by the std per channel", Dim, dim2, dim3) {
  const Sample<Dim> original = make_sample<Dim>();
  const std::size_t n = original.mask.size();
  Rng rng(2, data::streams::augment);
  SUBCASE("one value for all channels") {
    Sample<Dim> s = original;
    aug::Normalize{.mean = {0.5}, .std = {0.25}}(s, rng);
    for (std::size_t i = 0; i < 2 * n; ++i)
      CHECK(s.image.data()[i] == doctest::Approx((original.image.data()[i] - 0.5) / 0.25).epsilon(1e-6));
  }
  SUBCASE("one value per channel") {
    Sample<Dim> s = original;
    aug::Normalize{.mean = {1.0, -2.0}, .std = {2.0, 0.5}}(s, rng);
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(s.image.data()[i] == doctest::Approx((original.image.data()[i] - 1.0) / 2.0).epsilon(1e-6));
      CHECK(s.image.data()[n + i] == doctest::Approx((original.image.data()[n + i] + 2.0) / 0.5).epsilon(1e-6));
    }
  }
  SUBCASE("the ImageNet statistics, and bad options") {
    const aug::Normalize imagenet = aug::Normalize::imagenet();
    CHECK(imagenet.mean == std::vector<double>{0.485, 0.456, 0.406});
    CHECK(imagenet.std == std::vector<double>{0.229, 0.224, 0.225});
    Sample<Dim> s = original;
    CHECK_THROWS_AS(imagenet(s, rng), value_error);  // 3 values for 2 channels
    CHECK_THROWS_AS((aug::Normalize{.mean = {0.0}, .std = {0.0}}(s, rng)), value_error);
    CHECK(s.image == original.image);
  }
}

}  // namespace semiseg::test
