#!/usr/bin/env bash
# Builds everything and runs the whole test suite: tools/test.sh
# Build folder: build (Release, Ninja). The CUDA variant is built when nvcc is found; without a
# CUDA device its tests are reported as skipped. SEMISEG_CUDA=OFF (or ON) overrides the choice.
# Then build-onednn checks the optional oneDNN convolutions (SEMISEG_ONEDNN=ON): their own test,
# and the convolution, U-Net and allocation tests through them.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh

args=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
nvcc=$(command -v nvcc || true)
[ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc
cuda=${SEMISEG_CUDA:-$([ -n "$nvcc" ] && echo ON || echo OFF)}
args+=(-DSEMISEG_CUDA="$cuda")
if [ "$cuda" = ON ] && [ -n "$nvcc" ]; then
  args+=(-DCMAKE_CUDA_COMPILER="$nvcc")
fi

cmake -S . -B build "${args[@]}"
cmake --build build --parallel "$(nproc)"
# Two test programs run at once on two cores, so each gets one OpenMP thread: more threads only
# spin against each other.
(cd build && OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} ctest --output-on-failure -j2)

onednn_tests=(semiseg_kernels_onednn_conv semiseg_nn_conv semiseg_backbone_unet semiseg_train_allocations)
cmake -S . -B build-onednn -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEMISEG_CUDA=OFF -DSEMISEG_BUILD_EXAMPLES=OFF \
      -DSEMISEG_ONEDNN=ON
cmake --build build-onednn --parallel "$(nproc)" --target "${onednn_tests[@]}"
for t in "${onednn_tests[@]}"; do
  echo "oneDNN build: $t"
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "build-onednn/tests/$t"
done
