// Fashion-MNIST (Xiao et al. 2017) as a classification dataset, and the deterministic splits
// that semi-supervised runs need. Contract: FashionMnist loads one split's images once and shares
// them between copies; get(i) returns a 1×28×28 image in [0, 1] with its class 0..9 and no mask.
// split_labeled and split_holdout depend only on their inputs and the seed.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "semiseg/core/error.hpp"
#include "semiseg/data/dataset.hpp"
#include "semiseg/data/io/idx.hpp"
#include "semiseg/data/rng.hpp"
#include "semiseg/data/sample.hpp"

namespace semiseg::data {

enum class Split { train, test };

// The folder holding the four files: the override if given, else $SEMISEG_FASHION_MNIST, else
// where Debian's dataset-fashion-mnist installs them.
inline std::filesystem::path fashion_mnist_root(std::filesystem::path override = {}) {
  if (!override.empty()) return override;
  if (const char* env = std::getenv("SEMISEG_FASHION_MNIST"); env && *env) return env;
  return "/usr/share/datasets/fashion-mnist";
}

struct FashionMnistFiles {
  std::filesystem::path images, labels;
};

// The image and label files of a split under `root`, gzip-compressed or not.
inline FashionMnistFiles fashion_mnist_files(Split split, const std::filesystem::path& root = {}) {
  const std::filesystem::path folder = fashion_mnist_root(root);
  const std::string prefix = split == Split::train ? "train" : "t10k";
  auto find = [&](const std::string& stem) {
    std::error_code ec;
    for (const char* suffix : {".gz", ""}) {
      const std::filesystem::path p = folder / (stem + suffix);
      if (std::filesystem::is_regular_file(p, ec)) return p;
    }
    throw io_error((folder / (stem + ".gz")).string() + ": Fashion-MNIST file missing from " + folder.string() +
                   " (expected " + stem + ".gz or " + stem +
                   "); install Debian's dataset-fashion-mnist or set SEMISEG_FASHION_MNIST");
  };
  return {find(prefix + "-images-idx3-ubyte"), find(prefix + "-labels-idx1-ubyte")};
}

class FashionMnist {
 public:
  using dim_type = dim2;
  static constexpr std::size_t side = 28;
  static constexpr std::size_t pixels_per_image = side * side;
  static constexpr std::size_t classes = 10;

  static const std::array<std::string_view, classes>& class_names() {
    static constexpr std::array<std::string_view, classes> names = {
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
    return names;
  }

  explicit FashionMnist(Split split, const std::filesystem::path& root = {}) : split_(split) {
    const FashionMnistFiles files = fashion_mnist_files(split, root);
    IdxArray images = read_idx(files.images);
    IdxArray labels = read_idx(files.labels);
    const std::string image_name = files.images.string(), label_name = files.labels.string();
    if (images.shape.size() != 3 || images.shape[1] != side || images.shape[2] != side)
      throw io_error(image_name + ": expected images of shape Nx28x28, found " +
                     detail::idx_shape_string(images.shape));
    if (labels.shape.size() != 1)
      throw io_error(label_name + ": expected labels of rank 1, found shape " + detail::idx_shape_string(labels.shape));
    if (labels.shape[0] != images.shape[0])
      throw io_error(label_name + ": expected " + std::to_string(images.shape[0]) + " labels to match " + image_name +
                     ", found " + std::to_string(labels.shape[0]));
    std::vector<std::int32_t> values(labels.data.begin(), labels.data.end());
    for (std::size_t i = 0; i < values.size(); ++i)
      if (values[i] >= static_cast<std::int32_t>(classes))
        throw io_error(label_name + ": label " + std::to_string(i) + " is " + std::to_string(values[i]) +
                       ", expected 0..9");
    data_ = std::make_shared<const Data>(Data{std::move(images.data), std::move(values)});
  }

  // Items held in memory (tests, fixtures): `pixels` holds labels.size() images of 28×28 bytes.
  FashionMnist(std::vector<std::uint8_t> pixels, std::vector<std::int32_t> labels) {
    if (pixels.size() != labels.size() * pixels_per_image)
      throw shape_error("FashionMnist: expected " + std::to_string(labels.size()) + "x28x28 = " +
                        std::to_string(labels.size() * pixels_per_image) + " pixels for " +
                        std::to_string(labels.size()) + " labels, found " + std::to_string(pixels.size()));
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] < 0 || labels[i] >= static_cast<std::int32_t>(classes))
        throw value_error("FashionMnist: label " + std::to_string(i) + " is " + std::to_string(labels[i]) +
                          ", expected 0..9");
    data_ = std::make_shared<const Data>(Data{std::move(pixels), std::move(labels)});
  }

