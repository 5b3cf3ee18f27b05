// One entry point for image files, chosen by extension. Contract: read_raster reads PNG, JPEG, BMP,
// TGA, TIFF and NPY files (the extension in any case) and checks that the result fits `spatial`: 2
// needs a single image (D = 1); 3 accepts TIFF stacks (one page included) and NPY volumes, never a
// 2D-only format. An unknown extension or a missing file is an io_error, a misfit a shape_error.
#pragma once

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>

#include "semiseg/core/error.hpp"
#include "semiseg/data/io/npy.hpp"
#include "semiseg/data/io/raster.hpp"
#include "semiseg/data/io/stb_image.hpp"
#include "semiseg/data/io/tiff.hpp"

namespace semiseg::data {
namespace detail {

enum class RasterFileKind { unknown, stb, tiff, npy };

inline constexpr const char* raster_extensions = ".png .jpg .jpeg .bmp .tga .tif .tiff .npy";

inline std::string raster_lower_extension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return ext;
}

inline RasterFileKind raster_file_kind(const std::filesystem::path& path) {
  const std::string ext = raster_lower_extension(path);
  if (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".tga") return RasterFileKind::stb;
  if (ext == ".tif" || ext == ".tiff") return RasterFileKind::tiff;
  if (ext == ".npy") return RasterFileKind::npy;
  return RasterFileKind::unknown;
}

}  // namespace detail

// Whether read_raster knows the extension; says nothing about the content.
inline bool is_raster_file(const std::filesystem::path& path) {
  return detail::raster_file_kind(path) != detail::RasterFileKind::unknown;
}

inline Raster read_raster(const std::filesystem::path& path, int spatial) {
  if (spatial != 2 && spatial != 3)
    throw value_error(file_message(path, "spatial rank must be 2 or 3, found " + std::to_string(spatial)));
  const detail::RasterFileKind kind = detail::raster_file_kind(path);
  if (kind == detail::RasterFileKind::unknown)
    throw io_error(file_message(path, "unsupported file type '" + path.extension().string() + "'; expected one of " +
                                          detail::raster_extensions));
  detail::check_input_file(path);
  switch (kind) {
    case detail::RasterFileKind::npy:
      return read_npy_raster(path, spatial);
    case detail::RasterFileKind::stb:
      if (spatial == 3)
        throw shape_error(file_message(path, "expected a 3D volume, found a 2D image format (" +
                                                 detail::raster_lower_extension(path) +
                                                 "); store volumes as TIFF stacks or .npy arrays"));
      return read_stb_image(path);
    case detail::RasterFileKind::tiff:
    case detail::RasterFileKind::unknown:
      break;
  }
  Raster r = read_tiff(path);
  if (spatial == 2 && r.depth() != 1)
    throw shape_error(
        file_message(path, "expected a 2D image, found a stack of " + std::to_string(r.depth()) + " pages"));
  return r;
}

}  // namespace semiseg::data
