#include "semiseg/data/io/tiff.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace semiseg::test {

using data::Raster;
using data::read_tiff;
using data::SampleFormat;
using data::write_tiff;
namespace fs = std::filesystem;

namespace {

// A scratch folder removed at the end of the test.
struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("semiseg_tiff_" + std::to_string(::getpid()));
  ScratchDir() { fs::create_directories(path); }
  ~ScratchDir() { fs::remove_all(path); }
};

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

// Distinct samples that the sample type holds exactly: integers from `lowest` up, or fractions.
Raster pattern(std::size_t c, std::size_t d, std::size_t h, std::size_t w, int bits, SampleFormat format,
               double lowest = 0) {
  Raster r;
  r.bits = bits;
  r.format = format;
  r.values = xt::xtensor<float, 4>({c, d, h, w});
  const double step = format == SampleFormat::floating ? 0.375 : 1.0;
  const double span = bits == 8 ? 256 : 65536;
  for (std::size_t i = 0; i < r.values.size(); ++i)
    r.values.data()[i] = static_cast<float>(lowest + std::fmod(static_cast<double>(i) * 97 * step, span));
  return r;
}

}  // namespace

#if defined(SEMISEG_HAS_TIFF)

TEST_CASE("tiff: images and stacks of 8/16-bit unsigned and 32-bit float samples round-trip exactly") {
  ScratchDir dir;
  const std::pair<int, SampleFormat> types[] = {
      {8, SampleFormat::unsigned_integer}, {16, SampleFormat::unsigned_integer}, {32, SampleFormat::floating}};
  for (const auto& type : types)
    for (std::size_t depth : {1, 4})
      for (std::size_t c : {1, 2, 3, 4}) {
        const int bits = type.first;
        const SampleFormat format = type.second;
        CAPTURE(bits);
        CAPTURE(depth);
        CAPTURE(c);
        const Raster r = pattern(c, depth, 5, 7, bits, format, format == SampleFormat::floating ? -100.0 : 0.0);
        const fs::path file = dir.path / "r.tif";
        write_tiff(file, r);
        const Raster back = read_tiff(file);
        CHECK(back.bits == bits);
        CHECK(back.format == format);
        CHECK(back.values.shape() == r.values.shape());
        CHECK(back.values == r.values);
      }
}

TEST_CASE("tiff: signed, 32-bit integer and 64-bit float samples round-trip exactly") {
  ScratchDir dir;
  const Raster rasters[] = {pattern(1, 2, 3, 4, 8, SampleFormat::signed_integer, -128),
                            pattern(2, 1, 3, 4, 16, SampleFormat::signed_integer, -32768),
                            pattern(1, 3, 3, 4, 32, SampleFormat::signed_integer, -100000),
                            pattern(3, 1, 3, 4, 32, SampleFormat::unsigned_integer, 4000000),
                            pattern(1, 2, 3, 4, 64, SampleFormat::floating, -7)};
  for (const Raster& r : rasters) {
    CAPTURE(r.bits);
    const fs::path file = dir.path / "r.tiff";
    write_tiff(file, r);
    const Raster back = read_tiff(file);
    CHECK(back.bits == r.bits);
    CHECK(back.format == r.format);
    CHECK(back.values == r.values);
  }
}

TEST_CASE("tiff: write_tiff rounds and clamps integer samples") {
  ScratchDir dir;
  const fs::path file = dir.path / "c.tif";
  Raster r;
  r.values = {{{{-3.0f, 2.5f, 254.4f, 300.0f}}}};
  write_tiff(file, r);
  CHECK(read_tiff(file).values == xt::xtensor<float, 4>{{{{0, 3, 254, 255}}}});
  r.bits = 16;
  r.format = SampleFormat::signed_integer;
  r.values = {{{{-40000.0f, -1.5f, 1.5f, 40000.0f}}}};
  write_tiff(file, r);
  CHECK(read_tiff(file).values == xt::xtensor<float, 4>{{{{-32768, -2, 2, 32767}}}});
}

