"""Typed transcript records: what every protocol produces and the store persists.

A :class:`Transcript` is one debate (or one single-agent / self-consistency sample) on one problem;
its :class:`Turn` list holds, per agent call, the exact context the agent saw, what it generated (with
token ids and sampling log-probs from local backends) and what parley parsed out of it. Roles come
from here, never from searching the text (LESSONS.md).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parley.llm.types import Message

Verdict = Literal["pass", "fail"]
TerminationReason = Literal[
    "verifier_pass", "max_rounds", "stalled", "error", "timeout", "majority_vote", "judge", "single"
]

SCHEMA_VERSION = 1


class ParsedTurn(BaseModel):
    """Fields parsed from a turn's text. ``ok`` is False when the expected fields were missing."""

    model_config = ConfigDict(extra="forbid")

    ok: bool = True
    error: str | None = None
    answer: str | None = None
    verdict: Verdict | None = None
    critique: str | None = None
    confidence: float | None = None


class Reask(BaseModel):
    """A structured re-ask: the follow-up exchange after a reply whose expected fields did not parse.

    The agent's original reply stays the turn's ``text``/``token_ids``/``logprobs``; the re-ask's own
    context is the turn's messages, the original reply as an ``assistant`` message and ``prompt`` as a
    ``user`` message (``context_token_ids`` are its exact prompt ids on local backends).
    ``original_parsed`` is what the original reply parsed to; ``parsed`` is what the re-ask reply
    gave for the ``missing`` fields alone. The turn's ``parsed`` merges the two.
    """

    model_config = ConfigDict(extra="forbid")

    missing: list[str] = Field(description="Fields asked for again: answer, verdict, confidence.")
    prompt: str = Field(description="The follow-up user message.")
    original_parsed: ParsedTurn
    text: str = ""
    context_token_ids: list[int] | None = None
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    parsed: ParsedTurn = Field(default_factory=ParsedTurn)
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    duration_s: float = 0.0
    error: str | None = None


class Turn(BaseModel):
    """One agent call inside a debate.

    With structured re-asks on (``protocol.reask``), a reply whose expected fields did not parse gets
    one follow-up exchange, recorded in ``reask``: ``parsed`` then merges the original reply's fields
    with the re-ask's, and ``prompt_tokens``/``completion_tokens``/``cost_usd``/``duration_s`` include
    the re-ask, while ``context_token_ids``/``token_ids``/``logprobs`` stay those of the original
    reply (training samples them unchanged; the re-ask exchange is not a training sample).
    """

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0, description="Position of the turn in the transcript (0-based).")
    role: str = Field(description="solver | verifier | judge | agent_<k>")
    agent_id: str = Field(description="Which agent produced it (agent_0.. in mad; the role otherwise).")
    policy_id: str = Field(description="Which model/policy produced it (role name or 'shared').")
    round: int = Field(ge=0)
    context: list[Message]
    context_token_ids: list[int] | None = None
    text: str = ""
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    parsed: ParsedTurn = Field(default_factory=ParsedTurn)
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    started_at: float = 0.0
    duration_s: float = 0.0
    error: str | None = None
    reask: Reask | None = Field(
        default=None, description="The structured re-ask exchange after this reply, when one was made.")


class Transcript(BaseModel):
    """One complete protocol run on one problem sample.

    ``final_answer`` is ``None`` when no agent ever produced a parseable answer; it is never an empty
    string standing in for "no answer". ``correct``/``reward`` are filled by the reward registry.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    run_id: str
    debate_id: str
    problem_id: str
    sample_index: int = Field(ge=0)
    config_hash: str
    protocol: str
    question: str
    gold_answer: str | None = None
    domain: str = "math"
    turns: list[Turn] = Field(default_factory=list)
    final_answer: str | None = None
    final_confidence: float | None = None
    termination_reason: TerminationReason
    rounds_used: int = 0
    error: str | None = None
    correct: bool | None = None
    reward: float | None = None
    reward_error: str | None = None
    created_at: float = 0.0
    duration_s: float = 0.0
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def prompt_tokens(self) -> int:
        return sum(t.prompt_tokens for t in self.turns)

    @property
    def completion_tokens(self) -> int:
        return sum(t.completion_tokens for t in self.turns)

    @property
    def cost_usd(self) -> float | None:
        """Total cost, or ``None`` if any turn's cost is unknown (never a made-up figure)."""
        costs = [t.cost_usd for t in self.turns]
        if any(c is None for c in costs):
            return None
        return float(sum(c for c in costs if c is not None))
