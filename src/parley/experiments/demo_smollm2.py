"""``parley demo --model smollm2``: the demo's comparison on SmolLM2-135M-Instruct, with budgets for it.

Same stages and report as the tiny demo (:mod:`parley.experiments.demo`), on the real pretrained
model fetched by ``parley model fetch smollm2`` (its Q4_1 GGUF dequantised to float32):

- ``prepare`` is ``model_prepare``: no supervised warm start (the "warm start" of the report is the
  pretrained model itself); RL problems are one-digit reasoning-gym ``basic_arithmetic`` (seed 11),
  held-out problems the same task at seed 424242 with every training question removed;
- one **shared LoRA** policy (r=16, alpha 32, on q/k/v/o) over the frozen base: one adapter is a few
  MB where a full copy of the model per arm would be 540 MB of optimiser state and weights;
- the ``instruct`` prompt set, so protocols render through SmolLM2's chat template and unparsed
  replies get one structured re-ask (``protocol.reask``);
- :data:`SMOLLM2_FULL`: four strategies x two seeds x 8 steps of 4 problems x G=4. ``coma`` is left
  out: it re-samples every solver/verifier turn ``m`` times, several times the generation of the
  other strategies, and generation dominates a SmolLM2 step (docs/smollm2.md has the measured split
  and the estimated total on 2 CPU cores and per GPU-hour). :data:`SMOLLM2_QUICK` is a smoke test
  (two strategies, one seed, one step, two held-out problems, one round).
"""

from __future__ import annotations

from typing import Any

from parley.experiments.demo import STRATEGIES, demo_stages_spec

SMOLLM2_TASK: dict[str, Any] = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1,
                                "operators": ["+", "-"]}
SMOLLM2_DATASET: dict[str, Any] = {"name": "reasoning_gym:basic_arithmetic", "options": SMOLLM2_TASK}
SMOLLM2_LABEL = "SmolLM2-135M-Instruct (Q4_1 GGUF dequantised to float32)"
LORA: dict[str, Any] = {"r": 16, "alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]}

SMOLLM2_FULL: dict[str, Any] = {
    "strategies": [s for s in STRATEGIES if s["name"] != "coma"], "train_size": 64, "heldout_size": 40,
    "steps": 8, "problems_per_step": 4, "group_size": 4, "coma_fraction": 0.5, "lr": 1e-4, "seeds": [0, 1],
    "sc_temperature": 0.7, "max_rounds": 2, "max_new_tokens": 64}
SMOLLM2_QUICK: dict[str, Any] = {
    "strategies": [s for s in STRATEGIES if s["name"] in ("identity", "mixing")], "train_size": 4,
    "heldout_size": 2, "steps": 1, "problems_per_step": 1, "group_size": 2, "coma_fraction": 0.5, "lr": 1e-4,
    "seeds": [0], "sc_temperature": 0.7, "max_rounds": 1, "max_new_tokens": 32}


def smollm2_demo_spec(quick: bool = False, seed: int = 0) -> dict[str, Any]:
    """The demo's experiment spec on SmolLM2 (see the module docstring); ``seed`` offsets the arms' seeds."""
    b = SMOLLM2_QUICK if quick else SMOLLM2_FULL
    config = {
        "model": {"backend": "hf", "name": "smollm2", "device": "auto", "dtype": "auto", "batch_size": 32},
        "protocol": {"name": "svj", "max_rounds": b["max_rounds"], "prompts_dir": "instruct"},
        "dataset": {**SMOLLM2_DATASET, "size": b["train_size"], "seed": 11},
        "generation": {"max_new_tokens": b["max_new_tokens"], "problem_timeout_s": 36000},
        "train": {"steps": b["steps"], "problems_per_step": b["problems_per_step"], "group_size": b["group_size"],
                  "micro_batch_size": 8, "lr": b["lr"], "temperature": 1.0, "seed": seed,
                  "checkpoint_every": max(1, b["steps"] // 4),
                  "policy": {"mode": "shared", "full_finetune": False, "lora": dict(LORA)},
                  "counterfactual": {"k": 1, "m": 2, "fraction": b["coma_fraction"]}},
    }
    prepare = {"id": "prepare", "kind": "model_prepare",
               "params": {"model": "smollm2", "label": SMOLLM2_LABEL, "dataset": SMOLLM2_DATASET,
                          "train_size": b["train_size"], "train_seed": 11, "heldout_size": b["heldout_size"],
                          "heldout_seed": 424242}}
    return demo_stages_spec("parley-demo-smollm2-quick" if quick else "parley-demo-smollm2", ["demo", "smollm2"],
                            config, {"train.shaping": b["strategies"], "train.seed": [seed + s for s in b["seeds"]]},
                            prepare, b["sc_temperature"])
