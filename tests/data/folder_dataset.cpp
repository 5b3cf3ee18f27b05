#include "semiseg/data/folder_dataset.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "semiseg/data/io/npy.hpp"
#include "semiseg/data/io/stb_image.hpp"
#include "semiseg/data/io/tiff.hpp"

namespace semiseg::test {

namespace fs = std::filesystem;
using data::ClassTable;
using data::FolderDataset;
using data::FolderOptions;
using data::Raster;

// A fresh scratch folder per test case.
struct Scratch {
  fs::path root;
  explicit Scratch(const std::string& name) : root(fs::temp_directory_path() / ("semiseg_folder_" + name)) {
    fs::remove_all(root);
    fs::create_directories(root / "images");
    fs::create_directories(root / "masks");
  }
  ~Scratch() { fs::remove_all(root); }
};

// A C×D×H×W raster with the given values (or v(c, z, y, x) = 10c + z + y + x when none given).
Raster raster(std::size_t c, std::size_t d, std::size_t h, std::size_t w, int bits = 8,
              const std::vector<float>& values = {}) {
  Raster r;
  r.bits = bits;
  r.values = xt::xtensor<float, 4>::from_shape({c, d, h, w});
  for (std::size_t k = 0; k < r.values.size(); ++k) {
    const std::size_t x = k % w, y = k / w % h, z = k / (w * h) % d, ch = k / (w * h * d);
    r.values.data()[k] = values.empty() ? static_cast<float>(10 * ch + z + y + x) : values[k];
  }
  return r;
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

const char* roads_csv = "name,r,g,b\nbackground,0,0,0\nbuilding,255,255,255\nroad,128,64,128\n";

TEST_CASE("grey class-index masks, matched by stem, images scaled to [0, 1]") {
  Scratch s("grey");
  data::write_png(s.root / "images" / "b.png", raster(3, 1, 4, 5));
  data::write_png(s.root / "images" / "a.png", raster(1, 1, 4, 5, 16));
  data::write_png(s.root / "masks" / "a.png", raster(1, 1, 4, 5, 8, std::vector<float>(20, 2.0f)));
  data::write_png(s.root / "masks" / "b.png", raster(1, 1, 4, 5));
  FolderDataset<dim2> dataset({.root = s.root});
  REQUIRE(dataset.size() == 2);
  CHECK(dataset.stem(0) == "a");
  CHECK(dataset.labeled());
  const auto a = dataset.get(0);
  CHECK(a.image.shape()[0] == 1);
  CHECK(a.image(0, 3, 4) == doctest::Approx(7.0 / 65535.0));
  CHECK(a.mask(2, 3) == 2);
  CHECK(a.index == 0);
  const auto b = dataset.get(1);
  CHECK(b.image.shape()[0] == 3);
  CHECK(b.image(2, 1, 2) == doctest::Approx(23.0 / 255.0));
  CHECK(b.mask(3, 4) == 7);
  CHECK_FALSE(b.has_instances());
}

TEST_CASE("colour masks are looked up in the class table, with a selection of classes") {
  Scratch s("colour");
  write_text(s.root / "classes.csv", roads_csv);
  const ClassTable table = ClassTable::read_csv(s.root / "classes.csv");
  CHECK(table.names() == std::vector<std::string>{"background", "building", "road"});
  // Row 0 black, row 1 white, row 2 road colour.
  std::vector<float> mask(3 * 3 * 2, 0.0f);
  const float rgb[3][3] = {{0, 0, 0}, {255, 255, 255}, {128, 64, 128}};
  for (std::size_t y = 0; y < 3; ++y)
    for (std::size_t x = 0; x < 2; ++x)
      for (std::size_t c = 0; c < 3; ++c) mask[c * 6 + y * 2 + x] = rgb[y][c];
  data::write_png(s.root / "images" / "tile.png", raster(3, 1, 3, 2));
  data::write_png(s.root / "masks" / "tile.png", raster(3, 1, 3, 2, 8, mask));

  FolderDataset<dim2> all({.root = s.root, .class_table = table});
  auto m = all.get(0).mask;
  CHECK(m(0, 0) == 0);
  CHECK(m(1, 1) == 1);
  CHECK(m(2, 0) == 2);

  // As the seed notebook selects: building first, then background; road becomes class 0.
  FolderDataset<dim2> selected({.root = s.root, .class_table = table, .select_classes = {"Building", "background"}});
  CHECK(selected.class_table().names() == std::vector<std::string>{"building", "background"});
  m = selected.get(0).mask;
  CHECK(m(0, 0) == 1);
  CHECK(m(1, 1) == 0);
  CHECK(m(2, 1) == 0);
  FolderDataset<dim2> ignored({.root = s.root,
                               .class_table = table,
                               .select_classes = {"background", "building"},
                               .unselected_label = data::ignore_label});
  CHECK(ignored.get(0).mask(2, 1) == data::ignore_label);
  CHECK_THROWS_WITH_AS(table.select({"tree"}), doctest::Contains("no class named 'tree'"), value_error);
}

TEST_CASE("3D volumes from TIFF stacks and NPY files, with instance maps") {
  Scratch s("volumes");
  fs::create_directories(s.root / "instances");
  data::write_tiff(s.root / "images" / "v1.tif", raster(1, 3, 4, 5, 16));
  data::write_tiff(s.root / "masks" / "v1.tif", raster(1, 3, 4, 5, 8, std::vector<float>(60, 1.0f)));
  data::write_tiff(s.root / "instances" / "v1.tiff", raster(1, 3, 4, 5, 16));
  xt::xtensor<float, 3> volume = xt::zeros<float>({3, 4, 5});
  volume(2, 3, 4) = 0.25f;
  data::write_npy(s.root / "images" / "v2.npy", volume);
  xt::xtensor<std::uint8_t, 3> labels = xt::ones<std::uint8_t>({3, 4, 5});
  data::write_npy(s.root / "masks" / "v2.npy", labels);
  data::write_npy(s.root / "instances" / "v2.npy", labels);

  FolderDataset<dim3> dataset({.root = s.root, .instances = "instances"});
  REQUIRE(dataset.size() == 2);
  const auto v1 = dataset.get(0);
  CHECK(v1.image.shape() == std::array<std::size_t, 4>{1, 3, 4, 5});
  CHECK(v1.image(0, 2, 3, 4) == doctest::Approx(9.0 / 65535.0));
  CHECK(v1.mask(1, 1, 1) == 1);
  CHECK(v1.instances(2, 3, 4) == 9);
  const auto v2 = dataset.get(1);
  CHECK(v2.image(0, 2, 3, 4) == 0.25f);  // float volumes keep their values
  CHECK(v2.instances(0, 0, 0) == 1);
  // A volume folder read as 2D images is a rank error.
  CHECK_THROWS_AS(FolderDataset<dim2>({.root = s.root}).get(0), shape_error);
}

TEST_CASE("negative ignore values in NPY masks, and 16-bit colour masks") {
  Scratch s("ignore");
  data::write_png(s.root / "images" / "a.png", raster(1, 1, 2, 3));
  xt::xtensor<std::int16_t, 2> labels = {{0, 1, -1}, {2, -1, 0}};
  data::write_npy(s.root / "masks" / "a.npy", labels);
  CHECK_THROWS_WITH_AS(FolderDataset<dim2>({.root = s.root}).get(0), doctest::Contains("is not a non-negative integer"),
                       value_error);
  const auto m = FolderDataset<dim2>({.root = s.root, .classes = 3, .ignore_value = -1}).get(0).mask;
  CHECK(m(0, 2) == data::ignore_label);
  CHECK(m(1, 0) == 2);

  fs::remove(s.root / "masks" / "a.npy");
  write_text(s.root / "classes.csv", roads_csv);
  std::vector<float> colours(3 * 6, 0.0f);
  for (std::size_t c = 0; c < 3; ++c) colours[c * 6 + 4] = 255.0f * 257.0f;  // one white pixel
  data::write_png(s.root / "masks" / "a.png", raster(3, 1, 2, 3, 16, colours));
  const auto colour = FolderDataset<dim2>({.root = s.root, .class_table = ClassTable::read_csv(s.root / "classes.csv")})
                          .get(0)
                          .mask;
  CHECK(colour(1, 1) == 1);
  CHECK(colour(0, 0) == 0);
}

TEST_CASE("unlabeled folders have images only") {
  Scratch s("unlabeled");
  fs::remove_all(s.root / "masks");
  data::write_png(s.root / "images" / "x.png", raster(1, 1, 2, 2));
  FolderDataset<dim2> dataset({.root = s.root, .masks = ""});
  CHECK_FALSE(dataset.labeled());
  CHECK_FALSE(dataset.get(0).has_mask());
  CHECK_THROWS_WITH_AS(FolderDataset<dim2>({.root = s.root}), doctest::Contains("no such folder"), io_error);
}

TEST_CASE("folder problems give typed errors that name the file") {
  Scratch s("errors");
  CHECK_THROWS_WITH_AS(FolderDataset<dim2>({.root = s.root}), doctest::Contains("no image files"), io_error);
  data::write_png(s.root / "images" / "a.png", raster(1, 1, 4, 4));
  data::write_png(s.root / "images" / "b.png", raster(1, 1, 4, 4));
  data::write_png(s.root / "masks" / "a.png", raster(1, 1, 4, 4));
  CHECK_THROWS_WITH_AS(FolderDataset<dim2>({.root = s.root}), doctest::Contains("no file for 1 image stem(s): b"),
                       io_error);
  data::write_png(s.root / "masks" / "b.png", raster(1, 1, 4, 3));
  data::write_png(s.root / "masks" / "c.png", raster(1, 1, 4, 4));
  CHECK_THROWS_WITH_AS(FolderDataset<dim2>({.root = s.root}), doctest::Contains("match no image"), io_error);
  fs::remove(s.root / "masks" / "c.png");
  FolderDataset<dim2> dataset({.root = s.root, .classes = 5});
  CHECK_THROWS_WITH_AS(dataset.get(1), doctest::Contains("mask is 4x3 but its image"), shape_error);
  // raster() writes y + x into a 4×4 mask: the first value past 5 classes is 5, at (2, 3).
  CHECK_THROWS_WITH_AS(dataset.get(0), doctest::Contains("mask value 5 is not a class"), value_error);
  FolderDataset<dim2> with_ignore({.root = s.root, .classes = 6, .ignore_value = 6});
  CHECK(with_ignore.get(0).mask(3, 3) == data::ignore_label);
  data::write_png(s.root / "images" / "a.tga", raster(1, 1, 4, 4));
  CHECK_THROWS_WITH_AS(FolderDataset<dim2>({.root = s.root}), doctest::Contains("share the stem 'a'"), io_error);
  CHECK_THROWS_AS(FolderDataset<dim2>({.root = s.root, .select_classes = {"x"}}), value_error);
}

TEST_CASE("class tables: bad rows name the file and line") {
  Scratch s("tables");
  const fs::path csv = s.root / "t.csv";
  write_text(csv, "label,r,g,b\nx,1,2,3\n");
  CHECK_THROWS_WITH_AS(ClassTable::read_csv(csv), doctest::Contains("no column 'name'"), io_error);
  write_text(csv, "name,r,g,b\nx,1,2\n");
  CHECK_THROWS_WITH_AS(ClassTable::read_csv(csv), doctest::Contains("t.csv:2: expected 4 columns"), io_error);
  write_text(csv, "name,r,g,b\nx,1,2,300\n");
  CHECK_THROWS_WITH_AS(ClassTable::read_csv(csv), doctest::Contains("'300' is not an integer"), io_error);
  write_text(csv, "name,r,g,b\nx,1,2,3\ny,1,2,3\n");
  CHECK_THROWS_WITH_AS(ClassTable::read_csv(csv), doctest::Contains("share one colour"), value_error);
  write_text(csv, "name,r,g,b\nx,1,2,3,4\n");
  CHECK_THROWS_WITH_AS(ClassTable::read_csv(csv), doctest::Contains("expected 4 columns, found 5"), io_error);
  write_text(csv, "\xEF\xBB\xBF" "b,g,r,name\r\n3,2,1,x\r\n4,5,6,\"road, \"\"paved\"\"\"\r\n");
  const ClassTable t = ClassTable::read_csv(csv);
  CHECK(t[0].name == "x");
  CHECK(t[0].rgb == std::array<std::uint8_t, 3>{1, 2, 3});
  CHECK(t[1].name == "road, \"paved\"");
  CHECK(t[1].rgb == std::array<std::uint8_t, 3>{6, 5, 4});
  CHECK_THROWS_AS(ClassTable::read_csv(s.root / "missing.csv"), io_error);
}

// The committed folder corpus (tools/make_bad_inputs.py): each folder is broken in one way.
TEST_CASE("the bad-input folder corpus, folder by folder") {
  const fs::path root = fs::path(SEMISEG_FIXTURES_DIR) / "bad_inputs" / "folders";
  const auto open = [&](const std::string& name, FolderOptions options = {}) {
    options.root = root / name;
    if (fs::exists(options.root / "classes.csv")) options.class_table = ClassTable::read_csv(options.root / "classes.csv");
    return FolderDataset<dim2>(options);
  };
  std::set<std::string> tested;
  const auto name = [&](const char* n) {
    tested.insert(n);
    return std::string(n);
  };
  CHECK_THROWS_WITH_AS(open(name("empty")), doctest::Contains("no image files"), io_error);
  CHECK_THROWS_WITH_AS(open(name("unmatched_image")), doctest::Contains("no file for 1 image stem(s): b"), io_error);
  CHECK_THROWS_WITH_AS(open(name("unmatched_mask")), doctest::Contains("1 file(s) match no image"), io_error);
  CHECK_THROWS_WITH_AS(open(name("duplicate_stem")), doctest::Contains("two files share the stem 'a'"), io_error);
  CHECK_THROWS_WITH_AS(open(name("size_mismatch")).get(0), doctest::Contains("size_mismatch/masks/a.png: mask is 4x5"),
                       shape_error);
  CHECK_THROWS_WITH_AS(open(name("missing_colour")).get(0),
                       doctest::Contains("colour (255, 0, 0) at (2, 2) is not in the class table"), value_error);
  CHECK_THROWS_WITH_AS(open(name("class_out_of_range"), {.classes = 2}).get(0),
                       doctest::Contains("mask value 7 is not a class"), value_error);
  CHECK_THROWS_WITH_AS(open(name("bad_image")).get(0), doctest::Contains("bad_image/images/a.png"), io_error);
  CHECK_THROWS_WITH_AS(open(name("wrong_rank_mask")).get(0), doctest::Contains("wrong_rank_mask/masks/a.npy"),
                       shape_error);
  // Every folder of the corpus is tested here.
  std::set<std::string> present;
  for (const auto& entry : fs::directory_iterator(root)) present.insert(entry.path().filename().string());
  CHECK(present == tested);
}

}  // namespace semiseg::test
