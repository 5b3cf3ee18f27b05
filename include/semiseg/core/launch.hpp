// Running a kernel body over an index range. Contract: launch<D>(n, f) calls f(i) once for every
// i in [0, n), in any order and possibly concurrently; f must be a SEMISEG_HD functor that
// captures device pointers by value. cpu uses OpenMP once n reaches `grain` (lower it for work
// items that each loop over many elements); cuda uses a grid-stride kernel on the default stream.
#pragma once

#include "semiseg/core/device.hpp"
#include "semiseg/core/memory.hpp"

namespace semiseg {

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
  } else {
#pragma omp parallel for schedule(static) if (n >= grain)
    for (index_t i = 0; i < n; ++i) f(i);
  }
}

// The grain for work items that each touch `elements` values.
inline index_t grain_for(index_t elements) {
  return elements >= SEMISEG_PARALLEL_GRAIN ? 1 : SEMISEG_PARALLEL_GRAIN / (elements > 0 ? elements : 1);
}

// Host-side loop over independent work items that are each large (images, planes). Not a
// device kernel: the body may call library functions that launch kernels themselves.
template <class F>
void parallel_for(index_t n, const F& f) {
#pragma omp parallel for schedule(static) if (n > 1)
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