TEST_CASE("tiff: write_tiff rejects sample types, values and shapes it cannot write") {
  ScratchDir dir;
  const fs::path file = dir.path / "x.tif";
  Raster twelve = pattern(1, 1, 2, 2, 8, SampleFormat::unsigned_integer);
  twelve.bits = 12;
  check_error<value_error>([&] { write_tiff(file, twelve); }, file, "cannot write 12-bit unsigned integer samples");
  Raster half = pattern(1, 1, 2, 2, 16, SampleFormat::floating);
  check_error<value_error>([&] { write_tiff(file, half); }, file, "cannot write 16-bit float samples");
  Raster nan = pattern(1, 2, 2, 2, 8, SampleFormat::unsigned_integer);
  nan.values(0, 1, 0, 1) = std::nanf("");
  check_error<value_error>([&] { write_tiff(file, nan); }, file, "NaN at channel 0, slice 1, row 0, column 1");
  Raster empty;
  empty.values = xt::xtensor<float, 4>({1, 0, 2, 2});
  check_error<shape_error>([&] { write_tiff(file, empty); }, file, "1 x 0 x 2 x 2 (C x D x H x W)");
  CHECK_FALSE(fs::exists(file));
  const fs::path unwritable = dir.path / "missing_folder" / "x.tif";
  check_error<io_error>([&] { write_tiff(unwritable, pattern(1, 1, 2, 2, 8, SampleFormat::unsigned_integer)); },
                        unwritable, "cannot open as TIFF");
}

TEST_CASE("tiff: a stack written by an independent encoder reads exactly") {
  // Three 4 × 3 pages of uint16, value 1000 × page + 10 × row + column.
  const Raster r = read_tiff(fs::path(SEMISEG_FIXTURES_DIR) / "bad_inputs" / "stack.tif");
  REQUIRE(r.values.shape() == std::array<std::size_t, 4>{1, 3, 3, 4});
  CHECK(r.bits == 16);
  CHECK(r.format == SampleFormat::unsigned_integer);
  for (std::size_t d = 0; d < 3; ++d)
    for (std::size_t y = 0; y < 3; ++y)
      for (std::size_t x = 0; x < 4; ++x) CHECK(r.values(0, d, y, x) == static_cast<float>(1000 * d + 10 * y + x));
}

TEST_CASE("tiff: tiled, compressed pages read exactly, edge tiles clipped") {
  ScratchDir dir;
  const fs::path file = dir.path / "tiled.tif";
  const std::uint32_t w = 37, h = 20, tile = 16, c = 3, pages = 2;
  auto value = [](std::uint32_t z, std::uint32_t y, std::uint32_t x, std::uint32_t k) {
    return static_cast<std::uint16_t>(z * 20000 + y * 300 + x * 7 + k);
  };
  TIFF* tif = TIFFOpen(file.string().c_str(), "w");
  REQUIRE(tif != nullptr);
  std::vector<std::uint16_t> buffer(tile * tile * c);
  for (std::uint32_t z = 0; z < pages; ++z) {
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, w);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, h);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, c);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, 16);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
    TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_LZW);
    TIFFSetField(tif, TIFFTAG_TILEWIDTH, tile);
    TIFFSetField(tif, TIFFTAG_TILELENGTH, tile);
    for (std::uint32_t y0 = 0; y0 < h; y0 += tile)
      for (std::uint32_t x0 = 0; x0 < w; x0 += tile) {
        for (std::uint32_t y = 0; y < tile; ++y)
          for (std::uint32_t x = 0; x < tile; ++x)
            for (std::uint32_t k = 0; k < c; ++k) buffer[(y * tile + x) * c + k] = value(z, y0 + y, x0 + x, k);
        REQUIRE(TIFFWriteTile(tif, buffer.data(), x0, y0, 0, 0) >= 0);
      }
    REQUIRE(TIFFWriteDirectory(tif));
  }
  TIFFClose(tif);

  const Raster r = read_tiff(file);
  REQUIRE(r.values.shape() == std::array<std::size_t, 4>{c, pages, h, w});
  std::size_t wrong = 0;
  for (std::uint32_t k = 0; k < c; ++k)
    for (std::uint32_t z = 0; z < pages; ++z)
      for (std::uint32_t y = 0; y < h; ++y)
        for (std::uint32_t x = 0; x < w; ++x) wrong += r.values(k, z, y, x) != static_cast<float>(value(z, y, x, k));
  CHECK(wrong == 0);
}

#else

TEST_CASE("tiff: without libtiff both functions throw io_error naming libtiff") {
  const fs::path file = fs::path(SEMISEG_FIXTURES_DIR) / "bad_inputs" / "stack.tif";
  check_error<io_error>([&] { read_tiff(file); }, file, "no libtiff");
  ScratchDir dir;
  const fs::path out = dir.path / "x.tif";
  check_error<io_error>([&] { write_tiff(out, pattern(1, 1, 2, 2, 8, SampleFormat::unsigned_integer)); }, out,
                        "no libtiff");
}

#endif

}  // namespace semiseg::test
