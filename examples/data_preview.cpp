// Pictures of training data: samples before and after augmentation, with colour-coded masks, as
// PNG grids. 2D: one row per sample (image, mask, instances; then the augmented view; then the
// strong view). 3D: per sample, rows of z-slices of the augmented image, mask and instances.
//
//   data_preview [--out DIR] [--count N] [--seed S]
//       Fashion-MNIST composites (2D and 3D): DIR/composite_2d.png and DIR/composite_3d.png.
//   data_preview --folder ROOT [--dim 2|3] [--classes CSV] [--select a,b,...] [--size PIXELS] ...
//       a folder dataset (ROOT/images, ROOT/masks): DIR/folder_2d.png or DIR/folder_3d.png.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <semiseg/semiseg.hpp>

#include "common/arguments.hpp"

namespace ss = semiseg;
namespace data = semiseg::data;
namespace aug = semiseg::data::aug;

struct Arguments {
  std::filesystem::path out = "preview";
  std::size_t count = 6;
  std::uint64_t seed = 1;
  std::filesystem::path folder;
  int dim = 2;
  std::filesystem::path classes;
  std::vector<std::string> select;
  std::size_t size = 128;
};

// The largest label in a map plus one: how many palette colours its instances need.
template <class Dim>
std::size_t label_count(const data::LabelMap<Dim>& m) {
  std::int32_t top = 0;
  for (std::int32_t v : m) top = std::max(top, v);
  return static_cast<std::size_t>(top) + 1;
}

template <class Dim>
std::vector<data::Raster> tiles_of(const data::Sample<Dim>& s, const std::vector<data::Colour>& classes,
                                   std::size_t z, std::size_t factor) {
  std::vector<data::Raster> row{data::enlarge(data::to_rgb<Dim>(s.image, z), factor)};
  if (s.has_mask()) row.push_back(data::enlarge(data::colour_code<Dim>(s.mask, classes, z), factor));
  if (s.has_instances())
    row.push_back(data::enlarge(data::colour_code<Dim>(s.instances, data::palette(label_count<Dim>(s.instances)), z), factor));
  return row;
}

// 2D: each row shows a sample, its augmented (weak) view and the strong view of that.
template <data::Dataset D>
void preview_2d(const D& dataset, const data::Transform<ss::dim2>& weak, const data::Transform<ss::dim2>& strong,
                const std::vector<data::Colour>& classes, const Arguments& args, const std::filesystem::path& file,
                std::size_t factor) {
  std::vector<data::Raster> tiles;
  std::size_t columns = 0;
  for (std::size_t i = 0; i < args.count && i < dataset.size(); ++i) {
    data::Sample<ss::dim2> s = dataset.get(i);
    std::vector<data::Raster> row = tiles_of(s, classes, 0, factor);
    data::Rng rng(args.seed, data::streams::augment, 0, static_cast<std::uint32_t>(i));
    weak(s, rng);
    for (data::Raster& t : tiles_of(s, classes, 0, factor)) row.push_back(std::move(t));
    data::Rng strong_rng = rng.fork(data::forks::strong_view);
    strong(s, strong_rng);
    row.push_back(data::enlarge(data::to_rgb<ss::dim2>(s.image), factor));
    columns = row.size();
    for (data::Raster& t : row) tiles.push_back(std::move(t));
  }
  data::write_png(file, data::grid(tiles, columns));
  std::printf("wrote %s: %zu samples; columns: image, mask, instances | augmented | strong view\n",
              file.string().c_str(), tiles.size() / columns);
}

// 3D: for each sample, three rows (image, mask, instances) of evenly spaced z-slices.
template <data::Dataset D>
void preview_3d(const D& dataset, const data::Transform<ss::dim3>& weak, const std::vector<data::Colour>& classes,
                const Arguments& args, const std::filesystem::path& file, std::size_t factor) {
  const std::size_t slices = 8;
  std::vector<data::Raster> tiles;
  const std::size_t samples = std::min<std::size_t>(args.count, 3);
  for (std::size_t i = 0; i < samples && i < dataset.size(); ++i) {
    data::Sample<ss::dim3> s = dataset.get(i);
    data::Rng rng(args.seed, data::streams::augment, 0, static_cast<std::uint32_t>(i));
    weak(s, rng);
    const std::size_t depth = s.image.shape()[1];
    std::vector<std::vector<data::Raster>> rows(1 + s.has_mask() + s.has_instances());
    for (std::size_t k = 0; k < slices; ++k) {
      const std::size_t z = (2 * k + 1) * depth / (2 * slices);
      std::vector<data::Raster> t = tiles_of(s, classes, z, factor);
      for (std::size_t r = 0; r < rows.size(); ++r) rows[r].push_back(std::move(t[r]));
    }
    for (auto& row : rows)
      for (data::Raster& t : row) tiles.push_back(std::move(t));
  }
  data::write_png(file, data::grid(tiles, slices));
  std::printf("wrote %s: %zu volumes, %zu z-slices each; rows: image, mask, instances (augmented)\n",
              file.string().c_str(), samples, slices);
}

