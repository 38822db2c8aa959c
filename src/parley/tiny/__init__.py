"""The embedded tiny model: warm-started by SFT on scripted debates (see :mod:`parley.tiny.sft`).

It sits above the debate engine and the reward registry (it runs scripted debates and scores the warm
start) and below generation, training and experiments, which resolve ``model.name: tiny`` through it.
"""

from parley.tiny.sft import (
    EVAL_SEED,
    TINY_DATASET,
    TINY_TASK,
    TinySFTRecipe,
    ensure_tiny_sft_model,
    tiny_dataset_config,
    tiny_model_dir,
    warm_start_accuracy,
)

__all__ = ["EVAL_SEED", "TINY_DATASET", "TINY_TASK", "TinySFTRecipe", "ensure_tiny_sft_model",
           "tiny_dataset_config", "tiny_model_dir", "warm_start_accuracy"]
