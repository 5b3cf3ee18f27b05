// NumPy .npy files. Contract: read_npy accepts format versions 1 to 3 holding little-endian dtypes
// b1 u1 u2 u4 u8 i1 i2 i4 i8 f4 f8 in C order and converts every value to T, with value_error when
// one does not fit T. The header and the file size are checked before any data is touched, so a
// corrupt or truncated file is an io_error and never a read past the end. write_npy writes format
// 1.0 (2.0 for a header over 64 KiB) in C order. read_npy_raster reads an image or volume and
// rejects NaN and Inf.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>
#include <xtensor/xarray.hpp>
#include <xtensor/xtensor.hpp>

#include "semiseg/core/error.hpp"
#include "semiseg/data/io/raster.hpp"

namespace semiseg::data {
namespace detail {

inline constexpr char npy_magic[] = "\x93NUMPY";
inline constexpr std::size_t npy_magic_size = 6;

enum class NpyKind { boolean, unsigned_integer, signed_integer, floating };

// A validated file: its bytes hold exactly `count` items of `item_size` bytes from `data_offset`.
struct NpyArray {
  std::vector<unsigned char> bytes;
  std::vector<std::size_t> shape;
  std::string descr;
  NpyKind kind = NpyKind::floating;
  std::size_t item_size = 0;
  std::size_t data_offset = 0;
  std::size_t count = 0;
};

inline std::string npy_shape_string(const std::vector<std::size_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// The multi-index of item `flat` in a C-order array of `shape`.
inline std::string npy_index_string(const std::vector<std::size_t>& shape, std::size_t flat) {
  std::vector<std::size_t> index(shape.size());
  for (std::size_t a = shape.size(); a-- > 0;) {
    index[a] = flat % shape[a];
    flat /= shape[a];
  }
  return npy_shape_string(index);
}

// Bytes as text, non-printable ones escaped, for messages about what a file starts with.
inline std::string npy_printable(const unsigned char* p, std::size_t n) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\') {
      s += static_cast<char>(p[i]);
    } else {
      s += "\\x";
      s += hex[p[i] >> 4];
      s += hex[p[i] & 15];
    }
  }
  return s;
}

// The text after `'key':` in a header dict, or npos.
inline std::size_t npy_value_start(const std::string& header, const std::string& key) {
  const std::size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) return k;
  std::size_t i = header.find_first_not_of(' ', k + key.size() + 2);
  if (i == std::string::npos || header[i] != ':') return std::string::npos;
  i = header.find_first_not_of(' ', i + 1);
  return i;
}

inline void parse_npy_header(const std::filesystem::path& path, const std::string& header, NpyArray& a) {
  const std::string shown = header.substr(0, header.find_last_not_of(" \n") + 1);
  const auto bad = [&](const std::string& what) {
    return io_error(file_message(path, "corrupt .npy header: " + what + "; header is " + shown));
  };
  std::size_t i = npy_value_start(header, "descr");
  if (i == std::string::npos) throw bad("no 'descr' entry");
  if (header[i] != '\'' && header[i] != '"')
    throw io_error(file_message(path,
                                "unsupported dtype: expected a plain numeric dtype such as '<f4', found a "
                                "structured dtype in header " +
                                    shown));
  const std::size_t close = header.find(header[i], i + 1);
  if (close == std::string::npos) throw bad("unterminated 'descr'");
  a.descr = header.substr(i + 1, close - i - 1);

  i = npy_value_start(header, "fortran_order");
  if (i == std::string::npos) throw bad("no 'fortran_order' entry");
  if (header.compare(i, 4, "True") == 0)
    throw io_error(file_message(path,
                                "Fortran-order arrays are unsupported (fortran_order: True); expected C "
                                "order, save with np.ascontiguousarray"));
  if (header.compare(i, 5, "False") != 0) throw bad("'fortran_order' is neither True nor False");

  i = npy_value_start(header, "shape");
  if (i == std::string::npos || header[i] != '(') throw bad("no 'shape' tuple");
  const std::size_t end = header.find(')', i);
  if (end == std::string::npos) throw bad("unterminated 'shape'");
  std::size_t pos = i + 1;
  while (pos < end) {
    const std::size_t comma = std::min(header.find(',', pos), end);
    std::string token = header.substr(pos, comma - pos);
    token.erase(0, token.find_first_not_of(' '));
    token.erase(token.find_last_not_of(" L") + 1);  // Python 2 wrote longs as 3L
    if (token.empty()) {
      if (comma != end && header.find_first_not_of(' ', comma + 1) != end) throw bad("empty entry in 'shape'");
    } else {
      if (token.find_first_not_of("0123456789") != std::string::npos || token.size() > 18)
        throw bad("'shape' entry '" + token + "' is not a dimension");
      a.shape.push_back(static_cast<std::size_t>(std::stoull(token)));
    }
    pos = comma + 1;
  }

  const std::string& d = a.descr;
  if (d.size() < 3 || (d[0] != '<' && d[0] != '|' && d[0] != '>' && d[0] != '='))
    throw io_error(
        file_message(path, "unsupported dtype '" + d + "'; expected one of b1 u1 u2 u4 u8 i1 i2 i4 i8 f4 f8"));
  const std::string code = d.substr(1);
  const bool one_byte = code == "b1" || code == "u1" || code == "i1";
  if (d[0] == '>' && !one_byte)
    throw io_error(file_message(path, "big-endian dtype '" + d + "' is unsupported; expected little-endian '<" + code +
                                          "', convert with arr.astype('<" + code + "')"));
  if (code == "b1")
    a.kind = NpyKind::boolean;
  else if (code == "u1" || code == "u2" || code == "u4" || code == "u8")
    a.kind = NpyKind::unsigned_integer;
  else if (code == "i1" || code == "i2" || code == "i4" || code == "i8")
    a.kind = NpyKind::signed_integer;
  else if (code == "f4" || code == "f8")
    a.kind = NpyKind::floating;
  else
    throw io_error(
        file_message(path, "unsupported dtype '" + d + "'; expected one of b1 u1 u2 u4 u8 i1 i2 i4 i8 f4 f8"));
  if (d[0] == '=' && std::endian::native != std::endian::little && !one_byte)
    throw io_error(file_message(path, "native-order dtype '" + d + "' of a big-endian machine is unsupported"));
  a.item_size = static_cast<std::size_t>(code[1] - '0');
}

