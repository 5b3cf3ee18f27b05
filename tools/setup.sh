#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages semiseg needs to build and test, when any is missing.
# Does nothing (and needs no network or root) when all are present.
set -euo pipefail

packages=(build-essential cmake ninja-build libeigen3-dev xtensor-dev libstb-dev doctest-dev libtiff-dev zlib1g-dev
          nlohmann-json3-dev dataset-fashion-mnist libdnnl-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
