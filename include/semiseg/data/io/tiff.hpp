// TIFF images and stacks through libtiff. Contract: read_tiff reads every page (directory) of a file
// into D and requires all pages to share width, height, samples per pixel and sample type (else
// shape_error naming the page). It accepts 8/16/32-bit unsigned and signed integers and 32/64-bit
// floats, with contiguous samples, in strips or tiles, in any compression libtiff decodes; a float
// NaN or Inf is a value_error. write_tiff writes one uncompressed page per depth slice with the
// Raster's sample type, rounding and clamping for integer types. libtiff's messages never reach
// stderr: its first error becomes the text of the io_error. Without libtiff (SEMISEG_HAS_TIFF
// unset) both functions still compile and throw io_error.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#if defined(SEMISEG_HAS_TIFF)
#include <tiffio.h>
#endif

#include "semiseg/core/error.hpp"
#include "semiseg/data/io/raster.hpp"

namespace semiseg::data {

#if defined(SEMISEG_HAS_TIFF)
namespace detail {

inline void keep_first_tiff_error(std::string& log, const char* module, const char* format, va_list args) {
  if (!log.empty()) return;
  char text[1024];
  std::vsnprintf(text, sizeof text, format, args);
  log = module && *module ? std::string(module) + ": " + text : std::string(text);
}

#if TIFFLIB_VERSION >= 20221213
inline int tiff_error_to_log(TIFF*, void* log, const char* module, const char* format, va_list args) {
  keep_first_tiff_error(*static_cast<std::string*>(log), module, format, args);
  return 1;
}
inline int tiff_ignore_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }
#else
// Before libtiff 4.5 the handlers are global: each thread's messages go to the handle it has open.
inline std::string*& tiff_thread_log() {
  thread_local std::string* log = nullptr;
  return log;
}
inline void tiff_error_to_thread_log(const char* module, const char* format, va_list args) {
  if (std::string* log = tiff_thread_log()) keep_first_tiff_error(*log, module, format, args);
}
#endif

// An open TIFF whose libtiff errors are kept rather than printed. It cannot move: libtiff holds
// the address of its log.
class TiffHandle {
 public:
  TiffHandle(const std::filesystem::path& path, const char* mode) {
#if TIFFLIB_VERSION >= 20221213
    TIFFOpenOptions* options = TIFFOpenOptionsAlloc();
    TIFFOpenOptionsSetErrorHandlerExtR(options, tiff_error_to_log, &log_);
    TIFFOpenOptionsSetWarningHandlerExtR(options, tiff_ignore_warning, nullptr);
    tif_ = TIFFOpenExt(path.string().c_str(), mode, options);
    TIFFOpenOptionsFree(options);
#else
    static const bool installed = [] {
      TIFFSetErrorHandler(tiff_error_to_thread_log);
      TIFFSetWarningHandler(nullptr);
      return true;
    }();
    static_cast<void>(installed);
    tiff_thread_log() = &log_;
    tif_ = TIFFOpen(path.string().c_str(), mode);
#endif
    // libtiff names the file in its open errors; the message names it once.
    if (log_.rfind(path.string() + ": ", 0) == 0) log_.erase(0, path.string().size() + 2);
    if (!tif_) throw io_error(file_message(path, "cannot open as TIFF: " + error()));
  }
  TiffHandle(const TiffHandle&) = delete;
  TiffHandle& operator=(const TiffHandle&) = delete;
  ~TiffHandle() {
    if (tif_) TIFFClose(tif_);
#if TIFFLIB_VERSION < 20221213
    tiff_thread_log() = nullptr;
#endif
  }
  TIFF* get() const { return tif_; }
  bool failed() const { return !log_.empty(); }
  std::string error() const { return log_.empty() ? "libtiff gave no reason" : log_; }
  // Flushes what was written; failed() tells whether that worked.
  void close() {
    TIFFClose(tif_);
    tif_ = nullptr;
  }

