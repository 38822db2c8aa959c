"""Rollout selection strategies (docs/algorithms.md section 7).

- :func:`best_of_n`: the best transcript of each group (same problem), for rejection-sampling
  fine-tuning data. Survivors are copies with ``metadata["selection"]`` set, which
  :func:`parley.training.samples.samples_from_transcripts` turns into ``TrainingSample.selected``; the
  group-relative advantage estimators refuse such samples (survivors are not a group of policy samples).
- :func:`majority_label` (TTRL, Zuo et al. 2025, "Test-Time Reinforcement Learning"): with no gold
  answer, the majority final answer of each group is the pseudo-label and G_i = 1 when transcript i's
  final answer matches it (vote normalisation as in the debate's majority vote). The agreement rate
  (share of the group agreeing with the label) is reported per group and on average.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from parley.debate.parsing import normalize_for_vote
from parley.debate.protocols.voting import majority_vote
from parley.debate.types import Transcript

SELECTION_KEY = "selection"


def _group_by_problem(transcripts: Sequence[Transcript]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, t in enumerate(transcripts):
        groups.setdefault(t.problem_id, []).append(i)
    return groups


@dataclass(frozen=True)
class Survivor:
    """The best transcript of one group, its score and the size of the group it was chosen from."""

    transcript: Transcript
    score: float
    group_size: int


def best_of_n(transcripts: Sequence[Transcript], scores: Sequence[float]) -> list[Survivor]:
    """Keep the highest-scoring transcript per problem (ties: the earliest), in first-seen problem order."""
    if len(transcripts) != len(scores):
        raise ValueError(f"{len(transcripts)} transcripts but {len(scores)} scores")
    survivors = []
    for members in _group_by_problem(transcripts).values():
        best = max(members, key=lambda i: (scores[i], -i))
        original = transcripts[best]
        marked = original.model_copy(update={"metadata": {
            **original.metadata, SELECTION_KEY: {"strategy": "best_of_n", "group_size": len(members)}}})
        survivors.append(Survivor(marked, float(scores[best]), len(members)))
    return survivors


@dataclass(frozen=True)
class MajorityLabels:
    """Pseudo-labels per problem (``None`` when no transcript of the group had an answer), G per
    transcript against its group's label, agreement per problem and its mean over problems."""

    labels: dict[str, str | None]
    outcomes: list[float]
    agreement: dict[str, float]
    mean_agreement: float


def majority_label(transcripts: Sequence[Transcript]) -> MajorityLabels:
    """TTRL pseudo-labels: the majority final answer of each problem's group."""
    labels: dict[str, str | None] = {}
    agreement: dict[str, float] = {}
    outcomes = [0.0] * len(transcripts)
    for problem_id, members in _group_by_problem(transcripts).items():
        label, _ = majority_vote([transcripts[i].final_answer for i in members])
        labels[problem_id] = label
        agree = 0
        for i in members:
            answer = transcripts[i].final_answer
            if label is not None and answer is not None and normalize_for_vote(answer) == normalize_for_vote(label):
                outcomes[i] = 1.0
                agree += 1
        agreement[problem_id] = agree / len(members)
    mean = sum(agreement.values()) / len(agreement) if agreement else 0.0
    return MajorityLabels(labels, outcomes, agreement, mean)
