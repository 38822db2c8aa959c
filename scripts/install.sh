#!/usr/bin/env bash
# Install parley into .venv at the repository root.
#   bash scripts/install.sh            # core + training + dev tools (what the demo and tests need)
#   PARLEY_EXTRAS=dev,train,viewer bash scripts/install.sh
# torch is installed first, pinned to the local CPU wheel (any other spec would download a multi-GB
# CUDA build); then the project with every package pinned by constraints.txt (the lock).
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS="${PARLEY_EXTRAS:-dev,train}"
PY="${PYTHON:-python3}"

# bubblewrap isolates model-written code (parley.sandbox); install it where it is missing and we can.
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "[install] installing bubblewrap (apt)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null
  else
    echo "[install] warning: bwrap not found and cannot apt-get it; sandboxed code execution will refuse to run" >&2
  fi
fi

# Browser tests (report and viewer pages in headless Chromium) need Debian's chromium + chromedriver;
# installed with the dev extra where apt is available, skipped (with a note) elsewhere.
if [[ ",$EXTRAS," == *",dev,"* ]] && ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "[install] installing chromium + chromium-driver (apt, for browser tests)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "[install] note: chromium/chromedriver not found; browser tests will be skipped" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "[install] creating .venv"
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade "pip>=24,<27"
echo "[install] torch==2.13.0 (local CPU wheel)"
.venv/bin/python -m pip install -q "torch==2.13.0"
echo "[install] parley[$EXTRAS] with constraints.txt"
.venv/bin/python -m pip install -q -c constraints.txt -e ".[$EXTRAS]"
echo "[install] done: $(.venv/bin/parley --version)"
