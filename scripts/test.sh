#!/usr/bin/env bash
# `npm test`: install what the tests need on a fresh machine, then run them all.
#   Node packages (npm ci), Debian's Chromium, a Python venv with model/requirements.txt,
#   then: typecheck, unit tests (Node), Python tests, a fresh tiny bundle export, browser tests.
# Re-runs skip installs that are already current.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n\033[1m== %s (%ss)\033[0m\n' "$1" "$(( $(date +%s) - start ))"; }

step "1. Node packages"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

step "2. Chromium (Debian package)"
CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM_PATH" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
export CHROMIUM_PATH
"$CHROMIUM_PATH" --version 2>/dev/null | tail -1

step "3. Python packages (model/requirements.txt, pinned)"
PY=${PYTHON:-python3}
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
.venv/bin/python -m pytest model/tests

step "7. Export a tiny bundle from random weights (browser parity)"
.venv/bin/python -m model.export --random-init --config tiny --out build/bundles/tiny \
  --text-encoder-from public/models/tabletop/text-encoder >/dev/null

step "8. Browser tests (headless Chromium, WebGPU through SwiftShader)"
CI=1 npx playwright test

step "all tests passed in $(( $(date +%s) - start ))s"