int usage(const char* problem) {
  std::fprintf(stderr,
               "usage: data_preview [--out DIR] [--count N] [--seed S]\n"
               "       data_preview --folder ROOT [--dim 2|3] [--classes CSV] [--select a,b] [--size PIXELS] "
               "[--out DIR] [--count N] [--seed S]\n%s\n",
               problem);
  return 2;
}

int main(int argc, char** argv) {
  Arguments args;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--out" && has_value) args.out = argv[++i];
    else if (arg == "--count" && has_value) args.count = std::strtoull(argv[++i], nullptr, 10);
    else if (arg == "--seed" && has_value) args.seed = std::strtoull(argv[++i], nullptr, 10);
    else if (arg == "--folder" && has_value) args.folder = argv[++i];
    else if (arg == "--dim" && has_value) args.dim = std::atoi(argv[++i]);
    else if (arg == "--classes" && has_value) args.classes = argv[++i];
    else if (arg == "--select" && has_value) args.select = examples::split_list(argv[++i]);
    else if (arg == "--size" && has_value) args.size = std::strtoull(argv[++i], nullptr, 10);
    else return usage(("unknown or incomplete argument: " + arg).c_str());
  }
  if (args.count == 0) return usage("--count must be positive");
  if (args.dim != 2 && args.dim != 3) return usage("--dim must be 2 or 3");
  if (args.size == 0) return usage("--size must be positive");

  try {
    std::filesystem::create_directories(args.out);
    if (args.folder.empty()) {
      const data::FashionMnist items(data::Split::train);
      const data::FashionComposite<ss::dim2> flat(items, data::CompositeSplit::train);
      const data::FashionComposite<ss::dim3> volumes(items, data::CompositeSplit::train);
      const auto classes = data::palette(data::FashionComposite<ss::dim2>::classes);
      const data::Transform<ss::dim2> weak2 = aug::Compose<ss::dim2>{
          aug::Flip{}, aug::Rotate90{}, aug::Scale{.min = 0.8, .max = 1.25}, aug::Brightness{.min = 0.8, .max = 1.2}};
      preview_2d(flat, weak2, aug::unimatch_strong<ss::dim2>(), classes, args, args.out / "composite_2d.png", 2);
      const data::Transform<ss::dim3> weak3 =
          aug::Compose<ss::dim3>{aug::Flip{}, aug::Rotate90{.plane = aug::Plane::hw}, aug::Scale{.min = 0.8, .max = 1.25}};
      preview_3d(volumes, weak3, classes, args, args.out / "composite_3d.png", 2);
      return 0;
    }
    data::FolderOptions options{.root = args.folder};
    if (!args.classes.empty()) options.class_table = data::ClassTable::read_csv(args.classes);
    options.select_classes = args.select;
    std::vector<std::size_t> crop{args.size};
    if (args.dim == 2) {
      const data::FolderDataset<ss::dim2> dataset(options);
      const auto classes = dataset.class_table().size() ? data::palette(dataset.class_table()) : data::palette(21);
      const data::Transform<ss::dim2> weak =
          aug::Compose<ss::dim2>{aug::RandomCrop{.size = crop, .pad_if_needed = true}, aug::Flip{}, aug::Rotate90{}};
      // Crop the original too, so all tiles share one size.
      const data::Transform<ss::dim2> fit = aug::CenterCrop{.size = crop, .pad_if_needed = true};
      struct Fitted {
        using dim_type = ss::dim2;
        const data::FolderDataset<ss::dim2>& inner;
        const data::Transform<ss::dim2>& fit;
        std::size_t size() const { return inner.size(); }
        data::Sample<ss::dim2> get(std::size_t i) const {
          data::Sample<ss::dim2> s = inner.get(i);
          data::Rng none(0, 0);
          fit(s, none);
          return s;
        }
      };
      preview_2d(Fitted{dataset, fit}, weak, aug::unimatch_strong<ss::dim2>(), classes, args,
                 args.out / "folder_2d.png", 1);
    } else {
      const data::FolderDataset<ss::dim3> dataset(options);
      const auto classes = dataset.class_table().size() ? data::palette(dataset.class_table()) : data::palette(21);
      std::vector<std::size_t> crop3{0, args.size, args.size};
      const data::Transform<ss::dim3> weak = aug::Compose<ss::dim3>{
          aug::RandomCrop{.size = crop3, .pad_if_needed = true}, aug::Flip{}, aug::Rotate90{.plane = aug::Plane::hw}};
      preview_3d(dataset, weak, classes, args, args.out / "folder_3d.png", 1);
    }
  } catch (const ss::error& e) {
    std::fprintf(stderr, "data_preview: %s\n", e.what());
    return 1;
  }
  return 0;
}
