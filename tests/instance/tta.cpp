#include "semiseg/instance/tta.hpp"

#include <doctest/doctest.h>

#include <cmath>

namespace semiseg::test {

namespace {

// An "embedding network" that is equivariant by construction: every pixel's offsets point at
// the image's brightest pixel, both sigmas are the pixel's value, the seed is its value plus 1.
// Mapped back, every transform must give the same output.
xt::xtensor<float, 3> point_at_brightest(const xt::xtensor<float, 3>& image) {
  const std::size_t h = image.shape()[1], w = image.shape()[2];
  std::size_t by = 0, bx = 0;
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x)
      if (image(0, y, x) > image(0, by, bx)) {
        by = y;
        bx = x;
      }
  auto out = xt::xtensor<float, 3>::from_shape({5, h, w});
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x) {
      out(0, y, x) = static_cast<float>(static_cast<double>(bx) - static_cast<double>(x)) * 0.01f;
      out(1, y, x) = static_cast<float>(static_cast<double>(by) - static_cast<double>(y)) * 0.01f;
      out(2, y, x) = image(0, y, x);
      out(3, y, x) = image(0, y, x);
      out(4, y, x) = image(0, y, x) + 1.f;
    }
  return out;
}

xt::xtensor<float, 3> test_image() {
  auto im = xt::xtensor<float, 3>::from_shape({1, 3, 4});
  for (std::size_t i = 0; i < im.size(); ++i) im.data()[i] = static_cast<float>((i * 7) % 12) * 0.1f;
  return im;  // brightest pixel: value 1.1 at index 5, (y, x) = (1, 1)
}

}  // namespace

TEST_CASE("tta: the eight transforms are distinct and each undo inverts its apply") {
  const auto image = test_image();
  const auto ts = instance::dihedral_transforms();
  for (std::size_t a = 0; a < ts.size(); ++a) {
    const auto moved = instance::apply(ts[a], image);
    CHECK(moved.size() == image.size());
    for (std::size_t b = 0; b < a; ++b) CHECK(!(instance::apply(ts[b], image) == moved));
  }
}

TEST_CASE("tta: an equivariant network gives its own output back under every transform") {
  const auto image = test_image();
  const auto direct = point_at_brightest(image);
  for (const auto& t : instance::dihedral_transforms()) {
    CAPTURE(t.transpose);
    CAPTURE(t.flip_x);
    CAPTURE(t.flip_y);
    const auto back = instance::undo(t, point_at_brightest(instance::apply(t, image)));
    REQUIRE(back.shape() == direct.shape());
    for (std::size_t i = 0; i < direct.size(); ++i) REQUIRE(back.data()[i] == doctest::Approx(direct.data()[i]));
  }
  const auto mean = instance::predict_with_tta(image, point_at_brightest);
  for (std::size_t i = 0; i < direct.size(); ++i) CHECK(mean.data()[i] == doctest::Approx(direct.data()[i]));
}

TEST_CASE("tta: transposes swap the sigma channels, flips leave them alone") {
  auto out = xt::xtensor<float, 3>::from_shape({5, 2, 2});
  for (std::size_t k = 0; k < 5; ++k)
    for (std::size_t i = 0; i < 4; ++i) out.data()[k * 4 + i] = static_cast<float>(k + 1);
  instance::PlaneTransform t;
  t.transpose = true;
  t.flip_x = true;
  const auto back = instance::undo(t, out);
  // Offsets: x comes from the transformed y (not flipped), y from the transformed x (flipped).
  CHECK(back(0, 0, 0) == 2.f);
  CHECK(back(1, 0, 0) == -1.f);
  CHECK(back(2, 0, 0) == 4.f);
  CHECK(back(3, 0, 0) == 3.f);
  CHECK(back(4, 0, 0) == 5.f);
}

TEST_CASE("tta: a non-embedding output is refused") {
  CHECK_THROWS_AS(instance::undo({}, xt::xtensor<float, 3>::from_shape({3, 2, 2})), shape_error);
}

}  // namespace semiseg::test
