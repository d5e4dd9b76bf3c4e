#!/usr/bin/env bash
# The walkthrough of docs/writing-a-plugin.md, step by step, as a plugin author does it:
# install the SDK of this build tree into a fresh prefix, build sdk/examples/hello-plugin
# out of tree against it, check the plugin, pack it, install it for the user (HOME is a
# temporary directory), list it, read its info, use its shipped rules file on a generated
# F32 model (`graft rules explain`, `graft run`), and remove it.
#
# Each step is a function step_<name>; STEPS says which run, in order. To add a step,
# write its function and put its name into STEPS where it belongs; state that steps share
# lives in the variables set below (TMP, GRAFT_HOME, EXAMPLE_BUILD, PACKAGE, INSTALLED,
# RULES, MODEL). A step fails the walkthrough through `fail` (or any command failing).
# Between install and remove the example sits first on the search path (the user's
# directory), so `kernel: default` resolves to example/add and example/swiglu where it has
# them: a plan meant to use amx-cpu alone names amx-cpu's kernels.
#
# Usage: walkthrough.sh --graft BIN --synth BIN --build-dir DIR --source-dir DIR
#          --cmake BIN [--generator G] [--make-program BIN] [--cxx BIN] [--launcher BIN]
#          [--keep]
# Exit code: 0 passed, 1 failed, 77 skipped (the reference plugin amx-cpu cannot load).
set -euo pipefail

STEPS=(sdk build check pack install list info explain run ab remove)

GRAFT='' SYNTH='' BUILD_DIR='' SOURCE_DIR='' CMAKE=cmake GENERATOR='' MAKE_PROGRAM=''
CXX_BIN='' LAUNCHER='' KEEP=0
while (($#)); do
    case "$1" in
    --graft) GRAFT=$2 && shift 2 ;;
    --synth) SYNTH=$2 && shift 2 ;;
    --build-dir) BUILD_DIR=$2 && shift 2 ;;
    --source-dir) SOURCE_DIR=$2 && shift 2 ;;
    --cmake) CMAKE=$2 && shift 2 ;;
    --generator) GENERATOR=$2 && shift 2 ;;
    --make-program) MAKE_PROGRAM=$2 && shift 2 ;;
    --cxx) CXX_BIN=$2 && shift 2 ;;
    --launcher) LAUNCHER=$2 && shift 2 ;;
    --keep) KEEP=1 && shift ;;
    *) echo "walkthrough.sh: unknown argument $1" >&2 && exit 1 ;;
    esac
