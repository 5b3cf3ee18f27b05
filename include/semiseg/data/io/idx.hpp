// IDX arrays, the MNIST file format: magic 0x0000, a type byte, a rank byte, big-endian uint32
// dims, then the data. Contract: read_idx reads raw or gzip-compressed files of unsigned bytes
// (type 0x08) and returns them only when the dims' product equals the data length exactly;
// anything else (missing, empty, truncated, trailing bytes, wrong magic, other types) is an
// io_error whose message starts with the file path. Without zlib (SEMISEG_HAS_ZLIB) raw files
// still read, and a gzip file is an io_error that says so.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

#if defined(SEMISEG_HAS_ZLIB)
#include <zlib.h>
#endif

#include "semiseg/core/error.hpp"

namespace semiseg::data {

struct IdxArray {
  std::vector<std::size_t> shape;
  std::vector<std::uint8_t> data;  // row-major, last dim fastest
};

namespace detail {

inline std::string idx_shape_string(const std::vector<std::size_t>& shape) {
  std::string s;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (d) s += 'x';
    s += std::to_string(shape[d]);
  }
  return s.empty() ? "(rank 0)" : s;
}

inline std::string hex_byte(unsigned v) {
  const char* digits = "0123456789abcdef";
  return std::string("0x") + digits[(v >> 4) & 15u] + digits[v & 15u];
}

// A file read front to back, decompressed on the fly when it is gzip (zlib's gzread passes raw
// files through unchanged).
class IdxSource {
 public:
  explicit IdxSource(const std::filesystem::path& path) : path_(path.string()) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) fail("no such file");
    if (!std::filesystem::is_regular_file(path, ec)) fail("not a regular file");
#if defined(SEMISEG_HAS_ZLIB)
    file_ = gzopen(path_.c_str(), "rb");
    if (!file_) fail("cannot open for reading");
    gzbuffer(file_, 1u << 17);
#else
    file_ = std::fopen(path_.c_str(), "rb");
    if (!file_) fail("cannot open for reading");
    unsigned char head[2] = {0, 0};
    const std::size_t n = std::fread(head, 1, 2, file_);
    if (n == 2 && head[0] == 0x1f && head[1] == 0x8b)
      fail("gzip-compressed, but this build has no zlib (install zlib1g-dev and rebuild, or gunzip the file)");
    std::rewind(file_);
#endif
  }
  IdxSource(const IdxSource&) = delete;
  IdxSource& operator=(const IdxSource&) = delete;
  ~IdxSource() {
#if defined(SEMISEG_HAS_ZLIB)
    gzclose(file_);
#else
    std::fclose(file_);
#endif
  }

  // Reads up to n bytes; fewer only at the end of the data.
  std::size_t read(std::uint8_t* out, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
#if defined(SEMISEG_HAS_ZLIB)
      const auto want = static_cast<unsigned>(std::min<std::size_t>(n - got, 1u << 30));
      const int r = gzread(file_, out + got, want);
      int code = Z_OK;
      const char* message = gzerror(file_, &code);
      if (r < 0 || (code != Z_OK && code != Z_BUF_ERROR))
        fail(std::string("corrupt gzip data (") + (message ? message : "unknown zlib error") + ")");
      // Z_BUF_ERROR: the compressed stream ended early; the bytes before the cut still count.
      if (code == Z_BUF_ERROR) cut_ = true;
      got += static_cast<std::size_t>(r);
      if (static_cast<unsigned>(r) < want) break;
#else
      const std::size_t r = std::fread(out + got, 1, n - got, file_);
      if (std::ferror(file_)) fail("read error");
      got += r;
      if (r == 0) break;
#endif
    }
    return got;
  }

  // Whether a gzip stream ended before its trailer (a cut download can hold all the data).
  bool cut() const { return cut_; }

  [[noreturn]] void fail(const std::string& problem) const { throw io_error(path_ + ": " + problem); }

 private:
  std::string path_;
  bool cut_ = false;
#if defined(SEMISEG_HAS_ZLIB)
  gzFile file_ = nullptr;
#else
  std::FILE* file_ = nullptr;
#endif
};

}  // namespace detail

