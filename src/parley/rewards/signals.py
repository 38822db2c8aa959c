"""Per-debate reward inputs: outcome G, per-turn local signals and answer-correctness states.

docs/algorithms.md section 2. :func:`debate_signals` reads a transcript's structured turns (roles come
from :attr:`Turn.role`, never from text) and a correctness oracle ``is_correct(answer) -> bool``
(the trainer passes one backed by the reward registry; ``None`` means "no answer" and an oracle
must return ``False`` for it). Local signals per turn:

- ``solver`` / ``agent_<k>`` (mad) / ``agent``: the answer this turn proposed is correct.
- ``verifier``: its verdict agrees with the truth of the attempt it checked, i.e. the nearest
  preceding ``solver`` turn (a pass on a correct attempt or a fail on a wrong one scores 1; an
  unparsed verdict, or a verifier with no preceding solver turn, scores 0).
- ``judge``: the judge's own parsed final answer is correct (an unparsed judge turn scores 0 even if
  the protocol fell back to the solver's answer: the judge did not produce it).

``format_ok`` is 1 when the turn parsed. ``latest_answer_correct[t]`` (length ``T + 1``) says whether
the latest answer proposed by turns ``0..t-1`` (non-verifier turns with a parsed answer) is correct;
it is the potential ``Phi = answer_correct`` of the state after ``t`` turns, with
``latest_answer_correct[0] = False`` (no answer yet).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from parley.debate.types import Transcript, Turn

CorrectnessOracle = Callable[[str | None], bool]
"""``is_correct(answer)``: True when ``answer`` is a correct final answer; ``None`` -> False."""

ANSWER_ROLES = ("solver", "judge", "agent")


class UnknownRoleError(ValueError):
    """A turn's role has no local signal definition."""


@dataclass(frozen=True)
class DebateSignals:
    """Reward inputs of one transcript. Every per-turn list is aligned with ``transcript.turns``.

    Attributes:
        debate_id: the transcript's debate id.
        outcome: G in [0, 1]: 1.0 when the final answer is correct.
        local: per-turn local signal in {0, 1} (see module docstring).
        format_ok: per-turn 1.0 when the turn parsed, else 0.0.
        answer_correct: per-turn correctness of the answer the turn proposed (``None``: no answer, or a
            verifier turn).
        checked_correct: per-turn truth of the attempt a verifier turn checked (``None`` elsewhere).
        latest_answer_correct: length ``T + 1``; entry ``t`` = latest proposed answer among the first
            ``t`` turns is correct.
    """

    debate_id: str
    outcome: float
    local: list[float]
    format_ok: list[float]
    answer_correct: list[bool | None]
    checked_correct: list[bool | None]
    latest_answer_correct: list[bool]

    @property
    def num_turns(self) -> int:
        return len(self.local)


def role_kind(role: str) -> str:
    """``solver`` | ``verifier`` | ``judge`` | ``agent`` (mad's ``agent_<k>`` roles map to ``agent``)."""
    if role in ("solver", "verifier", "judge", "agent"):
        return role
    if role.startswith("agent_"):
        return "agent"
    raise UnknownRoleError(
        f"role {role!r}: no local signal is defined; known roles are solver, verifier, judge, agent_<k>"
    )


def proposes_answer(turn: Turn) -> bool:
    """Whether the turn proposes an answer (any parsed answer of a non-verifier turn)."""
    return turn.parsed.answer is not None and role_kind(turn.role) != "verifier"


