// Option validation shared by optimizers, schedules and ramps. Contract: require(ok, ...) throws a
// semiseg::value_error naming the owner, the option, the valid range and the value found; it
// returns normally when ok is true.
#pragma once

#include <sstream>
#include <string_view>

#include "semiseg/core/error.hpp"

namespace semiseg::optim::detail {

// `expected` reads after the option's name, e.g. "must be in [0, 1)". Written as
// require(!(x < 0), ...) by callers would let NaN through, so callers test the valid range with
// comparisons that NaN fails.
inline void require(bool ok, std::string_view owner, std::string_view option, std::string_view expected, double got) {
  if (ok) return;
  std::ostringstream message;
  message << "semiseg: " << owner << ": " << option << ' ' << expected << ", got " << got;
  throw value_error(message.str());
}

}  // namespace semiseg::optim::detail