 private:
  std::string log_;
  TIFF* tif_ = nullptr;
};

// Calls f(std::type_identity<S>{}) with the C++ type of a sample; false for an unsupported type.
template <class F>
bool visit_tiff_sample(std::uint16_t format, std::uint16_t bits, F&& f) {
  const bool unsigned_integer = format == SAMPLEFORMAT_UINT || format == SAMPLEFORMAT_VOID;
  if (unsigned_integer && bits == 8)
    f(std::type_identity<std::uint8_t>{});
  else if (unsigned_integer && bits == 16)
    f(std::type_identity<std::uint16_t>{});
  else if (unsigned_integer && bits == 32)
    f(std::type_identity<std::uint32_t>{});
  else if (format == SAMPLEFORMAT_INT && bits == 8)
    f(std::type_identity<std::int8_t>{});
  else if (format == SAMPLEFORMAT_INT && bits == 16)
    f(std::type_identity<std::int16_t>{});
  else if (format == SAMPLEFORMAT_INT && bits == 32)
    f(std::type_identity<std::int32_t>{});
  else if (format == SAMPLEFORMAT_IEEEFP && bits == 32)
    f(std::type_identity<float>{});
  else if (format == SAMPLEFORMAT_IEEEFP && bits == 64)
    f(std::type_identity<double>{});
  else
    return false;
  return true;
}

inline std::string tiff_sample_name(std::uint16_t format, std::uint16_t bits) {
  const std::string kind = format == SAMPLEFORMAT_UINT || format == SAMPLEFORMAT_VOID ? "unsigned integer"
                           : format == SAMPLEFORMAT_INT                               ? "signed integer"
                           : format == SAMPLEFORMAT_IEEEFP                            ? "float"
                                                           : "SampleFormat " + std::to_string(format);
  return std::to_string(bits) + "-bit " + kind;
}

inline constexpr const char* tiff_supported_samples =
    "expected 8-, 16- or 32-bit unsigned or signed integers, or 32- or 64-bit floats";

struct TiffPage {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::uint16_t samples = 1;
  std::uint16_t bits = 1;
  std::uint16_t format = SAMPLEFORMAT_UINT;
  bool operator==(const TiffPage&) const = default;
};

inline std::string describe_tiff_page(const TiffPage& p) {
  return std::to_string(p.width) + " x " + std::to_string(p.height) + " (width x height), " +
         std::to_string(p.samples) + (p.samples == 1 ? " sample" : " samples") + " of " +
         tiff_sample_name(p.format, p.bits);
}

inline std::string tiff_page_name(std::size_t index) { return "page " + std::to_string(index + 1); }

inline TiffPage read_tiff_page_header(const std::filesystem::path& path, TIFF* tif, std::size_t index) {
  TiffPage p;
  std::uint16_t planar = PLANARCONFIG_CONTIG;
  if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &p.width) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &p.height) ||
      p.width == 0 || p.height == 0)
    throw io_error(file_message(path, tiff_page_name(index) + " has no image size"));
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &p.samples);
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &p.bits);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &p.format);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
  if (p.samples == 0) throw io_error(file_message(path, tiff_page_name(index) + " has 0 samples per pixel"));
  if (p.samples > 1 && planar != PLANARCONFIG_CONTIG)
    throw io_error(file_message(path, "unsupported layout on " + tiff_page_name(index) +
                                          ": samples in separate planes (PlanarConfiguration 2); expected "
                                          "contiguous samples (PlanarConfiguration 1)"));
  if (!visit_tiff_sample(p.format, p.bits, [](auto) {}))
    throw io_error(file_message(path, "unsupported sample type on " + tiff_page_name(index) + ": " +
                                          tiff_sample_name(p.format, p.bits) + "; " + tiff_supported_samples));
  return p;
}

// n samples of the page's type, in native byte order as libtiff delivers them, to float.
inline void convert_tiff_samples(const TiffPage& p, const unsigned char* src, std::size_t n, float* dst) {
  visit_tiff_sample(p.format, p.bits, [&]<class S>(std::type_identity<S>) {
    for (std::size_t i = 0; i < n; ++i) {
      S v;
      std::memcpy(&v, src + i * sizeof(S), sizeof(S));
      if constexpr (std::is_same_v<S, double>) {
        // Beyond float's range the conversion is undefined; Inf keeps it detectable.
        if (std::isfinite(v) && std::abs(v) > std::numeric_limits<float>::max())
          v = std::copysign(std::numeric_limits<double>::infinity(), v);
      }
      dst[i] = static_cast<float>(v);
    }
  });
}

