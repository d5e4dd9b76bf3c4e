#!/usr/bin/env bash
# Installs everything graft needs to build and test on Debian 12 (bookworm):
# compilers and build tools, the libraries graft links, the toolchains of the GPU/NPU
# plugins, and the browser used by the chat-page test. Run as root (or through sudo).
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake ninja-build pkg-config git ca-certificates \
  clang clang-format libclang-rt-dev \
  libboost1.81-dev libboost-json1.81-dev \
  libyaml-cpp-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev libcli11-dev \
  libdnnl-dev hipcc libamdhip64-dev libze-dev libssl-dev libarchive-dev \
  chromium >/dev/null
# Node.js runs the client, template and browser tests. A nodesource nodejs carries npm;
# Debian's nodejs needs the separate npm package.
if ! command -v node >/dev/null; then $SUDO apt-get install -y -qq nodejs >/dev/null; fi
if ! command -v npm >/dev/null; then $SUDO apt-get install -y -qq npm >/dev/null; fi
echo "setup: Debian packages installed"
root="$(cd "$(dirname "$0")/.." && pwd)"
# npm packages of the JavaScript-side tests (template reference, API clients, browser).
if [ -f "$root/tests/js/package-lock.json" ]; then
  npm ci --prefix "$root/tests/js" --no-audit --no-fund --loglevel=error
  echo "setup: npm test packages installed"
fi
