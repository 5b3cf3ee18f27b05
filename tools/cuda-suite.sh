#!/usr/bin/env bash
# Builds and runs the CUDA tests on a GPU machine that lacks the Debian header packages.
# First, on a Debian machine, unpack them into the checkout:  ../shared/tools/gpu-deps
# (it creates .deps/), then carry the checkout with .deps/ to the GPU machine and run
#   tools/cuda-suite.sh [LOG]        (default LOG: build-cuda/cuda-suite.log)
# Exits non-zero when the build or a test fails; the whole output also goes to LOG.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
log=${1:-build-cuda/cuda-suite.log}
case "$log" in /*) ;; *) log="$root/$log" ;; esac
mkdir -p build-cuda "$(dirname "$log")"

deps="$root/.deps/usr"
if [ ! -d "$deps" ]; then
  echo "cuda-suite: $deps is missing; run ../shared/tools/gpu-deps on a Debian machine first" >&2
  exit 1
fi

args=(-DCMAKE_PREFIX_PATH="$deps" -DSEMISEG_CUDA=ON -DSEMISEG_CUDA_ARCHITECTURES=90 -DCMAKE_BUILD_TYPE=Release)
# The unpacked packages keep their configs under lib/<multiarch>/cmake, which CMake only
# searches when it knows the multiarch name; point at them directly.
for pkg in "$deps"/lib/*/cmake/*/; do
  name=$(basename "$pkg")
  args+=(-D"${name}_DIR=${pkg%/}")
done
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  args+=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
fi
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

{
  echo "cuda-suite: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,driver_version --format=csv,noheader || true; fi
  cmake -S . -B build-cuda "${generator[@]}" "${args[@]}"
  cmake --build build-cuda --parallel "$(nproc)" --target semiseg_cuda_tests
  cd build-cuda
  # The largest CPU-vs-CUDA difference of every layer, for docs/cuda.md.
  tests/semiseg_device_agreement_cuda | grep '^agreement' || true
  ctest -L cuda --output-on-failure
} 2>&1 | tee "$log"
