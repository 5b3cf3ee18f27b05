// Raw device memory. Contract: allocate/release/copy/fill move typed elements on a device;
// cpu memory is 64-byte aligned; every CUDA failure becomes a device_error.
#pragma once

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "semiseg/core/device.hpp"
#include "semiseg/core/error.hpp"

#if SEMISEG_HAS_CUDA
#include <cuda_runtime.h>
#endif

namespace semiseg {

#if SEMISEG_HAS_CUDA
inline void cuda_check(cudaError_t status, const char* what) {
  if (status != cudaSuccess)
    throw device_error(std::string("semiseg: ") + what + " failed: " + cudaGetErrorString(status));
}
#endif

// True when a CUDA device can be used by this process.
inline bool cuda_available() {
#if SEMISEG_HAS_CUDA
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
#else
  return false;
#endif
}

template <Device D, class T>
T* allocate(index_t count) {
  require_device_compiled<D>();
  if (count <= 0) return nullptr;
  const std::size_t bytes = static_cast<std::size_t>(count) * sizeof(T);
  if constexpr (is_cuda<D>) {
#if SEMISEG_HAS_CUDA
    void* p = nullptr;
    cuda_check(cudaMalloc(&p, bytes), "cudaMalloc");
    return static_cast<T*>(p);
#else
    return nullptr;  // unreachable: require_device_compiled has already failed to compile
#endif
  } else {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
}

template <Device D, class T>
void release(T* p) noexcept {
  if (!p) return;
  if constexpr (is_cuda<D>) {
#if SEMISEG_HAS_CUDA
    cudaFree(p);
#endif
  } else {
    std::free(p);
  }
}

// Copies `count` elements between any two devices.
template <Device To, Device From, class T>
void copy(T* dst, const T* src, index_t count) {
  if (count <= 0) return;
  const std::size_t bytes = static_cast<std::size_t>(count) * sizeof(T);
  if constexpr (!is_cuda<To> && !is_cuda<From>) {
    std::memcpy(dst, src, bytes);
  } else {
#if SEMISEG_HAS_CUDA
    cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault), "cudaMemcpy");
#else
    require_device_compiled<cuda>();
#endif
  }
}

template <Device D, class T>
void zero(T* p, index_t count) {
  if (count <= 0) return;
  const std::size_t bytes = static_cast<std::size_t>(count) * sizeof(T);
  if constexpr (is_cuda<D>) {
#if SEMISEG_HAS_CUDA
    cuda_check(cudaMemset(p, 0, bytes), "cudaMemset");
#endif
  } else {
    std::memset(p, 0, bytes);
  }
}

}  // namespace semiseg
