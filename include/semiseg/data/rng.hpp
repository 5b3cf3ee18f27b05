// Sequential random draws for host-side data work. Contract: an Rng is a cursor over one Philox
// lane; the draws depend only on (seed, stream, step, lane) and the order of calls, never on the
// thread that makes them, so the loader's output is the same for any number of threads.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "semiseg/core/error.hpp"
#include "semiseg/core/philox.hpp"

namespace semiseg::data {

// Philox stream ids of the data layer, kept apart from the layers' streams.
namespace streams {
inline constexpr std::uint32_t shuffle = 0x5348'0000u;
inline constexpr std::uint32_t augment = 0x4155'0000u;
inline constexpr std::uint32_t dataset = 0x4453'0000u;
inline constexpr std::uint32_t split = 0x5350'0000u;
}  // namespace streams

// Fork purposes reserved by the data layer, kept clear of the small numbers transforms use.
namespace forks {
inline constexpr std::uint32_t strong_view = 0xFFFF'FFFFu;
}  // namespace forks

class Rng {
 public:
  // `lane` selects an independent sequence inside (seed, stream, step), e.g. a sample's index.
  Rng(std::uint64_t seed, std::uint32_t stream, std::uint32_t step = 0, std::uint32_t lane = 0)
      : key_{seed, stream, step}, lane_(lane), base_(static_cast<std::uint64_t>(lane) << 32) {}

  // An independent generator for a sub-task (a second view, one item of a composite). The same
  // purpose on the same generator gives the same child, whatever has been drawn so far.
  Rng fork(std::uint32_t purpose) const {
    return Rng(key_.seed, key_.stream * 0x9E37'79B1u + purpose + 1u, key_.step, lane_);
  }

  std::uint32_t bits() { return key_.bits(base_ + next_++).v[0]; }
  // Uniform in [0, 1).
  double uniform() { return key_.uniform<double>(base_ + next_++); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [lo, hi], both ends included.
  std::int64_t integer(std::int64_t lo, std::int64_t hi) {
    if (hi < lo)
      throw value_error("Rng::integer: empty range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    const std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
    const auto k = static_cast<std::uint64_t>(std::floor(uniform() * (static_cast<double>(span) + 1.0)));
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + (k > span ? span : k));
  }
  bool bernoulli(double p) { return uniform() < p; }
  double normal() { return key_.normal<double>(base_ + next_++); }
  double normal(double mean, double stddev) { return mean + stddev * normal(); }

 private:
  Philox key_;
  std::uint32_t lane_;
  std::uint64_t base_;
  std::uint64_t next_ = 0;
};

}  // namespace semiseg::data
