// Line charts as pictures: training curves (loss, IoU per epoch) drawn without a plotting
// library. Contract: line_chart() returns an 8-bit RGB Raster (3×1×H×W, values 0..255) of the
// options' size that write_png() saves: a white background, light grey grid lines at the ticks, a
// black frame with numeric tick labels, an optional title, axis labels and legend (in the
// plot's corner that covers the least of the curves; left out if the plot is too small), and each
// series as a polyline of its colour with a square marker on every point. Text uses a built-in
// 5×7 bitmap font (digits, letters, space and . , - + : / ( ) _ % =; any other character is drawn
// as a hollow box). A series' values map linearly onto the plot area that chart_frame() reports:
// x from x_min to x_max left to right, y from y_min to y_max bottom to top, rounded to the
// nearest pixel; lines are clipped to the plot area. The ranges are the data's (padded by 3% in
// x, 5% in y, on each side) unless set in the options. Bad input (no series, a series without
// points, a non-finite value, a size or option out of range, a picture too small for its labels)
// throws value_error.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "semiseg/core/error.hpp"
#include "semiseg/data/io/raster.hpp"
#include "semiseg/data/preview.hpp"

namespace semiseg::data {

struct ChartPoint {
  double x = 0;
  double y = 0;
};

struct Series {
  std::string label{};              // the legend entry; empty: not in the legend
  std::optional<Colour> colour{};   // unset: the next colour of chart_colours()
  std::vector<ChartPoint> points{};

  // Values at x = first_x, first_x + 1, ...: a curve per epoch.
  static Series of_values(std::string label, const std::vector<double>& values, double first_x = 1,
                          std::optional<Colour> colour = std::nullopt) {
    Series s{std::move(label), colour, {}};
    for (std::size_t i = 0; i < values.size(); ++i) s.points.push_back({first_x + static_cast<double>(i), values[i]});
    return s;
  }
};

struct ChartOptions {
  std::size_t width = 800;
  std::size_t height = 480;
  std::string title{};
  std::string x_label{};  // centred under the x axis
  std::string y_label{};  // written above the y axis, left-aligned
  // Fixed axis ranges; unset: the data's range, widened on each side by 3% (x) or 5% (y).
  std::optional<double> x_min{}, x_max{}, y_min{}, y_max{};
  std::size_t line_width = 2;  // pixels; markers are line_width + 4 wide
  std::size_t text_scale = 2;  // each font pixel becomes text_scale × text_scale
  bool legend = true;          // inside the plot, in the corner freest of curves, for series with a label
};

// Where the data go: the plot area's pixel bounds (inclusive; the frame is drawn on them) and
// the value ranges mapped onto it.
struct ChartFrame {
  std::size_t left = 0, top = 0, right = 0, bottom = 0;
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;

  double column_at(double x) const {
    return static_cast<double>(left) + (x - x_min) / (x_max - x_min) * static_cast<double>(right - left);
  }
  double row_at(double y) const {
    return static_cast<double>(bottom) - (y - y_min) / (y_max - y_min) * static_cast<double>(bottom - top);
  }
  // The pixel a value lands on.
  std::size_t column(double x) const { return static_cast<std::size_t>(std::lround(column_at(x))); }
  std::size_t row(double y) const { return static_cast<std::size_t>(std::lround(row_at(y))); }
};

// The default series colours, in order (blue, orange, green, red, purple, brown).
inline std::vector<Colour> chart_colours() {
  return {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189}, {140, 86, 75}};
}

