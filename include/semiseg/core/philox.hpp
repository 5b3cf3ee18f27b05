// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011). Contract: a draw is a pure
// function of (seed, stream, step, index), identical on host and device and independent of the
// thread count, so runs are reproducible and resumable.
#pragma once

#include <cstdint>

#include "semiseg/core/math.hpp"

namespace semiseg {

struct PhiloxResult {
  std::uint32_t v[4];
};

SEMISEG_HD inline std::uint32_t mulhilo32(std::uint32_t a, std::uint32_t b, std::uint32_t& hi) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(p >> 32);
  return static_cast<std::uint32_t>(p);
}

// Ten rounds of Philox4x32 on counter (c0..c3) with key (k0, k1).
SEMISEG_HD inline PhiloxResult philox4x32(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3,
                                          std::uint32_t k0, std::uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, hi1;
    const std::uint32_t lo0 = mulhilo32(0xD2511F53u, c0, hi0);
    const std::uint32_t lo1 = mulhilo32(0xCD9E8D57u, c2, hi1);
    const std::uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// The stream of draws for one purpose. `seed` is the run's seed, `stream` names the consumer (a
// layer, the sampler, augmentation), `step` the training step; `index` picks the element.
struct Philox {
  std::uint64_t seed = 0;
  std::uint32_t stream = 0;
  std::uint32_t step = 0;

  SEMISEG_HD PhiloxResult bits(std::uint64_t index) const {
    return philox4x32(static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32), step, stream,
                      static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
  }
  // Uniform in [0, 1), 24 bits of resolution in float and 53 in double.
  template <class T>
  SEMISEG_HD T uniform(std::uint64_t index) const {
    const PhiloxResult r = bits(index);
    if constexpr (sizeof(T) == 4) {
      return static_cast<T>(r.v[0] >> 8) * static_cast<T>(1.0 / 16777216.0);
    } else {
      const std::uint64_t m = (static_cast<std::uint64_t>(r.v[0]) << 21) ^ (r.v[1] >> 11);
      return static_cast<T>(m & ((std::uint64_t{1} << 53) - 1)) * static_cast<T>(1.0 / 9007199254740992.0);
    }
  }
  // Standard normal by Box-Muller on two fresh words.
  template <class T>
  SEMISEG_HD T normal(std::uint64_t index) const {
    const PhiloxResult r = bits(index);
    const double u1 = (static_cast<double>(r.v[2]) + 1.0) * (1.0 / 4294967297.0);
    const double u2 = static_cast<double>(r.v[3]) * (1.0 / 4294967296.0);
    return static_cast<T>(math::sqrt(-2.0 * math::log(u1)) * ::cos(6.283185307179586 * u2));
  }
  Philox with_step(std::uint32_t s) const { return {seed, stream, s}; }
};

}  // namespace semiseg
