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
  // Whether backward must return the gradient with respect to the network's input. A training
  // step on data needs none, so the layer that reads the input (marked set_input_is_data by its
  // backbone) skips that product, as frameworks skip it for tensors without requires_grad.
  bool input_gradient = true;

  static constexpr Context training(std::uint32_t step = 0) { return {true, true, step, true}; }
  // A training pass whose input is data: no gradient with respect to it.
  static constexpr Context training_on_data(std::uint32_t step = 0) { return {true, true, step, false}; }
  static constexpr Context evaluation() { return {false, false, 0, true}; }
};

}  // namespace semiseg