done
for required in GRAFT SYNTH BUILD_DIR SOURCE_DIR; do
    [[ -n "${!required}" ]] || { echo "walkthrough.sh: --${required,,} is required" >&2 && exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/graft-walkthrough-XXXXXX")
cleanup() {
    if ((KEEP)); then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

GRAFT_HOME=$TMP/home                             # HOME of every graft command below
SDK_PREFIX=$TMP/sdk                              # the SDK, installed from the build tree
EXAMPLE_BUILD=$TMP/example-build                 # the example, built out of tree
PACKAGE=$TMP/example-0.1.0.tar.gz                # what pack makes
INSTALLED=$GRAFT_HOME/.local/lib/graft/plugins/example  # where install --user puts it
RULES=$INSTALLED/rules/llama-example.yaml        # the rules file the package ships
MODEL=$TMP/tiny-f32.gguf                         # a generated model with F32 weights
mkdir -p "$GRAFT_HOME"

CURRENT_STEP=
OUT=  # what the last `graft` printed (stdout and stderr)
fail() {
    echo "FAILED in step $CURRENT_STEP: $*" >&2
    [[ -z "$OUT" ]] || printf -- '--- last output:\n%s\n---\n' "$OUT" >&2
    exit 1
}

# graft ARGS...: runs graft as the user of the walkthrough (HOME in the temporary
# directory, no GRAFT_PLUGIN_PATH), keeps its output in OUT and its exit code in RC.
RC=0
graft() {
    echo "\$ graft $*"
    set +e
    OUT=$(env -u GRAFT_PLUGIN_PATH HOME="$GRAFT_HOME" "$GRAFT" "$@" 2>&1)
    RC=$?
    set -e
    printf '%s\n' "$OUT" | sed 's/^/    /'
}
# graft_ok ARGS...: graft, which must exit 0.
graft_ok() {
    graft "$@"
    ((RC == 0)) || fail "graft $* exited $RC"
}
expect() { # TEXT: the last output contains TEXT
    [[ "$OUT" == *"$1"* ]] || fail "the output lacks \"$1\""
}
expect_not() { # TEXT: the last output does not contain TEXT
    [[ "$OUT" != *"$1"* ]] || fail "the output contains \"$1\""
}
quiet() { # COMMAND...: runs it, showing its output only when it fails
    local log
    log=$("$@" 2>&1) || { OUT=$log && fail "$* failed"; }
}

# ---------------------------------------------------------------- steps

step_sdk() {
    quiet "$CMAKE" --install "$BUILD_DIR" --prefix "$SDK_PREFIX" --component sdk
    [[ -f "$SDK_PREFIX/include/graft/plugin.h" ]] || fail "no plugin.h in the installed SDK"
    [[ -f "$SDK_PREFIX/lib/cmake/graft-sdk/graft-sdkConfig.cmake" ]] ||
        fail "no graft-sdk CMake package in the installed SDK"
}

step_build() {
    local args=(-S "$SOURCE_DIR/sdk/examples/hello-plugin" -B "$EXAMPLE_BUILD"
        -DCMAKE_PREFIX_PATH="$SDK_PREFIX" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
        -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS=-Wall -Wextra -Wpedantic -Wshadow -Werror")
    [[ -z "$GENERATOR" ]] || args+=(-G "$GENERATOR")
    [[ -z "$MAKE_PROGRAM" ]] || args+=(-DCMAKE_MAKE_PROGRAM="$MAKE_PROGRAM")
    [[ -z "$CXX_BIN" ]] || args+=(-DCMAKE_CXX_COMPILER="$CXX_BIN")
    [[ -z "$LAUNCHER" ]] || args+=(-DCMAKE_CXX_COMPILER_LAUNCHER="$LAUNCHER")
    quiet "$CMAKE" "${args[@]}"
    quiet "$CMAKE" --build "$EXAMPLE_BUILD"
    [[ -f "$EXAMPLE_BUILD/graft-example.so" ]] || fail "the build made no graft-example.so"
    [[ -f "$EXAMPLE_BUILD/rules/llama-example.yaml" ]] || fail "the build did not copy its rules"
}

step_check() {
    graft_ok plugins check "$EXAMPLE_BUILD/graft-example.so"
    expect "example/add (add) on cpu: pass"
    expect "example/swiglu (swiglu) on cpu: pass"
    expect "example/linear (linear) on cpu: pass"
    expect "3 kernels: 3 passed, 0 failed, 0 skipped"
}

step_pack() {
    graft_ok plugins pack "$EXAMPLE_BUILD" -o "$PACKAGE"
    expect "packed example 0.1.0 (2 files)"
    expect "graft-example.so  plugin"
    expect "rules/llama-example.yaml  rules"
    [[ -f "$PACKAGE" ]] || fail "no package at $PACKAGE"
}

step_install() {
    graft_ok plugins install --user "$PACKAGE"
    expect "installed example 0.1.0 into $INSTALLED (user)"
    expect "usable here: 3 kernels"
    expect "rules: $RULES"
    [[ -f "$INSTALLED/graft-example.so" && -f "$RULES" ]] || fail "files missing in $INSTALLED"
}

step_list() {
    graft_ok plugins list
    expect "example 0.1.0  loaded"
    expect "file: $INSTALLED/graft-example.so"
    expect "from: user, package example 0.1.0"
    expect "kernel example/linear  op linear  on cpu  weights F32"
}

step_info() {
    graft_ok plugins info example
    expect "installed from: $PACKAGE (user"
    expect "status here: usable"
    expect "graft-example.so  plugin  ok"
    expect "rules file: $RULES"
}

step_explain() {
    quiet "$SYNTH" -o "$MODEL" --preset tiny --dtype f32
    graft_ok rules explain "$MODEL" --rules "$RULES"
    # Every Linear module (a row whose second column, the class, is Linear) is bound to
    # example/linear, and there are some.
    local linear others
    linear=$(printf '%s\n' "$OUT" | awk '$2 == "Linear" && / example\/linear /' | wc -l)
    others=$(printf '%s\n' "$OUT" | awk '$2 == "Linear" && !/ example\/linear /' | wc -l)
    ((linear > 0)) || fail "no Linear module is bound to example/linear"
    ((others == 0)) || fail "$others Linear modules are not bound to example/linear"
    expect "lm_head"
}

step_run() {
    graft_ok run "$MODEL" --rules "$RULES" -p "Hello" -n 8 --temp 0 --threads 1
    expect "prefill:"
    expect "decode:"
}

step_ab() {
    # Plan A: amx-cpu for every op, named explicitly (with the example installed first on
    # the search path, "default" would pick the example's add and swiglu). Plan B: the
    # rules the package ships.
    local amx=$TMP/amx-cpu.yaml
    cat >"$amx" <<'YAML'
- {match: {class: Embedding}, replace: {kernel: amx-cpu/embedding, device: cpu}}
- {match: {class: Linear}, replace: {kernel: amx-cpu/linear, device: cpu}}
- {match: {class: RMSNorm}, replace: {kernel: amx-cpu/rmsnorm, device: cpu}}
- {match: {class: Attention}, replace: {kernel: amx-cpu/attention, device: cpu}}
- {match: {class: RotaryEmbedding}, replace: {kernel: amx-cpu/rope, device: cpu}}
- {match: {class: MLP}, replace: {kernel: amx-cpu/swiglu, device: cpu}}
- {match: {class: DecoderLayer}, replace: {kernel: amx-cpu/add, device: cpu}}
YAML
    graft_ok ab "$MODEL" --a "$amx" --b "$RULES" -p "Hello" --tokens 8 --runs 1 --threads 1
    expect "amx-cpu/linear"
    expect "example/linear"
    expect "top-1 agreement"
    graft_ok ab "$MODEL" --a "$amx" --b "$RULES" -p "Hello" --tokens 8 --runs 1 --threads 1 --json
    expect '"top1_agreement"'
    expect '"kernel_changes"'
}

step_remove() {
    # The rules file goes with the package; a copy shows what a rules file naming the
    # removed plugin does afterwards.
    cp "$RULES" "$TMP/rules-copy.yaml"
    graft_ok plugins remove example
    expect "removed example from $(dirname "$INSTALLED")"
    [[ ! -e "$INSTALLED" ]] || fail "$INSTALLED is still there"
    graft_ok plugins list
    expect_not "example 0.1.0"
    graft rules explain "$MODEL" --rules "$TMP/rules-copy.yaml"
    ((RC != 0)) || fail "explain accepted rules naming a removed plugin"
    expect "unknown kernel 'example/linear'"
}

# ---------------------------------------------------------------- run

# The check needs amx-cpu's reference kernels, explain and run its default kernels.
graft plugins list
if [[ "$OUT" != *"amx-cpu/linear_ref"* ]]; then
    echo "SKIPPED: the reference plugin amx-cpu does not load here"
    exit 77
fi
for step in "${STEPS[@]}"; do
    CURRENT_STEP=$step
    OUT=
    echo "== $step"
    "step_$step"
done
echo "walkthrough passed: ${STEPS[*]}"
