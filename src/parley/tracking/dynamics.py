"""Debate-dynamics metrics of a batch of transcripts (docs/algorithms.md section 9; names in docs/metrics.md).

Lives in ``tracking`` because the trainer and the evaluator both log it; it reads only debate
transcripts and :class:`~parley.rewards.signals.DebateSignals` (lower layers). Definitions:

- ``debate/rounds_used``: mean ``rounds_used``.
- ``debate/termination/<reason>``: share of debates that ended with ``reason`` (every known reason).
- ``debate/answer_changes``: mean per debate of the number of times one agent's parsed answer
  changed between its consecutive answering turns (solver across svj rounds, each ``agent_<k>`` across
  mad rounds; judges and verifiers excluded; answers compared after vote normalisation).
- ``debate/flip_correct_to_wrong`` / ``debate/flip_wrong_to_correct``: over all such consecutive answer
  pairs in the batch, the share that went correct -> wrong / wrong -> correct.
- ``debate/verifier_pass_rate``: share of verifier turns with verdict pass.
- ``debate/verifier_accuracy``: share of verifier turns whose verdict agreed with the truth of the
  attempt it checked (the verifier's local signal).
- ``debate/verifier_balanced_accuracy``: (P(pass | attempt right) + P(fail | attempt wrong)) / 2 over
  those turns (an unparsed verdict counts as not passing); omitted when the batch's checked attempts
  were all right or all wrong. A constant verdict scores 0.5 whatever the class mix.
- ``debate/agent_agreement``: over debates with >= 2 ``agent_<k>`` roles (mad), the mean share of the
  last round's agents that gave the majority answer (no answer counts as disagreeing).
- ``debate/judge_accuracy``: share of judge turns whose answer was correct.

A metric without any applicable turn in the batch (e.g. verifier metrics on a mad batch) is omitted
rather than reported as 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import get_args

from parley.debate.parsing import normalize_for_vote
from parley.debate.protocols.voting import majority_vote
from parley.debate.types import TerminationReason, Transcript
from parley.rewards.signals import DebateSignals


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def debate_dynamics_metrics(transcripts: Sequence[Transcript], signals: Sequence[DebateSignals]) -> dict[str, float]:
    """The ``debate/*`` metrics of a batch (see the module docstring)."""
    if len(transcripts) != len(signals):
        raise ValueError(f"{len(transcripts)} transcripts but {len(signals)} signals")
    if not transcripts:
        return {}
    metrics: dict[str, float] = {"debate/rounds_used": _mean([t.rounds_used for t in transcripts])}
    for reason in get_args(TerminationReason):
        metrics[f"debate/termination/{reason}"] = _mean([t.termination_reason == reason for t in transcripts])
    changes: list[float] = []
    pairs = c2w = w2c = 0
    verdicts: list[float] = []
    verifier_right: list[float] = []
    checks = {True: [0, 0], False: [0, 0]}  # truth -> [verdicts agreeing with it, checks]
    judge_right: list[float] = []
    agreement: list[float] = []
    for transcript, s in zip(transcripts, signals, strict=True):
        history: dict[str, list[tuple[str, bool]]] = {}
        debate_changes = 0
        for turn, correct, local, truth in zip(transcript.turns, s.answer_correct, s.local, s.checked_correct,
                                               strict=True):
            if turn.role == "verifier":
                if turn.parsed.verdict is not None:
                    verdicts.append(1.0 if turn.parsed.verdict == "pass" else 0.0)
                verifier_right.append(local)
                if truth is not None:
                    checks[truth][0] += int((turn.parsed.verdict == "pass") == truth)
                    checks[truth][1] += 1
            elif turn.role == "judge":
                judge_right.append(local)
            elif turn.parsed.answer is not None and correct is not None:
                answers = history.setdefault(turn.agent_id, [])
                if answers:
                    previous, was_correct = answers[-1]
                    debate_changes += normalize_for_vote(previous) != normalize_for_vote(turn.parsed.answer)
                    pairs += 1
                    c2w += was_correct and not correct
                    w2c += (not was_correct) and correct
                answers.append((turn.parsed.answer, correct))
        changes.append(float(debate_changes))
        agents = [t for t in transcript.turns if t.role.startswith("agent_")]
        if len({t.role for t in agents}) >= 2:
            last_round = max(t.round for t in agents)
            last = [t.parsed.answer for t in agents if t.round == last_round]
            label, _ = majority_vote(last)
            agree = sum(1 for a in last if a is not None and label is not None
                        and normalize_for_vote(a) == normalize_for_vote(label))
            agreement.append(agree / len(last))
    metrics["debate/answer_changes"] = _mean(changes)
    if pairs:
        metrics["debate/flip_correct_to_wrong"] = c2w / pairs
        metrics["debate/flip_wrong_to_correct"] = w2c / pairs
    if verdicts:
        metrics["debate/verifier_pass_rate"] = _mean(verdicts)
    if verifier_right:
        metrics["debate/verifier_accuracy"] = _mean(verifier_right)
    if checks[True][1] and checks[False][1]:
        metrics["debate/verifier_balanced_accuracy"] = 0.5 * (checks[True][0] / checks[True][1]
                                                              + checks[False][0] / checks[False][1])
    if agreement:
        metrics["debate/agent_agreement"] = _mean(agreement)
    if judge_right:
        metrics["debate/judge_accuracy"] = _mean(judge_right)
    return metrics
