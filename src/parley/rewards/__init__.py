"""Rewards: math verification, reasoning-gym scoring, LLM judges and the domain -> verifier registry.

Entry point for callers: :func:`default_registry` (``score`` / ``score_batch`` / ``close``).
Heavy libraries (math-verify, sympy, reasoning-gym) load only inside the verifier worker processes.
"""

from parley.rewards.extract import Extraction, ExtractionConfig, ExtractionError, extract_answer
from parley.rewards.math import MathVerifier, MathVerifierConfig
from parley.rewards.pool import TaskOutcome, VerifierPool
from parley.rewards.registry import (
    VERIFIERS,
    MathDomainVerifier,
    ReasoningGymVerifier,
    RewardRegistry,
    Verifier,
    VerifierSettings,
    default_registry,
    register_verifier,
)
from parley.rewards.types import RewardResult, UnknownDomainError, VerifierError

__all__ = [
    "VERIFIERS",
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
    "VerifierSettings",
    "default_registry",
    "extract_answer",
    "register_verifier",
]
