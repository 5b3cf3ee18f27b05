// The labeled/unlabeled draw shared by the folder examples: the same seed gives every strategy
// the same labeled images.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <semiseg/data/rng.hpp>

namespace examples {

struct LabeledSplit {
  std::vector<std::size_t> labeled, unlabeled;  // sorted indices
};

// A seeded shuffle of 0..size−1; round(fraction · size) of them, clamped to [at_least, size], are
// labeled and the rest unlabeled.
inline LabeledSplit labeled_split(std::size_t size, double fraction, std::uint64_t seed, std::size_t at_least) {
  std::vector<std::size_t> order(size);
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  semiseg::data::Rng pick(seed, semiseg::data::streams::split);
  for (std::size_t i = order.size(); i > 1; --i)
    std::swap(order[i - 1], order[static_cast<std::size_t>(pick.integer(0, static_cast<std::int64_t>(i) - 1))]);
  const auto n = std::clamp<std::size_t>(static_cast<std::size_t>(std::llround(fraction * static_cast<double>(size))),
                                         std::min(at_least, size), size);
  LabeledSplit s;
  s.labeled.assign(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n));
  s.unlabeled.assign(order.begin() + static_cast<std::ptrdiff_t>(n), order.end());
  std::sort(s.labeled.begin(), s.labeled.end());
  std::sort(s.unlabeled.begin(), s.unlabeled.end());
  return s;
}

}  // namespace examples
