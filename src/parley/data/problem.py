"""The one problem schema every loader produces and every protocol consumes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Domain = Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
"""A reward domain: built-in ``math``, ``code``, ``reasoning``, ``judge``, or one registered with
``parley.rewards.register_verifier`` (the reward registry, a higher layer, decides which it scores)."""


class Problem(BaseModel):
    """A task to debate.

    ``answer`` is the gold answer (``None`` when there is none, e.g. judge-graded tasks).
    ``domain`` selects the verifier in the reward registry. ``metadata`` carries loader-specific fields
    (difficulty level, category, HumanEval ``entry_point``/``test``, reasoning-gym entry for scoring).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    question: str
    answer: str | None = None
    domain: Domain = "math"
    metadata: dict[str, Any] = Field(default_factory=dict)
