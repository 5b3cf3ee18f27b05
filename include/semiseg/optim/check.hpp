// Option validation shared by optimizers, schedules and ramps. Contract: require(ok, ...) returns
// when ok is true and otherwise throws a semiseg::value_error that names the owner, the option,
// its valid range and the value found.
#pragma once

#include <sstream>
#include <string_view>

#include "semiseg/core/error.hpp"

namespace semiseg::optim::detail {

// Callers state the valid range as a comparison that NaN fails (`lr >= 0`, not `!(lr < 0)`), so
// a NaN option is rejected too. `expected` reads after the option's name: "must be in [0, 1)".
inline void require(bool ok, std::string_view owner, std::string_view option, std::string_view expected, double got) {
  if (ok) return;
  std::ostringstream message;
  message << "semiseg: " << owner << ": " << option << ' ' << expected << ", got " << got;
  throw value_error(message.str());
}

}  // namespace semiseg::optim::detail
