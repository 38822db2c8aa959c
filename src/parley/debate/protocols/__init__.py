"""Debate protocols, registered by name: ``svj``, ``mad``, ``single``, ``self_consistency``."""

from parley.debate.protocols import mad, sampling, svj  # noqa: F401  (registration side effect)
from parley.debate.protocols.base import PROTOCOLS, Outcome, ProtocolFn, get_protocol, protocol, protocol_roles

__all__ = ["PROTOCOLS", "Outcome", "ProtocolFn", "get_protocol", "protocol", "protocol_roles"]
