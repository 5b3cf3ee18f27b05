// Running a kernel body over an index range. Contract: launch<D>(n, f) calls f(i) once for every
// i in [0, n), in any order and possibly concurrently; f must be a SEMISEG_HD functor that
// captures device pointers by value. cpu uses OpenMP once n reaches `grain` (lower it for work
// items that each loop over many elements) and more than one thread would run; cuda uses a
// grid-stride kernel on the default stream.
#pragma once

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "semiseg/core/device.hpp"
#include "semiseg/core/memory.hpp"

namespace semiseg {

// Whether an OpenMP parallel region started here would run on more than one thread. Loops skip
// the region when it would not: libgomp allocates a team for every one-thread region.
inline bool parallel_region_helps() {
#if defined(_OPENMP)
  return omp_get_max_threads() > 1 && omp_get_active_level() < omp_get_max_active_levels();
#else
  return false;
#endif
}

#if SEMISEG_HAS_CUDA
namespace detail {
template <class F>
__global__ void grid_stride_kernel(index_t n, F f) {
  const index_t stride = static_cast<index_t>(blockDim.x) * gridDim.x;
  for (index_t i = static_cast<index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) f(i);
}
}  // namespace detail
#endif

template <Device D, class F>
void launch(index_t n, const F& f, index_t grain = SEMISEG_PARALLEL_GRAIN) {
  require_device_compiled<D>();
  if (n <= 0) return;
  if constexpr (is_cuda<D>) {
#if SEMISEG_HAS_CUDA
    constexpr int block = SEMISEG_CUDA_BLOCK;
    const index_t wanted = (n + block - 1) / block;
    const unsigned grid = static_cast<unsigned>(wanted < 65535 * 8 ? wanted : 65535 * 8);
    detail::grid_stride_kernel<<<grid, block>>>(n, f);
    cuda_check(cudaGetLastError(), "kernel launch");
#endif
  } else if (n < grain || !parallel_region_helps()) {
    for (index_t i = 0; i < n; ++i) f(i);
  } else {
#pragma omp parallel for schedule(static)
    for (index_t i = 0; i < n; ++i) f(i);
  }
}

// The grain for work items that each touch `elements` values.
inline index_t grain_for(index_t elements) {
  return elements >= SEMISEG_PARALLEL_GRAIN ? 1 : SEMISEG_PARALLEL_GRAIN / (elements > 0 ? elements : 1);
}

// An element-wise kernel whose functor also has `over_plane(q)`, which does elements
// [q·plane, (q+1)·plane) in one contiguous loop: cpu runs planes (loops that vectorise, with the
// per-plane constants hoisted), cuda runs elements.
template <class F>
struct PlaneItems {
  F f;
  SEMISEG_HD void operator()(index_t q) const { f.over_plane(q); }
};

template <Device D, class F>
void launch_planes(index_t elements, index_t plane, const F& f) {
  if constexpr (is_cuda<D>) launch<D>(elements, f);
  else if (plane > 0) launch<D>(elements / plane, PlaneItems<F>{f}, grain_for(plane));
}

// Vectorise the next loop on cpu, summing into the named variables in any order.
#define SEMISEG_PRAGMA(text) _Pragma(#text)
#if defined(__CUDA_ARCH__) || !defined(_OPENMP)
#define SEMISEG_SIMD_SUM(...)
#else
#define SEMISEG_SIMD_SUM(...) SEMISEG_PRAGMA(omp simd reduction(+ : __VA_ARGS__))
#endif

// Host-side loop over independent work items that are each large (images, planes). Not a
// device kernel: the body may call library functions that launch kernels themselves.
template <class F>
void parallel_for(index_t n, const F& f) {
  if (n <= 1 || !parallel_region_helps()) {
    for (index_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(static)
  for (index_t i = 0; i < n; ++i) f(i);
}

// Waits until every kernel launched so far has finished (a no-op on cpu).
template <Device D>
void synchronize() {
  if constexpr (is_cuda<D>) {
#if SEMISEG_HAS_CUDA
    cuda_check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
#endif
  }
}

}  // namespace semiseg