inline NpyArray load_npy(const std::filesystem::path& path) {
  NpyArray a;
  a.bytes = read_file_bytes(path);
  const std::vector<unsigned char>& b = a.bytes;
  if (b.size() < npy_magic_size ||
      !std::equal(npy_magic, npy_magic + npy_magic_size, b.begin(),
                  [](char m, unsigned char c) { return static_cast<unsigned char>(m) == c; }))
    throw io_error(file_message(path, "not an .npy file: expected the magic bytes \\x93NUMPY, found \"" +
                                          npy_printable(b.data(), std::min<std::size_t>(b.size(), npy_magic_size)) +
                                          "\""));
  if (b.size() < 10) throw io_error(file_message(path, "truncated header: " + std::to_string(b.size()) + " bytes"));
  const unsigned major = b[6];
  std::size_t header_size = 0;
  std::size_t header_start = 0;
  if (major == 1) {
    header_size = b[8] | (std::size_t{b[9]} << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (b.size() < 12) throw io_error(file_message(path, "truncated header: " + std::to_string(b.size()) + " bytes"));
    header_size = b[8] | (std::size_t{b[9]} << 8) | (std::size_t{b[10]} << 16) | (std::size_t{b[11]} << 24);
    header_start = 12;
  } else {
    throw io_error(file_message(path, "unsupported .npy format version " + std::to_string(major) + "." +
                                          std::to_string(b[7]) + "; expected 1.0, 2.0 or 3.0"));
  }
  if (header_size > b.size() - header_start)
    throw io_error(file_message(path, "truncated header: it declares " + std::to_string(header_size) +
                                          " bytes, the file holds " + std::to_string(b.size() - header_start)));
  const std::string header(b.begin() + static_cast<std::ptrdiff_t>(header_start),
                           b.begin() + static_cast<std::ptrdiff_t>(header_start + header_size));
  parse_npy_header(path, header, a);
  a.data_offset = header_start + header_size;

  std::optional<std::size_t> count = 1;
  for (std::size_t d : a.shape)
    if (count) count = checked_multiply(*count, d);
  const std::optional<std::size_t> needed = count ? checked_multiply(*count, a.item_size) : std::nullopt;
  const std::size_t held = b.size() - a.data_offset;
  if (!needed || *needed > held)
    throw io_error(file_message(path, "truncated data: shape " + npy_shape_string(a.shape) + " of '" + a.descr +
                                          "' needs " +
                                          (needed ? std::to_string(*needed) : std::string("more than 2^64")) +
                                          " bytes, the file holds " + std::to_string(held)));
  if (*needed < held)
    throw io_error(file_message(path, "corrupt data: shape " + npy_shape_string(a.shape) + " of '" + a.descr +
                                          "' needs " + std::to_string(*needed) + " bytes, the file holds " +
                                          std::to_string(held)));
  a.count = *count;
  return a;
}

template <class S>
S npy_load(const unsigned char* p) {
  using U = std::conditional_t<sizeof(S) == 1, std::uint8_t,
                               std::conditional_t<sizeof(S) == 2, std::uint16_t,
                                                  std::conditional_t<sizeof(S) == 4, std::uint32_t, std::uint64_t>>>;
  U u = 0;
  for (std::size_t i = 0; i < sizeof(S); ++i) u = static_cast<U>(u | (static_cast<U>(p[i]) << (8 * i)));
  return std::bit_cast<S>(u);
}

template <class T>
void npy_store(T value, std::vector<unsigned char>& out) {
  using U = std::conditional_t<sizeof(T) == 1, std::uint8_t,
                               std::conditional_t<sizeof(T) == 2, std::uint16_t,
                                                  std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>>;
  const U u = std::bit_cast<U>(value);
  for (std::size_t i = 0; i < sizeof(T); ++i) out.push_back(static_cast<unsigned char>(u >> (8 * i)));
}

template <class V>
std::string npy_number_text(V v) {
  if constexpr (std::is_integral_v<V>) {
    return std::to_string(v);
  } else {
    std::ostringstream text;
    text << v;
    return text.str();
  }
}

// Whether `v` converts to T without undefined behaviour or overflow (a float to an integer truncates).
template <class T, class S>
bool npy_fits(S v) {
  if constexpr (std::is_integral_v<T>) {
    if constexpr (std::is_integral_v<S>) {
      return std::in_range<T>(v);
    } else {
      if (!std::isfinite(v)) return false;
      const double t = std::trunc(static_cast<double>(v));
      return t >= static_cast<double>(std::numeric_limits<T>::lowest()) &&
             t < std::ldexp(1.0, std::numeric_limits<T>::digits);
    }
  } else if constexpr (std::is_floating_point_v<S> && sizeof(T) < sizeof(S)) {
    return !std::isfinite(v) || std::abs(v) <= static_cast<S>(std::numeric_limits<T>::max());
  } else {
    return true;
  }
}

template <class T>
void convert_npy(const std::filesystem::path& path, const NpyArray& a, T* out) {
  static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>, "read_npy needs a numeric element type");
  const unsigned char* p = a.bytes.data() + a.data_offset;
  const auto convert = [&]<class S>(std::type_identity<S>) {
    for (std::size_t k = 0; k < a.count; ++k) {
      const S v = npy_load<S>(p + k * sizeof(S));
      if (!npy_fits<T>(v))
        throw value_error(file_message(
            path, "value " + npy_number_text(v) + " at index " + npy_index_string(a.shape, k) +
                      " is outside the range [" + npy_number_text(std::numeric_limits<T>::lowest()) + ", " +
                      npy_number_text(std::numeric_limits<T>::max()) + "] of the requested element type"));
      out[k] = static_cast<T>(v);
    }
  };
  switch (a.kind) {
    case NpyKind::boolean:
      for (std::size_t k = 0; k < a.count; ++k) out[k] = static_cast<T>(p[k] != 0);
      return;
    case NpyKind::unsigned_integer:
      if (a.item_size == 1) return convert(std::type_identity<std::uint8_t>{});
      if (a.item_size == 2) return convert(std::type_identity<std::uint16_t>{});
      if (a.item_size == 4) return convert(std::type_identity<std::uint32_t>{});
      return convert(std::type_identity<std::uint64_t>{});
    case NpyKind::signed_integer:
      if (a.item_size == 1) return convert(std::type_identity<std::int8_t>{});
      if (a.item_size == 2) return convert(std::type_identity<std::int16_t>{});
      if (a.item_size == 4) return convert(std::type_identity<std::int32_t>{});
      return convert(std::type_identity<std::int64_t>{});
    case NpyKind::floating:
      if (a.item_size == 4) return convert(std::type_identity<float>{});
      return convert(std::type_identity<double>{});
  }
}

