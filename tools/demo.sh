#!/usr/bin/env bash
# The main job: semi-supervised segmentation of Fashion-MNIST composites with a small U-Net,
# the supervised baseline beside Mean Teacher on the same budget (about 10 minutes on 2 cores).
# Prints validation and test mIoU and writes runs/fashion_segmentation/predictions_dim2.png.
# Arguments go to examples/fashion_mnist_segmentation (see the comment at its top).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
if ! cmake --build build --parallel "$(nproc)" --target fashion_mnist_segmentation; then
  echo "demo: building the fashion_mnist_segmentation target failed" >&2
  exit 1
fi
exec build/examples/fashion_mnist_segmentation "$@"
