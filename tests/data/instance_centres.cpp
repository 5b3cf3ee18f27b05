#include "semiseg/data/instance_centres.hpp"

#include "semiseg/data/augment/compose.hpp"
#include "semiseg/data/augment/geometric.hpp"

#include <doctest/doctest.h>

#include <vector>

namespace semiseg::test {

namespace {

using data::CentreKind;

// (row, col) of every flagged pixel with the id it carries.
std::vector<std::array<std::int32_t, 3>> flagged(const data::LabelMap<dim2>& m) {
  std::vector<std::array<std::int32_t, 3>> out;
  for (std::size_t r = 0; r < m.shape()[0]; ++r)
    for (std::size_t c = 0; c < m.shape()[1]; ++c)
      if (instance::is_centre(m(r, c)))
        out.push_back({instance::instance_id(m(r, c)), static_cast<std::int32_t>(r), static_cast<std::int32_t>(c)});
  return out;
}

// An L: row 0, columns 0..4, and column 0, rows 1..4 (id 3), plus a 1×3 bar (id 5) and an
// ignored pixel.
data::LabelMap<dim2> l_shape() {
  auto m = data::LabelMap<dim2>::from_shape({7, 7});
  m.fill(0);
  for (std::size_t c = 0; c < 5; ++c) m(0, c) = 3;
  for (std::size_t r = 1; r < 5; ++r) m(r, 0) = 3;
  for (std::size_t c = 2; c < 5; ++c) m(6, c) = 5;
  m(3, 3) = -1;
  return m;
}

}  // namespace

TEST_CASE("mark_centres: the medoid of an L and of a bar, one flag per instance") {
  auto m = l_shape();
  data::mark_centres<dim2>(m);
  const auto f = flagged(m);
  REQUIRE(f.size() == 2);
  // Summed distances: 17.94 from (0, 1) and from (1, 0), 20 from the corner; the tie goes to the
  // first pixel in row-major order.
  CHECK(f[0] == std::array<std::int32_t, 3>{3, 0, 1});
  CHECK(f[1] == std::array<std::int32_t, 3>{5, 6, 3});
  CHECK(m(3, 3) == -1);
  CHECK(m(0, 0) == 3);
}

TEST_CASE("mark_centres: spacing moves the medoid; the centroid is the nearest member pixel") {
  auto m = l_shape();
  data::CentreOptions<dim2> o;
  o.spacing = {3.0, 1.0};  // the stem is three times longer: the medoid moves onto it
  data::mark_centres<dim2>(m, o);
  CHECK(flagged(m)[0] == std::array<std::int32_t, 3>{3, 1, 0});
  // Marking again clears the old flag first.
  o.spacing = {1.0, 1.0};
  o.kind = CentreKind::centroid;  // mean (1.11, 1.11) lies outside the L; (0, 1) and (1, 0) tie
  data::mark_centres<dim2>(m, o);
  const auto f = flagged(m);
  REQUIRE(f.size() == 2);
  CHECK(f[0] == std::array<std::int32_t, 3>{3, 0, 1});
}

TEST_CASE("mark_centres: large instances take the medoid near the geometric median") {
  // 61×61 pixels is past the exact limit; the square's medoid is its middle pixel.
  auto m = data::LabelMap<dim2>::from_shape({64, 64});
  m.fill(0);
  for (std::size_t r = 2; r < 63; ++r)
    for (std::size_t c = 1; c < 62; ++c) m(r, c) = 1;
  data::mark_centres<dim2>(m);
  const auto f = flagged(m);
  REQUIRE(f.size() == 1);
  CHECK(f[0] == std::array<std::int32_t, 3>{1, 32, 31});
}

TEST_CASE("mark_centres: 3D with anisotropic spacing") {
  auto m = data::LabelMap<dim3>::from_shape({5, 3, 6});
  m.fill(0);
  // The 2D L stood up: a column along z at (1, 0) and a bar along x in slice 0. With spacing 3
  // along z the column is the longer arm, so the medoid moves onto it.
  for (std::size_t z = 0; z < 5; ++z) m(z, 1, 0) = 2;
  for (std::size_t x = 1; x < 5; ++x) m(0, 1, x) = 2;
  auto iso = m;
  data::mark_centres<dim3>(iso);
  data::CentreOptions<dim3> o;
  o.spacing = {3.0, 1.0, 1.0};
  data::mark_centres<dim3>(m, o);
  CHECK(instance::is_centre(iso(0, 1, 1)));
  CHECK(instance::is_centre(m(1, 1, 0)));
  CHECK_THROWS_AS(data::mark_centres<dim3>(m, data::CentreOptions<dim3>{CentreKind::medoid, {0.0, 1.0, 1.0}}),
                  value_error);
}

TEST_CASE("WithCentres: marks each sample's instances and leaves samples without them alone") {
  struct Two {
    using dim_type = dim2;
    std::size_t size() const { return 2; }
    data::Sample<dim2> get(std::size_t i) const {
      data::Sample<dim2> s;
      s.image = data::Image<dim2>::from_shape({1, 7, 7});
      s.image.fill(0.f);
      if (i == 0) s.instances = l_shape();
      s.index = i;
      return s;
    }
  };
  const data::WithCentres<Two> d(Two{});
  CHECK(d.size() == 2);
  CHECK(flagged(d.get(0).instances).size() == 2);
  CHECK(!d.get(1).has_instances());
}

TEST_CASE("MarkCentres: marks the centres of what a crop left") {
  data::Sample<dim2> s;
  s.image = data::Image<dim2>::from_shape({1, 7, 7});
  s.image.fill(0.f);
  s.instances = l_shape();
  data::mark_centres<dim2>(s.instances);  // the whole L's medoid (0, 1)
  data::Rng rng(1, 2, 3, 4);
  // Rows 2..4 only: three pixels of the L's stem remain (the flagged pixel is cut away), then the
  // centres are marked again: the middle of the stem.
  data::aug::Compose<dim2> chain{data::aug::CenterCrop{.size = {3, 7}}, data::MarkCentres<dim2>{}};
  chain(s, rng);
  const auto f = flagged(s.instances);
  REQUIRE(f.size() == 1);
  CHECK(f[0] == std::array<std::int32_t, 3>{3, 1, 0});
}

}  // namespace semiseg::test
