#!/usr/bin/env bash
# Install (idempotent) and run the checks: ruff, mypy, then the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# the executor tests need a real Ray cluster (ray extra) and the official Kubernetes client (k8s extra)
PARLEY_EXTRAS="${PARLEY_EXTRAS:-dev,train,ray,k8s}" bash scripts/install.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
echo "[test] ruff"; .venv/bin/ruff check src tests benchmarks
echo "[test] mypy"; .venv/bin/mypy
echo "[test] pytest"; .venv/bin/python -m pytest -q "$@"
