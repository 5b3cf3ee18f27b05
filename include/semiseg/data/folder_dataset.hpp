// A dataset read from folders: `images/` with, optionally, `masks/` and `instances/`, matched by
// file stem. Contract: construction lists and matches the files and fails on empty folders,
// unmatched or duplicate stems; get(i) reads one sample and fails with a typed error naming the
// file when a mask does not fit its image or holds a value or colour outside the classes. Images
// are scaled to [0, 1] by their bit depth (float files are kept as they are).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "semiseg/core/error.hpp"
#include "semiseg/data/class_table.hpp"
#include "semiseg/data/io/read.hpp"
#include "semiseg/data/sample.hpp"

namespace semiseg::data {

struct FolderOptions {
  std::filesystem::path root{};
  std::string images = "images";
  // Class masks; empty for unlabeled data.
  std::string masks = "masks";
  // Instance label images (0 background, one integer per object); empty when there are none.
  std::string instances = "";
  // With a table, masks are RGB colours looked up in it; without, grey class indices.
  std::optional<ClassTable> class_table{};
  // Train on these classes of the table only, in this order (empty: all). Pixels of the other
  // classes get `unselected_label`: 0, the first selected class, as one-hot decoding of the
  // selection gives, or ignore_label to leave them out of the loss.
  std::vector<std::string> select_classes{};
  std::int32_t unselected_label = 0;
  // Grey masks: the number of classes (values must lie below it; 0 does not check), and a value
  // that marks unknown pixels (often 255, or a negative one in NPY and TIFF masks) and becomes
  // ignore_label.
  std::int32_t classes = 0;
  std::optional<std::int32_t> ignore_value{};
  // Divide integer images by 255 or 65535 so they lie in [0, 1].
  bool scale_to_unit = true;
};

template <SpatialDimension Dim>
class FolderDataset {
 public:
  using dim_type = Dim;

  explicit FolderDataset(FolderOptions options) : options_(std::move(options)) {
    if (options_.class_table) {
      table_ = *options_.class_table;
      if (!options_.select_classes.empty()) table_ = table_.select(options_.select_classes);
    } else if (!options_.select_classes.empty()) {
      throw value_error("folder dataset: select_classes needs a class_table");
    }
    const std::map<std::string, std::filesystem::path> images = list(options_.images);
    if (images.empty())
      throw io_error((options_.root / options_.images).string() +
                     ": no image files (expected .png, .jpg, .bmp, .tga, .tif or .npy)");
    std::map<std::string, std::filesystem::path> masks, instances;
    if (!options_.masks.empty()) masks = match(images, list(options_.masks), options_.masks);
    if (!options_.instances.empty()) instances = match(images, list(options_.instances), options_.instances);
    for (const auto& [stem, path] : images) {
      stems_.push_back(stem);
      image_paths_.push_back(path);
      mask_paths_.push_back(masks.empty() ? std::filesystem::path{} : masks.at(stem));
      instance_paths_.push_back(instances.empty() ? std::filesystem::path{} : instances.at(stem));
    }
  }

  std::size_t size() const { return stems_.size(); }
  const std::string& stem(std::size_t i) const { return stems_.at(i); }
  const std::filesystem::path& image_path(std::size_t i) const { return image_paths_.at(i); }
  const std::filesystem::path& mask_path(std::size_t i) const { return mask_paths_.at(i); }
  const std::filesystem::path& instance_path(std::size_t i) const { return instance_paths_.at(i); }
  bool labeled() const { return !options_.masks.empty(); }
  // The classes of the masks: the (selected) table, empty for grey masks.
  const ClassTable& class_table() const { return table_; }

  Sample<Dim> get(std::size_t i) const {
    if (i >= size())
      throw value_error("folder dataset: sample " + std::to_string(i) + " requested, the dataset holds " +
                        std::to_string(size()));
    Sample<Dim> s;
    s.index = i;
    const Raster image = read_raster(image_paths_[i], Dim::spatial);
    s.image = to_image(image);
    if (!mask_paths_[i].empty()) s.mask = read_mask(mask_paths_[i], image_paths_[i], image);
    if (!instance_paths_[i].empty())
      s.instances = read_labels(instance_paths_[i], image_paths_[i], image, "instance map", std::nullopt);
    return s;
  }

