// Test entry point. The CUDA variant of a test program exits with 77 (ctest's "skipped") and says
// why when the machine has no CUDA device; listing the tests never touches the device.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

#if defined(SEMISEG_TEST_CUDA)
#include <cuda_runtime_api.h>
#endif

int main(int argc, char** argv) {
#if defined(SEMISEG_TEST_CUDA)
  bool listing = false;
  for (int i = 1; i < argc; ++i)
    if (std::strstr(argv[i], "-list-") || std::strstr(argv[i], "-ltc") || std::strstr(argv[i], "-lts"))
      listing = true;
  int devices = 0;
  if (!listing && (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0)) {
    std::puts("skipped: no CUDA device");
    return 77;
  }
#endif
  doctest::Context context(argc, argv);
  return context.run();
}
