"""The warm start's data-parallel fine-tuning equals the single-process run (float tolerance)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from parley.tiny.sft import TinySFTRecipe, ensure_tiny_sft_model

RECIPE = dict(train_problems=120, steps=20, hidden_size=32, intermediate_size=64, num_heads=2, vocab_size=320,
              task={"digits": 1, "operators": ["+"]})


def test_two_workers_train_the_same_model_as_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_CACHE_DIR", str(tmp_path))
    one, two = (ensure_tiny_sft_model(TinySFTRecipe(**RECIPE, workers=w)) for w in (1, 2))  # type: ignore[arg-type]
    a, b = load_file(one / "model.safetensors"), load_file(two / "model.safetensors")
    assert a.keys() == b.keys()
    # Same global batches, the gradient of the same global token mean: equal up to float summation order.
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-4
    losses = [json.loads((d / "parley_sft.json").read_text())["final_loss"] for d in (one, two)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    assert json.loads((two / "parley_sft.json").read_text())["workers"] == 2
