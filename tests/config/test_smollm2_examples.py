"""The SmolLM2 example configs load and name the catalog model and the instruct prompt set (no download)."""

from __future__ import annotations

from pathlib import Path

from parley.config import load_config
from parley.debate.prompts import PromptSet
from parley.training.config import TrainRunConfig

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_smollm2_examples_validate() -> None:
    for name in ("generate_smollm2.yaml", "eval_smollm2.yaml"):
        cfg = load_config(EXAMPLES / name, [])
        assert cfg.model.name == "smollm2" and cfg.model.device == "auto" and cfg.model.dtype == "auto"
        assert str(cfg.protocol.prompts_dir) == "instruct"
        PromptSet(cfg.protocol.prompts_dir)
    train = load_config(EXAMPLES / "train_smollm2_lora.yaml", [], model=TrainRunConfig)
    assert train.train.policy.mode == "per_role" and train.train.policy.lora is not None