namespace chart_detail {

inline constexpr std::size_t glyph_width = 5, glyph_rows = 9, advance = 6;  // rows 7 and 8: descenders

// Rows of '#' (ink) and '.' separated by '|', top to bottom; missing rows are blank.
inline const char* glyph(char c) {
  switch (c) {
    case ' ': return "";
    case '0': return ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.";
    case '1': return "..#..|.##..|..#..|..#..|..#..|..#..|.###.";
    case '2': return ".###.|#...#|....#|...#.|..#..|.#...|#####";
    case '3': return "####.|....#|....#|.###.|....#|....#|####.";
    case '4': return "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.";
    case '5': return "#####|#....|####.|....#|....#|#...#|.###.";
    case '6': return "..##.|.#...|#....|####.|#...#|#...#|.###.";
    case '7': return "#####|....#|...#.|..#..|.#...|.#...|.#...";
    case '8': return ".###.|#...#|#...#|.###.|#...#|#...#|.###.";
    case '9': return ".###.|#...#|#...#|.####|....#|...#.|.##..";
    case '.': return ".....|.....|.....|.....|.....|.##..|.##..";
    case ',': return ".....|.....|.....|.....|.....|.##..|.##..|..#..|.#...";
    case '-': return ".....|.....|.....|.###.";
    case '+': return ".....|..#..|..#..|#####|..#..|..#..";
    case ':': return ".....|.##..|.##..|.....|.##..|.##..";
    case '/': return "....#|....#|...#.|..#..|.#...|#....|#....";
    case '(': return "...#.|..#..|.#...|.#...|.#...|..#..|...#.";
    case ')': return ".#...|..#..|...#.|...#.|...#.|..#..|.#...";
    case '_': return ".....|.....|.....|.....|.....|.....|.....|#####";
    case '%': return "##..#|##..#|...#.|..#..|.#...|#..##|#..##";
    case '=': return ".....|.....|#####|.....|#####";
    case 'A': return ".###.|#...#|#...#|#####|#...#|#...#|#...#";
    case 'B': return "####.|#...#|#...#|####.|#...#|#...#|####.";
    case 'C': return ".###.|#...#|#....|#....|#....|#...#|.###.";
    case 'D': return "####.|#...#|#...#|#...#|#...#|#...#|####.";
    case 'E': return "#####|#....|#....|####.|#....|#....|#####";
    case 'F': return "#####|#....|#....|####.|#....|#....|#....";
    case 'G': return ".###.|#...#|#....|#.###|#...#|#...#|.####";
    case 'H': return "#...#|#...#|#...#|#####|#...#|#...#|#...#";
    case 'I': return ".###.|..#..|..#..|..#..|..#..|..#..|.###.";
    case 'J': return "..###|...#.|...#.|...#.|...#.|#..#.|.##..";
    case 'K': return "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#";
    case 'L': return "#....|#....|#....|#....|#....|#....|#####";
    case 'M': return "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#";
    case 'N': return "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#";
    case 'O': return ".###.|#...#|#...#|#...#|#...#|#...#|.###.";
    case 'P': return "####.|#...#|#...#|####.|#....|#....|#....";
    case 'Q': return ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#";
    case 'R': return "####.|#...#|#...#|####.|#.#..|#..#.|#...#";
    case 'S': return ".####|#....|#....|.###.|....#|....#|####.";
    case 'T': return "#####|..#..|..#..|..#..|..#..|..#..|..#..";
    case 'U': return "#...#|#...#|#...#|#...#|#...#|#...#|.###.";
    case 'V': return "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..";
    case 'W': return "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.";
    case 'X': return "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#";
    case 'Y': return "#...#|#...#|.#.#.|..#..|..#..|..#..|..#..";
    case 'Z': return "#####|....#|...#.|..#..|.#...|#....|#####";
    case 'a': return ".....|.....|.###.|....#|.####|#...#|.####";
    case 'b': return "#....|#....|####.|#...#|#...#|#...#|####.";
    case 'c': return ".....|.....|.###.|#....|#....|#...#|.###.";
    case 'd': return "....#|....#|.####|#...#|#...#|#...#|.####";
    case 'e': return ".....|.....|.###.|#...#|#####|#....|.###.";
    case 'f': return "..##.|.#..#|.#...|###..|.#...|.#...|.#...";
    case 'g': return ".....|.....|.####|#...#|#...#|#...#|.####|....#|.###.";
    case 'h': return "#....|#....|#.##.|##..#|#...#|#...#|#...#";
    case 'i': return "..#..|.....|.##..|..#..|..#..|..#..|.###.";
    case 'j': return "...#.|.....|..##.|...#.|...#.|...#.|...#.|#..#.|.##..";
    case 'k': return "#....|#....|#..#.|#.#..|##...|#.#..|#..#.";
    case 'l': return ".##..|..#..|..#..|..#..|..#..|..#..|.###.";
    case 'm': return ".....|.....|##.#.|#.#.#|#.#.#|#.#.#|#.#.#";
    case 'n': return ".....|.....|#.##.|##..#|#...#|#...#|#...#";
    case 'o': return ".....|.....|.###.|#...#|#...#|#...#|.###.";
    case 'p': return ".....|.....|####.|#...#|#...#|#...#|####.|#....|#....";
    case 'q': return ".....|.....|.####|#...#|#...#|#...#|.####|....#|....#";
    case 'r': return ".....|.....|#.##.|##..#|#....|#....|#....";
    case 's': return ".....|.....|.####|#....|.###.|....#|####.";
    case 't': return ".#...|.#...|###..|.#...|.#...|.#..#|..##.";
    case 'u': return ".....|.....|#...#|#...#|#...#|#..##|.##.#";
    case 'v': return ".....|.....|#...#|#...#|#...#|.#.#.|..#..";
    case 'w': return ".....|.....|#...#|#...#|#.#.#|#.#.#|.#.#.";
    case 'x': return ".....|.....|#...#|.#.#.|..#..|.#.#.|#...#";
    case 'y': return ".....|.....|#...#|#...#|#...#|#...#|.####|....#|.###.";
    case 'z': return ".....|.....|#####|...#.|..#..|.#...|#####";
    default: return nullptr;
  }
}

// Draws onto a 3×1×H×W raster, ignoring pixels outside it (or outside an optional clip box).
class Canvas {
 public:
  explicit Canvas(Raster& r) : r_(r), h_(r.height()), w_(r.width()) { clip_ = {0, 0, w_ - 1, h_ - 1}; }

