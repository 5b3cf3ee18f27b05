#include "semiseg/train/safetensors.hpp"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <unistd.h>

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

using train::DType;
using train::read_safetensors;
using train::SafeTensors;
using train::write_safetensors;
namespace fs = std::filesystem;

// A scratch folder per test case, removed at the end.
struct Scratch {
  fs::path dir;
  explicit Scratch(const std::string& name)
      : dir(fs::temp_directory_path() / ("semiseg_safetensors_" + std::to_string(::getpid()) + "_" + name)) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~Scratch() {
    std::error_code ec;
    if (!std::getenv("SEMISEG_KEEP_SCRATCH")) fs::remove_all(dir, ec);
  }
  std::string operator/(const std::string& file) const { return (dir / file).string(); }
};

inline std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
inline void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}
// A file from a raw header (padded here unless `pad` is false) and data section, with a
// chosen header length, to build each corruption by hand.
inline std::vector<std::uint8_t> raw_file(std::string header, const std::vector<std::uint8_t>& data, bool pad = true,
                                          std::int64_t length = -1) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  const auto n = static_cast<std::uint64_t>(length < 0 ? static_cast<std::int64_t>(header.size()) : length);
  std::vector<std::uint8_t> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// The content tools/make_safetensors_fixture.py --check expects.
inline SafeTensors sample_checkpoint() {
  SafeTensors st;
  std::vector<float> w(24);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) / 8.0f - 1.0f;
  st.add("conv.weight", {2, 3, 4}, w);
  st.add("bn.running_mean", std::vector<double>{0.25, -0.5, 1e-300});
  st.add("epoch", std::vector<std::int64_t>{7});
  st.add("classes", std::vector<std::int32_t>{-1, 0, 5});
  st.add("flags", {2, 2}, std::vector<std::uint8_t>{1, 0, 255, 3});
  st.metadata["trainer"] = "MeanTeacher";
  return st;
}

// Expects read_safetensors(path) to throw io_error whose message names the file and `problem`.
inline void check_rejected(const std::string& path, const std::string& problem) {
  try {
    (void)read_safetensors(path);
    FAIL("read_safetensors accepted a bad file; expected: " << problem);
  } catch (const io_error& e) {
    const std::string what = e.what();
    CHECK_MESSAGE(what.rfind(path + ": ", 0) == 0, what);
    CHECK_MESSAGE(what.find(problem) != std::string::npos, what);
  }
}

TEST_CASE("safetensors: round trip keeps order, dtypes, shapes, values and metadata") {
  Scratch scratch("roundtrip");
  const std::string path = scratch / "model.safetensors";
  const SafeTensors st = sample_checkpoint();
  write_safetensors(path, st);
  if (const char* out = std::getenv("SEMISEG_SAFETENSORS_EXPORT")) write_safetensors(out, st);

  const auto bytes = read_bytes(path);
  std::uint64_t header = 0;
  for (int i = 0; i < 8; ++i) header |= std::uint64_t{bytes[static_cast<std::size_t>(i)]} << (8 * i);
  CHECK(header % 8 == 0);
  CHECK(bytes.size() == 8 + header + 24 * 4 + 3 * 8 + 8 + 3 * 4 + 4);
  CHECK(bytes[8] == '{');
  // Nothing but the file itself is left in the folder.
  CHECK(std::distance(fs::directory_iterator(scratch.dir), fs::directory_iterator{}) == 1);

  const SafeTensors back = read_safetensors(path);
  CHECK(back.source == path);
  REQUIRE(back.tensors.size() == st.tensors.size());
  for (std::size_t i = 0; i < st.tensors.size(); ++i) {
    CHECK(back.tensors[i].name == st.tensors[i].name);
    CHECK(back.tensors[i].dtype == st.tensors[i].dtype);
    CHECK(back.tensors[i].shape == st.tensors[i].shape);
    CHECK(back.tensors[i].bytes == st.tensors[i].bytes);
  }
  CHECK(back.metadata == st.metadata);  // the checksum is checked and not handed back
  CHECK(back.get<float>("conv.weight", std::vector<std::int64_t>{2, 3, 4}) == st.get<float>("conv.weight"));
  CHECK(back.get<float>("conv.weight")[23] == 23.0f / 8.0f - 1.0f);
  CHECK(back.get<double>("bn.running_mean") == std::vector<double>{0.25, -0.5, 1e-300});
  CHECK(back.get<std::int64_t>("epoch") == std::vector<std::int64_t>{7});
  CHECK(back.get<std::int32_t>("classes") == std::vector<std::int32_t>{-1, 0, 5});
  CHECK(back.get<std::uint8_t>("flags") == std::vector<std::uint8_t>{1, 0, 255, 3});

  // An empty file set is valid too.
  write_safetensors(scratch / "empty.safetensors", SafeTensors{});
  CHECK(read_safetensors(scratch / "empty.safetensors").tensors.empty());
}

