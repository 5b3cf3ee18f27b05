#include "semiseg/data/fashion_mnist.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace semiseg::test {

using data::FashionMnist;
using data::Split;
namespace fs = std::filesystem;

static_assert(data::Dataset<FashionMnist>);

struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("semiseg_fashion_mnist_" + std::to_string(::getpid()));
  ScratchDir() { fs::create_directories(path); }
  ~ScratchDir() { fs::remove_all(path); }
};

// The real data, loaded once per program.
const FashionMnist& real(Split split) {
  const fs::path root = data::fashion_mnist_root();
  REQUIRE_MESSAGE(fs::exists(root / "train-images-idx3-ubyte.gz"),
                  "Fashion-MNIST is missing from " << root.string()
                      << ": install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) "
                         "or set SEMISEG_FASHION_MNIST");
  static const FashionMnist train(Split::train), test(Split::test);
  return split == Split::train ? train : test;
}

TEST_CASE("fashion_mnist: the root is the override, else $SEMISEG_FASHION_MNIST, else Debian's folder") {
  const char* saved = std::getenv("SEMISEG_FASHION_MNIST");
  const std::string saved_value = saved ? saved : "";
  ::unsetenv("SEMISEG_FASHION_MNIST");
  CHECK(data::fashion_mnist_root() == fs::path("/usr/share/datasets/fashion-mnist"));
  ::setenv("SEMISEG_FASHION_MNIST", "/somewhere/else", 1);
  CHECK(data::fashion_mnist_root() == fs::path("/somewhere/else"));
  CHECK(data::fashion_mnist_root("/my/copy") == fs::path("/my/copy"));
  if (saved)
    ::setenv("SEMISEG_FASHION_MNIST", saved_value.c_str(), 1);
  else
    ::unsetenv("SEMISEG_FASHION_MNIST");
}

TEST_CASE("fashion_mnist: missing files name the folder, the file and the package") {
  ScratchDir dir;
  try {
    FashionMnist missing(Split::test, dir.path);
    FAIL("no error for an empty folder");
  } catch (const io_error& e) {
    const std::string message = e.what();
    CHECK_MESSAGE(message.rfind((dir.path / "t10k-images-idx3-ubyte.gz").string() + ":", 0) == 0, message);
    CHECK_MESSAGE(message.find("missing from " + dir.path.string()) != std::string::npos, message);
    CHECK_MESSAGE(message.find("install Debian's dataset-fashion-mnist or set SEMISEG_FASHION_MNIST") !=
                      std::string::npos,
                  message);
  }
}

TEST_CASE("fashion_mnist: files whose counts or shapes disagree are io_errors") {
  ScratchDir dir;
  const std::vector<std::uint8_t> pixels(3 * 28 * 28, 100);
  data::write_idx(dir.path / "t10k-images-idx3-ubyte", {{3, 28, 28}, pixels});
  data::write_idx(dir.path / "t10k-labels-idx1-ubyte", {{2}, {1, 2}});
  CHECK_THROWS_WITH_AS(FashionMnist(Split::test, dir.path), doctest::Contains("expected 3 labels"), io_error);
  data::write_idx(dir.path / "t10k-labels-idx1-ubyte", {{3}, {1, 2, 10}});
  CHECK_THROWS_WITH_AS(FashionMnist(Split::test, dir.path), doctest::Contains("label 2 is 10"), io_error);
  data::write_idx(dir.path / "t10k-images-idx3-ubyte", {{3, 784}, pixels});
  CHECK_THROWS_WITH_AS(FashionMnist(Split::test, dir.path), doctest::Contains("Nx28x28, found 3x784"), io_error);

  // Uncompressed files are found too, and read.
  data::write_idx(dir.path / "t10k-images-idx3-ubyte", {{3, 28, 28}, pixels});
  data::write_idx(dir.path / "t10k-labels-idx1-ubyte", {{3}, {4, 5, 6}});
  const FashionMnist small(Split::test, dir.path);
  CHECK(small.size() == 3);
  CHECK(small.label(2) == 6);
  CHECK(small.get(1).image(0, 27, 27) == doctest::Approx(100.0 / 255.0));
}

TEST_CASE("fashion_mnist: in-memory items check their sizes and labels") {
  CHECK_THROWS_AS(FashionMnist(std::vector<std::uint8_t>(784 * 2 - 1), {0, 1}), shape_error);
  CHECK_THROWS_AS(FashionMnist(std::vector<std::uint8_t>(784 * 2), {0, 10}), value_error);
  CHECK_THROWS_AS(FashionMnist(std::vector<std::uint8_t>(784), {-1}), value_error);
  const FashionMnist two(std::vector<std::uint8_t>(784 * 2, 255), {3, 7});
  CHECK_FALSE(two.split().has_value());
  CHECK(two.get(1).label == 7);
  CHECK_THROWS_AS(two.get(2), value_error);
}

