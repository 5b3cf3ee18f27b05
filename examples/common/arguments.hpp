// Command-line helpers shared by the examples.
#pragma once

#include <charconv>
#include <cmath>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

namespace examples {

// "a,b,,c" → {"a", "b", "c"}: a comma-separated list, empty items dropped.
inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string s; std::getline(ss, s, ',');)
    if (!s.empty()) out.push_back(s);
  return out;
}

// A whole number (unsigned: no sign accepted) or a finite real, the whole text and nothing else:
// "12x", "1e400", "-3" and "" are refused.
template <class T>
bool parse(std::string_view text, T& into) {
  const char* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, into);
  if (text.empty() || ec != std::errc() || p != end) return false;
  if constexpr (std::is_floating_point_v<T>) return std::isfinite(into);
  return true;
}

}  // namespace examples
