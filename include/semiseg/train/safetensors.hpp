// The safetensors file format, for checkpoints other tools can read. Contract: a file is an
// 8-byte little-endian header length N, N bytes of JSON (padded with spaces to a multiple of 8)
// mapping each tensor name to {dtype, shape, data_offsets: [begin, end]} plus an optional
// "__metadata__" object of strings, then the raw little-endian data; offsets are relative to the
// data section, which the tensors cover exactly, without holes or overlaps (as the reference Rust
// implementation requires). The writer adds "semiseg.crc32" (CRC-32 of the data section, 8 hex
// digits) to the metadata and replaces the file atomically: a crash leaves the old file whole.
// The reader checks everything it can and throws io_error naming the file and the problem; files
// without a checksum (written by other tools) are accepted. Supported dtypes: F32 F64 I32 I64 U8.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "semiseg/core/error.hpp"
#include "semiseg/core/tensor.hpp"

namespace semiseg::train {

enum class DType { F32, F64, I32, I64, U8 };

inline constexpr std::string_view dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F64: return "F64";
    case DType::I32: return "I32";
    case DType::I64: return "I64";
    case DType::U8: return "U8";
  }
  return "?";
}

inline constexpr std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32: return 4;
    case DType::F64: return 8;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::U8: return 1;
  }
  return 0;
}

inline std::optional<DType> parse_dtype(std::string_view s) {
  for (DType d : {DType::F32, DType::F64, DType::I32, DType::I64, DType::U8})
    if (dtype_name(d) == s) return d;
  return std::nullopt;
}

template <class T>
constexpr DType dtype_of() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, float>) return DType::F32;
  else if constexpr (std::is_same_v<U, double>) return DType::F64;
  else if constexpr (std::is_same_v<U, std::int32_t>) return DType::I32;
  else if constexpr (std::is_same_v<U, std::int64_t>) return DType::I64;
  else if constexpr (std::is_same_v<U, std::uint8_t>) return DType::U8;
  else static_assert(dependent_false<T>, "semiseg: safetensors stores float, double, int32_t, int64_t and uint8_t only");
}

// CRC-32 (IEEE 802.3, the polynomial of zlib and PNG), so checkpoints need no zlib.
inline std::uint32_t crc32(const std::uint8_t* data, std::size_t size, std::uint32_t crc = 0) {
  static constexpr auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFFu] ^ (crc >> 8);
  return ~crc;
}

inline constexpr const char* checksum_key = "semiseg.crc32";

