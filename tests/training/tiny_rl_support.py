"""A small warm-started tiny model for training tests: the real SFT recipe with a short budget.

It speaks the protocol's format (answers parse, verdicts vary) so rewards have variance, and builds in
well under a minute; it is cached by recipe digest like the full embedded model.
"""

from __future__ import annotations

import functools
from pathlib import Path

from parley.tiny.sft import TinySFTRecipe, ensure_tiny_sft_model

TASK = {"digits": 1, "operators": ["+", "-"]}
"""One-digit sums and differences of the arithmetic family: small enough for the short SFT budget."""

DATASET = "arithmetic"

SMALL_RECIPE = TinySFTRecipe(train_problems=400, steps=250, batch_size=32, lr=5e-3, hidden_size=64,
                             intermediate_size=192, num_layers=2, num_heads=4, vocab_size=512, task=dict(TASK))


@functools.cache
def small_tiny_model() -> Path:
    return ensure_tiny_sft_model(SMALL_RECIPE)


def train_overrides(model_dir: Path, out_dir: Path, **extra: object) -> list[str]:
    """``--set`` overrides of a fast training run on the tiny task."""
    base = {
        "model.name": str(model_dir), "model.batch_size": 64,
        "protocol.name": "svj", "protocol.max_rounds": 1,
        "dataset.name": DATASET, "dataset.size": 60, "dataset.seed": 3,
        "dataset.options": TASK, "generation.max_new_tokens": 20,
        "train.steps": 3, "train.problems_per_step": 4, "train.group_size": 2, "train.lr": 1e-3,
        "train.checkpoint_every": 1, "train.seed": 5,
        "train.eval.dataset": {"name": DATASET, "size": 40, "seed": 99, "options": TASK},
        "train.eval.protocols": ["single"], "output.dir": str(out_dir),
    }
    base.update(extra)
    import json

    return [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in base.items()]
