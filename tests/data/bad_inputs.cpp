// Every file of tests/fixtures/bad_inputs/ read through read_raster: the exact error type, the
// path at the start of the message and a phrase that names the problem.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <typeinfo>

#include "semiseg/data/io/read.hpp"

namespace semiseg::test {

namespace fs = std::filesystem;

namespace {

const fs::path corpus_dir = fs::path(SEMISEG_FIXTURES_DIR) / "bad_inputs";

enum class Expect { io, shape, value };

struct BadInput {
  const char* file;
  int spatial;
  Expect error;
  const char* phrase;
};

constexpr BadInput corpus[] = {
    {"empty.png", 2, Expect::io, "empty file"},
    {"wrong_magic.png", 2, Expect::io, "cannot decode the image (stb_image: unknown image type)"},
    {"truncated.png", 2, Expect::io, "cannot decode the image (stb_image: "},
    {"huffman_overflow.jpg", 2, Expect::io, "corrupt JPEG: a Huffman table declares more than the 256 codes"},
    {"unsupported.gif", 2, Expect::io, "unsupported file type '.gif'; expected one of .png"},
    {"empty.npy", 2, Expect::io, "empty file"},
    {"wrong_magic.npy", 2, Expect::io, "not an .npy file"},
    {"truncated_header.npy", 2, Expect::io, "truncated header: it declares 118 bytes, the file holds 20"},
    {"bad_header.npy", 2, Expect::io, "corrupt .npy header: no 'shape' tuple"},
    {"truncated.npy", 2, Expect::io, "truncated data: shape (4, 4) of '<f4' needs 64 bytes, the file holds 32"},
    {"huge_shape.npy", 2, Expect::io, "truncated data"},
    {"nan.npy", 2, Expect::value, "NaN at index (1, 2)"},
    {"inf.npy", 2, Expect::value, "Inf at index (0, 1)"},
    {"wrong_rank.npy", 2, Expect::shape, "found rank 4 with shape (1, 2, 3, 4)"},
    {"rank1.npy", 2, Expect::shape, "found rank 1 with shape (5,)"},
    {"fortran.npy", 2, Expect::io, "Fortran-order arrays are unsupported"},
    {"big_endian.npy", 2, Expect::io, "big-endian dtype '>f4'"},
    {"complex.npy", 2, Expect::io, "unsupported dtype '<c8'"},
    {"empty.tif", 3, Expect::io, "empty file"},
#if defined(SEMISEG_HAS_TIFF)
    {"wrong_magic.tif", 3, Expect::io, "cannot open as TIFF"},
    {"truncated.tif", 3, Expect::io, "cannot read row 0 of page 1"},
    {"stack.tif", 2, Expect::shape, "expected a 2D image, found a stack of 3 pages"},
    {"mixed_pages.tif", 3, Expect::shape, "page 2 is 5 x 3"},
    {"nan.tif", 2, Expect::value, "NaN at page 1, row 1, column 0"},
    {"one_bit.tif", 2, Expect::io, "unsupported sample type on page 1: 1-bit unsigned integer"},
    {"planar.tif", 2, Expect::io, "samples in separate planes"},
#else
    {"wrong_magic.tif", 3, Expect::io, "no libtiff"},
    {"truncated.tif", 3, Expect::io, "no libtiff"},
    {"stack.tif", 2, Expect::io, "no libtiff"},
    {"mixed_pages.tif", 3, Expect::io, "no libtiff"},
    {"nan.tif", 2, Expect::io, "no libtiff"},
    {"one_bit.tif", 2, Expect::io, "no libtiff"},
    {"planar.tif", 2, Expect::io, "no libtiff"},
#endif
};

const std::type_info& expected_type(Expect e) {
  switch (e) {
    case Expect::shape:
      return typeid(shape_error);
    case Expect::value:
      return typeid(value_error);
    case Expect::io:
      break;
  }
  return typeid(io_error);
}

}  // namespace

TEST_CASE("bad inputs: each file gives its typed error, naming the file and the problem") {
  for (const BadInput& bad : corpus) {
    const fs::path path = corpus_dir / bad.file;
    INFO(std::string(bad.file));
    REQUIRE(fs::exists(path));
    bool thrown = false;
    try {
      data::read_raster(path, bad.spatial);
    } catch (const error& e) {
      thrown = true;
      const std::string message = e.what();
      CHECK_MESSAGE(typeid(e) == expected_type(bad.error), message);
      CHECK_MESSAGE(message.rfind(path.string() + ": ", 0) == 0, message);
      CHECK_MESSAGE(message.find(bad.phrase) != std::string::npos, message);
    }
    CHECK(thrown);
  }
}

TEST_CASE("bad inputs: the format readers called directly give the same errors") {
  const auto check = [](auto&& call, const char* file, const std::string& phrase) {
    const fs::path path = corpus_dir / file;
    INFO(std::string(file));
    try {
      call(path);
      FAIL("no exception");
    } catch (const io_error& e) {
      const std::string message = e.what();
      CHECK_MESSAGE(message.rfind(path.string() + ": ", 0) == 0, message);
      CHECK_MESSAGE(message.find(phrase) != std::string::npos, message);
    }
  };
  check([](const fs::path& p) { data::read_stb_image(p); }, "wrong_magic.png", "unknown image type");
  check([](const fs::path& p) { data::read_stb_image(p); }, "empty.png", "empty file");
  check([](const fs::path& p) { data::read_npy<float, 2>(p); }, "truncated.npy", "truncated data");
  check([](const fs::path& p) { data::read_npy<float, 2>(p); }, "fortran.npy", "Fortran");
  check([](const fs::path& p) { data::read_npy<double, 3>(p); }, "huge_shape.npy", "needs more than 2^64 bytes");
#if defined(SEMISEG_HAS_TIFF)
  check([](const fs::path& p) { data::read_tiff(p); }, "empty.tif", "empty file");
  check([](const fs::path& p) { data::read_tiff(p); }, "truncated.tif", "Read error on strip 0");
#endif
}

TEST_CASE("bad inputs: the corpus, this test and the README list the same files") {
  std::set<std::string> on_disk, tested;
  for (const auto& entry : fs::directory_iterator(corpus_dir))
    if (entry.is_regular_file() && entry.path().filename() != "README.md")
      on_disk.insert(entry.path().filename().string());
  for (const BadInput& bad : corpus) tested.insert(bad.file);
  CHECK(on_disk == tested);
  std::ifstream in(corpus_dir / "README.md");
  const std::string readme{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  for (const std::string& file : on_disk) CHECK_MESSAGE(readme.find("`" + file + "`") != std::string::npos, file);
}

}  // namespace semiseg::test
