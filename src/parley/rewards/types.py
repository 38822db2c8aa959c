"""Result types shared by every verifier: one :class:`RewardResult` per (problem, answer).

Statuses (stable strings, used in metrics and stored results):

- ``ok``: the verifier ran; ``correct`` and ``score`` are meaningful.
- ``no_answer``: there was no answer to score (``answer is None`` or nothing could be extracted);
  ``correct`` is ``False`` and ``score`` is ``0.0``. An empty string is never scored as an answer.
- ``timeout``: the verifier call exceeded its hard timeout and its worker was killed.
- ``error``: the input or the verifier failed (bad gold, invalid UTF-8, answer too long, crash);
  ``error`` says why. ``correct`` is ``False`` (not ``None``) so accuracy counts it as wrong.
- ``unverifiable``: the problem has no verifier or no gold answer; ``correct`` is ``None``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Final

from parley.errors import ParleyError

STATUS_OK: Final = "ok"
STATUS_NO_ANSWER: Final = "no_answer"
STATUS_TIMEOUT: Final = "timeout"
STATUS_ERROR: Final = "error"
STATUS_UNVERIFIABLE: Final = "unverifiable"
STATUSES: Final = (STATUS_OK, STATUS_NO_ANSWER, STATUS_TIMEOUT, STATUS_ERROR, STATUS_UNVERIFIABLE)


@dataclass
class RewardResult:
    """The outcome of scoring one answer.

    ``correct`` is the binary verdict (``None`` when no verdict is possible); ``score`` in [0, 1] is
    the reward (partial credit where the verifier gives it: reasoning-gym scores, judge rubric scores,
    the fraction of code tests passed). ``extracted`` is the answer string actually compared.
    ``details`` holds verifier-specific fields (raw reasoning-gym score, judge rationale, ...).
    """

    correct: bool | None
    score: float
    extracted: str | None
    error: str | None
    status: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return asdict(self)

    @classmethod
    def no_answer(cls, reason: str = "no answer was given") -> RewardResult:
        """The result for a missing answer: wrong, score 0, status ``no_answer``."""
        return cls(False, 0.0, None, None, STATUS_NO_ANSWER, {"reason": reason})

    @classmethod
    def failed(cls, status: str, error: str, extracted: str | None = None) -> RewardResult:
        """A wrong result with ``status`` (``error`` or ``timeout``) and an explanation."""
        return cls(False, 0.0, extracted, error, status, {})


class VerifierError(ParleyError, RuntimeError):
    """A verifier could not be set up or called (not a wrong answer: a broken verifier)."""


class UnknownDomainError(VerifierError):
    """No verifier is registered for the problem's domain."""
