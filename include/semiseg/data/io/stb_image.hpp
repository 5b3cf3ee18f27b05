// PNG, JPEG, BMP and TGA through stb. Contract: read_stb_image keeps the file's channels (grey,
// grey+alpha, RGB, RGBA as 1 to 4; a palette becomes RGB or RGBA) and its sample depth (8 bits, or
// 16 for a 16-bit PNG), and names stb's reason when decoding fails. write_png writes a 2D Raster of
// 1 to 4 channels at 8 or 16 bits, rounding and clamping the values to the sample range. stb is
// compiled static, limited to these four formats, into every translation unit that includes this
// header, so the copies never clash at link time.
#pragma once

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wpedantic"
#endif
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#define STBI_NO_STDIO
#include <stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb_image_write.h>
// Left defined, they would make a later #include of an stb header define everything twice.
#undef STB_IMAGE_IMPLEMENTATION
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include "semiseg/core/error.hpp"
#include "semiseg/data/io/raster.hpp"

namespace semiseg::data {
namespace detail {

struct StbImageFree {
  void operator()(void* pixels) const { stbi_image_free(pixels); }
};
struct StbWriteFree {
  void operator()(unsigned char* bytes) const { STBIW_FREE(bytes); }
};

inline std::string stb_reason() {
  const char* reason = stbi_failure_reason();
  return reason ? reason : "no reason given";
}

// Interleaved H × W × C pixels to channels first.
template <class P>
xt::xtensor<float, 4> planes_from_pixels(const P* pixels, std::size_t c, std::size_t h, std::size_t w) {
  xt::xtensor<float, 4> values({c, 1, h, w});
  float* out = values.data();
  for (std::size_t y = 0; y < h; ++y)
    for (std::size_t x = 0; x < w; ++x)
      for (std::size_t k = 0; k < c; ++k) out[(k * h + y) * w + x] = static_cast<float>(pixels[(y * w + x) * c + k]);
  return values;
}

inline std::uint32_t png_crc(const unsigned char* p, std::size_t n, std::uint32_t crc) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

inline void png_put_big_endian(std::vector<unsigned char>& out, std::uint32_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<unsigned char>(v >> (8 * i)));
}

inline void png_chunk(std::vector<unsigned char>& out, const char* type, const unsigned char* data, std::size_t n) {
  png_put_big_endian(out, static_cast<std::uint32_t>(n), 4);
  const std::size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  out.insert(out.end(), data, data + n);
  png_put_big_endian(out, png_crc(out.data() + start, n + 4, 0xffffffffu) ^ 0xffffffffu, 4);
}

// stb_image 2.27 (Debian 12's copy) writes past its Huffman tables when a JPEG DHT segment declares
// more than 256 codes; 2.28 checks. This walks the segments as stb does, reading bytes past the
// end as 0 like stb, and finds such a table before stb sees the file.
inline bool jpeg_has_oversized_huffman_table(const std::vector<unsigned char>& b) {
  const auto at = [&](std::size_t i) -> std::size_t { return i < b.size() ? b[i] : 0u; };
  if (at(0) != 0xFF || at(1) != 0xD8) return false;
  std::size_t i = 2;
  while (i + 1 < b.size()) {
    const std::size_t m = b[i + 1];
    if (b[i] != 0xFF || m == 0xFF) {  // entropy-coded data, fill bytes, or junk stb skips
      ++i;
      continue;
    }
    if (m == 0xD9) return false;                               // end of image
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {  // stuffing, TEM, RSTn, SOI: no length
      i += 2;
      continue;
    }
    const std::size_t length = at(i + 2) << 8 | at(i + 3);
    if (m == 0xC4) {
      std::size_t table = i + 4, left = length > 2 ? length - 2 : 0;
      while (left > 0) {
        std::size_t codes = 0;
        for (std::size_t k = 1; k <= 16; ++k) codes += at(table + k);
        if (codes > 256) return true;
        table += 17 + codes;
        left -= std::min(left, 17 + codes);
      }
    }
    i += 2 + length;
  }
  return false;
}

}  // namespace detail

