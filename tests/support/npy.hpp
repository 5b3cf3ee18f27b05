// Reads the float64 .npy fixtures written by tools/make_fixtures.py. Only what the fixtures use:
// little-endian '<f8', C order, format version 1.0 or 2.0.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "semiseg/core/error.hpp"

namespace semiseg::test {

struct NpyArray {
  std::vector<std::int64_t> shape;
  std::vector<double> data;
};

inline NpyArray read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("cannot open fixture " + path);
  char magic[6];
  in.read(magic, 6);
  if (std::string(magic, 6) != "\x93NUMPY") throw io_error(path + ": not an .npy file");
  unsigned char version[2];
  in.read(reinterpret_cast<char*>(version), 2);
  std::uint32_t header_len = 0;
  if (version[0] == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (std::uint32_t(b[3]) << 24);
  }
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (header.find("'<f8'") == std::string::npos) throw io_error(path + ": expected dtype <f8, header " + header);
  if (header.find("'fortran_order': False") == std::string::npos) throw io_error(path + ": expected C order");
  NpyArray a;
  const auto open = header.find('(', header.find("'shape'"));
  const auto close = header.find(')', open);
  std::string dims = header.substr(open + 1, close - open - 1);
  std::size_t pos = 0;
  while (pos < dims.size()) {
    const auto comma = dims.find(',', pos);
    const std::string token = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (token.find_first_of("0123456789") != std::string::npos) a.shape.push_back(std::stoll(token));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  std::int64_t count = 1;
  for (auto d : a.shape) count *= d;
  a.data.resize(static_cast<std::size_t>(count));
  in.read(reinterpret_cast<char*>(a.data.data()), static_cast<std::streamsize>(count * 8));
  if (!in) throw io_error(path + ": truncated data");
  return a;
}

}  // namespace semiseg::test
