// What the metrics accept as a label map. Contract: a LabelRange is a contiguous container of
// int32 labels with data() and size(): std::vector, std::span, xt::xtensor or a Tensor;
// on_host<C>() is false for a Tensor on a device other than cpu, whose memory the host cannot
// read, so a metric can refuse it at compile time.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "semiseg/core/device.hpp"

namespace semiseg::metrics {

template <class C>
concept LabelRange = requires(const C& c) {
  { c.data() } -> std::convertible_to<const std::int32_t*>;
  { c.size() } -> std::convertible_to<std::size_t>;
};

template <class C>
constexpr bool on_host() {
  if constexpr (requires { typename C::device; }) return std::is_same_v<typename C::device, cpu>;
  else return true;
}

}  // namespace semiseg::metrics