TEST_CASE("safetensors: typed access checks name, dtype and shape") {
  SafeTensors st = sample_checkpoint();
  CHECK_THROWS_AS((void)st.get<float>("missing"), value_error);
  CHECK_THROWS_AS((void)st.get<double>("conv.weight"), value_error);
  CHECK_THROWS_AS((void)st.get<float>("conv.weight", std::vector<std::int64_t>{4, 3, 2}), shape_error);
  CHECK_THROWS_AS(st.add("epoch", std::vector<std::int64_t>{8}), value_error);              // twice
  CHECK_THROWS_AS(st.add("__metadata__", std::vector<float>{1}), value_error);             // reserved
  CHECK_THROWS_AS(st.add("w2", {2, 2}, std::vector<float>{1, 2, 3}), shape_error);        // 3 values for 4
}

TEST_CASE("safetensors: tensors of the device under test go in and come back") {
  Scratch scratch("device");
  Tensor<float, device, dim2> t(make_shape<2>(2, 3, {4, 5}));
  std::vector<float> values(static_cast<std::size_t>(t.size()));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.25f - 7.0f;
  from_host(t.view(), values);
  SafeTensors st;
  st.add("features", t);
  st.add("features_view", t.view());
  write_safetensors(scratch / "t.safetensors", st);
  const SafeTensors back = read_safetensors(scratch / "t.safetensors");
  CHECK(back.tensors[0].shape == std::vector<std::int64_t>{2, 3, 4, 5});
  Tensor<float, device, dim2> u(make_shape<2>(2, 3, {4, 5}));
  back.get_into("features", u);
  CHECK(to_host(u.view()) == values);
  u.zero();
  back.get_into("features_view", u.view());
  CHECK(to_host(u.view()) == values);
  Tensor<float, device, dim2> wrong(make_shape<2>(2, 3, {5, 4}));
  CHECK_THROWS_AS(back.get_into("features", wrong.view()), shape_error);
}

TEST_CASE("safetensors: reads a file laid out by the Python writer") {
  // tests/fixtures/safetensors/from_python.safetensors, from tools/make_safetensors_fixture.py:
  // dtype-sorted data order, an empty tensor sharing its offset, no checksum.
  const SafeTensors st = read_safetensors(fixture_dir("safetensors") + "/from_python.safetensors");
  std::vector<std::string> names;
  for (const auto& e : st.tensors) names.push_back(e.name);
  CHECK(names == std::vector<std::string>{"bias", "step", "empty", "labels", "weight", "mask"});
  CHECK(st.get<float>("weight", std::vector<std::int64_t>{2, 3}) == std::vector<float>{-1.25f, -0.75f, -0.25f, 0.25f, 0.75f, 1.25f});
  CHECK(st.get<double>("bias") == std::vector<double>{0.1, -2.5, 1e300});
  CHECK(st.get<std::int64_t>("step") == std::vector<std::int64_t>{1234567890123});
  CHECK(st.get<std::int32_t>("labels") == std::vector<std::int32_t>{3, -1, 0, 2147483647});
  CHECK(st.get<std::uint8_t>("mask", std::vector<std::int64_t>{2, 3}) == std::vector<std::uint8_t>{0, 255, 7, 1, 2, 3});
  CHECK(st.get<float>("empty", std::vector<std::int64_t>{0, 4}).empty());
  CHECK(st.metadata.at("format") == "np");
  CHECK(st.metadata.size() == 2);
}

