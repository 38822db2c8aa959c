"""best_of_n and majority_label (TTRL) on real single-solver samples of the scripted agent."""

from __future__ import annotations

import pytest

from parley.config import ProtocolConfig
from parley.data.problem import Problem
from parley.debate import Transcript
from parley.rewards.selection import best_of_n, majority_label
from parley.training.advantages import AdvantageConfig, SelectionGroupError, compute_advantages
from parley.training.samples import TrainingSample
from tests.rewards.shaping.debates import debate, pool

OTHER = Problem(id="p2", question="Calculate 7 * 6.", answer="42", domain="reasoning")


def samples() -> list[Transcript]:
    # Solver with error rate 0.5: sample indices 0..5 give -65, -61, -61, -65, -61, -61 on p1.
    first = [debate(ProtocolConfig(name="single"), pool(solver=0.5), sample_index=i) for i in range(6)]
    second = [debate(ProtocolConfig(name="single"), pool(solver=0.0), sample_index=i, problem=OTHER)
              for i in range(2)]
    return first + second


def test_majority_label_pseudo_labels_and_agreement() -> None:
    ts = samples()
    assert [t.final_answer for t in ts] == ["-65", "-61", "-61", "-65", "-61", "-61", "42", "42"]
    labels = majority_label(ts)
    assert labels.labels == {"p1": "-61", "p2": "42"}
    assert labels.outcomes == [0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    assert labels.agreement == pytest.approx({"p1": 4 / 6, "p2": 1.0})
    assert labels.mean_agreement == pytest.approx((4 / 6 + 1.0) / 2)


def test_best_of_n_keeps_one_per_group_and_is_refused_by_group_estimators() -> None:
    ts = samples()
    scores = [0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    survivors = best_of_n(ts, scores)
    assert [(s.transcript.debate_id, s.score, s.group_size) for s in survivors] == [
        ("run:p1:1", 1.0, 6), ("run:p2:1", 1.0, 2)]
    assert survivors[0].transcript.metadata["selection"] == {"strategy": "best_of_n", "group_size": 6}
    assert "selection" not in ts[1].metadata  # the input is not modified
    # A selected sample (survivor) is refused by group-relative estimators, accepted by reinforce_pp.
    # (Survivors built from real tiny-model transcripts: tests/training/test_samples.py.)
    survivor = TrainingSample([1], [2], [-0.5], "solver", "solver", 0, 0, "p1", "run:p1:1",
                              ("p1", "solver", 0), 1.0, 1.0, selected=True)
    with pytest.raises(SelectionGroupError, match="best-of-n survivor"):
        compute_advantages([survivor], AdvantageConfig(estimator="rloo", group_size=2))
    assert compute_advantages([survivor], AdvantageConfig(estimator="reinforce_pp")).advantages == [0.0]
