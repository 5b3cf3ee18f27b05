// The decoded form every image reader returns, and the file checks the readers share. Contract: a
// Raster holds values channels first, C × D × H × W (D = 1 for a 2D image), as stored in the file
// and converted to float; `bits` and `format` record the file's sample type, so callers scale to
// [0, 1] with full_scale(). Every data error message is file_message(path, problem).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "semiseg/core/error.hpp"

namespace semiseg::data {

enum class SampleFormat { unsigned_integer, signed_integer, floating };

struct Raster {
  xt::xtensor<float, 4> values;  // C × D × H × W
  int bits = 8;                  // bits per sample in the file
  SampleFormat format = SampleFormat::unsigned_integer;

  std::size_t channels() const { return values.shape()[0]; }
  std::size_t depth() const { return values.shape()[1]; }
  std::size_t height() const { return values.shape()[2]; }
  std::size_t width() const { return values.shape()[3]; }
  // The value that maps to 1 when scaling to [0, 1]. Signed integers reach only 2^(bits-1) - 1.
  double full_scale() const {
    switch (format) {
      case SampleFormat::floating:
        return 1.0;
      case SampleFormat::signed_integer:
        return std::ldexp(1.0, bits - 1) - 1.0;
      case SampleFormat::unsigned_integer:
        break;
    }
    return std::ldexp(1.0, bits) - 1.0;
  }
};

// "<path>: <problem>", the message form of every data error.
inline std::string file_message(const std::filesystem::path& path, const std::string& problem) {
  return path.string() + ": " + problem;
}

namespace detail {

// a × b, or nothing when it overflows: sizes in file headers are untrusted.
inline std::optional<std::size_t> checked_multiply(std::size_t a, std::size_t b) {
  if (b != 0 && a > std::numeric_limits<std::size_t>::max() / b) return std::nullopt;
  return a * b;
}

// The size of the file at `path`; io_error unless it is a non-empty regular file.
inline std::uintmax_t check_input_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw io_error(file_message(path, "no such file"));
  if (!std::filesystem::is_regular_file(status))
    throw io_error(file_message(path, std::filesystem::is_directory(status)
                                          ? "expected a file, found a directory"
                                          : "expected a regular file, found a special file"));
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw io_error(file_message(path, "cannot read the file size: " + ec.message()));
  if (size == 0) throw io_error(file_message(path, "empty file (0 bytes)"));
  return size;
}

inline std::vector<unsigned char> read_file_bytes(const std::filesystem::path& path) {
  const std::uintmax_t size = check_input_file(path);
  if (size > std::vector<unsigned char>().max_size())
    throw io_error(file_message(path, "file too large (" + std::to_string(size) + " bytes)"));
  std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error(file_message(path, "cannot open the file for reading"));
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  // A file that shrank since file_size() was taken reads short.
  if (in.gcount() != static_cast<std::streamsize>(bytes.size()))
    throw io_error(file_message(path, "cannot read the file: expected " + std::to_string(size) + " bytes, read " +
                                          std::to_string(in.gcount())));
  return bytes;
}

inline void write_file_bytes(const std::filesystem::path& path, const std::vector<unsigned char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw io_error(file_message(path, "cannot open the file for writing"));
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw io_error(file_message(path, "cannot write the file (" + std::to_string(bytes.size()) + " bytes)"));
}

}  // namespace detail
}  // namespace semiseg::data