TEST_CASE("fashion_mnist: the real splits have 60000 and 10000 images, balanced, in [0, 1]") {
  const FashionMnist& train = real(Split::train);
  const FashionMnist& test = real(Split::test);
  REQUIRE(train.size() == 60000);
  REQUIRE(test.size() == 10000);
  CHECK(train.split() == Split::train);
  CHECK(test.split() == Split::test);
  CHECK(FashionMnist::class_names()[0] == "T-shirt/top");
  CHECK(FashionMnist::class_names()[9] == "Ankle boot");

  for (const FashionMnist* set : {&train, &test}) {
    std::vector<std::size_t> histogram(10, 0);
    for (std::int32_t l : set->labels()) histogram[static_cast<std::size_t>(l)]++;
    for (std::size_t c = 0; c < 10; ++c) CHECK(histogram[c] == set->size() / 10);
  }

  const FashionMnist copy = train;  // a handle: the pixels are shared, not copied
  CHECK(copy.pixels(5) == train.pixels(5));

  float lo = 1, hi = 0;
  for (std::size_t i : {std::size_t{0}, std::size_t{1}, std::size_t{59999}}) {
    const data::Sample<dim2> s = train.get(i);
    REQUIRE(s.image.shape()[0] == 1);
    REQUIRE(s.image.shape()[1] == 28);
    REQUIRE(s.image.shape()[2] == 28);
    CHECK_FALSE(s.has_mask());
    CHECK(s.label == train.label(i));
    CHECK(s.index == i);
    std::size_t wrong = 0;
    for (std::size_t p = 0; p < 784; ++p) {
      wrong += s.image.data()[p] != static_cast<float>(train.pixels(i)[p]) / 255.0f;
      lo = std::min(lo, s.image.data()[p]);
      hi = std::max(hi, s.image.data()[p]);
    }
    CHECK(wrong == 0);
  }
  CHECK(lo == 0.0f);
  CHECK(hi == 1.0f);
  // The first training item of the published file is an ankle boot.
  CHECK(train.label(0) == 9);
}

void check_partition(const data::LabeledSplit& s, const std::vector<std::size_t>& pool) {
  CHECK(std::is_sorted(s.labeled.begin(), s.labeled.end()));
  CHECK(std::is_sorted(s.unlabeled.begin(), s.unlabeled.end()));
  std::vector<std::size_t> all = s.labeled;
  all.insert(all.end(), s.unlabeled.begin(), s.unlabeled.end());
  std::sort(all.begin(), all.end());
  CHECK(all == pool);  // disjoint and complete
}

TEST_CASE("fashion_mnist: split_labeled takes exactly N per class at random, reproducibly") {
  const FashionMnist& train = real(Split::train);
  const data::LabeledSplit a = data::split_labeled(train, 25, 7);
  REQUIRE(a.labeled.size() == 250);
  CHECK(a.unlabeled.size() == 60000 - 250);
  std::vector<std::size_t> per_class(10, 0);
  for (std::size_t i : a.labeled) per_class[static_cast<std::size_t>(train.label(i))]++;
  for (std::size_t c = 0; c < 10; ++c) CHECK(per_class[c] == 25);
  std::vector<std::size_t> everything(60000);
  for (std::size_t i = 0; i < everything.size(); ++i) everything[i] = i;
  check_partition(a, everything);

  const data::LabeledSplit again = data::split_labeled(train.labels(), 25, 7);
  CHECK(again.labeled == a.labeled);
  const data::LabeledSplit other = data::split_labeled(train, 25, 8);
  CHECK(other.labeled != a.labeled);
  // Random, not the first of each class: the chosen indices spread over the file.
  CHECK(a.labeled.back() > 50000);

  CHECK_THROWS_AS(data::split_labeled(train, 6001, 7), value_error);
  CHECK_THROWS_AS(data::split_labeled({0, 1, -1}, 1, 7), value_error);
  CHECK_THROWS_AS(data::split_labeled({0, 0, 2, 2}, 1, 7), value_error);  // class 1 has none
}

TEST_CASE("fashion_mnist: split_holdout gives a disjoint validation set, and split_labeled draws from the rest") {
  const FashionMnist& train = real(Split::train);
  const data::HoldoutSplit h = data::split_holdout(train.size(), 5000, 3);
  REQUIRE(h.holdout.size() == 5000);
  REQUIRE(h.train.size() == 55000);
  check_partition({h.holdout, h.train}, [] {
    std::vector<std::size_t> v(60000);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = i;
    return v;
  }());
  CHECK(data::split_holdout(train.size(), 5000, 3).holdout == h.holdout);
  CHECK(data::split_holdout(train.size(), 5000, 4).holdout != h.holdout);
  CHECK_THROWS_AS(data::split_holdout(10, 11, 3), value_error);

  const data::LabeledSplit s = data::split_labeled(train.labels(), h.train, 10, 3);
  CHECK(s.labeled.size() == 100);
  check_partition(s, h.train);
  const std::vector<std::size_t> twice = {1, 2, 2};
  CHECK_THROWS_AS(data::split_labeled(train.labels(), twice, 0, 3), value_error);
}

}  // namespace semiseg::test
