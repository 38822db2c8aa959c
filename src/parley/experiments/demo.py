"""``parley demo``: the main job on the embedded default, as an ordinary resumable experiment.

Builds the warm-started tiny model (column addition, :mod:`parley.tiny`), evaluates the warm start
(svj, single, compute-matched self-consistency at a temperature > 0), trains five credit-assignment
strategies (identity, difference, coma, potential, mixing) with the same budget for every seed in
``seeds``, evaluates every arm x seed on the same held-out problems with the debate and single-agent
protocols, and writes the report: findings computed from the per-problem results, paired tests over
problems and seeds, per-role metrics, learning curves. ``quick`` shrinks every budget for smoke tests.
Rerunning the same command resumes the same experiment (deterministic id).

The budgets (:data:`FULL`, :data:`QUICK`) and the choices behind them are measured and documented in
docs/training.md ("The demo's budget").

``model="smollm2"`` (:func:`smollm2_demo_spec`) runs the same comparison on SmolLM2-135M-Instruct
(after ``parley model fetch smollm2``): one shared LoRA policy over the frozen pretrained model (its
"warm start" is the pretrained model itself), the ``instruct`` prompt set (with structured re-asks),
one-digit reasoning-gym ``basic_arithmetic`` (train seed 11, held-out seed 424242, disjoint
questions), and the budgets of :mod:`parley.experiments.demo_smollm2` (docs/smollm2.md measures
a step and estimates the total).
"""

from __future__ import annotations

from typing import Any

from parley.tiny.sft import TINY_DATASET, TINY_TASK

STRATEGIES: list[dict[str, Any]] = [
    {"name": "identity"},
    {"name": "difference"},
    {"name": "coma", "roles": ["solver", "verifier"]},
    {"name": "potential", "phi": "answer_correct", "gamma": 1.0, "target": "return_to_go"},
    {"name": "mixing", "alpha": 0.5},
]

FULL: dict[str, Any] = {"recipe": {}, "train_size": 2000, "heldout_size": 300, "steps": 24, "problems_per_step": 16,
                        "group_size": 4, "coma_fraction": 0.5, "lr": 2e-4, "seeds": [0, 1, 2], "sc_temperature": 0.7}
QUICK: dict[str, Any] = {"recipe": {"train_problems": 300, "steps": 200, "hidden_size": 64, "intermediate_size": 192},
                         "train_size": 40, "heldout_size": 40, "steps": 2, "problems_per_step": 4, "group_size": 2,
                         "coma_fraction": 0.5, "lr": 1e-3, "seeds": [0, 1], "sc_temperature": 0.7}


DEMO_MODELS = ("tiny", "smollm2")
"""The models ``parley demo --model`` accepts."""


class UnknownDemoModelError(ValueError):
    """``parley demo --model`` named a model the demo has no budget for."""


def demo_spec(quick: bool = False, seed: int = 0, model: str = "tiny") -> dict[str, Any]:
    """The demo's experiment spec (a mapping for :func:`parley.experiments.spec_from_mapping`).

    ``seed`` offsets every arm's training seeds (the default trains seeds 0 and 1). ``model``: one of
    :data:`DEMO_MODELS` (``smollm2``: :func:`smollm2_demo_spec`).

    Raises:
        UnknownDemoModelError: ``model`` is not in :data:`DEMO_MODELS`.
    """
    if model not in DEMO_MODELS:
        raise UnknownDemoModelError(
            f"--model {model!r}: the demo runs on {' or '.join(DEMO_MODELS)} (each has a budget of its own); for "
            "another model write an experiment spec (docs/experiments.md)")
    if model == "smollm2":
        from parley.experiments.demo_smollm2 import smollm2_demo_spec

        return smollm2_demo_spec(quick=quick, seed=seed)
    b: dict[str, Any] = QUICK if quick else FULL
    config = {
        "model": {"backend": "hf", "name": "tiny", "batch_size": 64, "num_threads": 1},
        "protocol": {"name": "svj", "max_rounds": 2},
        "dataset": {"name": TINY_DATASET, "size": b["train_size"], "seed": 11, "options": dict(TINY_TASK)},
        "generation": {"max_new_tokens": 64, "problem_timeout_s": 300},
        "train": {"steps": b["steps"], "problems_per_step": b["problems_per_step"], "group_size": b["group_size"],
                  "lr": b["lr"], "temperature": 1.0, "seed": seed, "checkpoint_every": max(1, b["steps"] // 4),
                  "counterfactual": {"k": 1, "m": 2, "fraction": b["coma_fraction"]}},
    }
    prepare = {"id": "prepare", "kind": "tiny_prepare",
               "params": {"recipe": b["recipe"], "train_size": b["train_size"], "heldout_size": b["heldout_size"]}}
    return demo_stages_spec("parley-demo-quick" if quick else "parley-demo", ["demo"], config,
                            {"train.shaping": STRATEGIES, "train.seed": [seed + s for s in b["seeds"]]},
                            prepare, b["sc_temperature"])


def demo_stages_spec(name: str, labels: list[str], config: dict[str, Any], sweeps: dict[str, Any],
                     prepare: dict[str, Any], sc_temperature: float) -> dict[str, Any]:
    """The demo's spec around a ``prepare`` stage (which model, which problems): the baseline, one train and
    one evaluate stage per arm, and the report, each with the outputs it must leave behind."""
    prep_outputs = ["model.json", {"path": "train.jsonl", "format": "jsonl", "min_records": 1},
                    {"path": "heldout.jsonl", "format": "jsonl", "min_records": 1}]
    return {
        "name": name,
        "labels": labels,
        "config": config,
        "sweeps": sweeps,
        "stages": [
            {**prepare, "outputs": prep_outputs},
            {"id": "baseline", "kind": "baseline", "needs": ["prepare"],
             "params": {"sc_temperature": sc_temperature},
             "outputs": [{"path": "baseline.json", "format": "json", "required_keys": ["self_consistency_k"]},
                         {"path": "svj", "type": "dir"}, {"path": "single", "type": "dir"},
                         {"path": "self_consistency", "type": "dir"}]},
            {"id": "train", "kind": "train", "per_arm": True, "needs": ["prepare"],
             "outputs": [{"path": "final.json", "format": "json", "required_keys": ["shared"]},
                         {"path": "arm.json", "format": "json", "required_keys": ["strategy", "seed"]},
                         {"path": "run/metrics.jsonl", "format": "jsonl", "min_records": 1}]},
            {"id": "evaluate", "kind": "evaluate", "per_arm": True, "needs": ["train", "prepare"],
             "outputs": [{"path": "done.json", "format": "json"}, {"path": "svj", "type": "dir"},
                         {"path": "single", "type": "dir"}]},
            {"id": "report", "kind": "demo_report", "needs": ["prepare", "baseline", "evaluate", "train"],
             "outputs": ["report.html", "report.md", {"path": "headline.json", "format": "json",
                                                      "required_keys": ["rows"]},
                         {"path": "findings.json", "format": "json",
                          "required_keys": ["warm_start", "baselines", "arms", "flags"]}]},
        ],
    }
