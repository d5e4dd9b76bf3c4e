#!/usr/bin/env bash
# Configures and builds graft into build/ (release with debug info). The demo model's
# vocabulary and the tests' llama.cpp oracle come from scripts/fetch-llama.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/fetch-llama.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build build -j "${GRAFT_JOBS:-$(nproc)}"
