#include "semiseg/data/io/npy.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>
#include <xtensor/xmanipulation.hpp>

namespace semiseg::test {

using data::Raster;
using data::read_npy;
using data::read_npy_raster;
using data::SampleFormat;
using data::write_npy;
namespace fs = std::filesystem;

namespace {

const fs::path images = fs::path(SEMISEG_FIXTURES_DIR) / "images";

// A scratch folder removed at the end of the test.
struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("semiseg_npy_" + std::to_string(::getpid()));
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

// Distinct values with the type's extremes at both ends.
template <class T, std::size_t N>
xt::xtensor<T, N> pattern(const std::array<std::size_t, N>& shape) {
  xt::xtensor<T, N> a(shape);
  for (std::size_t i = 0; i < a.size(); ++i)
    a.data()[i] =
        static_cast<T>(std::is_signed_v<T> ? static_cast<long long>(i) * 3 - 20 : static_cast<long long>(i) * 3);
  a.data()[0] = std::numeric_limits<T>::lowest();
  a.data()[a.size() - 1] = std::numeric_limits<T>::max();
  return a;
}

std::string file_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE_TEMPLATE("npy: 2D and 3D arrays round-trip exactly", T, std::uint8_t, std::uint16_t, std::uint32_t,
                   std::uint64_t, std::int8_t, std::int16_t, std::int32_t, std::int64_t, float, double) {
  ScratchDir dir;
  const auto plane = pattern<T, 2>({3, 4});
  write_npy(dir.path / "plane.npy", plane);
  CHECK(read_npy<T, 2>(dir.path / "plane.npy") == plane);
  const auto volume = pattern<T, 3>({2, 3, 5});
  write_npy(dir.path / "volume.npy", volume);
  CHECK(read_npy<T, 3>(dir.path / "volume.npy") == volume);
}

TEST_CASE("npy: the header is written like numpy's") {
  ScratchDir dir;
  write_npy(dir.path / "a.npy", xt::xtensor<float, 2>({2, 3}, 1.0f));
  const std::string a = file_text(dir.path / "a.npy");
  REQUIRE(a.size() > 10);
  CHECK(a.compare(0, 8, std::string("\x93NUMPY\x01\x00", 8)) == 0);
  const std::size_t data_start = 10 + static_cast<unsigned char>(a[8]) + 256u * static_cast<unsigned char>(a[9]);
  CHECK(data_start % 64 == 0);
  CHECK(a[data_start - 1] == '\n');
  CHECK(a.find("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") == 10);
  CHECK(a.size() == data_start + 6 * 4);

  write_npy(dir.path / "b.npy", xt::xtensor<std::uint8_t, 1>{1, 2, 3});
  CHECK(file_text(dir.path / "b.npy").find("'descr': '|u1', 'fortran_order': False, 'shape': (3,)") !=
        std::string::npos);
}

TEST_CASE("npy: data is written in C order whatever the expression's layout") {
  ScratchDir dir;
  const auto a = pattern<std::int32_t, 2>({3, 4});
  write_npy(dir.path / "t.npy", xt::transpose(a));
  const auto back = read_npy<std::int32_t, 2>(dir.path / "t.npy");
  REQUIRE(back.shape()[0] == 4);
  REQUIRE(back.shape()[1] == 3);
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 3; ++j) CHECK(back(i, j) == a(j, i));
}

TEST_CASE("npy: bool arrays round-trip as 0 and 1") {
  ScratchDir dir;
  write_npy(dir.path / "b.npy", xt::xtensor<bool, 2>{{true, false}, {false, true}});
  CHECK(read_npy<std::uint8_t, 2>(dir.path / "b.npy") == xt::xtensor<std::uint8_t, 2>{{1, 0}, {0, 1}});
}

TEST_CASE("npy: values convert from the stored dtype to the requested type") {
  ScratchDir dir;
  write_npy(dir.path / "i.npy", xt::xtensor<std::int16_t, 1>{-300, 0, 300});
  CHECK(read_npy<float, 1>(dir.path / "i.npy") == xt::xtensor<float, 1>{-300.0f, 0.0f, 300.0f});
  CHECK(read_npy<std::int64_t, 1>(dir.path / "i.npy") == xt::xtensor<std::int64_t, 1>{-300, 0, 300});
  write_npy(dir.path / "f.npy", xt::xtensor<double, 1>{1.9, -2.5, 0.25});
  CHECK(read_npy<std::int32_t, 1>(dir.path / "f.npy") == xt::xtensor<std::int32_t, 1>{1, -2, 0});
  CHECK(read_npy<float, 1>(dir.path / "f.npy") == xt::xtensor<float, 1>{1.9f, -2.5f, 0.25f});
}

TEST_CASE("npy: a value that does not fit the requested type is a value_error naming its index") {
  ScratchDir dir;
  const fs::path i = dir.path / "i.npy";
  write_npy(i, xt::xtensor<std::int16_t, 2>{{0, 5}, {-1, 3}});
  check_error<value_error>([&] { read_npy<std::uint8_t, 2>(i); }, i, "value -1 at index (1, 0)");
  const fs::path big = dir.path / "big.npy";
  write_npy(big, xt::xtensor<double, 1>{1.0, 1e300});
  check_error<value_error>([&] { read_npy<float, 1>(big); }, big, "value 1e+300 at index (1,) is outside the range");
  check_error<value_error>([&] { read_npy<std::int64_t, 1>(big); }, big, "at index (1,)");
  const fs::path nan = dir.path / "nan.npy";
  write_npy(nan, xt::xtensor<float, 1>{std::nanf("")});
  check_error<value_error>([&] { read_npy<std::int32_t, 1>(nan); }, nan, "at index (0,)");
  // Where the type can hold it, NaN is kept: only the raster reader rejects it.
  CHECK(std::isnan(read_npy<double, 1>(nan)(0)));
}

TEST_CASE("npy: a rank other than the requested one is a shape_error naming both") {
  ScratchDir dir;
  const fs::path file = dir.path / "a.npy";
  write_npy(file, xt::xtensor<float, 2>({2, 3}, 0.0f));
  check_error<shape_error>([&] { read_npy<float, 3>(file); }, file,
                           "expected a rank-3 array, found rank 2 with shape (2, 3)");
}

TEST_CASE("npy: arrays written by numpy read exactly") {
  const auto grid = read_npy<std::int16_t, 3>(images / "grid_i2.npy");
  REQUIRE(grid.shape()[0] == 2);
  REQUIRE(grid.shape()[1] == 3);
  REQUIRE(grid.shape()[2] == 4);
  for (std::size_t i = 0; i < grid.size(); ++i) CHECK(grid.data()[i] == static_cast<std::int16_t>(i) - 12);
  const auto plane = read_npy<float, 2>(images / "plane_f4.npy");
  REQUIRE(plane.shape()[0] == 3);
  REQUIRE(plane.shape()[1] == 5);
  for (std::size_t i = 0; i < plane.size(); ++i) CHECK(plane.data()[i] == static_cast<float>(i) * 0.5f - 2.0f);
}

TEST_CASE("npy: read_npy_raster puts channels first and D = 1 for an image") {
  ScratchDir dir;
  const fs::path plane = dir.path / "plane.npy", channels = dir.path / "channels.npy";
  write_npy(plane, pattern<std::uint8_t, 2>({3, 4}));
  write_npy(channels, pattern<std::int16_t, 3>({2, 3, 4}));

  const Raster a = read_npy_raster(plane, 2);
  CHECK(a.values.shape() == std::array<std::size_t, 4>{1, 1, 3, 4});
  CHECK(a.values(0, 0, 2, 3) == 255.0f);
  CHECK(a.bits == 8);
  CHECK(a.format == SampleFormat::unsigned_integer);

  const Raster b = read_npy_raster(channels, 2);
  CHECK(b.values.shape() == std::array<std::size_t, 4>{2, 1, 3, 4});
  CHECK(b.values(0, 0, 0, 0) == -32768.0f);
  CHECK(b.values(1, 0, 2, 3) == 32767.0f);
  CHECK(b.bits == 16);
  CHECK(b.format == SampleFormat::signed_integer);
  CHECK(b.full_scale() == 32767.0);

  const Raster c = read_npy_raster(channels, 3);
  CHECK(c.values.shape() == std::array<std::size_t, 4>{1, 2, 3, 4});
  CHECK(c.values(0, 1, 2, 3) == 32767.0f);

  const fs::path volume = dir.path / "volume.npy";
  xt::xtensor<double, 4> quarters({2, 3, 4, 5});
  for (std::size_t i = 0; i < quarters.size(); ++i) quarters.data()[i] = static_cast<double>(i) * 0.25;
  write_npy(volume, quarters);
  const Raster d = read_npy_raster(volume, 3);
  CHECK(d.values.shape() == std::array<std::size_t, 4>{2, 3, 4, 5});
  CHECK(d.values(1, 2, 3, 4) == 119 * 0.25f);
  CHECK(d.bits == 64);
  CHECK(d.format == SampleFormat::floating);
  CHECK(d.full_scale() == 1.0);

  const fs::path mask = dir.path / "mask.npy";
  write_npy(mask, xt::xtensor<bool, 2>{{true, false}});
  const Raster e = read_npy_raster(mask, 2);
  CHECK(e.bits == 1);
  CHECK(e.full_scale() == 1.0);
  CHECK(e.values(0, 0, 0, 0) == 1.0f);
}

TEST_CASE("npy: read_npy_raster rejects other ranks, empty dimensions and other spatial ranks") {
  ScratchDir dir;
  const fs::path volume = dir.path / "volume.npy";
  write_npy(volume, xt::xtensor<float, 4>({1, 2, 3, 4}, 0.0f));
  check_error<shape_error>([&] { read_npy_raster(volume, 2); }, volume,
                           "expected rank 2 (H x W) or 3 (C x H x W), found rank 4");
  const fs::path line = dir.path / "line.npy";
  write_npy(line, xt::xtensor<float, 1>({3}, 0.0f));
  check_error<shape_error>([&] { read_npy_raster(line, 3); }, line,
                           "expected rank 3 (D x H x W) or 4 (C x D x H x W), found rank 1");
  const fs::path empty = dir.path / "empty.npy";
  write_npy(empty, xt::xtensor<float, 2>({0, 3}));
  check_error<shape_error>([&] { read_npy_raster(empty, 2); }, empty, "found shape (0, 3)");
  check_error<value_error>([&] { read_npy_raster(line, 1); }, line, "spatial rank must be 2 or 3, found 1");
}

TEST_CASE("npy: write_npy to a folder that does not exist is an io_error") {
  ScratchDir dir;
  const fs::path file = dir.path / "missing" / "a.npy";
  check_error<io_error>([&] { write_npy(file, xt::xtensor<float, 1>{1.0f}); }, file,
                        "cannot open the file for writing");
}

}  // namespace semiseg::test
