#!/usr/bin/env bash
# What a GPU session runs on the device machine (CUDA, cmake, Python + PyTorch; no Node, no npm,
# no network), from the repository root, in one device call of at most 10 minutes:
#
#   bash test/gpu/run.sh [build] [tests] [bench] [train]      # no step named: all four
#
# It needs .gpu/ carried along (carry [".gpu"]), made here beforehand (test/gpu/README.md):
#   mkdir -p .git/info && bash ../shared/gpu/pack.sh     # Node (xz), Node-API headers, activate.sh
#   bash test/gpu/bundle.sh                               # .gpu/*.mjs bundles and esbuild
#   NIGHTSHIFT_HOME=$PWD/.gpu/home npx nightshift prepare --profile gpu   # the gpu dataset (~8 MB)
#
# Steps (each one's output goes to $OUT/<step>.log, which comes back from the device call):
#   build  configure + build native/ with plain cmake into $NS_BUILD_DIR (default /tmp/ns-build)
#          for sm_90; fails unless CMake reports the CUDA backend on
#   tests  .gpu/cuda-tests.mjs --require-cuda (test/engine/cuda.test.ts against the CPU);
#          also writes $OUT/cuda-tests.json
#   bench  .gpu/cuda-train.mjs --steps $NS_BENCH_STEPS (20): the recipe at the gpu profile on
#          the engine and in PyTorch
#   train  .gpu/nightshift.mjs train $NS_TRAIN_ARGS (--profile gpu) --json: the baseline recipe
#          for the full 300 s, on the dataset in $NIGHTSHIFT_HOME (default .gpu/home)
# tests, bench and train use the addon the build step made (NIGHTSHIFT_ENGINE_PATH); when it is
# missing, build runs first. Everything, build included, takes well over 10 minutes: split it in
# two calls, `build tests bench` and `build train` (a warm machine keeps /tmp/ns-build, so the
# second build is a no-op; a fresh one rebuilds in a few minutes).
#
# A failed step does not stop the next; the exit status is 1 when any step failed. Every step
# runs under a deadline ($NS_DEADLINE_S, default 580 s after the start) so the logs and
# $OUT/summary.txt are written before the device call's 600 s limit; train is not started with
# less than $NS_TRAIN_MIN_S (360 s) left.
#
# For a dry run on a machine without a GPU: NS_ALLOW_CPU=1 accepts a CPU-only build and a skipped
# suite or bench, and NS_TRAIN_ARGS="--profile cpu --time-budget 5" trains briefly.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
start=$(date +%s)
deadline=$((start + ${NS_DEADLINE_S:-580}))

export OUT=${OUT:-$root/.gpu/out}
mkdir -p "$OUT"
for f in .gpu/activate.sh .gpu/esbuild.xz .gpu/cuda-tests.mjs .gpu/cuda-train.mjs .gpu/nightshift.mjs; do
  if [ ! -f "$f" ]; then
    echo "run.sh: $f is missing: run pack.sh and test/gpu/bundle.sh before the device call, and carry .gpu" | tee "$OUT/summary.txt"
    exit 1
  fi
done

# Node on PATH, NODE_API_HEADERS_DIR / NODE_ADDON_API_DIR for cmake.
# shellcheck source=/dev/null
source .gpu/activate.sh
# `nightshift train` bundles train.ts with esbuild at run time (src/harness/runner/compile.ts).
esbuild_bin=/tmp/nodebin/esbuild-$(cat .gpu/esbuild.version 2>/dev/null || echo unknown)
if [ ! -x "$esbuild_bin" ]; then
  mkdir -p /tmp/nodebin
  if command -v xz >/dev/null 2>&1; then xz -dc .gpu/esbuild.xz > "$esbuild_bin.tmp"
  else python3 -c "import lzma,shutil,sys;shutil.copyfileobj(lzma.open('.gpu/esbuild.xz'),open(sys.argv[1],'wb'))" "$esbuild_bin.tmp"; fi
  chmod +x "$esbuild_bin.tmp" && mv "$esbuild_bin.tmp" "$esbuild_bin"
fi
export ESBUILD_BINARY_PATH=$esbuild_bin
export NODE_PATH=$root/.gpu/node_modules${NODE_PATH:+:$NODE_PATH}
export NIGHTSHIFT_HOME=${NIGHTSHIFT_HOME:-$root/.gpu/home}
export NS_BUILD_DIR=${NS_BUILD_DIR:-/tmp/ns-build}
export NIGHTSHIFT_ENGINE_PATH=$NS_BUILD_DIR/nightshift_engine.node
export PYTHONUNBUFFERED=1
export NS_ALLOW_CPU=${NS_ALLOW_CPU:-0}
export NS_BENCH_STEPS=${NS_BENCH_STEPS:-20}
export NS_TRAIN_ARGS=${NS_TRAIN_ARGS:---profile gpu}
export NS_TESTS_FILTER=${NS_TESTS_FILTER:-}

# ---- the steps (run as `bash -c step_x` under timeout, hence exported) ---------------------

