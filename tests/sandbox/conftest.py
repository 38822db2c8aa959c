"""Shared sandboxes for the sandbox tests (short limits so hostile programs end quickly)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from parley.sandbox import Sandbox, SandboxConfig, SandboxPool

FAST = SandboxConfig(timeout_s=5, cpu_time_s=5, memory_mb=512, max_processes=32, max_output_bytes=64 * 1024)


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    return Sandbox(FAST)


@pytest.fixture(scope="session")
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(FAST, size=2) as shared:
        yield shared
