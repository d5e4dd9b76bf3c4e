#!/usr/bin/env bash
# Fetches llama.cpp, the correctness oracle and performance peer used by graft's tests
# and benchmarks, from the npm registry: package node-llama-cpp ships llama.cpp's source
# as a git bundle (headers, vocabulary GGUFs with tokenizer test pairs, chat templates),
# and @node-llama-cpp/linux-x64 ships a prebuilt libllama with ggml's CPU backends.
# Nothing of it is linked into graft itself.
#
# Result (idempotent): third_party/llama/src (the source tree), third_party/llama/lib
# (libllama.so and the ggml libraries).
set -euo pipefail
VERSION=3.22.1
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/third_party/llama"
if [ -f "$dest/.done-$VERSION" ]; then exit 0; fi
command -v npm >/dev/null || { echo "fetch-llama: npm is needed (apt-get install npm)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetch-llama: downloading node-llama-cpp@$VERSION and @node-llama-cpp/linux-x64@$VERSION"
(cd "$tmp" && npm pack --silent "node-llama-cpp@$VERSION" "@node-llama-cpp/linux-x64@$VERSION" >/dev/null 2>&1)
mkdir -p "$tmp/a" "$tmp/b"
tar -xzf "$tmp"/node-llama-cpp-"$VERSION".tgz -C "$tmp/a"
tar -xzf "$tmp"/node-llama-cpp-linux-x64-"$VERSION".tgz -C "$tmp/b"
rm -rf "$dest"
mkdir -p "$dest/lib"
git clone -q "$tmp/a/package/llama/gitRelease.bundle" "$dest/src" 2>/dev/null
rm -rf "$dest/src/.git"
cp -a "$tmp"/b/package/bins/linux-x64/*.so "$dest/lib/"
touch "$dest/.done-$VERSION"
echo "fetch-llama: ready in $dest"
