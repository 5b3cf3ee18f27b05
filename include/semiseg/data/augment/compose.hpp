// Chaining and gating of augmentations, and the checks every augmentation shares. Contract: a
// transform is any callable `void(Sample<Dim>&, Rng&)`; Compose applies its transforms in order,
// each drawing from the same Rng in turn, so a chain is reproducible from the Rng alone.
// RandomApply draws exactly one number, then runs its transform with probability p.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "semiseg/core/dim.hpp"
#include "semiseg/core/error.hpp"
#include "semiseg/data/rng.hpp"
#include "semiseg/data/sample.hpp"

namespace semiseg::data::aug {

namespace detail {

inline void check_probability(const char* what, double p) {
  if (!(p >= 0.0 && p <= 1.0))
    throw value_error(std::string(what) + ": probability must be in [0, 1], got " + std::to_string(p));
}

inline void check_range(const char* what, double lo, double hi) {
  if (!(lo <= hi))
    throw value_error(std::string(what) + ": range must have min <= max, got [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "]");
}

template <std::size_t N>
std::string shape_string(const std::array<std::size_t, N>& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < N; ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

template <class Tensor>
auto shape_array(const Tensor& t) {
  std::array<std::size_t, std::tuple_size_v<typename Tensor::shape_type>> s{};
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = t.shape()[i];
  return s;
}

// Masks and instance maps must cover the image pixel for pixel, or a geometric transform would
// silently misalign them.
template <SpatialDimension Dim>
void check_sample(const Sample<Dim>& s, const char* what) {
  if (s.image.size() == 0) throw shape_error(std::string(what) + ": the sample has an empty image");
  const auto spatial = s.spatial_shape();
  if (s.has_mask() && shape_array(s.mask) != spatial)
    throw shape_error(std::string(what) + ": mask shape " + shape_string(shape_array(s.mask)) +
                      " differs from the image's spatial shape " + shape_string(spatial));
  if (s.has_instances() && shape_array(s.instances) != spatial)
    throw shape_error(std::string(what) + ": instance map shape " + shape_string(shape_array(s.instances)) +
                      " differs from the image's spatial shape " + shape_string(spatial));
}

template <std::size_t N>
std::size_t volume(const std::array<std::size_t, N>& s) {
  std::size_t n = 1;
  for (std::size_t v : s) n *= v;
  return n;
}

template <std::size_t N>
std::array<std::int64_t, N> strides_of(const std::array<std::size_t, N>& shape) {
  std::array<std::int64_t, N> s{};
  std::int64_t v = 1;
  for (std::size_t a = N; a-- > 0;) {
    s[a] = v;
    v *= static_cast<std::int64_t>(shape[a]);
  }
  return s;
}

}  // namespace detail

template <SpatialDimension Dim>
class Compose {
 public:
  using Transform = std::function<void(Sample<Dim>&, Rng&)>;

  Compose() = default;
  Compose(std::initializer_list<Transform> transforms) : transforms_(transforms) {}

  Compose& add(Transform t) {
    transforms_.push_back(std::move(t));
    return *this;
  }
  void operator()(Sample<Dim>& sample, Rng& rng) const {
    for (const auto& t : transforms_) t(sample, rng);
  }
  std::size_t size() const { return transforms_.size(); }
  bool empty() const { return transforms_.empty(); }

 private:
  std::vector<Transform> transforms_;
};

// Runs `transform` with probability p (torchvision's RandomApply).
template <class T>
struct RandomApply {
  T transform{};
  double p = 0.5;

  template <SpatialDimension Dim>
  void operator()(Sample<Dim>& sample, Rng& rng) const {
    detail::check_probability("RandomApply", p);
    if (rng.bernoulli(p)) transform(sample, rng);
  }
};
template <class T>
RandomApply(T, double) -> RandomApply<T>;

}  // namespace semiseg::data::aug
