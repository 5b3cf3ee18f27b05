// Overridable build macros shared by every header.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SEMISEG_HD __host__ __device__
#define SEMISEG_HAS_CUDA 1
#else
#define SEMISEG_HD
#define SEMISEG_HAS_CUDA 0
#endif

// Work smaller than this runs on the calling thread: an OpenMP region costs microseconds.
#ifndef SEMISEG_PARALLEL_GRAIN
#define SEMISEG_PARALLEL_GRAIN 32768
#endif

// Threads per block of the grid-stride kernel behind launch<cuda>.
#ifndef SEMISEG_CUDA_BLOCK
#define SEMISEG_CUDA_BLOCK 256
#endif

namespace semiseg {
using index_t = std::int64_t;
}  // namespace semiseg
