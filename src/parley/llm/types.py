"""Types shared by every model backend: messages, sampling parameters, completions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from typing_extensions import TypedDict


class Message(TypedDict):
    """One chat message, as every backend and the OpenAI protocol understand it."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one completion.

    ``seed`` makes local sampling reproducible (and is passed to providers that accept one).
    ``stop`` strings end generation; the stop string itself is not part of the returned text.
    """

    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 128
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass
class Usage:
    """Token counts and cost of one call. ``cost_usd`` is ``None`` when the price is unknown."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None


@dataclass
class Completion:
    """What one model call produced.

    ``token_ids`` and ``logprobs`` are the exact sampled ids and their sampling log-probabilities
    (local backends; ``None`` where a provider does not return them). ``prompt_token_ids`` are the ids
    fed to the model (local backends), so training never re-tokenises text.
    """

    text: str
    model: str
    finish_reason: Literal["stop", "length", "error"] = "stop"
    usage: Usage = field(default_factory=Usage)
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    prompt_token_ids: list[int] | None = None
    latency_s: float = 0.0
    attempts: int = 1
