// Fashion-MNIST composites: real Fashion-MNIST items on a textured, noisy canvas, with semantic and
// instance masks, in 2D (64×64) and 3D (32×64×64). Contract: sample i is a pure function of the
// item source, the options, the split and i, made inside get(i) without shared mutable state, so
// any number of threads may call it. Items lie fully inside the canvas and are drawn in order; a
// pixel belongs to the topmost item whose foreground covers it. Mask: 0 background, 1 + the item's
// class. Instances: 1..k in draw order over the items left visible. Train and validation draw
// items from disjoint parts of Fashion-MNIST's training images, test from its test images.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "semiseg/core/error.hpp"
#include "semiseg/core/philox.hpp"
#include "semiseg/data/dataset.hpp"
#include "semiseg/data/fashion_mnist.hpp"
#include "semiseg/data/rng.hpp"
#include "semiseg/data/sample.hpp"

namespace semiseg::data {

enum class CompositeSplit { train, validation, test };

template <SpatialDimension Dim>
struct CompositeOptions {
  // D×H×W in 3D, H×W in 2D.
  SpatialShape<Dim> shape = [] {
    if constexpr (Dim::spatial == 2)
      return SpatialShape<Dim>{64, 64};
    else
      return SpatialShape<Dim>{32, 64, 64};
  }();
  std::size_t train_size = 2000, validation_size = 500, test_size = 500;  // samples per split
  std::size_t min_items = 1, max_items = 4;
  double min_scale = 0.6, max_scale = 1.4;        // item side over Fashion-MNIST's 28 px
  double min_contrast = 0.6, max_contrast = 1.0;  // factor on an item's intensities
  // An item's foreground: source intensity above this, with enclosed holes filled, so dark
  // patches inside a garment stay part of it.
  double threshold = 0.1;
  double noise_sigma = 0.08;           // Gaussian noise added last, before clamping to [0, 1]
  double background_amplitude = 0.4;   // smooth value noise in [0, amplitude] under the items
  double background_scale = 12.0;      // pixels between the noise's lattice nodes
  double min_half_depth = 4.0, max_half_depth = 10.0;  // 3D: an item's half thickness in voxels
  std::size_t validation_items = 10000;  // the last training images, reserved for validation
  std::uint64_t seed = 0;
};

// One placed item of a sample, in canvas pixels (centre_z and half_depth in 3D only).
struct CompositeItem {
  std::size_t source = 0;  // index into the item source
  std::int32_t label = 0;  // Fashion-MNIST class 0..9
  double scale = 1.0;
  double contrast = 1.0;
  double centre_y = 0.0, centre_x = 0.0;
  double centre_z = 0.0, half_depth = 0.0;
};

template <SpatialDimension Dim>
class FashionComposite {
 public:
  using dim_type = Dim;
  using Options = CompositeOptions<Dim>;
  static constexpr std::size_t classes = FashionMnist::classes + 1;

  static const std::array<std::string_view, classes>& class_names() {
    static constexpr std::array<std::string_view, classes> names = {
        "background", "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal",     "Shirt",       "Sneaker", "Bag",      "Ankle boot"};
    return names;
  }

  // Loads the Fashion-MNIST split the composite split draws from.
  explicit FashionComposite(CompositeSplit split, Options options = {}, const std::filesystem::path& root = {})
      : FashionComposite(FashionMnist(split == CompositeSplit::test ? Split::test : Split::train, root), split,
                         std::move(options)) {}