inline IdxArray read_idx(const std::filesystem::path& path) {
  detail::IdxSource in(path);
  std::uint8_t head[4];
  const std::size_t head_bytes = in.read(head, 4);
  if (head_bytes == 0) in.fail("empty file (0 bytes), expected an IDX header");
  if (head_bytes < 4) in.fail("truncated IDX header: expected 4 bytes, found " + std::to_string(head_bytes));
  if (head[0] != 0 || head[1] != 0)
    in.fail("not an IDX file: expected magic 0x0000, found " + detail::hex_byte(head[0]) +
            detail::hex_byte(head[1]).substr(2));
  if (head[2] != 0x08)
    in.fail("unsupported IDX type " + detail::hex_byte(head[2]) + ", expected 0x08 (unsigned byte)");
  const std::size_t rank = head[3];
  if (rank == 0) in.fail("IDX rank 0, expected at least one dimension");

  IdxArray a;
  std::vector<std::uint8_t> dims(4 * rank);
  const std::size_t dim_bytes = in.read(dims.data(), dims.size());
  if (dim_bytes < dims.size())
    in.fail("truncated IDX header: rank " + std::to_string(rank) + " needs " + std::to_string(dims.size()) +
            " bytes of dims, found " + std::to_string(dim_bytes));
  std::size_t count = 1;
  for (std::size_t d = 0; d < rank; ++d) {
    const std::size_t n = (std::size_t{dims[4 * d]} << 24) | (std::size_t{dims[4 * d + 1]} << 16) |
                          (std::size_t{dims[4 * d + 2]} << 8) | std::size_t{dims[4 * d + 3]};
    a.shape.push_back(n);
    if (n != 0 && count > std::numeric_limits<std::size_t>::max() / n)
      in.fail("IDX dims " + detail::idx_shape_string(a.shape) + " overflow the address space");
    count *= n;
  }

  // Grow by doubling rather than trusting the header, so a corrupt header claiming terabytes
  // ends as truncation instead of an allocation failure.
  std::size_t got = 0;
  while (got < count) {
    const std::size_t want = std::min(count - got, std::max<std::size_t>(got, std::size_t{1} << 20));
    a.data.resize(got + want);
    const std::size_t r = in.read(a.data.data() + got, want);
    got += r;
    if (r < want) break;
  }
  if (got < count)
    in.fail("truncated IDX data: shape " + detail::idx_shape_string(a.shape) + " needs " + std::to_string(count) +
            " bytes, found " + std::to_string(got));
  std::uint8_t extra;
  if (in.read(&extra, 1) != 0)
    in.fail("IDX data longer than its shape " + detail::idx_shape_string(a.shape) + ": expected " +
            std::to_string(count) + " bytes, found more");
  if (in.cut()) in.fail("truncated gzip stream: the data is complete but the gzip trailer is missing");
  return a;
}

// Writes an IDX file of unsigned bytes, gzip-compressed on request (for tests and fixtures).
inline void write_idx(const std::filesystem::path& path, const IdxArray& a, bool gzip = false) {
  const std::string name = path.string();
  if (a.shape.empty() || a.shape.size() > 255)
    throw shape_error(name + ": IDX rank must be 1..255, found " + std::to_string(a.shape.size()));
  std::size_t count = 1;
  std::vector<std::uint8_t> bytes = {0, 0, 0x08, static_cast<std::uint8_t>(a.shape.size())};
  for (std::size_t n : a.shape) {
    if (n > std::numeric_limits<std::uint32_t>::max())
      throw shape_error(name + ": IDX dims are uint32, found " + std::to_string(n));
    count *= n;
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<std::uint8_t>(n >> shift));
  }
  if (count != a.data.size())
    throw shape_error(name + ": IDX shape " + detail::idx_shape_string(a.shape) + " holds " + std::to_string(count) +
                      " bytes, the data has " + std::to_string(a.data.size()));
  bytes.insert(bytes.end(), a.data.begin(), a.data.end());

  if (gzip) {
#if defined(SEMISEG_HAS_ZLIB)
    gzFile out = gzopen(name.c_str(), "wb");
    if (!out) throw io_error(name + ": cannot open for writing");
    std::size_t done = 0;
    bool ok = true;
    while (ok && done < bytes.size()) {
      const auto chunk = static_cast<unsigned>(std::min<std::size_t>(bytes.size() - done, 1u << 30));
      ok = gzwrite(out, bytes.data() + done, chunk) == static_cast<int>(chunk);
      done += chunk;
    }
    if (gzclose(out) != Z_OK || !ok) throw io_error(name + ": write failed");
#else
    throw io_error(name + ": cannot write gzip, this build has no zlib (install zlib1g-dev and rebuild)");
#endif
    return;
  }
  std::FILE* out = std::fopen(name.c_str(), "wb");
  if (!out) throw io_error(name + ": cannot open for writing");
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), out) == bytes.size();
  if (std::fclose(out) != 0 || !ok) throw io_error(name + ": write failed");
}

}  // namespace semiseg::data
