#!/usr/bin/env bash
# Builds and runs the smallest end-to-end example: a tiny segmentation network trained on
# generated data (examples/tiny_segmentation.cpp). Arguments are passed to the program.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f examples/tiny_segmentation.cpp ]; then
  echo "demo: examples/tiny_segmentation.cpp does not exist yet, so there is no demo to run" >&2
  exit 1
fi

tools/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
if ! cmake --build build --parallel "$(nproc)" --target tiny_segmentation; then
  echo "demo: building the tiny_segmentation target failed (is it declared in examples/CMakeLists.txt?)" >&2
  exit 1
fi

exe=$(find build -type f -name tiny_segmentation -perm -u+x | head -n 1)
if [ -z "$exe" ]; then
  echo "demo: the tiny_segmentation program was built but not found under build/" >&2
  exit 1
fi
exec "$exe" "$@"
