// Element-wise kernels. Contract: each functor touches index i of its arrays only, so any launch
// order is correct. Activation functions give their value and their derivative from the input
// and the output, so backward never recomputes transcendental functions.
#pragma once

#include "semiseg/core/launch.hpp"
#include "semiseg/core/math.hpp"

namespace semiseg {

namespace fn {
struct relu {
  template <class T>
  SEMISEG_HD T value(T x) const { return x > T(0) ? x : T(0); }
  template <class T>
  SEMISEG_HD T derivative(T x, T) const { return x > T(0) ? T(1) : T(0); }
};
struct leaky_relu {
  double negative_slope = 0.01;
  template <class T>
  SEMISEG_HD T value(T x) const { return x > T(0) ? x : T(negative_slope) * x; }
  template <class T>
  SEMISEG_HD T derivative(T x, T) const { return x > T(0) ? T(1) : T(negative_slope); }
};
struct sigmoid {
  template <class T>
  SEMISEG_HD T value(T x) const {
    // Either branch keeps exp's argument non-positive, so neither overflows.
    if (x >= T(0)) return T(1) / (T(1) + math::exp(-x));
    const T e = math::exp(x);
    return e / (T(1) + e);
  }
  template <class T>
  SEMISEG_HD T derivative(T, T y) const { return y * (T(1) - y); }
};
struct tanh_fn {
  template <class T>
  SEMISEG_HD T value(T x) const { return math::tanh(x); }
  template <class T>
  SEMISEG_HD T derivative(T, T y) const { return T(1) - y * y; }
};
}  // namespace fn

template <class T, class F>
struct ApplyForward {
  const T* x;
  T* y;
  F f;
  SEMISEG_HD void operator()(index_t i) const { y[i] = f.value(x[i]); }
};

template <class T, class F>
struct ApplyBackward {
  const T* x;
  const T* y;
  const T* dy;
  T* dx;
  F f;
  SEMISEG_HD void operator()(index_t i) const { dx[i] = dy[i] * f.derivative(x[i], y[i]); }
};

template <class T>
struct Copy {
  const T* x;
  T* y;
  SEMISEG_HD void operator()(index_t i) const { y[i] = x[i]; }
};

template <class T>
struct Sum2 {
  const T* a;
  const T* b;
  T* y;
  SEMISEG_HD void operator()(index_t i) const { y[i] = a[i] + b[i]; }
};

}  // namespace semiseg
