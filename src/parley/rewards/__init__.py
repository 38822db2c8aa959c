"""Rewards: math verification, reasoning-gym scoring, LLM judges and the domain -> verifier registry.

Entry point for callers: :func:`default_registry` (``score`` / ``score_batch`` / ``close``).
Heavy libraries (math-verify, sympy, reasoning-gym) load only inside the verifier worker processes.
"""

from parley.rewards.extract import Extraction, ExtractionConfig, ExtractionError, extract_answer
from parley.rewards.math import MathVerifier, MathVerifierConfig
from parley.rewards.pool import TaskOutcome, VerifierPool
from parley.rewards.registry import (
    MathDomainVerifier,
    ReasoningGymVerifier,
    RewardRegistry,
    Verifier,
    default_registry,
)
from parley.rewards.types import RewardResult, UnknownDomainError, VerifierError

__all__ = [
    "Extraction",
    "ExtractionConfig",
    "ExtractionError",
    "MathDomainVerifier",
    "MathVerifier",
    "MathVerifierConfig",
    "ReasoningGymVerifier",
    "RewardRegistry",
    "RewardResult",
    "TaskOutcome",
    "UnknownDomainError",
    "Verifier",
    "VerifierError",
    "VerifierPool",
    "default_registry",
    "extract_answer",
]