def debate_signals(transcript: Transcript, is_correct: CorrectnessOracle) -> DebateSignals:
    """Outcome, local signals and answer states of ``transcript`` under ``is_correct``."""
    cache: dict[str | None, bool] = {}

    def correct(answer: str | None) -> bool:
        if answer is None:
            return False
        if answer not in cache:
            cache[answer] = bool(is_correct(answer))
        return cache[answer]

    local: list[float] = []
    format_ok: list[float] = []
    answer_correct: list[bool | None] = []
    checked_correct: list[bool | None] = []
    latest = [False]
    last_solver: Turn | None = None
    for turn in transcript.turns:
        kind = role_kind(turn.role)
        format_ok.append(1.0 if turn.parsed.ok else 0.0)
        if kind == "verifier":
            answer_correct.append(None)
            if last_solver is None or turn.parsed.verdict is None:
                truth = None if last_solver is None else correct(last_solver.parsed.answer)
                checked_correct.append(truth)
                local.append(0.0)
            else:
                truth = correct(last_solver.parsed.answer)
                checked_correct.append(truth)
                local.append(1.0 if (turn.parsed.verdict == "pass") == truth else 0.0)
        else:
            checked_correct.append(None)
            ok = correct(turn.parsed.answer)
            answer_correct.append(ok if turn.parsed.answer is not None else None)
            local.append(1.0 if ok else 0.0)
            if kind == "solver":
                last_solver = turn
        latest.append(correct(turn.parsed.answer) if proposes_answer(turn) else latest[-1])
    return DebateSignals(
        debate_id=transcript.debate_id,
        outcome=1.0 if correct(transcript.final_answer) else 0.0,
        local=local,
        format_ok=format_ok,
        answer_correct=answer_correct,
        checked_correct=checked_correct,
        latest_answer_correct=latest,
    )


def exact_match_oracle(gold: str | None) -> CorrectnessOracle:
    """A simple real oracle: exact string equality with ``gold`` after stripping whitespace.

    For tests and rule-based tasks whose answers are canonical (the scripted arithmetic agent writes
    integers canonically). ``gold=None`` makes every answer wrong.
    """
    target = None if gold is None else gold.strip()

    def is_correct(answer: str | None) -> bool:
        return answer is not None and target is not None and answer.strip() == target

    return is_correct


def class_balanced_local(signals: Sequence[DebateSignals], transcripts: Sequence[Transcript], *,
                         scope: str = "batch") -> list[list[float]]:
    """Local signals with the verifier's correct verdicts weighted against class imbalance.

    A verifier turn whose verdict agrees with the truth of the attempt it checked gets
    ``1 / (2 * share)`` instead of 1, with ``share`` the fraction of verifier turns (in the batch, or in
    the same problem's group with ``scope="group"``) whose checked attempt had the same truth value; a
    wrong verdict gets 0. A verifier that always says FAIL (or always PASS) then earns 0.5 on average
    whatever the mix of right and wrong attempts, and only checking earns more (the expected reward is
    the balanced accuracy). Without it, when most attempts are wrong, "agrees with the truth" rewards a
    constant FAIL (measured on the first demo: pass rate 0.67 -> 0.03 while plain accuracy rose 0.34 ->
    0.77). Other roles' signals are unchanged. docs/algorithms.md section 2.
    """
    if scope not in ("batch", "group"):
        raise ValueError(f"scope={scope!r}: use 'batch' or 'group'")
    if len(signals) != len(transcripts):
        raise ValueError(f"{len(signals)} signals but {len(transcripts)} transcripts")
    counts: dict[tuple[str, bool], int] = {}
    totals: dict[str, int] = {}
    for t, s in zip(transcripts, signals, strict=True):
        key = t.problem_id if scope == "group" else ""
        for turn, truth in zip(t.turns, s.checked_correct, strict=True):
            if role_kind(turn.role) == "verifier" and truth is not None:
                counts[(key, truth)] = counts.get((key, truth), 0) + 1
                totals[key] = totals.get(key, 0) + 1
    out: list[list[float]] = []
    for t, s in zip(transcripts, signals, strict=True):
        key = t.problem_id if scope == "group" else ""
        row = []
        for turn, local, truth in zip(t.turns, s.local, s.checked_correct, strict=True):
            if role_kind(turn.role) == "verifier" and truth is not None:
                share = counts[(key, truth)] / totals[key]
                row.append(local / (2.0 * share))
            else:
                row.append(local)
        out.append(row)
    return out
