"""Published CooperBench figures, as reference data only (never mixed into computed metrics).

Source: arXiv 2601.13295 ("CooperBench: Why Coding Agents Cannot be Your Teammates Yet"), as encoded by
an earlier reproduction that parley replaces (its paper-comparison constants). These values were NOT
re-checked against the paper PDF in this repository; treat them as "paper, as previously transcribed".
Each constant names the figure or section it came from, as that reproduction labelled it.
"""

from __future__ import annotations

from typing import Any

SOURCE = "arXiv 2601.13295, values as encoded by an earlier reproduction; not re-checked against the PDF here"

#: Fig. 4 (difficulty-stratified success): AUC pooled over models.
POOLED = {"solo_auc": 0.338, "coop_auc": 0.200, "retention": 0.59}

#: Fig. 4, per model: (solo AUC, coop AUC, retention).
PER_MODEL: dict[str, dict[str, float]] = {
    "GPT-5": {"solo_auc": 0.506, "coop_auc": 0.325, "retention": 0.64},
    "Claude 4.5": {"solo_auc": 0.469, "coop_auc": 0.283, "retention": 0.60},
    "MiniMax-M2": {"solo_auc": 0.374, "coop_auc": 0.171, "retention": 0.46},
    "Qwen-Coder": {"solo_auc": 0.236, "coop_auc": 0.148, "retention": 0.63},
    "Qwen": {"solo_auc": 0.106, "coop_auc": 0.072, "retention": 0.68},
}

#: Sec. 5.1: communication takes up to about this share of agent steps.
COMM_OVERHEAD_MAX_SHARE = 0.20

#: Sec. 5.2: merge-conflict rate with / without first-turn planning.
FIRST_TURN_PLANNING_CONFLICT = {"with": 0.294, "without": 0.515}

#: Sec. 6 / Fig. 7: failure-symptom prevalence, percent of failed coop traces.
FAILURE_PREVALENCE_PCT: dict[str, float] = {
    "work_overlap": 33.2,
    "divergent_architecture": 29.7,
    "repetition": 14.7,
    "unresponsiveness": 8.7,
    "unverifiable_claims": 4.3,
    "broken_commitment": 3.7,
    "dependency_access": 1.7,
    "placeholder_misuse": 1.5,
    "parameter_flow": 1.3,
    "timing_dependency": 1.1,
}


def as_dict() -> dict[str, Any]:
    """All reference values with their source line (what ``metrics.json`` stores under ``paper``)."""
    return {
        "source": SOURCE,
        "pooled": POOLED,
        "per_model": PER_MODEL,
        "comm_overhead_max_share": COMM_OVERHEAD_MAX_SHARE,
        "first_turn_planning_conflict": FIRST_TURN_PLANNING_CONFLICT,
        "failure_prevalence_pct": FAILURE_PREVALENCE_PCT,
    }
