#!/usr/bin/env bash
# Install (idempotent) and run the checks: ruff, mypy, then the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# the viewer's and trackers' tests need their extras (AppTest, W&B offline, MLflow sqlite)
PARLEY_EXTRAS="${PARLEY_EXTRAS:-dev,train,viewer,tracking}" bash scripts/install.sh
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
echo "[test] ruff"; .venv/bin/ruff check src tests benchmarks
echo "[test] mypy"; .venv/bin/mypy
echo "[test] pytest"; .venv/bin/python -m pytest -q "$@"
