// Shapes. Contract: a Shape<Rank> is a fixed-rank list of extents usable on host and device;
// `Small<T, N>` is the device-safe fixed array that kernels index.
#pragma once

#include <string>

#include "semiseg/config.hpp"

namespace semiseg {

template <class T, int N>
struct Small {
  T v[N > 0 ? N : 1]{};
  SEMISEG_HD constexpr T& operator[](int i) { return v[i]; }
  SEMISEG_HD constexpr const T& operator[](int i) const { return v[i]; }
  SEMISEG_HD constexpr T product() const {
    T p = 1;
    for (int i = 0; i < N; ++i) p *= v[i];
    return p;
  }
  friend constexpr bool operator==(const Small& a, const Small& b) {
    for (int i = 0; i < N; ++i)
      if (a.v[i] != b.v[i]) return false;
    return true;
  }
};

template <int Rank>
struct Shape {
  static constexpr int rank = Rank;
  Small<index_t, Rank> dims{};

  SEMISEG_HD constexpr index_t operator[](int i) const { return dims[i]; }
  SEMISEG_HD constexpr index_t& operator[](int i) { return dims[i]; }
  SEMISEG_HD constexpr index_t size() const { return dims.product(); }
  SEMISEG_HD constexpr index_t n() const { return dims[0]; }
  SEMISEG_HD constexpr index_t c() const { return dims[1]; }
  // Product of the spatial extents (1 for flat shapes).
  SEMISEG_HD constexpr index_t plane() const {
    index_t p = 1;
    for (int i = 2; i < Rank; ++i) p *= dims[i];
    return p;
  }
  SEMISEG_HD constexpr Small<index_t, Rank - 2> spatial() const {
    Small<index_t, Rank - 2> s{};
    for (int i = 0; i < Rank - 2; ++i) s[i] = dims[i + 2];
    return s;
  }
  friend constexpr bool operator==(const Shape& a, const Shape& b) { return a.dims == b.dims; }

  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < Rank; ++i) {
      if (i) s += 'x';
      s += std::to_string(dims[i]);
    }
    s += ']';
    return s;
  }
};

template <int S>
constexpr Shape<S + 2> make_shape(index_t n, index_t c, const Small<index_t, S>& spatial) {
  Shape<S + 2> s;
  s[0] = n;
  s[1] = c;
  for (int i = 0; i < S; ++i) s[i + 2] = spatial[i];
  return s;
}

}  // namespace semiseg
