"""The debate engine: protocols, prompts, tolerant parsing and typed transcripts."""

from parley.debate.context import Agent, AgentError, AgentPool, DebateContext, TurnRequest, derive_seed
from parley.debate.engine import run_protocol
from parley.debate.prompts import PromptSet
from parley.debate.protocols import PROTOCOLS, Outcome, get_protocol, protocol, protocol_roles
from parley.debate.types import ParsedTurn, Transcript, Turn

__all__ = [
    "PROTOCOLS", "Agent", "AgentError", "AgentPool", "DebateContext", "Outcome", "ParsedTurn", "PromptSet",
    "Transcript", "Turn", "TurnRequest", "derive_seed", "get_protocol", "protocol", "protocol_roles",
    "run_protocol",
]
