#include "semiseg/data/io/idx.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "semiseg/data/fashion_mnist.hpp"

namespace semiseg::test {

using data::IdxArray;
using data::read_idx;
using data::write_idx;
namespace fs = std::filesystem;

// A scratch folder removed at the end of the test.
struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("semiseg_idx_" + std::to_string(::getpid()));
  ScratchDir() { fs::create_directories(path); }
  ~ScratchDir() { fs::remove_all(path); }
};

void write_bytes(const fs::path& p, const std::vector<unsigned char>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<unsigned char> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

IdxArray sample_array() {
  IdxArray a{{3, 4, 5}, {}};
  for (int i = 0; i < 60; ++i) a.data.push_back(static_cast<std::uint8_t>(i * 37 % 256));
  return a;
}

// Checks that reading `p` throws io_error whose message starts with the path and names `problem`.
void check_io_error(const fs::path& p, const std::string& problem) {
  try {
    read_idx(p);
    FAIL("no error reading " << p);
  } catch (const io_error& e) {
    const std::string message = e.what();
    CHECK_MESSAGE(message.rfind(p.string() + ": ", 0) == 0, message);
    CHECK_MESSAGE(message.find(problem) != std::string::npos, message);
  }
}

TEST_CASE("idx: raw and gzip files round-trip through write_idx and read_idx") {
  ScratchDir dir;
  const IdxArray a = sample_array();
  write_idx(dir.path / "a.idx", a);
  write_idx(dir.path / "a.idx.gz", a, true);
  const std::vector<unsigned char> raw = read_bytes(dir.path / "a.idx");
  REQUIRE(raw.size() == 4 + 3 * 4 + 60);
  CHECK(raw[2] == 0x08);
  CHECK(raw[3] == 3);
  CHECK(raw[4 + 4 * 2 + 3] == 5);  // big-endian: the last dim's low byte comes last
  const std::vector<unsigned char> gz = read_bytes(dir.path / "a.idx.gz");
  REQUIRE(gz.size() > 2);
  CHECK(gz[0] == 0x1f);
  CHECK(gz[1] == 0x8b);
  for (const char* name : {"a.idx", "a.idx.gz"}) {
    const IdxArray b = read_idx(dir.path / name);
    CHECK(b.shape == a.shape);
    CHECK(b.data == a.data);
  }
}

TEST_CASE("idx: a big-endian dim above 255 reads back") {
  ScratchDir dir;
  IdxArray a{{2, 300}, std::vector<std::uint8_t>(600, 7)};
  write_idx(dir.path / "wide.idx", a);
  CHECK(read_idx(dir.path / "wide.idx").shape == std::vector<std::size_t>{2, 300});
}

TEST_CASE("idx: truncated, empty, missing and mismatched files are io_errors naming the file") {
  ScratchDir dir;
  const IdxArray a = sample_array();
  const fs::path raw = dir.path / "a.idx", gz = dir.path / "a.idx.gz";
  write_idx(raw, a);
  write_idx(gz, a, true);

  fs::resize_file(raw, fs::file_size(raw) - 1);
  check_io_error(raw, "truncated IDX data");
  fs::resize_file(raw, 9);
  check_io_error(raw, "truncated IDX header");
  fs::resize_file(gz, fs::file_size(gz) / 2);
  check_io_error(gz, "truncated");

  // All the data but no gzip trailer (CRC and length): still a cut file.
  write_idx(gz, a, true);
  fs::resize_file(gz, fs::file_size(gz) - 8);
  check_io_error(gz, "truncated gzip stream");

  write_bytes(dir.path / "empty.idx", {});
  check_io_error(dir.path / "empty.idx", "empty file");
  check_io_error(dir.path / "missing.idx", "no such file");
  check_io_error(dir.path, "not a regular file");

  // Dims say 4 bytes; the file holds 6, or 3.
  write_bytes(dir.path / "long.idx", {0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4, 5, 6});
  check_io_error(dir.path / "long.idx", "longer than its shape 4");
  write_bytes(dir.path / "short.idx", {0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3});
  check_io_error(dir.path / "short.idx", "needs 4 bytes, found 3");
}

TEST_CASE("idx: a wrong magic or an unsupported type is an io_error") {
  ScratchDir dir;
  write_bytes(dir.path / "magic.idx", {1, 0, 8, 1, 0, 0, 0, 1, 9});
  check_io_error(dir.path / "magic.idx", "expected magic 0x0000, found 0x0100");
  write_bytes(dir.path / "float.idx", {0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0});
  check_io_error(dir.path / "float.idx", "unsupported IDX type 0x0d");
  write_bytes(dir.path / "rank0.idx", {0, 0, 8, 0});
  check_io_error(dir.path / "rank0.idx", "rank 0");
  write_bytes(dir.path / "text.idx", {'h', 'e', 'l', 'l', 'o'});
  check_io_error(dir.path / "text.idx", "not an IDX file");
}

TEST_CASE("idx: write_idx rejects a shape that does not match the data") {
  ScratchDir dir;
  CHECK_THROWS_AS(write_idx(dir.path / "bad.idx", IdxArray{{2, 3}, std::vector<std::uint8_t>(5)}), shape_error);
  CHECK_THROWS_AS(write_idx(dir.path / "bad.idx", IdxArray{{}, {}}), shape_error);
  CHECK_FALSE(fs::exists(dir.path / "bad.idx"));
  CHECK_THROWS_AS(write_idx(dir.path / "no_such_dir" / "a.idx", sample_array()), io_error);
}

TEST_CASE("idx: the real Fashion-MNIST files have the published shapes") {
  const fs::path root = data::fashion_mnist_root();
  struct Expected {
    const char* name;
    std::vector<std::size_t> shape;
  };
  for (const Expected& e : {Expected{"train-images-idx3-ubyte.gz", {60000, 28, 28}},
                            Expected{"train-labels-idx1-ubyte.gz", {60000}},
                            Expected{"t10k-images-idx3-ubyte.gz", {10000, 28, 28}},
                            Expected{"t10k-labels-idx1-ubyte.gz", {10000}}}) {
    const fs::path p = root / e.name;
    REQUIRE_MESSAGE(fs::exists(p), p.string() << " is missing: install Debian's dataset-fashion-mnist "
                                                 "(apt-get install dataset-fashion-mnist) "
                                                 "or set SEMISEG_FASHION_MNIST");
    const IdxArray a = read_idx(p);
    CHECK(a.shape == e.shape);
    std::size_t count = 1;
    for (std::size_t n : e.shape) count *= n;
    CHECK(a.data.size() == count);
    if (e.shape.size() == 1) CHECK(*std::max_element(a.data.begin(), a.data.end()) == 9);
  }
}

}  // namespace semiseg::test