  void clip(std::size_t left, std::size_t top, std::size_t right, std::size_t bottom) { clip_ = {left, top, right, bottom}; }
  void unclip() { clip_ = {0, 0, w_ - 1, h_ - 1}; }

  void pixel(long long x, long long y, const Colour& c) {
    if (x < static_cast<long long>(clip_[0]) || y < static_cast<long long>(clip_[1]) ||
        x > static_cast<long long>(clip_[2]) || y > static_cast<long long>(clip_[3]))
      return;
    const std::size_t plane = h_ * w_, k = static_cast<std::size_t>(y) * w_ + static_cast<std::size_t>(x);
    for (std::size_t ch = 0; ch < 3; ++ch) r_.values.data()[ch * plane + k] = c[ch];
  }
  // The box [x0, x1] × [y0, y1], both ends included.
  void fill(long long x0, long long y0, long long x1, long long y1, const Colour& c) {
    for (long long y = y0; y <= y1; ++y)
      for (long long x = x0; x <= x1; ++x) pixel(x, y, c);
  }
  void outline(long long x0, long long y0, long long x1, long long y1, const Colour& c) {
    fill(x0, y0, x1, y0, c);
    fill(x0, y1, x1, y1, c);
    fill(x0, y0, x0, y1, c);
    fill(x1, y0, x1, y1, c);
  }
  // A line of square brush `width` from (x0, y0) to (x1, y1), by Bresenham's walk.
  void line(long long x0, long long y0, long long x1, long long y1, std::size_t width, const Colour& c) {
    const long long lo = -static_cast<long long>((width - 1) / 2), hi = static_cast<long long>(width / 2);
    const long long dx = std::llabs(x1 - x0), dy = -std::llabs(y1 - y0);
    const long long sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    long long err = dx + dy;
    for (;;) {
      fill(x0 + lo, y0 + lo, x0 + hi, y0 + hi, c);
      if (x0 == x1 && y0 == y1) break;
      const long long e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  // Text with its top-left corner at (x, y); each font pixel is scale × scale.
  void text(long long x, long long y, const std::string& s, std::size_t scale, const Colour& c) {
    const auto k = static_cast<long long>(scale);
    for (char ch : s) {
      const char* g = glyph(ch);
      if (!g) {
        outline(x, y, x + 5 * k - 1, y + 7 * k - 1, c);
      } else {
        long long row = 0, col = 0;
        for (const char* p = g; *p; ++p) {
          if (*p == '|') {
            ++row, col = 0;
            continue;
          }
          if (*p == '#') fill(x + col * k, y + row * k, x + col * k + k - 1, y + row * k + k - 1, c);
          ++col;
        }
      }
      x += static_cast<long long>(advance) * k;
    }
  }

 private:
  Raster& r_;
  std::size_t h_, w_;
  std::array<std::size_t, 4> clip_{};
};

inline std::size_t text_width(const std::string& s, std::size_t scale) {
  return s.empty() ? 0 : (s.size() * advance - (advance - glyph_width)) * scale;
}

// A step of 1, 2 or 5 × 10^k that cuts `span` into about `target` intervals.
inline double nice_step(double span, double target) {
  const double raw = span / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  return (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * magnitude;
}

inline std::vector<double> ticks(double lo, double hi, double step) {
  std::vector<double> out;
  const double first = std::ceil(lo / step - 1e-9) * step;
  for (double v = first; v <= hi + step * 1e-9 && out.size() < 1000; v = first + step * static_cast<double>(out.size()))
    out.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return out;
}

inline std::string tick_text(double v, double step) {
  const int decimals = std::clamp(static_cast<int>(std::ceil(-std::log10(step) - 1e-9)), 0, 6);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

inline void check_finite(double v, const char* what) {
  if (!std::isfinite(v)) throw value_error(std::string("chart: ") + what + " must be finite, got " + std::to_string(v));
}

inline void check(const std::vector<Series>& series, const ChartOptions& o) {
  if (o.width == 0 || o.height == 0)
    throw value_error(std::string("chart: width and height must be positive, got ") + std::to_string(o.width) + "x" +
                      std::to_string(o.height));
  if (o.line_width == 0 || o.line_width > 64)
    throw value_error(std::string("chart: line_width must be 1..64, got ") + std::to_string(o.line_width));
  if (o.text_scale == 0 || o.text_scale > 16)
    throw value_error(std::string("chart: text_scale must be 1..16, got ") + std::to_string(o.text_scale));
  if (series.empty()) throw value_error("chart: no series to draw");
  for (std::size_t s = 0; s < series.size(); ++s) {
    const std::string name = series[s].label.empty() ? std::string("#") + std::to_string(s) : std::string("'") + series[s].label + "'";
    if (series[s].points.empty()) throw value_error("chart: series " + name + " has no points");
    for (std::size_t i = 0; i < series[s].points.size(); ++i) {
      const ChartPoint& p = series[s].points[i];
      if (!std::isfinite(p.x) || !std::isfinite(p.y))
        throw value_error("chart: series " + name + " point " + std::to_string(i) + " is (" + std::to_string(p.x) +
                          ", " + std::to_string(p.y) + "); values must be finite");
    }
  }
  for (const auto& [v, what] : {std::pair{o.x_min, "x_min"}, std::pair{o.x_max, "x_max"}, std::pair{o.y_min, "y_min"},
                                std::pair{o.y_max, "y_max"}})
    if (v) check_finite(*v, what);
  if (o.x_min && o.x_max && !(*o.x_min < *o.x_max))
    throw value_error("chart: x_min (" + std::to_string(*o.x_min) + ") must be below x_max (" + std::to_string(*o.x_max) + ")");
  if (o.y_min && o.y_max && !(*o.y_min < *o.y_max))
    throw value_error("chart: y_min (" + std::to_string(*o.y_min) + ") must be below y_max (" + std::to_string(*o.y_max) + ")");
}

// The value range of one axis: fixed ends where given, else the data's (padded by `pad` of the
// span), never empty.
inline std::pair<double, double> range(const std::vector<double>& values, std::optional<double> lo,
                                       std::optional<double> hi, double pad) {
  const auto [mn, mx] = std::minmax_element(values.begin(), values.end());
  double a = *mn, b = *mx;
  if (b - a <= 1e-12 * std::max(1.0, std::fabs(a))) {
    const double half = std::max(0.5, std::fabs(a) * 0.1);
    a -= half, b += half;
  } else {
    const double p = (b - a) * pad;
    a -= p, b += p;
  }
  if (lo) a = *lo;
  if (hi) b = *hi;
  if (!(a < b)) {  // one end fixed beyond the data
    if (lo) b = a + 1;
    else a = b - 1;
  }
  return {a, b};
}

struct Layout {
  ChartFrame frame;
  double x_step = 1, y_step = 1;
  std::vector<double> x_ticks, y_ticks;
};

inline Layout layout(const std::vector<Series>& series, const ChartOptions& o) {
  check(series, o);
  std::vector<double> xs, ys;
  bool integral_x = true;
  for (const Series& s : series)
    for (const ChartPoint& p : s.points) {
      xs.push_back(p.x), ys.push_back(p.y);
      integral_x = integral_x && p.x == std::floor(p.x);
    }
  Layout l;
  auto [x0, x1] = range(xs, o.x_min, o.x_max, 0.03);
  auto [y0, y1] = range(ys, o.y_min, o.y_max, 0.05);
  l.frame.x_min = x0, l.frame.x_max = x1, l.frame.y_min = y0, l.frame.y_max = y1;
  l.x_step = nice_step(x1 - x0, 8);
  if (integral_x) l.x_step = std::max(1.0, std::round(l.x_step));  // epochs stay whole numbers
  l.y_step = nice_step(y1 - y0, 6);
  l.x_ticks = ticks(x0, x1, l.x_step);
  l.y_ticks = ticks(y0, y1, l.y_step);

  const std::size_t k = o.text_scale, pad = 4 * k, line = glyph_rows * k, tick = 2 * k + 1;
  std::size_t label_w = 0;
  for (double v : l.y_ticks) label_w = std::max(label_w, text_width(tick_text(v, l.y_step), k));
  std::size_t last_x_w = 0;
  if (!l.x_ticks.empty()) last_x_w = text_width(tick_text(l.x_ticks.back(), l.x_step), k);
  const std::size_t top = pad + (o.title.empty() ? 0 : line + pad) + (o.y_label.empty() ? 0 : line + pad / 2) + k * 4;
  const std::size_t left = pad + label_w + tick + pad;
  const std::size_t right_margin = pad + last_x_w / 2 + k * 2;
  const std::size_t bottom_margin = tick + pad / 2 + line + (o.x_label.empty() ? 0 : pad / 2 + line) + pad;
  const std::size_t min_plot = 16;
  if (o.width < left + right_margin + min_plot || o.height < top + bottom_margin + min_plot)
    throw value_error("chart: " + std::to_string(o.width) + "x" + std::to_string(o.height) +
                      " is too small for the labels at text_scale " + std::to_string(k) + "; need at least " +
                      std::to_string(left + right_margin + min_plot) + "x" +
                      std::to_string(top + bottom_margin + min_plot));
  l.frame.left = left;
  l.frame.top = top;
  l.frame.right = o.width - 1 - right_margin;
  l.frame.bottom = o.height - 1 - bottom_margin;
  return l;
}

}  // namespace chart_detail

// The plot area and ranges line_chart() uses for these series and options.
inline ChartFrame chart_frame(const std::vector<Series>& series, const ChartOptions& options = {}) {
  return chart_detail::layout(series, options).frame;
}

inline Raster line_chart(const std::vector<Series>& series, const ChartOptions& options = {}) {
  using namespace chart_detail;
  const Layout l = layout(series, options);
  const ChartFrame& f = l.frame;
  const std::size_t k = options.text_scale, pad = 4 * k, line_h = glyph_rows * k, tick = 2 * k + 1;
  const Colour black{0, 0, 0}, grid{225, 225, 225}, text{40, 40, 40};
  Raster out = rgb_raster(options.height, options.width, 255);
  Canvas c(out);
  const auto L = static_cast<long long>(f.left), T = static_cast<long long>(f.top),
             R = static_cast<long long>(f.right), B = static_cast<long long>(f.bottom);

  // Grid lines and tick labels.
  for (double v : l.x_ticks) {
    const auto x = static_cast<long long>(f.column(v));
    c.fill(x, T, x, B, grid);
    c.fill(x, B, x, B + static_cast<long long>(tick), black);
    const std::string s = tick_text(v, l.x_step);
    c.text(x - static_cast<long long>(text_width(s, k) / 2), B + static_cast<long long>(tick + pad / 2), s, k, text);
  }
  for (double v : l.y_ticks) {
    const auto y = static_cast<long long>(f.row(v));
    c.fill(L, y, R, y, grid);
    c.fill(L - static_cast<long long>(tick), y, L, y, black);
    const std::string s = tick_text(v, l.y_step);
    c.text(L - static_cast<long long>(tick + pad / 2 + text_width(s, k)), y - static_cast<long long>(7 * k / 2), s, k, text);
  }
  c.outline(L, T, R, B, black);

  // Title, axis labels.
  long long y = static_cast<long long>(pad);
  if (!options.title.empty()) {
    c.text(static_cast<long long>((options.width - std::min(options.width, text_width(options.title, k))) / 2), y,
           options.title, k, black);
    y += static_cast<long long>(line_h + pad);
  }
  if (!options.y_label.empty()) c.text(static_cast<long long>(pad), y, options.y_label, k, text);
  if (!options.x_label.empty())
    c.text(L + (R - L - static_cast<long long>(text_width(options.x_label, k))) / 2,
           B + static_cast<long long>(tick + pad + line_h), options.x_label, k, text);

  // The series, clipped to the inside of the frame.
  const std::vector<Colour> cycle = chart_colours();
  std::vector<Colour> colours;
  for (std::size_t s = 0, next = 0; s < series.size(); ++s)
    colours.push_back(series[s].colour ? *series[s].colour : cycle[next++ % cycle.size()]);
  c.clip(f.left + 1, f.top + 1, f.right - 1, f.bottom - 1);
  const long long marker = static_cast<long long>(options.line_width + 4);
  for (std::size_t s = 0; s < series.size(); ++s) {
    const auto& pts = series[s].points;
    for (std::size_t i = 0; i < pts.size(); ++i) {
      const long long x = std::llround(f.column_at(pts[i].x)), yy = std::llround(f.row_at(pts[i].y));
      if (i > 0)
        c.line(std::llround(f.column_at(pts[i - 1].x)), std::llround(f.row_at(pts[i - 1].y)), x, yy,
               options.line_width, colours[s]);
      c.fill(x - (marker - 1) / 2, yy - (marker - 1) / 2, x + marker / 2, yy + marker / 2, colours[s]);
    }
  }
  c.unclip();

  // The legend: a swatch and the label per named series, in the inside corner of the plot that
  // covers the fewest stretches of the curves (top right on a tie).
  std::size_t named = 0, widest = 0;
  for (const Series& s : series)
    if (!s.label.empty()) ++named, widest = std::max(widest, text_width(s.label, k));
  if (options.legend && named > 0) {
    const std::size_t swatch = 16 * k, row_h = line_h + pad / 2;
    const auto box_w = static_cast<long long>(pad + swatch + pad + widest + pad),
               box_h = static_cast<long long>(pad + named * row_h);
    const auto gap = static_cast<long long>(pad);
    if (L + 2 * gap + box_w < R && T + 2 * gap + box_h < B) {
      const std::array<std::array<long long, 2>, 4> corners{{{R - gap - box_w, T + gap},
                                                             {R - gap - box_w, B - gap - box_h},
                                                             {L + gap, T + gap},
                                                             {L + gap, B - gap - box_h}}};
      long long x0 = corners[0][0], y0 = corners[0][1];
      std::size_t fewest = static_cast<std::size_t>(-1);
      for (const auto& [cx, cy] : corners) {
        std::size_t covered = 0;
        for (const Series& s : series)
          for (std::size_t i = 0; i < s.points.size(); ++i)
            for (int t = 0; t <= 16; ++t) {  // 17 samples along the segment into point i
              const double u = static_cast<double>(t) / 16.0;
              const ChartPoint& b = s.points[i];
              const ChartPoint& a = i ? s.points[i - 1] : b;
              const double px = f.column_at(a.x + u * (b.x - a.x)), py = f.row_at(a.y + u * (b.y - a.y));
              covered += px >= static_cast<double>(cx) && px <= static_cast<double>(cx + box_w) &&
                         py >= static_cast<double>(cy) && py <= static_cast<double>(cy + box_h);
            }
        if (covered < fewest) fewest = covered, x0 = cx, y0 = cy;
      }
      c.fill(x0, y0, x0 + box_w, y0 + box_h, {255, 255, 255});
      c.outline(x0, y0, x0 + box_w, y0 + box_h, {190, 190, 190});
      long long row = y0 + static_cast<long long>(pad);
      for (std::size_t s = 0; s < series.size(); ++s) {
        if (series[s].label.empty()) continue;
        const long long mid = row + static_cast<long long>(7 * k / 2);
        c.line(x0 + static_cast<long long>(pad), mid, x0 + static_cast<long long>(pad + swatch), mid,
               options.line_width, colours[s]);
        c.text(x0 + static_cast<long long>(2 * pad + swatch), row, series[s].label, k, text);
        row += static_cast<long long>(row_h);
      }
    }
  }
  return out;
}

}  // namespace semiseg::data
