"""Debate protocols, registered by name: ``svj``, ``mad``, ``single``, ``self_consistency``."""

from parley.debate.protocols import mad, sampling, svj  # noqa: F401  (registration side effect)
from parley.debate.protocols.base import PROTOCOLS, Outcome, get_protocol, protocol

__all__ = ["PROTOCOLS", "Outcome", "get_protocol", "protocol"]
