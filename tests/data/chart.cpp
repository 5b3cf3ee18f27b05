#include "semiseg/data/chart.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace semiseg::test {

using data::Colour;
using data::Raster;
using data::Series;

namespace {

Colour at(const Raster& r, std::size_t y, std::size_t x) {
  return {static_cast<std::uint8_t>(r.values(0, 0, y, x)), static_cast<std::uint8_t>(r.values(1, 0, y, x)),
          static_cast<std::uint8_t>(r.values(2, 0, y, x))};
}

std::size_t count(const Raster& r, const Colour& c) {
  std::size_t n = 0;
  for (std::size_t y = 0; y < r.height(); ++y)
    for (std::size_t x = 0; x < r.width(); ++x) n += at(r, y, x) == c;
  return n;
}

const Colour red{220, 20, 20}, blue{20, 20, 220};

}  // namespace

TEST_CASE("a chart is an 8-bit RGB raster of the asked size on white") {
  data::ChartOptions o;
  o.width = 320;
  o.height = 200;
  o.text_scale = 1;
  o.title = "IoU";
  const Raster r = data::line_chart({Series::of_values("train", {0.1, 0.5, 0.7})}, o);
  CHECK(r.channels() == 3);
  CHECK(r.depth() == 1);
  CHECK(r.height() == 200);
  CHECK(r.width() == 320);
  CHECK(r.bits == 8);
  CHECK(at(r, 0, 0) == Colour{255, 255, 255});
  const auto [lo, hi] = std::minmax_element(r.values.begin(), r.values.end());
  CHECK(*lo >= 0);
  CHECK(*hi <= 255);
  // The title is drawn in black near the top.
  std::size_t ink = 0;
  for (std::size_t y = 0; y < 20; ++y)
    for (std::size_t x = 0; x < r.width(); ++x) ink += at(r, y, x) == Colour{0, 0, 0};
  CHECK(ink > 0);
}

TEST_CASE("a horizontal series lands on the row its value maps to") {
  data::ChartOptions o;
  o.width = 400;
  o.height = 300;
  o.y_min = 0.0;
  o.y_max = 1.0;
  o.line_width = 1;
  o.legend = false;
  const std::vector<Series> series{{"flat", red, {{1, 0.25}, {10, 0.25}}}};
  const data::ChartFrame f = data::chart_frame(series, o);
  REQUIRE(f.left < f.right);
  REQUIRE(f.top < f.bottom);
  CHECK(f.y_min == 0.0);
  CHECK(f.y_max == 1.0);
  // x is padded a little, so the end markers stay inside the frame.
  CHECK(f.x_min < 1.0);
  CHECK(f.x_min > 0.5);
  CHECK(f.x_max > 10.0);
  CHECK(f.x_max < 10.5);
  const std::size_t row = f.row(0.25);
  CHECK(row == static_cast<std::size_t>(std::lround(f.bottom - 0.25 * (f.bottom - f.top))));
  const Raster r = data::line_chart(series, o);
  // Across the middle of the plot (away from the markers) the line is one pixel thick.
  for (std::size_t x = f.column(3); x <= f.column(8); ++x) {
    CHECK(at(r, row, x) == red);
    CHECK(at(r, row - 1, x) != red);
    CHECK(at(r, row + 1, x) != red);
  }
  // Nothing red far from the line.
  for (std::size_t y = f.top; y <= f.bottom; ++y)
    if (y + 5 < row || y > row + 5) CHECK(at(r, y, f.column(5)) != red);
  // The frame is black on the plot's bounds.
  CHECK(at(r, f.bottom, (f.left + f.right) / 2) == Colour{0, 0, 0});
  CHECK(at(r, (f.top + f.bottom) / 2, f.left) == Colour{0, 0, 0});
}

TEST_CASE("both series' colours appear, in the plot and the legend") {
  data::ChartOptions o;
  o.x_label = "epoch";
  o.y_label = "Dice loss";
  const std::vector<Series> series{Series::of_values("train", {0.9, 0.6, 0.4, 0.3}, 1, red),
                                   Series::of_values("val", {0.95, 0.7, 0.5, 0.45}, 1, blue)};
  const Raster r = data::line_chart(series, o);
  CHECK(count(r, red) > 50);
  CHECK(count(r, blue) > 50);
  // Unset colours come from the default cycle, in order.
  const Raster d = data::line_chart({Series::of_values("a", {1, 2}), Series::of_values("b", {2, 1})}, o);
  CHECK(count(d, data::chart_colours()[0]) > 0);
  CHECK(count(d, data::chart_colours()[1]) > 0);
  // A series with one point still shows (as its marker).
  const Raster one = data::line_chart({Series::of_values("", {0.5}, 1, red)}, o);
  CHECK(count(one, red) > 0);
}

