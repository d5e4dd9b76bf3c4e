#!/usr/bin/env bash
# Builds graft and runs every test: the full suite on a release build, then the unit
# tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
# Usage: scripts/test.sh            (needs scripts/setup-debian.sh to have run once)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
jobs="${GRAFT_JOBS:-$(nproc)}"
# llama.cpp (the oracle of the conformance tests) comes from the npm registry.
scripts/fetch-llama.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 900
# Sanitizers: core and the CPU plugin with their unit tests (GPU plugins are not rebuilt).
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGRAFT_SANITIZE=ON \
  -DGRAFT_ENABLE_CUDA=OFF -DGRAFT_ENABLE_ROCM=OFF -DGRAFT_ENABLE_NPU=OFF
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -L unit --output-on-failure -j "$jobs" --timeout 900
