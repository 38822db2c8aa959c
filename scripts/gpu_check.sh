#!/usr/bin/env bash
# GPU readiness check: the real-model commands on CUDA (device auto, bf16 where supported).
#
#   bash scripts/gpu_check.sh [OUT_DIR]        # default runs/gpu-check
#
# Needs a CUDA build of torch (scripts/install.sh installs the CPU wheel: on a GPU machine install the
# matching CUDA torch first) and network access to PyPI for `parley model fetch smollm2` (or a cache
# that already holds it: $PARLEY_CACHE_DIR). Prints each figure as its script prints it; everything
# also lands in OUT_DIR/*.log. Fails (non-zero) when torch sees no CUDA device, so a CPU run cannot
# pass for a GPU one.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/gpu-check}"
PY="${PYTHON:-.venv/bin/python}"
PARLEY="${PARLEY:-.venv/bin/parley}"
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

"$PY" - <<'PY' | tee "$OUT/device.log"
import torch
if not torch.cuda.is_available():
    raise SystemExit("gpu_check: torch sees no CUDA device (torch %s); nothing to check" % torch.__version__)
p = torch.cuda.get_device_properties(0)
print(f"device: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, "
      f"bf16 {torch.cuda.is_bf16_supported()}")
PY

echo "[gpu_check] fetch smollm2"
"$PARLEY" model fetch smollm2 2>"$OUT/fetch.err" | tee "$OUT/fetch.log"

echo "[gpu_check] real-model tests (catalog, SmolLM2 generations)"
"$PY" -m pytest -q tests/llm/test_catalog.py tests/llm/test_smollm2_real.py 2>&1 | tail -3 | tee "$OUT/tests.log"

echo "[gpu_check] RL on SmolLM2 (LoRA, bounded): gain and seconds per step by phase"
"$PY" benchmarks/rl_real_model.py --device cuda --threads 0 --steps "${RL_STEPS:-12}" --problems-per-step 16 \
    --group-size 8 --batch-size 128 --micro-batch-size 32 --heldout 128 --out "$OUT/rl" --fresh 2>"$OUT/rl.err" \
    | tee "$OUT/rl.log"

echo "[gpu_check] evaluation table (single, svj, mad, matched self-consistency)"
"$PY" benchmarks/smollm2_eval.py --device cuda --threads 0 --n "${EVAL_N:-100}" --gsm-n "${GSM_N:-50}" \
    --batch-size 128 --out "$OUT/eval" 2>"$OUT/eval.err" | tee "$OUT/eval.log"

echo "[gpu_check] done: $OUT"