  // Items from any source; train and validation split it by `validation_items`, test uses all.
  FashionComposite(FashionMnist items, CompositeSplit split, Options options = {})
      : items_(std::move(items)), split_(split), options_(std::move(options)) {
    const Options& o = options_;
    const std::size_t n = items_.size();
    if (items_.split() && (*items_.split() == Split::test) != (split == CompositeSplit::test))
      throw value_error(std::string("FashionComposite: the ") + split_name() + " split draws from Fashion-MNIST's " +
                        (split == CompositeSplit::test ? "test" : "train") + " images, found its " +
                        (*items_.split() == Split::test ? "test" : "train") + " images");
    if (split == CompositeSplit::test) {
      pool_ = {0, n};
    } else {
      if (o.validation_items == 0 || o.validation_items >= n)
        throw value_error("FashionComposite: validation_items must leave both pools non-empty (1.." +
                          std::to_string(n == 0 ? 0 : n - 1) + " of " + std::to_string(n) + " items), found " +
                          std::to_string(o.validation_items));
      pool_ = split == CompositeSplit::train ? std::pair{std::size_t{0}, n - o.validation_items}
                                             : std::pair{n - o.validation_items, n};
    }
    if (pool_.first == pool_.second) throw value_error("FashionComposite: the item source is empty");
    size_ = split == CompositeSplit::train        ? o.train_size
            : split == CompositeSplit::validation ? o.validation_size
                                                  : o.test_size;
    if (size_ > std::numeric_limits<std::uint32_t>::max())
      throw value_error("FashionComposite: at most 2^32-1 samples per split, found " + std::to_string(size_));
    for (std::size_t a = 0; a < shape().size(); ++a)
      if (shape()[a] == 0) throw value_error("FashionComposite: the canvas shape has a zero extent");
    const double side = static_cast<double>(std::min(height(), width()));
    auto need = [](bool ok, const std::string& what) {
      if (!ok) throw value_error("FashionComposite: " + what);
    };
    need(o.min_items <= o.max_items, "min_items must not exceed max_items");
    need(o.min_scale > 0 && o.min_scale <= o.max_scale, "scales must satisfy 0 < min_scale <= max_scale");
    need(o.max_scale * FashionMnist::side <= side,
         "max_scale " + std::to_string(o.max_scale) + " makes items larger than the canvas's " +
             std::to_string(static_cast<std::size_t>(side)) + " px");
    need(o.min_contrast > 0 && o.min_contrast <= o.max_contrast && o.max_contrast <= 1,
         "contrasts must satisfy 0 < min_contrast <= max_contrast <= 1");
    need(o.threshold >= 0 && o.threshold < 1, "threshold must be in [0, 1)");
    need(o.noise_sigma >= 0, "noise_sigma must be >= 0");
    need(o.background_amplitude >= 0 && o.background_amplitude <= 1, "background_amplitude must be in [0, 1]");
    need(o.background_scale > 0, "background_scale must be > 0");
    if constexpr (Dim::spatial == 3)
      need(o.min_half_depth > 0 && o.min_half_depth <= o.max_half_depth &&
               2 * o.max_half_depth <= static_cast<double>(depth()),
           "half depths must satisfy 0 < min_half_depth <= max_half_depth <= depth / 2");
  }

  std::size_t size() const { return size_; }
  const Options& options() const { return options_; }
  CompositeSplit split() const { return split_; }
  const FashionMnist& items() const { return items_; }
  // The source indices [first, second) this split draws items from.
  std::pair<std::size_t, std::size_t> pool() const { return pool_; }

  // The items of sample i in draw order, as get(i) places them.
  std::vector<CompositeItem> plan(std::size_t i) const {
    check_index(i, size_, "FashionComposite");
    const Options& o = options_;
    Rng rng(o.seed, stream, split_step(), static_cast<std::uint32_t>(i));
    const auto count = static_cast<std::size_t>(
        rng.integer(static_cast<std::int64_t>(o.min_items), static_cast<std::int64_t>(o.max_items)));
    std::vector<CompositeItem> out(count);
    for (std::size_t k = 0; k < count; ++k) {
      Rng r = rng.fork(static_cast<std::uint32_t>(k));
      CompositeItem& it = out[k];
      it.source = pool_.first + static_cast<std::size_t>(
                                    r.integer(0, static_cast<std::int64_t>(pool_.second - pool_.first) - 1));
      it.label = items_.label(it.source);
      it.scale = r.uniform(o.min_scale, o.max_scale);
      it.contrast = r.uniform(o.min_contrast, o.max_contrast);
      const double half = 0.5 * it.scale * FashionMnist::side;
      it.centre_y = r.uniform(half, static_cast<double>(height()) - half);
      it.centre_x = r.uniform(half, static_cast<double>(width()) - half);
      if constexpr (Dim::spatial == 3) {
        it.half_depth = r.uniform(o.min_half_depth, o.max_half_depth);
        it.centre_z = r.uniform(it.half_depth, static_cast<double>(depth()) - it.half_depth);
      }
    }
    return out;
  }

