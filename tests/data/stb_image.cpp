#include "semiseg/data/io/stb_image.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <xtensor/xview.hpp>

namespace semiseg::test {

using data::Raster;
using data::read_stb_image;
using data::write_png;
namespace fs = std::filesystem;

namespace {

const fs::path images = fs::path(SEMISEG_FIXTURES_DIR) / "images";

// A scratch folder removed at the end of the test.
struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("semiseg_stb_image_" + std::to_string(::getpid()));
  ScratchDir() { fs::create_directories(path); }
  ~ScratchDir() { fs::remove_all(path); }
};

// A C × 1 × H × W raster whose samples differ and span 0 to 2^bits - 1.
Raster pattern(std::size_t c, std::size_t h, std::size_t w, int bits) {
  Raster r;
  r.bits = bits;
  r.values = xt::xtensor<float, 4>({c, 1, h, w});
  const double top = r.full_scale();
  for (std::size_t i = 0; i < r.values.size(); ++i)
    r.values.data()[i] = static_cast<float>(std::fmod(static_cast<double>(i) * 7919.0, top + 1));
  r.values.data()[0] = 0;
  r.values.data()[r.values.size() - 1] = static_cast<float>(top);
  return r;
}

template <class E, class F>
void check_error(F&& call, const fs::path& path, const std::string& phrase) {
  bool thrown = false;
  try {
    call();
  } catch (const E& e) {
    thrown = true;
    const std::string message = e.what();
    CHECK_MESSAGE(message.rfind(path.string() + ": ", 0) == 0, message);
    CHECK_MESSAGE(message.find(phrase) != std::string::npos, message);
  }
  CHECK_MESSAGE(thrown, "no exception for " << path);
}

}  // namespace

TEST_CASE("stb_image: PNG round-trips 8- and 16-bit grey, grey+alpha, RGB and RGBA exactly") {
  ScratchDir dir;
  for (int bits : {8, 16})
    for (std::size_t c = 1; c <= 4; ++c) {
      CAPTURE(bits);
      CAPTURE(c);
      const Raster r = pattern(c, 5, 7, bits);
      const fs::path file = dir.path / (std::to_string(bits) + "_" + std::to_string(c) + ".png");
      write_png(file, r);
      const Raster back = read_stb_image(file);
      CHECK(back.bits == bits);
      CHECK(back.format == data::SampleFormat::unsigned_integer);
      CHECK(back.channels() == c);
      CHECK(back.depth() == 1);
      CHECK(back.height() == 5);
      CHECK(back.width() == 7);
      CHECK(back.values == r.values);
    }
}

TEST_CASE("stb_image: write_png rounds to the nearest integer and clamps to the sample range") {
  ScratchDir dir;
  Raster r;
  r.values = {{{{-5.0f, 0.4f, 0.5f, 12.5f, 254.6f, 300.0f, std::numeric_limits<float>::infinity()}}}};
  write_png(dir.path / "clamped.png", r);
  const Raster back = read_stb_image(dir.path / "clamped.png");
  const xt::xtensor<float, 4> expected = {{{{0, 0, 1, 13, 255, 255, 255}}}};
  CHECK(back.values == expected);

  r.bits = 16;
  r.values = {{{{-1.0f, 65534.5f, 70000.0f}}}};
  write_png(dir.path / "clamped16.png", r);
  const xt::xtensor<float, 4> expected16 = {{{{0, 65535, 65535}}}};
  CHECK(read_stb_image(dir.path / "clamped16.png").values == expected16);
}

TEST_CASE("stb_image: write_png rejects what a PNG cannot hold") {
  ScratchDir dir;
  const fs::path file = dir.path / "x.png";
  Raster volume;
  volume.values = xt::zeros<float>({1, 2, 3, 3});
  check_error<shape_error>([&] { write_png(file, volume); }, file, "found a volume of depth 2");
  Raster five = pattern(5, 2, 2, 8);
  check_error<shape_error>([&] { write_png(file, five); }, file, "1 to 4 channels, found 5");
  Raster floats = pattern(1, 2, 2, 8);
  floats.bits = 32;
  floats.format = data::SampleFormat::floating;
  check_error<value_error>([&] { write_png(file, floats); }, file, "8 or 16 bits, found 32");
  Raster nan = pattern(2, 2, 2, 8);
  nan.values(1, 0, 1, 0) = std::nanf("");
  check_error<value_error>([&] { write_png(file, nan); }, file, "NaN at channel 1, row 1, column 0");
  CHECK_FALSE(fs::exists(file));
  const fs::path unwritable = dir.path / "missing_folder" / "x.png";
  check_error<io_error>([&] { write_png(unwritable, pattern(1, 2, 2, 8)); }, unwritable, "cannot open");
}

TEST_CASE("stb_image: a 16-bit PNG from an independent encoder reads exactly") {
  const Raster r = read_stb_image(images / "grey16.png");
  CHECK(r.bits == 16);
  CHECK(r.full_scale() == 65535.0);
  const xt::xtensor<float, 4> expected = {{{{0, 1, 65535}, {256, 4660, 43981}}}};
  CHECK(r.values == expected);
}

TEST_CASE("stb_image: BMP and TGA files read exactly, channels kept") {
  // Row 0: red, green, blue; row 1: (10, 20, 30), (40, 50, 60), (70, 80, 90).
  const xt::xtensor<float, 4> rgb = {
      {{{255, 0, 0}, {10, 40, 70}}}, {{{0, 255, 0}, {20, 50, 80}}}, {{{0, 0, 255}, {30, 60, 90}}}};
  const Raster bmp = read_stb_image(images / "rgb.bmp");
  CHECK(bmp.bits == 8);
  CHECK(bmp.values == rgb);

  const Raster grey = read_stb_image(images / "grey.tga");
  const xt::xtensor<float, 4> grey_expected = {{{{0, 1, 2}, {100, 200, 255}}}};
  CHECK(grey.values == grey_expected);

  // Stored bottom row first, with an alpha channel.
  const Raster rgba = read_stb_image(images / "rgba.tga");
  REQUIRE(rgba.channels() == 4);
  CHECK(xt::view(rgba.values, xt::range(0, 3)) == rgb);
  const xt::xtensor<float, 3> alpha = {{{0, 128, 255}, {1, 2, 3}}};
  CHECK(xt::view(rgba.values, 3) == alpha);
}

TEST_CASE("stb_image: JPEG files read with their size and channels and close values") {
  // 16 × 8, an 8 × 8 block of 64 beside one of 192.
  const Raster grey = read_stb_image(images / "grey.jpg");
  REQUIRE(grey.channels() == 1);
  REQUIRE(grey.height() == 8);
  REQUIRE(grey.width() == 16);
  for (std::size_t y = 0; y < 8; ++y)
    for (std::size_t x = 0; x < 16; ++x) CHECK(std::abs(grey.values(0, 0, y, x) - (x < 8 ? 64.0f : 192.0f)) <= 2.0f);

  // Mid grey beside pure red.
  const Raster rgb = read_stb_image(images / "rgb.jpg");
  REQUIRE(rgb.channels() == 3);
  REQUIRE(rgb.height() == 8);
  REQUIRE(rgb.width() == 16);
  const float red[3] = {255, 0, 0};
  for (std::size_t c = 0; c < 3; ++c)
    for (std::size_t y = 0; y < 8; ++y)
      for (std::size_t x = 0; x < 16; ++x) CHECK(std::abs(rgb.values(c, 0, y, x) - (x < 8 ? 128.0f : red[c])) <= 3.0f);
}

}  // namespace semiseg::test