namespace detail {

// Element bytes are little-endian in the file; a big-endian host reverses each element.
inline void to_little_endian(std::uint8_t* bytes, std::size_t count, std::size_t element) {
  if constexpr (std::endian::native == std::endian::big)
    for (std::size_t i = 0; i < count; ++i) std::reverse(bytes + i * element, bytes + (i + 1) * element);
  else
    (void)bytes, (void)count, (void)element;
}

inline std::string hex32(std::uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

inline std::string shape_str(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace detail

// The in-memory form of a safetensors file: tensors in data order, and string metadata.
struct SafeTensors {
  struct Entry {
    std::string name;
    DType dtype = DType::F32;
    std::vector<std::int64_t> shape;
    std::vector<std::uint8_t> bytes;  // little-endian element bytes, elements() * dtype_size(dtype)

    std::int64_t elements() const {
      std::int64_t n = 1;
      for (auto d : shape) n *= d;
      return n;
    }
  };

  std::vector<Entry> tensors;
  std::map<std::string, std::string> metadata;
  // The file this came from, when read; starts error messages.
  std::string source;

  const Entry* find(std::string_view name) const {
    for (const auto& e : tensors)
      if (e.name == name) return &e;
    return nullptr;
  }
  bool contains(std::string_view name) const { return find(name) != nullptr; }

  // Adds `count` host values under `name`, with `shape` (whose product must be `count`).
  template <class T>
  void add(std::string name, std::vector<std::int64_t> shape, const T* values, std::size_t count) {
    constexpr DType dtype = dtype_of<T>();
    if (name.empty() || name == "__metadata__")
      throw value_error(prefix() + "tensor name '" + name + "' is reserved or empty");
    if (contains(name)) throw value_error(prefix() + "tensor '" + name + "' added twice");
    std::int64_t n = 1;
    for (auto d : shape) {
      if (d < 0) throw shape_error(prefix() + "tensor '" + name + "' has negative shape " + detail::shape_str(shape));
      n *= d;
    }
    if (static_cast<std::size_t>(n) != count)
      throw shape_error(prefix() + "tensor '" + name + "' of shape " + detail::shape_str(shape) + " needs " +
                        std::to_string(n) + " values, got " + std::to_string(count));
    Entry e{std::move(name), dtype, std::move(shape), std::vector<std::uint8_t>(count * sizeof(T))};
    if (count) std::memcpy(e.bytes.data(), values, count * sizeof(T));
    detail::to_little_endian(e.bytes.data(), count, sizeof(T));
    tensors.push_back(std::move(e));
  }
  template <class T>
  void add(std::string name, std::vector<std::int64_t> shape, const std::vector<T>& values) {
    add(std::move(name), std::move(shape), values.data(), values.size());
  }
  // A one-dimensional tensor.
  template <class T>
  void add(std::string name, const std::vector<T>& values) {
    add(std::move(name), {static_cast<std::int64_t>(values.size())}, values.data(), values.size());
  }
  // A tensor on any device, with its N×C×spatial shape.
  template <class T, Device Dev, Dimension Dim>
  void add(std::string name, TensorView<T, Dev, Dim> t) {
    const auto host = to_host(t);
    std::vector<std::int64_t> shape;
    for (int i = 0; i < Dim::spatial + 2; ++i) shape.push_back(t.shape[i]);
    add(std::move(name), std::move(shape), host.data(), host.size());
  }
  template <class T, Device Dev, Dimension Dim>
  void add(std::string name, const Tensor<T, Dev, Dim>& t) {
    add(std::move(name), t.view());
  }

  // The values of `name`; value_error when it is missing or of another dtype, shape_error when
  // `expected_shape` is given and differs.
  template <class T>
  std::vector<T> get(std::string_view name, const std::optional<std::vector<std::int64_t>>& expected_shape = {}) const {
    const Entry& e = checked(name, dtype_of<T>(), expected_shape);
    std::vector<T> out(static_cast<std::size_t>(e.elements()));
    std::vector<std::uint8_t> bytes = e.bytes;
    detail::to_little_endian(bytes.data(), out.size(), sizeof(T));  // the same swap converts back
    if (!out.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  }
  // Copies `name` into a tensor of the same shape, on any device.
  template <class T, Device Dev, Dimension Dim>
  void get_into(std::string_view name, TensorView<T, Dev, Dim> t) const {
    std::vector<std::int64_t> shape;
    for (int i = 0; i < Dim::spatial + 2; ++i) shape.push_back(t.shape[i]);
    from_host(t, get<T>(name, shape));
  }
  template <class T, Device Dev, Dimension Dim>
  void get_into(std::string_view name, Tensor<T, Dev, Dim>& t) const {
    get_into(name, t.view());
  }

 private:
  std::string prefix() const { return source.empty() ? "semiseg: safetensors: " : source + ": "; }
  const Entry& checked(std::string_view name, DType dtype, const std::optional<std::vector<std::int64_t>>& shape) const {
    const Entry* e = find(name);
    if (!e) throw value_error(prefix() + "no tensor '" + std::string(name) + "'");
    if (e->dtype != dtype)
      throw value_error(prefix() + "tensor '" + e->name + "' is " + std::string(dtype_name(e->dtype)) + ", expected " +
                        std::string(dtype_name(dtype)));
    if (shape && *shape != e->shape)
      throw shape_error(prefix() + "tensor '" + e->name + "' has shape " + detail::shape_str(e->shape) + ", expected " +
                        detail::shape_str(*shape));
    return *e;
  }
};

// Writes `st` to `path` through a temporary file in the same folder, fsynced and then renamed over
// `path`, so readers see the old file or the new one, never a part. The data checksum is added to
// the metadata written (not to `st`).
inline void write_safetensors(const std::string& path, const SafeTensors& st) {
  nlohmann::json header = nlohmann::json::object();
  std::uint64_t offset = 0;
  std::uint32_t crc = 0;
  for (const auto& e : st.tensors) {
    if (e.bytes.size() != static_cast<std::size_t>(e.elements()) * dtype_size(e.dtype))
      throw value_error(path + ": tensor '" + e.name + "' holds " + std::to_string(e.bytes.size()) + " bytes, its shape " +
                        detail::shape_str(e.shape) + " and dtype " + std::string(dtype_name(e.dtype)) + " need " +
                        std::to_string(e.elements() * static_cast<std::int64_t>(dtype_size(e.dtype))));
    if (header.contains(e.name) || e.name == "__metadata__")
      throw value_error(path + ": tensor name '" + e.name + "' is duplicated or reserved");
    header[e.name] = {{"dtype", std::string(dtype_name(e.dtype))}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.bytes.size()}}};
    offset += e.bytes.size();
    crc = crc32(e.bytes.data(), e.bytes.size(), crc);
  }
  auto metadata = st.metadata;
  metadata[checksum_key] = detail::hex32(crc);
  header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::array<std::uint8_t, 8> length{};
  for (int i = 0; i < 8; ++i) length[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(std::uint64_t{text.size()} >> (8 * i));

  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw io_error(path + ": cannot create temporary file " + tmp + ": " + std::strerror(errno));
  auto fail = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw io_error(path + ": " + what + ": " + reason);
  };
  auto put = [&](const void* data, std::size_t size) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd, p, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("cannot write " + tmp);
      p += n;
      size -= static_cast<std::size_t>(n);
    }
  };
  put(length.data(), length.size());
  put(text.data(), text.size());
  for (const auto& e : st.tensors) put(e.bytes.data(), e.bytes.size());
  if (::fsync(fd) != 0) fail("cannot sync " + tmp);
  if (::close(fd) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw io_error(path + ": cannot close " + tmp + ": " + reason);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw io_error(path + ": cannot rename " + tmp + " over it: " + reason);
  }
  // Make the rename itself durable; a failure here loses nothing already visible, so it is ignored.
  const auto folder = std::filesystem::absolute(path).parent_path();
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    (void)::fsync(dir);
    ::close(dir);
  }
}

