// A class colour table: the `name,r,g,b` CSV that labels colour masks (one row per class, the
// class index is the row). Contract: reading checks every row and names the file and line of a
// problem; select() keeps the named classes in the given order, as training on a subset does.
#pragma once

#include <array>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "semiseg/core/error.hpp"

namespace semiseg::data {

struct ClassColour {
  std::string name;
  std::array<std::uint8_t, 3> rgb{};
};

class ClassTable {
 public:
  ClassTable() = default;
  explicit ClassTable(std::vector<ClassColour> classes) : classes_(std::move(classes)) { check_unique(""); }

  // Reads a CSV whose header has the columns name, r, g and b (in any order, other columns
  // ignored, names compared without case).
  static ClassTable read_csv(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) throw io_error(path.string() + ": cannot open the class table");
    std::string line;
    if (!std::getline(in, line)) throw io_error(path.string() + ": empty class table, expected a header name,r,g,b");
    // Spreadsheets often start the file with a UTF-8 byte order mark.
    if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    const std::vector<std::string> header = split(line);
    const auto column = [&](const char* want) {
      for (std::size_t i = 0; i < header.size(); ++i)
        if (lower(trim(header[i])) == want) return i;
      throw io_error(path.string() + ": the header '" + trim(line) + "' has no column '" + want +
                     "'; expected name,r,g,b");
    };
    const std::size_t name_col = column("name"), r_col = column("r"), g_col = column("g"), b_col = column("b");
    std::vector<ClassColour> classes;
    for (std::size_t number = 2; std::getline(in, line); ++number) {
      if (trim(line).empty()) continue;
      const std::vector<std::string> cells = split(line);
      const std::string where = path.string() + ":" + std::to_string(number) + ": ";
      if (cells.size() != header.size())
        throw io_error(where + "expected " + std::to_string(header.size()) + " columns, found " +
                       std::to_string(cells.size()));
      ClassColour c;
      c.name = trim(cells[name_col]);
      if (c.name.empty()) throw io_error(where + "empty class name");
      const std::size_t cols[3] = {r_col, g_col, b_col};
      for (int k = 0; k < 3; ++k) c.rgb[static_cast<std::size_t>(k)] = channel_value(trim(cells[cols[k]]), where);
      classes.push_back(std::move(c));
    }
    if (classes.empty()) throw io_error(path.string() + ": the class table has a header but no classes");
    ClassTable table;
    table.classes_ = std::move(classes);
    table.check_unique(path.string() + ": ");
    return table;
  }

  std::size_t size() const { return classes_.size(); }
  const std::vector<ClassColour>& classes() const { return classes_; }
  const ClassColour& operator[](std::size_t i) const { return classes_.at(i); }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const ClassColour& c : classes_) out.push_back(c.name);
    return out;
  }

  // The class whose colour is rgb, if any.
  std::optional<std::size_t> find(std::array<std::uint8_t, 3> rgb) const {
    for (std::size_t i = 0; i < classes_.size(); ++i)
      if (classes_[i].rgb == rgb) return i;
    return std::nullopt;
  }
  std::optional<std::size_t> find(const std::string& name) const {
    for (std::size_t i = 0; i < classes_.size(); ++i)
      if (lower(classes_[i].name) == lower(name)) return i;
    return std::nullopt;
  }

  // The named classes only, in the order given; names are compared without case.
  ClassTable select(const std::vector<std::string>& names) const {
    std::vector<ClassColour> picked;
    for (const std::string& n : names) {
      const std::optional<std::size_t> i = find(n);
      if (!i) {
        std::string known;
        for (const ClassColour& c : classes_) known += (known.empty() ? "" : ", ") + c.name;
        throw value_error("class table: no class named '" + n + "'; the table has " + known);
      }
      picked.push_back(classes_[*i]);
    }
    return ClassTable(std::move(picked));
  }

 private:
  static std::string lower(std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  }
  static std::string trim(const std::string& s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
  }
  // CSV cells: commas inside double quotes belong to the cell, and "" is a quote character.
  static std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> cells(1);
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char ch = line[i];
      if (ch == '"' && quoted && i + 1 < line.size() && line[i + 1] == '"') {
        cells.back().push_back('"');
        ++i;
      } else if (ch == '"') {
        quoted = !quoted;
      } else if (ch == ',' && !quoted) {
        cells.emplace_back();
      } else {
        cells.back().push_back(ch);
      }
    }
    return cells;
  }
  static std::uint8_t channel_value(const std::string& text, const std::string& where) {
    int v = -1;
    std::size_t used = 0;
    try {
      v = std::stoi(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != text.size() || text.empty() || v < 0 || v > 255)
      throw io_error(where + "colour value '" + text + "' is not an integer in 0..255");
    return static_cast<std::uint8_t>(v);
  }
  void check_unique(const std::string& where) const {
    for (std::size_t i = 0; i < classes_.size(); ++i)
      for (std::size_t j = 0; j < i; ++j) {
        if (classes_[i].rgb == classes_[j].rgb)
          throw value_error(where + "classes '" + classes_[j].name + "' and '" + classes_[i].name +
                            "' share one colour");
        if (lower(classes_[i].name) == lower(classes_[j].name))
          throw value_error(where + "class '" + classes_[i].name + "' appears twice");
      }
  }

  std::vector<ClassColour> classes_;
};

}  // namespace semiseg::data
