"""Shared fixtures: one real verifier pool for the whole rewards test session (workers take ~2 s to boot)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from parley.rewards.math import MathVerifier, MathVerifierConfig
from parley.rewards.pool import VerifierPool


@pytest.fixture(scope="session")
def pool() -> Iterator[VerifierPool]:
    with VerifierPool(2) as verifier_pool:
        yield verifier_pool


@pytest.fixture(scope="session")
def math_verifier(pool: VerifierPool) -> MathVerifier:
    # Generous timeout: the machine is shared and noisy; the timeout test uses its own short limit.
    return MathVerifier(pool, MathVerifierConfig(timeout_s=60.0))
