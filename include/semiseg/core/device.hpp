// Device policies. Contract: `cpu` runs kernels in OpenMP loops and is always available; `cuda`
// runs them on the GPU and needs the translation unit to be compiled by nvcc.
#pragma once

#include <concepts>

#include "semiseg/config.hpp"

namespace semiseg {

struct cpu {
  static constexpr const char* name = "cpu";
};
struct cuda {
  static constexpr const char* name = "cuda";
};

template <class D>
concept Device = std::same_as<D, cpu> || std::same_as<D, cuda>;

template <class D>
inline constexpr bool is_cuda = std::same_as<D, cuda>;

// Used in static_asserts that must fire only when a template is instantiated.
template <class...>
inline constexpr bool dependent_false = false;

template <class D>
constexpr void require_device_compiled() {
  static_assert(!is_cuda<D> || SEMISEG_HAS_CUDA,
                "semiseg: the cuda device needs this file compiled by nvcc (configure with -DSEMISEG_CUDA=ON and use a .cu file)");
}

}  // namespace semiseg