  // Where one item's foreground lies on the canvas (1) when nothing covers it.
  LabelMap<Dim> footprint(const CompositeItem& it) const {
    LabelMap<Dim> out = LabelMap<Dim>::from_shape(shape());
    std::fill(out.begin(), out.end(), 0);
    const Raster r = raster(it);
    for (std::size_t z = 0; z < depth(); ++z)
      draw(r, it, z, [&](std::size_t o, float a, float) {
        if (a >= 0.5f) out.data()[z * plane() + o] = 1;
      });
    return out;
  }

  Sample<Dim> get(std::size_t i) const {
    const std::vector<CompositeItem> items = plan(i);
    std::array<std::size_t, Dim::spatial + 1> image_shape{};
    image_shape[0] = 1;
    for (std::size_t a = 0; a < shape().size(); ++a) image_shape[a + 1] = shape()[a];
    Sample<Dim> s;
    s.index = i;
    s.image = Image<Dim>::from_shape(image_shape);
    s.mask = LabelMap<Dim>::from_shape(shape());
    s.instances = LabelMap<Dim>::from_shape(shape());
    float* img = s.image.data();
    std::int32_t* owner = s.instances.data();  // draw position + 1 of the topmost item, then relabeled
    std::fill(owner, owner + s.instances.size(), 0);
    background(i, img);

    std::vector<Raster> rasters;
    rasters.reserve(items.size());
    for (const CompositeItem& it : items) rasters.push_back(raster(it));
    for (std::size_t z = 0; z < depth(); ++z) {
      float* img_z = img + z * plane();
      std::int32_t* owner_z = owner + z * plane();
      for (std::size_t k = 0; k < items.size(); ++k)
        draw(rasters[k], items[k], z, [&](std::size_t o, float a, float v) {
          img_z[o] = a * v + (1.0f - a) * img_z[o];
          if (a >= 0.5f) owner_z[o] = static_cast<std::int32_t>(k + 1);
        });
    }

    // Items hidden behind later ones lose their id, so instance ids stay consecutive.
    std::vector<std::int32_t> id(items.size() + 1, 0), cls(items.size() + 1, 0);
    const std::size_t n = s.instances.size();
    for (std::size_t p = 0; p < n; ++p) id[static_cast<std::size_t>(owner[p])] = 1;
    std::int32_t next = 0;
    for (std::size_t k = 1; k <= items.size(); ++k) {
      id[k] = id[k] ? ++next : 0;
      cls[k] = 1 + items[k - 1].label;
    }
    id[0] = 0;
    std::int32_t* mask = s.mask.data();
    for (std::size_t p = 0; p < n; ++p) {
      const auto k = static_cast<std::size_t>(owner[p]);
      mask[p] = cls[k];
      owner[p] = id[k];
    }
    add_noise(i, img, n);
    return s;
  }

 private:
  static constexpr std::uint32_t stream = streams::dataset + 0x0FC0u;
  static constexpr std::uint32_t background_stream = stream + 1u;
  static constexpr std::uint32_t noise_stream = stream + 2u;
  static constexpr std::size_t pad = FashionMnist::side + 2;  // a zero border makes taps unchecked

  // An item's intensities (times its contrast) and foreground, with a zero border.
  struct Raster {
    std::array<float, pad * pad> value{}, alpha{};
  };

  const SpatialShape<Dim>& shape() const { return options_.shape; }
  std::size_t depth() const {
    if constexpr (Dim::spatial == 3)
      return shape()[0];
    else
      return 1;
  }
  std::size_t height() const { return shape()[Dim::spatial - 2]; }
  std::size_t width() const { return shape()[Dim::spatial - 1]; }
  std::size_t plane() const { return height() * width(); }
  std::uint32_t split_step() const { return static_cast<std::uint32_t>(split_); }
  const char* split_name() const {
    return split_ == CompositeSplit::train ? "train" : split_ == CompositeSplit::validation ? "validation" : "test";
  }