  std::size_t size() const { return data_->labels.size(); }
  // The split the files came from; none for items held in memory.
  std::optional<Split> split() const { return split_; }
  const std::vector<std::int32_t>& labels() const { return data_->labels; }
  std::int32_t label(std::size_t i) const {
    check_index(i, size(), "FashionMnist");
    return data_->labels[i];
  }
  // The 28×28 bytes of image i, row-major.
  const std::uint8_t* pixels(std::size_t i) const {
    check_index(i, size(), "FashionMnist");
    return data_->pixels.data() + i * pixels_per_image;
  }

  Sample<dim2> get(std::size_t i) const {
    const std::uint8_t* src = pixels(i);
    Sample<dim2> s;
    s.image = Image<dim2>::from_shape({1, side, side});
    float* dst = s.image.data();
    for (std::size_t p = 0; p < pixels_per_image; ++p) dst[p] = static_cast<float>(src[p]) / 255.0f;
    s.label = data_->labels[i];
    s.index = i;
    return s;
  }

 private:
  struct Data {
    std::vector<std::uint8_t> pixels;
    std::vector<std::int32_t> labels;
  };
  std::shared_ptr<const Data> data_;
  std::optional<Split> split_;
};

namespace detail {

// Moves a uniformly random choice of `count` elements to the front (a partial Fisher-Yates).
inline void shuffle_front(std::vector<std::size_t>& v, std::size_t count, Rng& rng) {
  for (std::size_t k = 0; k < count; ++k) {
    const auto last = static_cast<std::int64_t>(v.size() - 1);
    std::swap(v[k], v[static_cast<std::size_t>(rng.integer(static_cast<std::int64_t>(k), last))]);
  }
}

}  // namespace detail

struct LabeledSplit {
  std::vector<std::size_t> labeled, unlabeled;
};

// `per_class` samples of every class 0..max label, drawn at random from `pool` (indices into
// `labels`); the rest of the pool is unlabeled. Both lists are sorted. Each class draws from its
// own Philox lane, so one class's choice does not depend on the others'.
inline LabeledSplit split_labeled(const std::vector<std::int32_t>& labels, std::span<const std::size_t> pool,
                                  std::size_t per_class, std::uint64_t seed) {
  std::int32_t top = -1;
  std::vector<char> chosen(labels.size(), 0);  // 1 in the pool, 2 chosen
  for (std::size_t i : pool) {
    check_index(i, labels.size(), "split_labeled");
    if (chosen[i]) throw value_error("split_labeled: the pool lists sample " + std::to_string(i) + " twice");
    chosen[i] = 1;
    if (labels[i] < 0)
      throw value_error("split_labeled: sample " + std::to_string(i) + " has label " + std::to_string(labels[i]) +
                        ", expected a class >= 0");
    top = std::max(top, labels[i]);
  }
  std::vector<std::vector<std::size_t>> members(static_cast<std::size_t>(top + 1));
  for (std::size_t i : pool) members[static_cast<std::size_t>(labels[i])].push_back(i);
  for (std::size_t c = 0; c < members.size(); ++c) {
    std::vector<std::size_t>& m = members[c];
    std::sort(m.begin(), m.end());
    if (m.size() < per_class)
      throw value_error("split_labeled: class " + std::to_string(c) + " has " + std::to_string(m.size()) +
                        " samples, " + std::to_string(per_class) + " per class requested");
    Rng rng(seed, streams::split, 0, static_cast<std::uint32_t>(c));
    detail::shuffle_front(m, per_class, rng);
    for (std::size_t k = 0; k < per_class; ++k) chosen[m[k]] = 2;
  }
  LabeledSplit out;
  for (std::size_t i : pool) (chosen[i] == 2 ? out.labeled : out.unlabeled).push_back(i);
  std::sort(out.labeled.begin(), out.labeled.end());
  std::sort(out.unlabeled.begin(), out.unlabeled.end());
  return out;
}

inline LabeledSplit split_labeled(const std::vector<std::int32_t>& labels, std::size_t per_class, std::uint64_t seed) {
  std::vector<std::size_t> all(labels.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  return split_labeled(labels, all, per_class, seed);
}

inline LabeledSplit split_labeled(const FashionMnist& data, std::size_t per_class, std::uint64_t seed) {
  return split_labeled(data.labels(), per_class, seed);
}

struct HoldoutSplit {
  std::vector<std::size_t> train, holdout;
};

// `count` of the indices 0..n-1 held out at random (validation taken from training data), the
// rest kept for training; both sorted and disjoint.
inline HoldoutSplit split_holdout(std::size_t n, std::size_t count, std::uint64_t seed) {
  if (count > n)
    throw value_error("split_holdout: " + std::to_string(count) + " held out of " + std::to_string(n) + " samples");
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  Rng rng(seed, streams::split, 1);
  detail::shuffle_front(order, count, rng);
  HoldoutSplit out{{order.begin() + static_cast<std::ptrdiff_t>(count), order.end()},
                   {order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count)}};
  std::sort(out.train.begin(), out.train.end());
  std::sort(out.holdout.begin(), out.holdout.end());
  return out;
}

}  // namespace semiseg::data
