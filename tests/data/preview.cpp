#include "semiseg/data/preview.hpp"

#include <doctest/doctest.h>

#include <set>

namespace semiseg::test {

using data::Colour;

TEST_CASE("the palette starts with black and gives distinct colours") {
  const std::vector<Colour> p = data::palette(11);
  REQUIRE(p.size() == 11);
  CHECK(p[0] == Colour{0, 0, 0});
  CHECK(std::set<Colour>(p.begin(), p.end()).size() == 11);
}

TEST_CASE("colour coding maps labels to palette colours, one z-slice at a time") {
  const std::vector<Colour> colours{{0, 0, 0}, {10, 20, 30}, {200, 100, 50}};
  data::LabelMap<dim3> labels = xt::zeros<std::int32_t>({2, 2, 3});
  labels(1, 0, 2) = 2;
  labels(1, 1, 0) = 1;
  labels(1, 1, 1) = data::ignore_label;
  labels(1, 1, 2) = 4;  // wraps around the palette to colour 1
  const data::Raster r = data::colour_code<dim3>(labels, colours, 1);
  CHECK(r.channels() == 3);
  CHECK(r.height() == 2);
  CHECK(r.width() == 3);
  CHECK(r.values(0, 0, 0, 2) == 200);
  CHECK(r.values(2, 0, 1, 0) == 30);
  CHECK(r.values(1, 0, 1, 1) == 128);
  CHECK(r.values(1, 0, 1, 2) == 20);
  CHECK(r.values(0, 0, 0, 0) == 0);
  CHECK_THROWS_AS(data::colour_code<dim3>(labels, colours, 2), value_error);
}

TEST_CASE("images become 8-bit RGB, stretched from a given or the slice's own range") {
  data::Image<dim2> grey = xt::zeros<float>({1, 2, 2});
  grey(0, 0, 1) = 0.5f;
  grey(0, 1, 1) = 1.0f;
  data::Raster r = data::to_rgb<dim2>(grey);
  CHECK(r.values(0, 0, 0, 1) == 128);
  CHECK(r.values(2, 0, 1, 1) == 255);
  r = data::to_rgb<dim2>(grey, 0, 0.0f, 0.0f);  // own range: 0..1 here as well
  CHECK(r.values(1, 0, 0, 1) == 128);
  data::Image<dim2> two = xt::zeros<float>({2, 2, 2});
  CHECK_THROWS_AS(data::to_rgb<dim2>(two), shape_error);
}

TEST_CASE("grids place tiles in rows with gaps, and enlarge keeps pixels square") {
  std::vector<data::Raster> tiles;
  for (int i = 0; i < 3; ++i) tiles.push_back(data::rgb_raster(2, 3, static_cast<float>(i * 10)));
  const data::Raster g = data::grid(tiles, 2, 1);
  CHECK(g.height() == 2 * 2 + 3);
  CHECK(g.width() == 2 * 3 + 3);
  CHECK(g.values(0, 0, 0, 0) == 200);              // gap
  CHECK(g.values(0, 0, 1, 1) == 0);                // tile 0
  CHECK(g.values(0, 0, 1, 5) == 10);               // tile 1
  CHECK(g.values(0, 0, 4, 1) == 20);               // tile 2, second row
  CHECK(g.values(0, 0, 4, 5) == 200);              // empty cell
  const data::Raster big = data::enlarge(tiles[1], 3);
  CHECK(big.height() == 6);
  CHECK(big.values(0, 0, 5, 8) == 10);
  tiles.push_back(data::rgb_raster(3, 3));
  CHECK_THROWS_AS(data::grid(tiles, 2), shape_error);
}

}  // namespace semiseg::test
