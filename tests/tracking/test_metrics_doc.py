"""docs/metrics.md is the schema of metric names: what real runs emit and what the doc lists must agree,
both ways (an emitted name missing from the doc fails; a documented name no run emits fails)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from parley.tracking import read_metrics
from tests import run_outputs

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
PLACEHOLDERS = {
    "role": r"(?:solver|verifier|judge|agent_\d+)",
    "policy": r"(?:shared|solver|verifier|judge|agent_\d+)",
    "reason": r"(?:verifier_pass|max_rounds|stalled|error|timeout|majority_vote|judge|single)",
    "protocol": r"(?:svj|mad|single|self_consistency)",
    "key": r"(?:turns|changed_turns|changed_fraction|mean_reward|mean_abs_delta)",
    "role_metric": r"(?:solver_first_accuracy|verifier_balanced_accuracy|verifier_accuracy|verifier_pass_rate"
                   r"|verifier_majority_verdict_share|judge_accuracy|flip_wrong_to_right|flip_right_to_wrong"
                   r"|rounds_used)",
}


def documented_names() -> list[str]:
    """The first-column names of every table row in docs/metrics.md."""
    return [m.group(1) for m in re.finditer(r"^\| `([^`]+)` \|", DOC.read_text(), flags=re.M)]


def pattern(name: str) -> re.Pattern[str]:
    parts = re.split(r"<(\w+)>", name)
    regex = "".join(re.escape(p) if i % 2 == 0 else PLACEHOLDERS[p] for i, p in enumerate(parts))
    return re.compile(f"^{regex}$")


def test_every_placeholder_in_the_doc_is_known() -> None:
    for name in documented_names():
        for placeholder in re.findall(r"<(\w+)>", name):
            assert placeholder in PLACEHOLDERS, f"docs/metrics.md: {name} uses an undefined <{placeholder}>"


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Metric names emitted by real runs, per run directory."""
    exp = run_outputs.experiment_dir(tmp_path_factory)
    dirs = [*exp.glob("stages/train@*/run"), *exp.glob("stages/baseline/*/"), *exp.glob("stages/evaluate@*/*/"),
            run_outputs.generate_store(tmp_path_factory), run_outputs.offline_training_run(tmp_path_factory)]
    out = {}
    for d in dirs:
        if (d / "metrics.jsonl").is_file():
            out[str(d)] = {k for record in read_metrics(d) for k in record if k != "step"}
    assert len(out) >= 6, sorted(out)
    return out


def test_every_emitted_metric_name_is_documented(emitted: dict[str, set[str]]) -> None:
    patterns = [pattern(n) for n in documented_names()]
    missing = sorted({name for names in emitted.values() for name in names
                      if not any(p.match(name) for p in patterns)})
    assert not missing, f"emitted but not in docs/metrics.md: {missing}"


def test_every_documented_metric_name_is_emitted(emitted: dict[str, set[str]]) -> None:
    every = {name for names in emitted.values() for name in names}
    never = [n for n in documented_names() if not any(pattern(n).match(e) for e in every)]
    # Defined only when a step holds both right and wrong checked attempts, which 2 tiny steps may not;
    # the held-out evaluations report it as eval/verifier_balanced_accuracy/<protocol> when it applies.
    conditional = {"debate/verifier_balanced_accuracy"}
    assert set(never) <= conditional, f"in docs/metrics.md but never emitted by a real run: {never}"