  Raster raster(const CompositeItem& it) const {
    constexpr std::size_t s = FashionMnist::side;
    const std::uint8_t* src = items_.pixels(it.source);
    const double cut = options_.threshold * 255.0;
    // Background is what a 4-connected flood from the border reaches through sub-threshold pixels.
    std::array<std::uint8_t, s * s> outside{};
    std::array<std::uint16_t, s * s> stack{};
    std::size_t top = 0;
    auto push = [&](std::size_t y, std::size_t x) {
      const std::size_t p = y * s + x;
      if (!outside[p] && src[p] <= cut) {
        outside[p] = 1;
        stack[top++] = static_cast<std::uint16_t>(p);
      }
    };
    for (std::size_t k = 0; k < s; ++k) {
      push(0, k);
      push(s - 1, k);
      push(k, 0);
      push(k, s - 1);
    }
    while (top > 0) {
      const std::size_t p = stack[--top], y = p / s, x = p % s;
      if (y > 0) push(y - 1, x);
      if (y + 1 < s) push(y + 1, x);
      if (x > 0) push(y, x - 1);
      if (x + 1 < s) push(y, x + 1);
    }
    Raster r;
    const auto gain = static_cast<float>(it.contrast / 255.0);
    for (std::size_t y = 0; y < s; ++y)
      for (std::size_t x = 0; x < s; ++x) {
        const std::size_t p = y * s + x, q = (y + 1) * pad + x + 1;
        r.value[q] = static_cast<float>(src[p]) * gain;
        r.alpha[q] = outside[p] ? 0.0f : 1.0f;
      }
    return r;
  }

  // Calls visit(offset in the plane, alpha, value) for every pixel of plane z that the item
  // touches, sampling it bilinearly. In 3D the footprint shrinks away from the item's depth centre.
  template <class Visit>
  void draw(const Raster& r, const CompositeItem& it, std::size_t z, Visit&& visit) const {
    double shrink = 1.0;
    if constexpr (Dim::spatial == 3) {
      const double t = (static_cast<double>(z) + 0.5 - it.centre_z) / it.half_depth;
      if (t * t >= 1.0) return;
      shrink = std::sqrt(1.0 - t * t);
    }
    const double step = 1.0 / (it.scale * shrink);  // source pixels per canvas pixel
    const double reach = (0.5 * FashionMnist::side + 1.0) / step;
    struct Tap {
      std::size_t index;
      float weight;
    };
    auto taps = [&](double centre, std::size_t extent, std::size_t& lo, std::vector<Tap>& out) {
      lo = static_cast<std::size_t>(std::max(0.0, std::floor(centre - reach)));
      const auto hi = static_cast<std::size_t>(std::clamp(std::ceil(centre + reach), 0.0, static_cast<double>(extent)));
      out.clear();
      for (std::size_t c = lo; c < hi; ++c) {
        // The source pixel grid has centres at j + 0.5; padding shifts it by one.
        constexpr double last = FashionMnist::side;
        const double u = std::clamp((static_cast<double>(c) + 0.5 - centre) * step + 0.5 * last - 0.5, -1.0, last);
        const double f = std::min(std::floor(u), last - 1.0);  // u == 28 weighs the zero border fully
        out.push_back({static_cast<std::size_t>(f + 1.0), static_cast<float>(u - f)});
      }
    };
    std::vector<Tap> rows, cols;
    std::size_t y0 = 0, x0 = 0;
    taps(it.centre_y, height(), y0, rows);
    taps(it.centre_x, width(), x0, cols);
    const float* A = r.alpha.data();
    const float* V = r.value.data();
    for (std::size_t a = 0; a < rows.size(); ++a) {
      const std::size_t i0 = rows[a].index * pad, i1 = i0 + pad;
      const float wy = rows[a].weight;
      const std::size_t row = (y0 + a) * width() + x0;
      for (std::size_t b = 0; b < cols.size(); ++b) {
        const std::size_t j = cols[b].index;
        const float wx = cols[b].weight;
        const float alpha = (1 - wy) * ((1 - wx) * A[i0 + j] + wx * A[i0 + j + 1]) +
                            wy * ((1 - wx) * A[i1 + j] + wx * A[i1 + j + 1]);
        if (alpha <= 0.0f) continue;
        const float value = (1 - wy) * ((1 - wx) * V[i0 + j] + wx * V[i0 + j + 1]) +
                            wy * ((1 - wx) * V[i1 + j] + wx * V[i1 + j + 1]);
        visit(row + b, alpha, value);
      }
    }
  }