step_build() {
  set -o pipefail # not inherited by the `bash -c` each step runs in
  local generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  cmake -S native -B "$NS_BUILD_DIR" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DNIGHTSHIFT_CUDA_ARCHS=90 \
    | tee "$NS_BUILD_DIR.configure.txt" || return 1
  cmake --build "$NS_BUILD_DIR" -j "$(nproc)" || return 1
  [ -f "$NIGHTSHIFT_ENGINE_PATH" ] || { echo "build: no $NIGHTSHIFT_ENGINE_PATH after the build"; return 1; }
  if ! grep -q "nightshift: CUDA backend on" "$NS_BUILD_DIR.configure.txt"; then
    echo "build: the CUDA backend is off (see the 'nightshift: CUDA backend' line above)"
    [ "$NS_ALLOW_CPU" = 1 ] || return 1
  fi
  node .gpu/nightshift.mjs info
}

step_tests() {
  local flags=(--require-cuda)
  [ "$NS_ALLOW_CPU" = 1 ] && flags=()
  # shellcheck disable=SC2086  # NS_TESTS_FILTER is one pattern or nothing
  node --enable-source-maps .gpu/cuda-tests.mjs "${flags[@]}" $NS_TESTS_FILTER
}

step_bench() {
  set -o pipefail
  local log=/tmp/ns-bench.$$.txt
  node --enable-source-maps .gpu/cuda-train.mjs --steps "$NS_BENCH_STEPS" | tee "$log"
  local rc=${PIPESTATUS[0]}
  if grep -q "^cuda: skipped" "$log" && [ "$NS_ALLOW_CPU" != 1 ]; then
    echo "bench: the engine has no usable CUDA device"
    rc=1
  fi
  rm -f "$log"
  return "$rc"
}

step_train() {
  if ! grep -q '"gpu"' "$NIGHTSHIFT_HOME/datasets/latest.json" 2>/dev/null && [[ "$NS_TRAIN_ARGS" == *gpu* ]]; then
    echo "train: no gpu dataset in $NIGHTSHIFT_HOME (prepare it locally into .gpu/home, see test/gpu/README.md)"
    return 1
  fi
  # shellcheck disable=SC2086  # NS_TRAIN_ARGS is a list of flags
  node .gpu/nightshift.mjs train $NS_TRAIN_ARGS --json
}
export -f step_build step_tests step_bench step_train

# ---- which steps ------------------------------------------------------------------------------

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(build tests bench train)
for s in "${steps[@]}"; do
  case "$s" in build | tests | bench | train) ;; *) echo "run.sh: unknown step '$s' (build, tests, bench, train)"; exit 2 ;; esac
done
if [ ! -f "$NIGHTSHIFT_ENGINE_PATH" ] && [[ " ${steps[*]} " != *" build "* ]]; then
  echo "run.sh: $NIGHTSHIFT_ENGINE_PATH is missing: building first"
  steps=(build "${steps[@]}")
fi

{
  echo "date:    $(date -u +%FT%TZ)"
  echo "host:    $(uname -srm), $(nproc) cores"
  echo "steps:   ${steps[*]}"
  echo "node:    $(node --version)"
  echo "cmake:   $(cmake --version | head -1)"
  echo "nvcc:    $(command -v nvcc >/dev/null && nvcc --version | tail -1 || echo none)"
  echo "python:  $(python3 -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -1)"
  echo "home:    $NIGHTSHIFT_HOME ($(cat "$NIGHTSHIFT_HOME/datasets/latest.json" 2>/dev/null | tr -d ' \n' || echo 'no datasets'))"
  nvidia-smi 2>&1 || echo "nvidia-smi: not available"
} 2>&1 | tee "$OUT/setup.log"

summary=()
failed=0
for s in "${steps[@]}"; do
  now=$(date +%s)
  left=$((deadline - now))
  if [ "$s" = train ] && [ "$left" -lt "${NS_TRAIN_MIN_S:-360}" ]; then
    summary+=("$(printf '%-6s not run: %d s left, fewer than %d; train in a call of its own' "$s" "$left" "${NS_TRAIN_MIN_S:-360}")")
    echo "${summary[-1]}" | tee "$OUT/$s.log"
    failed=1
    continue
  fi
  if [ "$left" -lt 15 ]; then
    summary+=("$(printf '%-6s not run: the deadline has passed' "$s")")
    failed=1
    continue
  fi
  echo
  echo "=== $s (at most $((left - 10)) s) ==="
  timeout -k 5 $((left - 10)) bash -c "step_$s" 2>&1 | tee "$OUT/$s.log"
  rc=${PIPESTATUS[0]}
  took=$(($(date +%s) - now))
  case "$rc" in
    0) verdict=ok ;;
    124 | 137) verdict="TIMED OUT (rc $rc)" ;;
    *) verdict="FAILED (rc $rc)" ;;
  esac
  [ "$rc" = 0 ] || failed=1
  summary+=("$(printf '%-6s %-18s %4d s' "$s" "$verdict" "$took")")
done

{
  echo
  echo "=== summary ($(($(date +%s) - start)) s) ==="
  printf '%s\n' "${summary[@]}"
  [ -f "$OUT/cuda-tests.json" ] && node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(`tests: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
    for (const t of (r.tests ?? []).filter((t) => t.state === "failed").slice(0, 20)) console.log(`  failed: ${t.name}`);' "$OUT/cuda-tests.json"
  [ -f "$OUT/bench.log" ] && grep '^{' "$OUT/bench.log" | tail -1 | sed 's/^/bench: /'
  [ -f "$OUT/train.log" ] && grep -E '^(val_bpb|training_seconds|mfu_percent|peak_vram_mb|num_steps|total_tokens_M):' "$OUT/train.log" | sed 's/^/train: /'
} 2>&1 | tee "$OUT/summary.txt"
exit "$failed"
