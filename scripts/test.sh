#!/usr/bin/env bash
# `npm test`: install what the tests need on a fresh machine, then run them all.
#   Debian packages (scripts/system-packages.sh: the one list, each with the step that needs it; checked
#   before anything long runs), Node packages (npm ci), a Python venv with model/requirements.txt,
#   then: typecheck, unit tests (Node), Python tests, a fresh tiny bundle export, the GPU benchmark in
#   Node (packed, on Mesa's software Vulkan), browser tests.
# Re-runs skip installs that are already current.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n\033[1m== %s (%ss)\033[0m\n' "$1" "$(( $(date +%s) - start ))"; }

step "1. Debian packages (scripts/system-packages.sh)"
export CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium} PYTHON=${PYTHON:-python3}
bash scripts/system-packages.sh install
"$CHROMIUM_PATH" --version 2>/dev/null | tail -1

step "2. Node packages"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

step "3. Python packages (model/requirements.txt, pinned)"
PY=$PYTHON
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
if [ ! -f .venv/.requirements.stamp ] || [ model/requirements.txt -nt .venv/.requirements.stamp ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r model/requirements.txt
  touch .venv/.requirements.stamp
fi

step "4. Typecheck"
npx tsc -p .

step "5. Unit tests (Node)"
npx vitest run

step "6. Python tests"
# Two processes, one thread each: most tests are small and single-threaded, a few start training runs.
OMP_NUM_THREADS=1 .venv/bin/python -m pytest model/tests -n 2 --durations=8

step "7. Export a tiny bundle from random weights (browser parity)"
.venv/bin/python -m model.export --random-init --config tiny --out build/bundles/tiny \
  --text-encoder-from public/models/tabletop/text-encoder >/dev/null

step "8. GPU benchmark in Node, from its packed folder (Dawn on lavapipe: software Vulkan)"
node scripts/gpu-bench-pack.mjs
# A copy outside the work tree, in an empty environment: nothing of this checkout's node_modules, nor
# PATH's Node, can stand in for what the folder must carry. Lavapipe's environment stays in the subshell.
(
  eval "$(bash scripts/lavapipe.sh)"
  carried=$(mktemp -d)
  trap 'rm -rf "$carried"' EXIT
  cp -r build/gpu-bench "$carried/"
  env -i PATH=/usr/bin:/bin HOME="$HOME" WORLD_CANVAS_REPO="$PWD" PYTHON="$PWD/.venv/bin/python" \
    VK_ICD_FILENAMES="$VK_ICD_FILENAMES" VK_DRIVER_FILES="$VK_DRIVER_FILES" LD_LIBRARY_PATH="$LD_LIBRARY_PATH" \
    bash "$carried/gpu-bench/run.sh" build/gpu-bench-report \
    --bundle build/bundles/tiny --weights random:tiny:0 --chunks 2 --variants fp32
)
GPU_BENCH_OUT=build/gpu-bench-report node --test test/gpu-bench/report.test.mjs

step "9. Browser tests (headless Chromium, WebGPU through SwiftShader)"
CI=1 npx playwright test

step "all tests passed in $(( $(date +%s) - start ))s"