// Appends the page's samples, row by row in H × W × C order, to `out`. Memory grows only as data
// decodes, so a header that claims a huge image fails before it allocates much.
inline void read_tiff_page(const std::filesystem::path& path, const TiffHandle& file, const TiffPage& p,
                           std::size_t index, std::vector<float>& out) {
  TIFF* tif = file.get();
  const std::size_t w = p.width, h = p.height, c = p.samples, bytes = p.bits / 8u;
  const std::size_t row_samples = w * c;  // below 2^48: no overflow
  if (!TIFFIsTiled(tif)) {
    if (TIFFScanlineSize64(tif) != row_samples * bytes)
      throw io_error(file_message(path, "corrupt " + tiff_page_name(index) + ": scanline of " +
                                            std::to_string(TIFFScanlineSize64(tif)) + " bytes, expected " +
                                            std::to_string(row_samples * bytes)));
    const auto buffer = std::make_unique_for_overwrite<unsigned char[]>(row_samples * bytes);
    for (std::uint32_t y = 0; y < p.height; ++y) {
      if (TIFFReadScanline(tif, buffer.get(), y, 0) < 0)
        throw io_error(file_message(
            path, "cannot read row " + std::to_string(y) + " of " + tiff_page_name(index) + ": " + file.error()));
      const std::size_t at = out.size();
      out.resize(at + row_samples);
      convert_tiff_samples(p, buffer.get(), row_samples, out.data() + at);
    }
    return;
  }
  std::uint32_t tile_w = 0, tile_h = 0;
  TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tile_w);
  TIFFGetField(tif, TIFFTAG_TILELENGTH, &tile_h);
  const auto tile_samples = checked_multiply(std::size_t{tile_w} * tile_h, c);
  if (tile_w == 0 || tile_h == 0 || !tile_samples || TIFFTileSize64(tif) != *tile_samples * bytes)
    throw io_error(file_message(path, "corrupt " + tiff_page_name(index) + ": tiles of " + std::to_string(tile_w) +
                                          " x " + std::to_string(tile_h) + " pixels in " +
                                          std::to_string(TIFFTileSize64(tif)) + " bytes"));
  const auto buffer = std::make_unique_for_overwrite<unsigned char[]>(*tile_samples * bytes);
  for (std::uint32_t y0 = 0; y0 < p.height; y0 += tile_h) {
    const std::size_t rows = std::min<std::size_t>(tile_h, h - y0);
    const std::size_t band = out.size();
    for (std::uint32_t x0 = 0; x0 < p.width; x0 += tile_w) {
      if (TIFFReadTile(tif, buffer.get(), x0, y0, 0, 0) < 0)
        throw io_error(file_message(path, "cannot read the tile at row " + std::to_string(y0) + ", column " +
                                              std::to_string(x0) + " of " + tiff_page_name(index) + ": " +
                                              file.error()));
      if (x0 == 0) out.resize(band + rows * row_samples);
      const std::size_t cols = std::min<std::size_t>(tile_w, w - x0);
      for (std::size_t r = 0; r < rows; ++r)
        convert_tiff_samples(p, buffer.get() + r * tile_w * c * bytes, cols * c,
                             out.data() + band + r * row_samples + x0 * c);
    }
  }
}

}  // namespace detail

inline Raster read_tiff(const std::filesystem::path& path) {
  detail::check_input_file(path);
  const detail::TiffHandle file(path, "r");
  detail::TiffPage first;
  std::vector<float> samples;  // D × H × W × C
  std::size_t pages = 0;
  do {
    const detail::TiffPage page = detail::read_tiff_page_header(path, file.get(), pages);
    if (pages == 0)
      first = page;
    else if (!(page == first))
      throw shape_error(
          file_message(path, detail::tiff_page_name(pages) + " is " + detail::describe_tiff_page(page) +
                                 "; expected every page like page 1: " + detail::describe_tiff_page(first)));
    detail::read_tiff_page(path, file, page, pages, samples);
    ++pages;
  } while (TIFFReadDirectory(file.get()));
  if (file.failed())
    throw io_error(file_message(path, "cannot read " + detail::tiff_page_name(pages) + ": " + file.error()));

  const std::size_t c = first.samples, h = first.height, w = first.width;
  if (first.format == SAMPLEFORMAT_IEEEFP)
    for (std::size_t i = 0; i < samples.size(); ++i)
      if (!std::isfinite(samples[i]))
        throw value_error(file_message(
            path, std::string(std::isnan(samples[i]) ? "NaN" : "Inf") + " at " + detail::tiff_page_name(i / c / w / h) +
                      ", row " + std::to_string(i / c / w % h) + ", column " + std::to_string(i / c % w) + ", sample " +
                      std::to_string(i % c) + "; expected finite values"));
  Raster r;
  r.bits = first.bits;
  r.format = first.format == SAMPLEFORMAT_IEEEFP ? SampleFormat::floating
             : first.format == SAMPLEFORMAT_INT  ? SampleFormat::signed_integer
                                                 : SampleFormat::unsigned_integer;
  r.values = xt::xtensor<float, 4>({c, pages, h, w});
  float* v = r.values.data();
  const std::size_t plane = pages * h * w;
  for (std::size_t p = 0; p < plane; ++p)
    for (std::size_t k = 0; k < c; ++k) v[k * plane + p] = samples[p * c + k];
  return r;
}

