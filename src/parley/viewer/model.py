"""The viewer's source-independent records: runs, groups and debates as the pages show them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunRef:
    """One tracked run: ``key`` is what the source needs to read it (a path, an MLflow run id, ...)."""

    key: str
    name: str
    group: str
    arm: str
    seed: str = ""
    kind: str = "train"


@dataclass
class TurnView:
    index: int
    role: str
    text: str
    answer: str | None = None
    verdict: str | None = None
    local: float | None = None
    shaped_reward: float | None = None
    advantage: float | None = None
    trained: bool | None = None
    reask: str | None = None
    """The re-ask exchange (follow-up prompt and reply) when the reply lacked an expected field."""


@dataclass
class DebateView:
    debate_id: str
    problem_id: str
    turns: list[TurnView]
    question: str | None = None
    gold: str | None = None
    final_answer: str | None = None
    outcome: float | None = None
    kept: bool | None = None
    termination: str | None = None
    counterfactuals: dict[str, Any] = field(default_factory=dict)


def debates_from_rows(rows: list[dict[str, Any]]) -> list[DebateView]:
    """Table rows (one per turn, ``parley.tracking.TABLE_COLUMNS``) grouped back into debates."""
    out: dict[str, DebateView] = {}
    for row in rows:
        debate = out.setdefault(str(row["debate_id"]), DebateView(str(row["debate_id"]), str(row["problem_id"]), [],
                                                                  outcome=row.get("reward")))
        debate.turns.append(TurnView(int(row["turn"]), str(row["role"]), str(row.get("text") or ""),
                                     row.get("answer"), row.get("verdict"), None, row.get("shaped_reward"),
                                     row.get("advantage")))
    for debate in out.values():
        debate.turns.sort(key=lambda t: t.index)
    return list(out.values())


def seed_of(arm_id: str) -> tuple[str, str]:
    """Split an experiment arm id into (arm label without seed, seed): ``shaping=coma,seed=1`` -> (coma, 1)."""
    label, seed = [], ""
    for item in arm_id.split(","):
        key, _, value = item.partition("=")
        if not _:
            key, value = "", item
        value = value.split("#")[0]
        if key.split(".")[-1] == "seed":
            seed = value
        else:
            label.append(value)
    return ",".join(label) or arm_id, seed
