// Forward context. Contract: `train` selects dropout and batch statistics; `needs_backward`
// decides whether a layer keeps what backward reads. They are independent: a Mean Teacher
// teacher runs train without backward, validation runs eval without it. `step` keys the random
// draws of the pass.
#pragma once

#include <cstdint>

namespace semiseg {

struct Context {
  bool train = true;
  bool needs_backward = true;
  std::uint32_t step = 0;

  static constexpr Context training(std::uint32_t step = 0) { return {true, true, step}; }
  static constexpr Context evaluation() { return {false, false, 0}; }
};

}  // namespace semiseg