template <class T>
std::string npy_descr() {
  if constexpr (std::is_same_v<T, bool>) {
    return "|b1";
  } else {
    static_assert(std::is_integral_v<T> || (std::is_floating_point_v<T> && (sizeof(T) == 4 || sizeof(T) == 8)),
                  "write_npy supports bool, integers, float and double");
    const char kind = std::is_floating_point_v<T> ? 'f' : std::is_signed_v<T> ? 'i' : 'u';
    return std::string(sizeof(T) == 1 ? "|" : "<") + kind + std::to_string(sizeof(T));
  }
}

}  // namespace detail

template <class T, std::size_t N>
xt::xtensor<T, N> read_npy(const std::filesystem::path& path) {
  const detail::NpyArray a = detail::load_npy(path);
  if (a.shape.size() != N)
    throw shape_error(file_message(path, "expected a rank-" + std::to_string(N) + " array, found rank " +
                                             std::to_string(a.shape.size()) + " with shape " +
                                             detail::npy_shape_string(a.shape)));
  std::array<std::size_t, N> shape{};
  std::copy(a.shape.begin(), a.shape.end(), shape.begin());
  xt::xtensor<T, N> out(shape);
  detail::convert_npy(path, a, out.data());
  return out;
}

template <class E>
void write_npy(const std::filesystem::path& path, const E& expression) {
  using T = std::decay_t<typename E::value_type>;
  // A row-major container, whatever the layout of the expression.
  const xt::xarray<T, xt::layout_type::row_major> a = expression;
  std::vector<std::size_t> shape(a.shape().begin(), a.shape().end());
  std::string header = "{'descr': '" + detail::npy_descr<T>() +
                       "', 'fortran_order': False, 'shape': " + detail::npy_shape_string(shape) + ", }";
  // numpy pads the header with spaces so that the data starts on a 64-byte boundary.
  const std::size_t prefix = header.size() + 64 < 65536 ? 10 : 12;
  header.append(63 - (prefix + header.size()) % 64, ' ');
  header += '\n';
  std::vector<unsigned char> bytes(detail::npy_magic, detail::npy_magic + detail::npy_magic_size);
  bytes.push_back(prefix == 10 ? 1 : 2);
  bytes.push_back(0);
  if (prefix == 10)
    detail::npy_store(static_cast<std::uint16_t>(header.size()), bytes);
  else
    detail::npy_store(static_cast<std::uint32_t>(header.size()), bytes);
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.reserve(bytes.size() + a.size() * sizeof(T));
  for (const T& v : a) {
    if constexpr (std::is_same_v<T, bool>)
      bytes.push_back(v ? 1 : 0);
    else
      detail::npy_store(v, bytes);
  }
  detail::write_file_bytes(path, bytes);
}