 private:
  std::map<std::string, std::filesystem::path> list(const std::string& sub) const {
    const std::filesystem::path dir = options_.root / sub;
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) throw io_error(dir.string() + ": no such folder");
    std::map<std::string, std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (!entry.is_regular_file() || !is_raster_file(entry.path())) continue;
      const std::string stem = entry.path().stem().string();
      const auto [it, inserted] = files.emplace(stem, entry.path());
      if (!inserted)
        throw io_error(dir.string() + ": two files share the stem '" + stem + "': " + it->second.filename().string() +
                       " and " + entry.path().filename().string());
    }
    if (ec) throw io_error(dir.string() + ": cannot list the folder: " + ec.message());
    return files;
  }

  // Pairs every image with a file of the same stem in `sub`, and reports the stems that differ.
  std::map<std::string, std::filesystem::path> match(const std::map<std::string, std::filesystem::path>& images,
                                                     std::map<std::string, std::filesystem::path> others,
                                                     const std::string& sub) const {
    const std::filesystem::path dir = options_.root / sub;
    if (others.empty()) throw io_error(dir.string() + ": no files to match the images");
    std::vector<std::string> no_partner, no_image;
    for (const auto& [stem, path] : images)
      if (!others.count(stem)) no_partner.push_back(stem);
    for (const auto& [stem, path] : others)
      if (!images.count(stem)) no_image.push_back(stem);
    const auto first = [](const std::vector<std::string>& v) {
      std::string out;
      for (std::size_t k = 0; k < v.size() && k < 5; ++k) {
        if (k) out.append(", ");
        out.append(v[k]);
      }
      if (v.size() > 5) out.append(", ...");
      return out;
    };
    if (!no_partner.empty())
      throw io_error(dir.string() + ": no file for " + std::to_string(no_partner.size()) + " image stem(s): " +
                     first(no_partner));
    if (!no_image.empty())
      throw io_error(dir.string() + ": " + std::to_string(no_image.size()) + " file(s) match no image in " +
                     (options_.root / options_.images).string() + ": " + first(no_image));
    return others;
  }

  Image<Dim> to_image(const Raster& r) const {
    const double scale = options_.scale_to_unit && r.format != SampleFormat::floating ? 1.0 / r.full_scale() : 1.0;
    Image<Dim> out = Image<Dim>::from_shape(image_shape(r));
    const float* src = r.values.data();
    float* dst = out.data();
    for (std::size_t k = 0; k < out.size(); ++k) dst[k] = static_cast<float>(src[k] * scale);
    return out;
  }

  std::array<std::size_t, Dim::spatial + 1> image_shape(const Raster& r) const {
    if constexpr (Dim::spatial == 2)
      return {r.channels(), r.height(), r.width()};
    else
      return {r.channels(), r.depth(), r.height(), r.width()};
  }

  SpatialShape<Dim> spatial_of(const Raster& r) const {
    if constexpr (Dim::spatial == 2)
      return {r.height(), r.width()};
    else
      return {r.depth(), r.height(), r.width()};
  }

  static std::string text(const SpatialShape<Dim>& s) {
    std::string out;
    for (std::size_t a = 0; a < s.size(); ++a) {
      if (a) out.push_back('x');
      out.append(std::to_string(s[a]));
    }
    return out;
  }

  // "(y, x)" or "(z, y, x)" of a flat pixel index, for messages.
  std::string where(std::size_t k, const Raster& r) const {
    const std::size_t x = k % r.width(), y = k / r.width() % r.height(), z = k / (r.width() * r.height());
    return "(" + (Dim::spatial == 3 ? std::to_string(z) + ", " : std::string()) + std::to_string(y) + ", " +
           std::to_string(x) + ")";
  }

  // Reads a label image that must have the image's spatial shape.
  Raster read_fitting(const std::filesystem::path& path, const std::filesystem::path& image_path, const Raster& image,
                      const char* what) const {
    Raster r = read_raster(path, Dim::spatial);
    if (spatial_of(r) != spatial_of(image))
      throw shape_error(path.string() + ": " + what + " is " + text(spatial_of(r)) + " but its image " +
                        image_path.string() + " is " + text(spatial_of(image)));
    return r;
  }

  // A one-channel label image of non-negative integers; `ignore` (if any) becomes ignore_label.
  LabelMap<Dim> read_labels(const std::filesystem::path& path, const std::filesystem::path& image_path,
                            const Raster& image, const char* what, std::optional<std::int32_t> ignore) const {
    const Raster r = read_fitting(path, image_path, image, what);
    if (r.channels() != 1)
      throw shape_error(path.string() + ": " + what + " has " + std::to_string(r.channels()) +
                        " channels, expected 1 (integer labels)" +
                        (std::string(what) == "mask" ? "; colour masks need a class_table" : ""));
    LabelMap<Dim> out = LabelMap<Dim>::from_shape(spatial_of(r));
    const float* v = r.values.data();
    for (std::size_t k = 0; k < out.size(); ++k) {
      if (ignore && v[k] == static_cast<float>(*ignore)) {
        out.data()[k] = ignore_label;
        continue;
      }
      if (v[k] != std::floor(v[k]) || v[k] < 0 || v[k] >= 2147483648.0f)
        throw value_error(path.string() + ": " + what + " value " + std::to_string(v[k]) + " at " + where(k, r) +
                          " is not a non-negative integer" +
                          (ignore ? " or the ignore value " + std::to_string(*ignore) : std::string()));
      out.data()[k] = static_cast<std::int32_t>(v[k]);
    }
    return out;
  }

  LabelMap<Dim> read_mask(const std::filesystem::path& path, const std::filesystem::path& image_path,
                          const Raster& image) const {
    if (!options_.class_table) {
      LabelMap<Dim> mask = read_labels(path, image_path, image, "mask", options_.ignore_value);
      if (options_.classes > 0)
        for (std::int32_t m : mask)
          if (m >= options_.classes)
            throw value_error(path.string() + ": mask value " + std::to_string(m) + " is not a class; expected 0.." +
                              std::to_string(options_.classes - 1) +
                              (options_.ignore_value ? " or " + std::to_string(*options_.ignore_value) : ""));
      return mask;
    }
    const Raster r = read_fitting(path, image_path, image, "mask");
    if (r.channels() < 3)
      throw shape_error(path.string() + ": colour mask has " + std::to_string(r.channels()) +
                        " channel(s), expected RGB to look up in the class table");
    const std::size_t plane = r.depth() * r.height() * r.width();
    const float* v = r.values.data();
    // 16-bit colour masks hold 8-bit colours times 257.
    const float unit = r.bits == 16 ? 257.0f : 1.0f;
    const ClassTable& all = *options_.class_table;
    // Each table colour maps to its selected index, or to unselected_label.
    std::vector<std::int32_t> of_table(all.size(), options_.unselected_label);
    for (std::size_t t = 0; t < all.size(); ++t)
      if (const auto k = table_.find(all[t].rgb)) of_table[t] = static_cast<std::int32_t>(*k);
    LabelMap<Dim> mask = LabelMap<Dim>::from_shape(spatial_of(r));
    // Neighbouring pixels mostly share a colour, so remember the last lookup.
    std::array<std::uint8_t, 3> last_rgb{};
    std::int32_t last_label = -2;
    for (std::size_t k = 0; k < plane; ++k) {
      std::array<std::uint8_t, 3> rgb{};
      for (std::size_t ch = 0; ch < 3; ++ch) {
        const float x = v[ch * plane + k] / unit;
        if (x < 0 || x > 255 || x != std::floor(x))
          throw value_error(path.string() + ": colour mask value " + std::to_string(x) + " at " + where(k, r) +
                          " is not an 8-bit colour");
        rgb[ch] = static_cast<std::uint8_t>(x);
      }
      if (last_label == -2 || rgb != last_rgb) {
        const std::optional<std::size_t> t = all.find(rgb);
        if (!t)
          throw value_error(path.string() + ": colour (" + std::to_string(rgb[0]) + ", " + std::to_string(rgb[1]) +
                            ", " + std::to_string(rgb[2]) + ") at " + where(k, r) + " is not in the class table");
        last_rgb = rgb;
        last_label = of_table[*t];
      }
      mask.data()[k] = last_label;
    }
    return mask;
  }

  FolderOptions options_;
  ClassTable table_;
  std::vector<std::string> stems_;
  std::vector<std::filesystem::path> image_paths_, mask_paths_, instance_paths_;
};

}  // namespace semiseg::data
