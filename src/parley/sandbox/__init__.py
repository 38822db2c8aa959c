"""Running untrusted code: bubblewrap namespaces, cgroup v1 limits, rlimits, timeouts, output caps.

``Sandbox(config).run_python(code)`` / ``.run_command(argv, workdir=...)`` start a fresh sandbox per
run; ``SandboxPool(config, size)`` keeps warm sandboxed workers that fork one child per job.
"""

from parley.sandbox.config import (
    STATUSES,
    SandboxConfig,
    SandboxError,
    SandboxResult,
    SandboxUnavailableError,
)
from parley.sandbox.sandbox import Sandbox, SandboxPool, check_available

__all__ = [
    "STATUSES",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "SandboxPool",
    "SandboxResult",
    "SandboxUnavailableError",
    "check_available",
]
