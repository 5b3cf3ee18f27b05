// The squares task shared by the trainer tests: noisy images with one bright square (class 1)
// on a dark background (class 0), and the loader options and scratch paths those tests use.
#pragma once

#include <filesystem>
#include <string>

#include "semiseg/core/dim.hpp"
#include "semiseg/data/loader.hpp"
#include "semiseg/data/rng.hpp"
#include "semiseg/data/sample.hpp"
#include "support/harness.hpp"

namespace semiseg::test {

// Scratch paths carry the device's name, so the cpu and cuda variants can run side by side.
inline std::filesystem::path scratch(const std::string& stem, const std::string& extension = "") {
  return std::filesystem::temp_directory_path() / (stem + "_" + device::name + extension);
}

// Noisy images with one bright square (class 1) on a dark background (class 0), placed at random:
// a task a one-level U-Net learns in a few seconds. With `classify`, the label says whether the
// square is in the left or the right half.
template <SpatialDimension Dim>
struct Squares {
  using dim_type = Dim;
  std::size_t count = 48;
  std::uint64_t seed = 1;
  bool labeled = true;
  std::size_t size() const { return count; }
  data::Sample<Dim> get(std::size_t i) const {
    data::Rng rng(seed, 77, 0, static_cast<std::uint32_t>(i));
    const std::size_t side = 16, depth = Dim::spatial == 3 ? 8 : 1, half = 4;
    data::SpatialShape<Dim> spatial;
    std::array<std::size_t, Dim::spatial + 1> shape;
    shape[0] = 1;
    for (int a = 0; a < Dim::spatial; ++a) spatial[static_cast<std::size_t>(a)] = shape[static_cast<std::size_t>(a) + 1] = side;
    if constexpr (Dim::spatial == 3) spatial[0] = shape[1] = depth;
    data::Sample<Dim> s;
    s.image = data::Image<Dim>::from_shape(shape);
    s.mask = data::LabelMap<Dim>::from_shape(spatial);
    const auto cy = static_cast<std::size_t>(rng.integer(0, side - 2 * half)), cx = static_cast<std::size_t>(rng.integer(0, side - 2 * half));
    for (std::size_t k = 0; k < s.mask.size(); ++k) {
      const std::size_t x = k % side, y = k / side % side;
      const bool inside = y >= cy && y < cy + 2 * half && x >= cx && x < cx + 2 * half;
      s.mask.data()[k] = inside ? 1 : 0;
      s.image.data()[k] = static_cast<float>((inside ? 0.8 : 0.2) + 0.15 * rng.normal());
    }
    s.label = cx + half < side / 2 ? 0 : 1;
    if (!labeled) {
      s.mask = {};
      s.label = data::no_label;
    }
    s.index = i;
    return s;
  }
};

// One loader thread; built by assignment because nvcc 13.0 misreads these designated initializers.
inline data::LoaderOptions loader_options(std::size_t batch_size, std::uint64_t seed) {
  data::LoaderOptions o;
  o.batch_size = batch_size;
  o.seed = seed;
  o.threads = 1;
  return o;
}

}  // namespace semiseg::test
