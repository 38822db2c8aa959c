"""What a protocol returns, the protocol registry, and what each protocol declares (its roles).

A protocol is an async function ``(ctx, cfg) -> Outcome`` registered by name together with its
roles, a function of its config (``svj`` has a judge unless ``use_judge: false``; ``mad`` has
``num_agents`` agents). Callers ask :func:`protocol_roles` instead of knowing the protocols::

    @protocol("echo", roles=("solver",))
    async def echo(ctx: DebateContext, cfg: ProtocolConfig) -> Outcome: ...

The registry itself lives in :mod:`parley.config.registries` so that ``protocol.name`` is validated
at config load time (a registered plug-in is selectable from YAML).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import cast

from parley.config.models import ProtocolConfig
from parley.config.registries import PROTOCOLS as _PROTOCOLS
from parley.debate.context import DebateContext
from parley.debate.types import TerminationReason
from parley.registry import Registry


@dataclass
class Outcome:
    """How a protocol run ended. ``final_answer`` is ``None`` when no valid answer was ever given."""

    final_answer: str | None
    termination_reason: TerminationReason
    rounds_used: int
    final_confidence: float | None = None
    error: str | None = None


ProtocolFn = Callable[[DebateContext, ProtocolConfig], Awaitable[Outcome]]
RolesFn = Callable[[ProtocolConfig], Sequence[str]]

PROTOCOLS = cast(Registry[ProtocolFn], _PROTOCOLS)
"""The protocol registry (names -> :data:`ProtocolFn`, metadata ``roles``)."""


def protocol(name: str, *, roles: RolesFn | Sequence[str]) -> Callable[[ProtocolFn], ProtocolFn]:
    """Register a protocol coroutine under ``name`` (the value of ``protocol.name``).

    Args:
        name: the protocol's name.
        roles: the roles its transcripts contain, in turn order of first appearance: a fixed sequence,
            or a function of the :class:`ProtocolConfig` when they depend on it.
    """
    if callable(roles):
        roles_fn: RolesFn = roles
    else:
        fixed = tuple(roles)

        def roles_fn(cfg: ProtocolConfig) -> Sequence[str]:
            return fixed

    return PROTOCOLS.register(name, roles=roles_fn)


def get_protocol(name: str) -> ProtocolFn:
    """The protocol registered as ``name``; unknown names list the known ones."""
    return PROTOCOLS.get(name)


def protocol_roles(cfg: ProtocolConfig) -> list[str]:
    """The roles transcripts of ``cfg`` contain, as the protocol declared them."""
    entry = PROTOCOLS.entry(cfg.name)
    return list(entry.meta("roles")(cfg))