// An image (spatial = 2) or volume (spatial = 3): rank `spatial` is one channel, rank `spatial` + 1
// is channels first.
inline Raster read_npy_raster(const std::filesystem::path& path, int spatial) {
  if (spatial != 2 && spatial != 3)
    throw value_error(file_message(path, "spatial rank must be 2 or 3, found " + std::to_string(spatial)));
  const detail::NpyArray a = detail::load_npy(path);
  const std::size_t s = static_cast<std::size_t>(spatial);
  const std::size_t rank = a.shape.size();
  if (rank != s && rank != s + 1)
    throw shape_error(file_message(
        path, std::string("expected rank ") +
                  (spatial == 2 ? "2 (H x W) or 3 (C x H x W)" : "3 (D x H x W) or 4 (C x D x H x W)") +
                  ", found rank " + std::to_string(rank) + " with shape " + detail::npy_shape_string(a.shape)));
  if (std::find(a.shape.begin(), a.shape.end(), std::size_t{0}) != a.shape.end())
    throw shape_error(
        file_message(path, "expected no empty dimension, found shape " + detail::npy_shape_string(a.shape)));
  std::array<std::size_t, 4> shape{1, 1, 1, 1};
  if (rank == s + 1) shape[0] = a.shape[0];
  for (std::size_t i = 0; i < s; ++i) shape[4 - s + i] = a.shape[rank - s + i];

  Raster r;
  r.values = xt::xtensor<float, 4>(shape);
  detail::convert_npy(path, a, r.values.data());
  const float* v = r.values.data();
  for (std::size_t k = 0; k < a.count; ++k)
    if (!std::isfinite(v[k]))
      throw value_error(file_message(path, std::string(std::isnan(v[k]) ? "NaN" : "Inf") + " at index " +
                                               detail::npy_index_string(a.shape, k) + "; expected finite values"));
  r.bits = a.kind == detail::NpyKind::boolean ? 1 : static_cast<int>(8 * a.item_size);
  r.format = a.kind == detail::NpyKind::floating         ? SampleFormat::floating
             : a.kind == detail::NpyKind::signed_integer ? SampleFormat::signed_integer
                                                         : SampleFormat::unsigned_integer;
  return r;
}

}  // namespace semiseg::data
