// Command-line helpers shared by the examples.
#pragma once

#include <sstream>
#include <string>
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

}  // namespace examples
