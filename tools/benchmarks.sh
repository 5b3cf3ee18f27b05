#!/usr/bin/env bash
# The speed comparison of docs/performance.md: builds the workloads W1–W5, runs each beside its
# PyTorch twin at 1 and 2 threads, prints the ratio table and writes it, with the machine and the
# command, into docs/performance.md. Takes about 5 minutes on 2 cores after the build; run it on an
# idle machine.
# PyTorch gets its best configuration: Debian's python3-torch with OpenBLAS's OpenMP build as the
# system BLAS (libopenblas0-openmp), so one OpenMP pool serves both libraries.
# Arguments go to examples/benchmarks/run_benchmarks.py (--threads, --workloads, --rounds, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/setup.sh
missing=()
for p in python3-torch libopenblas0-openmp; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update
  "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build --parallel "$(nproc)" --target workloads
exec /usr/bin/python3 examples/benchmarks/run_benchmarks.py --build-dir build --write docs/performance.md "$@"