  // Smooth value noise: random values on a lattice `background_scale` apart, at a random offset,
  // interpolated with smoothstep weights (trilinear in 3D).
  void background(std::size_t i, float* img) const {
    const Options& o = options_;
    Rng rng(o.seed, background_stream, split_step(), static_cast<std::uint32_t>(i));
    const std::array<std::size_t, 3> extent = {depth(), height(), width()};
    std::array<std::vector<std::size_t>, 3> index;
    std::array<std::vector<float>, 3> weight;
    std::array<std::size_t, 3> nodes{};
    for (std::size_t a = 0; a < 3; ++a) {
      const bool flat = a == 0 && Dim::spatial == 2;
      const double offset = rng.uniform(0.0, o.background_scale);
      nodes[a] = static_cast<std::size_t>(std::ceil(static_cast<double>(extent[a]) / o.background_scale)) + 2;
      for (std::size_t c = 0; c < extent[a]; ++c) {
        const double u = flat ? 0.0 : (static_cast<double>(c) + offset) / o.background_scale;
        const double f = std::floor(u), t = u - f;
        index[a].push_back(static_cast<std::size_t>(f));
        weight[a].push_back(static_cast<float>(t * t * (3.0 - 2.0 * t)));
      }
    }
    std::vector<float> lattice(nodes[0] * nodes[1] * nodes[2]);
    for (float& v : lattice) v = static_cast<float>(rng.uniform(0.0, o.background_amplitude));
    const std::size_t sy = nodes[2], sz = nodes[1] * nodes[2];
    for (std::size_t z = 0; z < extent[0]; ++z) {
      const float wz = weight[0][z];
      for (std::size_t y = 0; y < extent[1]; ++y) {
        const float wy = weight[1][y];
        const float* l00 = lattice.data() + index[0][z] * sz + index[1][y] * sy;
        const float *l01 = l00 + sy, *l10 = l00 + sz, *l11 = l00 + sz + sy;
        float* out = img + (z * extent[1] + y) * extent[2];
        for (std::size_t x = 0; x < extent[2]; ++x) {
          const std::size_t j = index[2][x];
          const float wx = weight[2][x];
          auto lerp = [wx, j](const float* l) { return l[j] + wx * (l[j + 1] - l[j]); };
          const float near = lerp(l00) + wy * (lerp(l01) - lerp(l00));
          const float far = lerp(l10) + wy * (lerp(l11) - lerp(l10));
          out[x] = near + wz * (far - near);
        }
      }
    }
  }

  // Gaussian noise, four normals per Philox call (Box-Muller on both word pairs), then clamping.
  void add_noise(std::size_t i, float* img, std::size_t n) const {
    const auto sigma = static_cast<float>(options_.noise_sigma);
    const Philox key{options_.seed, noise_stream, split_step()};
    const std::uint64_t base = static_cast<std::uint64_t>(i) << 32;
    for (std::size_t p = 0; p < n; p += 4) {
      float z[4] = {0, 0, 0, 0};
      if (sigma > 0) {
        const PhiloxResult b = key.bits(base + p / 4);
        for (int h = 0; h < 2; ++h) {
          const float u1 = (static_cast<float>(b.v[2 * h]) + 1.0f) * (1.0f / 4294967296.0f);
          const float angle = static_cast<float>(b.v[2 * h + 1]) * (6.2831853f / 4294967296.0f);
          const float radius = std::sqrt(-2.0f * std::log(std::min(u1, 1.0f)));
          z[2 * h] = radius * std::cos(angle);
          z[2 * h + 1] = radius * std::sin(angle);
        }
      }
      for (std::size_t q = p; q < std::min(p + 4, n); ++q) img[q] = std::clamp(img[q] + sigma * z[q - p], 0.0f, 1.0f);
    }
  }

  FashionMnist items_;
  CompositeSplit split_;
  Options options_;
  std::pair<std::size_t, std::size_t> pool_{0, 0};
  std::size_t size_ = 0;
};

}  // namespace semiseg::data
