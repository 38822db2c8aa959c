"""What a protocol returns, and the registry of protocols by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from parley.config.models import ProtocolConfig
from parley.debate.context import DebateContext
from parley.debate.types import TerminationReason


@dataclass
class Outcome:
    """How a protocol run ended. ``final_answer`` is ``None`` when no valid answer was ever given."""

    final_answer: str | None
    termination_reason: TerminationReason
    rounds_used: int
    final_confidence: float | None = None
    error: str | None = None


ProtocolFn = Callable[[DebateContext, ProtocolConfig], Awaitable[Outcome]]
PROTOCOLS: dict[str, ProtocolFn] = {}


def protocol(name: str) -> Callable[[ProtocolFn], ProtocolFn]:
    """Register a protocol coroutine under ``name`` (the value of ``protocol.name``)."""

    def deco(fn: ProtocolFn) -> ProtocolFn:
        PROTOCOLS[name] = fn
        return fn

    return deco


def get_protocol(name: str) -> ProtocolFn:
    """The protocol registered as ``name``; unknown names list the known ones."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"protocol.name: unknown protocol {name!r}; known: {', '.join(sorted(PROTOCOLS))}"
                         ) from None