// Reads and validates a whole safetensors file.
inline SafeTensors read_safetensors(const std::string& path) {
  auto bad = [&](const std::string& what) { return io_error(path + ": " + what); };
  std::ifstream in(path, std::ios::binary);
  if (!in) throw bad("cannot open for reading");
  std::vector<std::uint8_t> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw bad("read error");
  if (file.size() < 8)
    throw bad("truncated: " + std::to_string(file.size()) + " bytes, shorter than the 8-byte header length");
  std::uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= std::uint64_t{file[static_cast<std::size_t>(i)]} << (8 * i);
  const std::uint64_t rest = file.size() - 8;
  if (header_size > rest)
    throw bad("header length " + std::to_string(header_size) + " runs past the end of the file (" + std::to_string(rest) +
              " bytes follow the length field); the file is truncated or not safetensors");
  // The reference implementation refuses headers over 100 MB; so do we, as a sign of corruption.
  if (header_size > 100'000'000ull) throw bad("header length " + std::to_string(header_size) + " exceeds 100 MB");

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(file.begin() + 8, file.begin() + 8 + static_cast<std::ptrdiff_t>(header_size));
  } catch (const nlohmann::json::exception& e) {
    throw bad(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) throw bad("header is not a JSON object");

  SafeTensors st;
  st.source = path;
  const std::uint8_t* data = file.data() + 8 + header_size;
  const std::uint64_t data_size = rest - header_size;
  struct Span {
    std::uint64_t begin, end;
    std::size_t entry;
  };
  std::vector<Span> spans;
  std::optional<std::string> stored_crc;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) throw bad("__metadata__ is not a JSON object");
      for (const auto& [key, v] : value.items()) {
        if (!v.is_string()) throw bad("__metadata__ value of '" + key + "' is not a string");
        if (key == checksum_key) stored_crc = v.get<std::string>();
        else st.metadata[key] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") || !value.contains("data_offsets"))
      throw bad(where + "expected an object with dtype, shape and data_offsets");
    const auto& jd = value["dtype"];
    const auto& js = value["shape"];
    const auto& jo = value["data_offsets"];
    if (!jd.is_string()) throw bad(where + "dtype is not a string");
    const auto dtype = parse_dtype(jd.get<std::string>());
    if (!dtype) throw bad(where + "unknown dtype '" + jd.get<std::string>() + "' (supported: F32, F64, I32, I64, U8)");
    if (!js.is_array()) throw bad(where + "shape is not an array");
    SafeTensors::Entry e;
    e.name = name;
    e.dtype = *dtype;
    // Element count in bytes, with an overflow guard: a corrupt shape must not wrap around.
    std::uint64_t bytes = dtype_size(*dtype);
    for (const auto& d : js) {
      if (!d.is_number_unsigned()) throw bad(where + "shape holds " + d.dump() + ", not a non-negative integer");
      const auto v = d.get<std::uint64_t>();
      if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        throw bad(where + "shape holds " + d.dump() + ", too large");
      // Saturates instead of wrapping; a saturated count never matches a real span below.
      bytes = v == 0 ? 0 : bytes > std::numeric_limits<std::uint64_t>::max() / v ? std::numeric_limits<std::uint64_t>::max() : bytes * v;
      e.shape.push_back(static_cast<std::int64_t>(v));
    }
    if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() || !jo[1].is_number_unsigned())
      throw bad(where + "data_offsets is not a pair of non-negative integers");
    const auto begin = jo[0].get<std::uint64_t>(), end = jo[1].get<std::uint64_t>();
    if (end < begin) throw bad(where + "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] end before they begin");
    if (end > data_size)
      throw bad(where + "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                "] out of range: the data section holds " + std::to_string(data_size) + " bytes");
    if (end - begin != bytes)
      throw bad(where + "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] span " +
                std::to_string(end - begin) + " bytes, but dtype " + std::string(dtype_name(*dtype)) + " and shape " +
                detail::shape_str(e.shape) + " need " + std::to_string(bytes));
    e.bytes.assign(data + begin, data + end);
    spans.push_back({begin, end, st.tensors.size()});
    st.tensors.push_back(std::move(e));
  }

  // Tensors must tile the data section: sorted by offset, each starts where the previous ended.
  // Ties by end put an empty tensor before a non-empty one at the same offset.
  std::stable_sort(spans.begin(), spans.end(),
                   [](const Span& a, const Span& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  std::uint64_t cursor = 0;
  for (const auto& s : spans) {
    const auto& name = st.tensors[s.entry].name;
    if (s.begin < cursor)
      throw bad("tensor '" + name + "': data_offsets [" + std::to_string(s.begin) + ", " + std::to_string(s.end) +
                "] overlap the previous tensor, which ends at " + std::to_string(cursor));
    if (s.begin > cursor)
      throw bad("tensor '" + name + "': data_offsets begin at " + std::to_string(s.begin) + ", leaving a hole after " +
                std::to_string(cursor));
    cursor = s.end;
  }
  if (cursor != data_size)
    throw bad("the tensors cover " + std::to_string(cursor) + " bytes of a " + std::to_string(data_size) +
              "-byte data section; the file has trailing bytes or is corrupt");

  if (stored_crc) {
    const std::string computed = detail::hex32(crc32(data, static_cast<std::size_t>(data_size)));
    if (*stored_crc != computed)
      throw bad("data checksum mismatch: " + std::string(checksum_key) + " is " + *stored_crc + ", the data gives " +
                computed + "; the file is corrupt");
  }

  // Data order, which is the order the writer was given.
  std::vector<SafeTensors::Entry> ordered;
  ordered.reserve(spans.size());
  for (const auto& s : spans) ordered.push_back(std::move(st.tensors[s.entry]));
  st.tensors = std::move(ordered);
  return st;
}

}  // namespace semiseg::train