inline Raster read_stb_image(const std::filesystem::path& path) {
  const std::vector<unsigned char> bytes = detail::read_file_bytes(path);
  if (bytes.size() > static_cast<std::size_t>(INT_MAX))
    throw io_error(file_message(
        path, "file too large for stb_image: " + std::to_string(bytes.size()) + " bytes, at most 2^31 - 1"));
  if (detail::jpeg_has_oversized_huffman_table(bytes))
    throw io_error(file_message(path, "corrupt JPEG: a Huffman table declares more than the 256 codes a table holds"));
  const int size = static_cast<int>(bytes.size());
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(bytes.data(), size, &w, &h, &c))
    throw io_error(file_message(path, "cannot decode the image (stb_image: " + detail::stb_reason() +
                                          "); expected a PNG, JPEG, BMP or TGA file"));
  Raster r;
  r.bits = stbi_is_16_bit_from_memory(bytes.data(), size) ? 16 : 8;
  std::unique_ptr<void, detail::StbImageFree> pixels(
      r.bits == 16 ? static_cast<void*>(stbi_load_16_from_memory(bytes.data(), size, &w, &h, &c, 0))
                   : static_cast<void*>(stbi_load_from_memory(bytes.data(), size, &w, &h, &c, 0)));
  if (!pixels) throw io_error(file_message(path, "cannot decode the image (stb_image: " + detail::stb_reason() + ")"));
  const auto cs = static_cast<std::size_t>(c), hs = static_cast<std::size_t>(h), ws = static_cast<std::size_t>(w);
  r.values = r.bits == 16 ? detail::planes_from_pixels(static_cast<const stbi_us*>(pixels.get()), cs, hs, ws)
                          : detail::planes_from_pixels(static_cast<const stbi_uc*>(pixels.get()), cs, hs, ws);
  return r;
}

inline void write_png(const std::filesystem::path& path, const Raster& raster) {
  const std::size_t c = raster.channels(), d = raster.depth(), h = raster.height(), w = raster.width();
  if (d != 1)
    throw shape_error(file_message(path, "PNG holds a 2D image, found a volume of depth " + std::to_string(d)));
  if (c < 1 || c > 4) throw shape_error(file_message(path, "PNG holds 1 to 4 channels, found " + std::to_string(c)));
  if (h == 0 || w == 0 || h > INT_MAX || w > INT_MAX)
    throw shape_error(file_message(
        path, "PNG needs 1 to 2^31 - 1 rows and columns, found " + std::to_string(h) + " x " + std::to_string(w)));
  if (raster.bits != 8 && raster.bits != 16)
    throw value_error(file_message(path, "PNG samples have 8 or 16 bits, found " + std::to_string(raster.bits)));
  const std::size_t bytes_per_sample = raster.bits == 16 ? 2 : 1;
  const std::size_t row_bytes = 1 + w * c * bytes_per_sample;
  if (h > static_cast<std::size_t>(INT_MAX) / row_bytes)
    throw shape_error(file_message(path, "image too large for the PNG writer: " + std::to_string(h) + " x " +
                                             std::to_string(w) + " x " + std::to_string(c)));
  const double top = raster.full_scale();
  const float* values = raster.values.data();
  // Scanlines, each with filter type 0 (none); 16-bit samples are big-endian.
  std::vector<unsigned char> raw;
  raw.reserve(h * row_bytes);
  for (std::size_t y = 0; y < h; ++y) {
    raw.push_back(0);
    for (std::size_t x = 0; x < w; ++x)
      for (std::size_t k = 0; k < c; ++k) {
        const float v = values[(k * h + y) * w + x];
        if (std::isnan(v))
          throw value_error(file_message(path, "NaN at channel " + std::to_string(k) + ", row " + std::to_string(y) +
                                                   ", column " + std::to_string(x) + "; expected values to write"));
        const auto q = static_cast<std::uint32_t>(std::clamp(std::round(static_cast<double>(v)), 0.0, top));
        if (bytes_per_sample == 2) raw.push_back(static_cast<unsigned char>(q >> 8));
        raw.push_back(static_cast<unsigned char>(q));
      }
  }
  int compressed_size = 0;
  const std::unique_ptr<unsigned char, detail::StbWriteFree> compressed(
      stbi_zlib_compress(raw.data(), static_cast<int>(raw.size()), &compressed_size, 8));
  if (!compressed) throw io_error(file_message(path, "cannot compress the PNG data (out of memory)"));

  static constexpr unsigned char colour_type[] = {0, 0, 4, 2, 6};  // grey, grey+alpha, RGB, RGBA
  std::vector<unsigned char> header;
  detail::png_put_big_endian(header, static_cast<std::uint32_t>(w), 4);
  detail::png_put_big_endian(header, static_cast<std::uint32_t>(h), 4);
  header.insert(header.end(), {static_cast<unsigned char>(raster.bits), colour_type[c], 0, 0, 0});
  std::vector<unsigned char> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  detail::png_chunk(png, "IHDR", header.data(), header.size());
  detail::png_chunk(png, "IDAT", compressed.get(), static_cast<std::size_t>(compressed_size));
  detail::png_chunk(png, "IEND", nullptr, 0);
  detail::write_file_bytes(path, png);
}

}  // namespace semiseg::data
