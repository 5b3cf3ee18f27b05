#include "semiseg/data/io/read.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace semiseg::test {

using data::is_raster_file;
using data::Raster;
using data::read_raster;
using data::SampleFormat;
namespace fs = std::filesystem;

namespace {

const fs::path fixtures = SEMISEG_FIXTURES_DIR;

// A scratch folder removed at the end of the test.
struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("semiseg_read_" + std::to_string(::getpid()));
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

Raster raster(std::size_t c, std::size_t d, std::size_t h, std::size_t w) {
  Raster r;
  r.values = xt::xtensor<float, 4>({c, d, h, w});
  for (std::size_t i = 0; i < r.values.size(); ++i) r.values.data()[i] = static_cast<float>(i % 251);
  return r;
}

}  // namespace

TEST_CASE("read: the extension picks the reader, in any case") {
  ScratchDir dir;
  const Raster rgb = raster(3, 1, 4, 5);
  data::write_png(dir.path / "a.PNG", rgb);
  CHECK(read_raster(dir.path / "a.PNG", 2).values == rgb.values);
  data::write_npy(dir.path / "c.Npy", xt::xtensor<float, 2>{{1.5f, -2.0f}});
  CHECK(read_raster(dir.path / "c.Npy", 2).values == xt::xtensor<float, 4>{{{{1.5f, -2.0f}}}});
  fs::copy_file(fixtures / "images" / "grey.jpg", dir.path / "g.JPEG");
  CHECK(read_raster(dir.path / "g.JPEG", 2).values.shape() == std::array<std::size_t, 4>{1, 1, 8, 16});
  CHECK(read_raster(fixtures / "images" / "grey.jpg", 2).width() == 16);
  CHECK(read_raster(fixtures / "images" / "rgb.bmp", 2).channels() == 3);
  CHECK(read_raster(fixtures / "images" / "rgba.tga", 2).channels() == 4);
#if defined(SEMISEG_HAS_TIFF)
  data::write_tiff(dir.path / "b.Tif", rgb);
  CHECK(read_raster(dir.path / "b.Tif", 2).values == rgb.values);
  data::write_tiff(dir.path / "b.TIFF", rgb);
  CHECK(read_raster(dir.path / "b.TIFF", 2).values == rgb.values);
#endif
}

TEST_CASE("read: is_raster_file knows exactly the supported extensions") {
  for (const char* name : {"a.png", "a.jpg", "a.jpeg", "a.bmp", "a.tga", "a.tif", "a.tiff", "a.npy", "dir/B.PNG",
                           "c.JpEg", "stack.TIF", "x.y.npy"})
    CHECK_MESSAGE(is_raster_file(name), name);
  for (const char* name : {"a.gif", "a.txt", "png", "a.png.txt", "a.npz", "a", ".png.bak", "a.tif~"})
    CHECK_MESSAGE(!is_raster_file(name), name);
}

TEST_CASE("read: a 2D read needs one image, a 3D read a volume") {
  ScratchDir dir;
  const fs::path stack = fixtures / "bad_inputs" / "stack.tif";
#if defined(SEMISEG_HAS_TIFF)
  check_error<shape_error>([&] { read_raster(stack, 2); }, stack, "expected a 2D image, found a stack of 3 pages");
  CHECK(read_raster(stack, 3).depth() == 3);
  data::write_tiff(dir.path / "one.tif", raster(1, 1, 3, 4));
  const Raster one = read_raster(dir.path / "one.tif", 3);
  CHECK(one.values.shape() == std::array<std::size_t, 4>{1, 1, 3, 4});
#endif
  const fs::path png = dir.path / "flat.png";
  data::write_png(png, raster(1, 1, 3, 4));
  check_error<shape_error>([&] { read_raster(png, 3); }, png, "expected a 3D volume, found a 2D image format (.png)");
  const fs::path bmp = fixtures / "images" / "rgb.bmp";
  check_error<shape_error>([&] { read_raster(bmp, 3); }, bmp, "expected a 3D volume");

  const fs::path grid = fixtures / "images" / "grid_i2.npy";  // 2 × 3 × 4
  CHECK(read_raster(grid, 2).values.shape() == std::array<std::size_t, 4>{2, 1, 3, 4});
  CHECK(read_raster(grid, 3).values.shape() == std::array<std::size_t, 4>{1, 2, 3, 4});
  const fs::path plane = fixtures / "images" / "plane_f4.npy";  // 3 × 5
  check_error<shape_error>([&] { read_raster(plane, 3); }, plane, "found rank 2");
}

TEST_CASE("read: unknown extensions, missing files, folders and other spatial ranks are refused") {
  ScratchDir dir;
  const fs::path text = dir.path / "notes.txt";
  check_error<io_error>([&] { read_raster(text, 2); }, text,
                        "unsupported file type '.txt'; expected one of .png .jpg .jpeg .bmp .tga .tif .tiff .npy");
  const fs::path missing = dir.path / "missing.png";
  check_error<io_error>([&] { read_raster(missing, 2); }, missing, "no such file");
  const fs::path folder = dir.path / "folder.tif";
  fs::create_directories(folder);
  check_error<io_error>([&] { read_raster(folder, 3); }, folder, "expected a file, found a directory");
  const fs::path png = fixtures / "images" / "grey16.png";
  check_error<value_error>([&] { read_raster(png, 1); }, png, "spatial rank must be 2 or 3, found 1");
}

TEST_CASE("read: full_scale maps the largest sample value to 1") {
  Raster r;
  CHECK(r.full_scale() == 255.0);
  r.bits = 16;
  CHECK(r.full_scale() == 65535.0);
  r.bits = 12;
  CHECK(r.full_scale() == 4095.0);
  r.format = SampleFormat::signed_integer;
  r.bits = 16;
  CHECK(r.full_scale() == 32767.0);
  r.format = SampleFormat::floating;
  r.bits = 32;
  CHECK(r.full_scale() == 1.0);
  CHECK(data::file_message("a/b.png", "empty file") == "a/b.png: empty file");
}

}  // namespace semiseg::test
