# CUDA setup for the CUDA variant of the tests and benchmarks (SEMISEG_CUDA=ON).
# - nvcc's host compiler is the C++ compiler of the project, so .cu and .cpp units agree on
#   the standard library and class layouts (unless CUDAHOSTCXX or CMAKE_CUDA_HOST_COMPILER says
#   otherwise).
# - CMAKE_CUDA_ARCHITECTURES defaults to SEMISEG_CUDA_ARCHITECTURES (90: H100/H200).
# - CMake before 3.26 knows no C++20 flag for nvcc; nvcc has accepted -std=c++20 since 12.0.

# check_language(CUDA) leaves an empty CMAKE_CUDA_HOST_COMPILER variable behind.
if(NOT CMAKE_CUDA_HOST_COMPILER AND "$ENV{CUDAHOSTCXX}" STREQUAL "")
  set(CMAKE_CUDA_HOST_COMPILER "${CMAKE_CXX_COMPILER}" CACHE FILEPATH "Host compiler used by nvcc" FORCE)
  set(CMAKE_CUDA_HOST_COMPILER "${CMAKE_CXX_COMPILER}")
endif()
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "${SEMISEG_CUDA_ARCHITECTURES}")
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

if(CMAKE_CUDA_COMPILER_ID STREQUAL "NVIDIA" AND CMAKE_CUDA_COMPILER_VERSION VERSION_LESS 12.0)
  message(FATAL_ERROR "semiseg: the CUDA variant needs nvcc 12.0 or newer for C++20 (found ${CMAKE_CUDA_COMPILER_VERSION})")
endif()
if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()
set(CMAKE_CUDA_STANDARD 20)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
set(CMAKE_CUDA_EXTENSIONS OFF)
# cuBLAS links the shared CUDA runtime; the tests use the same one, not a second static copy.
set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
message(STATUS "semiseg: CUDA variant on (${CMAKE_CUDA_COMPILER} ${CMAKE_CUDA_COMPILER_VERSION}, "
               "host ${CMAKE_CUDA_HOST_COMPILER}, architectures ${SEMISEG_CUDA_ARCHITECTURES})")

# Flags for a target compiled as CUDA: the architectures chosen above, host warnings as for the
# C++ build, and cuBLAS. OpenMP and --expt-relaxed-constexpr come from semiseg::semiseg.
function(semiseg_cuda_target target)
  set_target_properties(${target} PROPERTIES CUDA_ARCHITECTURES "${SEMISEG_CUDA_ARCHITECTURES}")
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
  target_link_libraries(${target} PRIVATE CUDA::cudart CUDA::cublas OpenMP::OpenMP_CXX)
endfunction()