inline void write_tiff(const std::filesystem::path& path, const Raster& raster) {
  const std::size_t c = raster.channels(), d = raster.depth(), h = raster.height(), w = raster.width();
  if (c == 0 || d == 0 || h == 0 || w == 0 || c > std::numeric_limits<std::uint16_t>::max() ||
      h > std::numeric_limits<std::uint32_t>::max() || w > std::numeric_limits<std::uint32_t>::max())
    throw shape_error(file_message(path, "cannot write a raster of shape " + std::to_string(c) + " x " +
                                             std::to_string(d) + " x " + std::to_string(h) + " x " + std::to_string(w) +
                                             " (C x D x H x W) to TIFF; expected 1 to 65535 "
                                             "channels and 1 to 2^32 - 1 pages, rows and columns"));
  const std::uint16_t format = raster.format == SampleFormat::floating         ? SAMPLEFORMAT_IEEEFP
                               : raster.format == SampleFormat::signed_integer ? SAMPLEFORMAT_INT
                                                                               : SAMPLEFORMAT_UINT;
  const auto bits = static_cast<std::uint16_t>(std::clamp(raster.bits, 0, 0xffff));
  if (bits != raster.bits || !detail::visit_tiff_sample(format, bits, [](auto) {}))
    throw value_error(file_message(path, "cannot write " + detail::tiff_sample_name(format, bits) + " samples; " +
                                             detail::tiff_supported_samples));
  const float* values = raster.values.data();
  const std::size_t plane = d * h * w;
  if (format != SAMPLEFORMAT_IEEEFP)
    for (std::size_t i = 0; i < c * plane; ++i)
      if (std::isnan(values[i]))
        throw value_error(file_message(path, "NaN at channel " + std::to_string(i / plane) + ", slice " +
                                                 std::to_string(i % plane / (h * w)) + ", row " +
                                                 std::to_string(i % (h * w) / w) + ", column " + std::to_string(i % w) +
                                                 "; expected values to write"));

  const std::size_t bytes = bits / 8u, row_bytes = w * c * bytes;
  // Classic TIFF addresses 4 GiB; above that (with room for the directories) write BigTIFF.
  const bool big = plane * c * bytes > (std::size_t{0xF} << 28);
  detail::TiffHandle file(path, big ? "w8" : "w");
  TIFF* tif = file.get();
  const bool rgb = c == 3 || c == 4;
  const std::vector<std::uint16_t> extra(c - (rgb ? 3 : 1),
                                         c == 2 || c == 4 ? EXTRASAMPLE_UNASSALPHA : EXTRASAMPLE_UNSPECIFIED);
  const auto buffer = std::make_unique_for_overwrite<unsigned char[]>(row_bytes);
  for (std::size_t z = 0; z < d; ++z) {
    const bool tagged =
        TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, static_cast<std::uint32_t>(w)) &&
        TIFFSetField(tif, TIFFTAG_IMAGELENGTH, static_cast<std::uint32_t>(h)) &&
        TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, static_cast<int>(c)) &&
        TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, static_cast<int>(bits)) &&
        TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, static_cast<int>(format)) &&
        TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
        TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_NONE) &&
        TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, rgb ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK) &&
        (extra.empty() || TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, static_cast<int>(extra.size()), extra.data())) &&
        TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(tif, 0)) &&
        (d == 1 || TIFFSetField(tif, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE));
    if (!tagged)
      throw io_error(file_message(path, "cannot describe " + detail::tiff_page_name(z) + ": " + file.error()));
    for (std::size_t y = 0; y < h; ++y) {
      detail::visit_tiff_sample(format, bits, [&]<class S>(std::type_identity<S>) {
        for (std::size_t x = 0; x < w; ++x)
          for (std::size_t k = 0; k < c; ++k) {
            const float v = values[k * plane + (z * h + y) * w + x];
            S s;
            if constexpr (std::is_integral_v<S>)
              s = static_cast<S>(std::clamp(std::round(static_cast<double>(v)),
                                            static_cast<double>(std::numeric_limits<S>::lowest()),
                                            static_cast<double>(std::numeric_limits<S>::max())));
            else
              s = static_cast<S>(v);
            std::memcpy(buffer.get() + (x * c + k) * sizeof(S), &s, sizeof(S));
          }
      });
      if (TIFFWriteScanline(tif, buffer.get(), static_cast<std::uint32_t>(y), 0) < 0)
        throw io_error(file_message(
            path, "cannot write row " + std::to_string(y) + " of " + detail::tiff_page_name(z) + ": " + file.error()));
    }
    if (!TIFFWriteDirectory(tif))
      throw io_error(file_message(path, "cannot write " + detail::tiff_page_name(z) + ": " + file.error()));
  }
  file.close();
  if (file.failed()) throw io_error(file_message(path, "cannot write the file: " + file.error()));
}

#else

inline Raster read_tiff(const std::filesystem::path& path) {
  throw io_error(file_message(path, "this build has no libtiff; install libtiff-dev and rebuild to read TIFF files"));
}

inline void write_tiff(const std::filesystem::path& path, const Raster&) {
  throw io_error(file_message(path, "this build has no libtiff; install libtiff-dev and rebuild to write TIFF files"));
}

#endif

}  // namespace semiseg::data