TEST_CASE("the legend goes to the corner the curves leave free") {
  data::ChartOptions o;
  o.y_min = 0.0;
  o.y_max = 1.0;
  const Colour border{190, 190, 190};
  const auto rows_with = [&](const Raster& r, const Colour& c, std::size_t y0, std::size_t y1) {
    std::size_t n = 0;
    for (std::size_t y = y0; y < y1; ++y)
      for (std::size_t x = 0; x < r.width(); ++x) n += at(r, y, x) == c;
    return n;
  };
  // A rising curve covers the bottom left and the top right: the legend goes to the bottom right.
  const std::vector<Series> rising{{"train", red, {{1, 0.02}, {10, 0.98}}}};
  const data::ChartFrame f = data::chart_frame(rising, o);
  const std::size_t mid = (f.top + f.bottom) / 2;
  const Raster up = data::line_chart(rising, o);
  CHECK(rows_with(up, border, f.top, mid) == 0);
  CHECK(rows_with(up, border, mid, f.bottom) > 0);
  // A falling one leaves the top right free.
  const Raster down = data::line_chart({{"train", red, {{1, 0.98}, {10, 0.02}}}}, o);
  CHECK(rows_with(down, border, f.top, mid) > 0);
  CHECK(rows_with(down, border, mid, f.bottom) == 0);
  // No labels, no legend.
  const Raster none = data::line_chart({{"", red, {{1, 0.98}, {10, 0.02}}}}, o);
  CHECK(count(none, border) == 0);
}

TEST_CASE("bad input gives a clear value_error") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<Series> ok{Series::of_values("train", {1, 2, 3})};
  CHECK_THROWS_WITH_AS(data::line_chart({}), "chart: no series to draw", value_error);
  CHECK_THROWS_WITH_AS(data::line_chart({Series{"val", std::nullopt, {}}}), "chart: series 'val' has no points",
                       value_error);
  CHECK_THROWS_WITH_AS(data::line_chart({Series::of_values("val", {0.5, nan})}),
                       doctest::Contains("series 'val' point 1 is (2.000000, nan)"), value_error);
  CHECK_THROWS_AS(data::line_chart({Series{"", std::nullopt, {{std::numeric_limits<double>::infinity(), 1}}}}),
                  value_error);
  data::ChartOptions o;
  o.width = 0;
  CHECK_THROWS_WITH_AS(data::line_chart(ok, o), doctest::Contains("width and height must be positive"), value_error);
  o = {};
  o.height = 0;
  CHECK_THROWS_AS(data::line_chart(ok, o), value_error);
  o = {};
  o.width = 40;
  o.height = 30;
  CHECK_THROWS_WITH_AS(data::line_chart(ok, o), doctest::Contains("too small"), value_error);
  o = {};
  o.y_min = 1.0;
  o.y_max = 0.0;
  CHECK_THROWS_WITH_AS(data::line_chart(ok, o), doctest::Contains("y_min"), value_error);
  o = {};
  o.y_max = nan;
  CHECK_THROWS_AS(data::line_chart(ok, o), value_error);
  o = {};
  o.line_width = 0;
  CHECK_THROWS_AS(data::line_chart(ok, o), value_error);
  o = {};
  o.text_scale = 0;
  CHECK_THROWS_AS(data::line_chart(ok, o), value_error);
}

TEST_CASE("ticks are round numbers and epochs stay whole") {
  CHECK(data::chart_detail::nice_step(1.0, 6) == doctest::Approx(0.2));
  CHECK(data::chart_detail::nice_step(37.0, 8) == doctest::Approx(5.0));
  CHECK(data::chart_detail::tick_text(0.4, 0.2) == "0.4");
  CHECK(data::chart_detail::tick_text(15, 5) == "15");
  CHECK(data::chart_detail::tick_text(0.05, 0.05) == "0.05");
  const auto t = data::chart_detail::ticks(-0.05, 1.05, 0.2);
  REQUIRE(t.size() == 6);
  CHECK(t.front() == 0.0);
  CHECK(t.back() == doctest::Approx(1.0));
  // Three epochs: ticks 1, 2, 3, not halves.
  const auto l = data::chart_detail::layout({Series::of_values("", {1, 2, 3})}, {});
  CHECK(l.x_step == 1.0);
}

}  // namespace semiseg::test