TEST_CASE("safetensors: every kind of corruption is an io_error naming the file and the problem") {
  Scratch scratch("corrupt");
  const std::vector<std::uint8_t> eight(8, 0);  // room for two F32
  auto make = [&](const std::string& name, const std::vector<std::uint8_t>& bytes) {
    const std::string path = scratch / name;
    write_bytes(path, bytes);
    return path;
  };

  check_rejected(scratch / "absent.safetensors", "cannot open");
  check_rejected(make("short", {1, 0, 0}), "truncated");
  check_rejected(make("long_header", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight, true, 4096)),
                 "runs past the end");
  check_rejected(make("bad_json", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", eight)),
                 "not valid JSON");
  check_rejected(make("not_object", raw_file(R"([1,2])", {})), "not a JSON object");
  check_rejected(make("bf16", raw_file(R"({"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}})", eight)),
                 "unknown dtype 'BF16'");
  check_rejected(make("no_offsets", raw_file(R"({"a":{"dtype":"F32","shape":[2]}})", eight)), "data_offsets");
  check_rejected(make("negative_shape", raw_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight)),
                 "not a non-negative integer");
  check_rejected(make("out_of_range", raw_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", eight)),
                 "out of range");
  check_rejected(make("reversed", raw_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", eight)),
                 "end before they begin");
  check_rejected(make("size_mismatch", raw_file(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", eight)),
                 "need 16");
  check_rejected(make("huge_shape", raw_file(R"({"a":{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,8]}})", eight)),
                 "need");
  check_rejected(make("overlap", raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                          R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                          eight)),
                 "overlap");
  check_rejected(make("hole", raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight)), "hole");
  check_rejected(make("trailing", raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", eight)),
                 "trailing bytes");
  check_rejected(make("metadata", raw_file(R"({"__metadata__":{"epoch":3}})", {})), "not a string");

  // A valid file, cut short or with one flipped data bit.
  const std::string good = scratch / "good.safetensors";
  write_safetensors(good, sample_checkpoint());
  const auto bytes = read_bytes(good);
  REQUIRE(bytes.size() > 100);
  CHECK_NOTHROW((void)read_safetensors(good));
  const std::vector<std::uint8_t> cut(bytes.begin(), bytes.end() - 1);
  check_rejected(make("cut", cut), "out of range");
  auto flipped = bytes;
  flipped[flipped.size() - 10] ^= 0x10;
  check_rejected(make("flipped", flipped), "checksum mismatch");
}

TEST_CASE("safetensors: a write that dies before its rename leaves the old file whole") {
  Scratch scratch("crash");
  const std::string path = scratch / "ckpt.safetensors";
  SafeTensors old_state;
  old_state.add("step", std::vector<std::int64_t>{100});
  write_safetensors(path, old_state);
  const auto old_bytes = read_bytes(path);

  // The crash: the temporary file exists, half written, and no rename happened.
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  std::vector<std::uint8_t> half(old_bytes.begin(), old_bytes.begin() + static_cast<std::ptrdiff_t>(old_bytes.size() / 2));
  write_bytes(tmp, half);
  CHECK(read_bytes(path) == old_bytes);
  CHECK(read_safetensors(path).get<std::int64_t>("step") == std::vector<std::int64_t>{100});

  // The next write replaces the stale temporary file and leaves none behind.
  SafeTensors new_state;
  new_state.add("step", std::vector<std::int64_t>{200});
  write_safetensors(path, new_state);
  CHECK_FALSE(fs::exists(tmp));
  CHECK(read_safetensors(path).get<std::int64_t>("step") == std::vector<std::int64_t>{200});

  // A write that fails (a folder stands where the file goes, so rename fails) throws io_error
  // naming the path, cleans up its temporary file and leaves what was there.
  const std::string blocked = scratch / "blocked.safetensors";
  fs::create_directory(blocked);
  CHECK_THROWS_AS(write_safetensors(blocked, new_state), io_error);
  CHECK(fs::is_directory(blocked));
  CHECK_FALSE(fs::exists(blocked + ".tmp-" + std::to_string(::getpid())));
  try {
    write_safetensors(scratch / "no/such/folder/x.safetensors", new_state);
    FAIL("writing into a missing folder succeeded");
  } catch (const io_error& e) {
    CHECK(std::string(e.what()).rfind(scratch / "no/such/folder/x.safetensors: ", 0) == 0);
  }

  // An inconsistent entry is refused before anything is written.
  SafeTensors broken = old_state;
  broken.tensors[0].bytes.resize(5);  // an I64 needs 8
  CHECK_THROWS_AS(write_safetensors(path, broken), value_error);
  CHECK(read_safetensors(path).get<std::int64_t>("step") == std::vector<std::int64_t>{200});
}

}  // namespace semiseg::test
