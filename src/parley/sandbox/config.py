"""Sandbox configuration, results and errors.

:class:`SandboxConfig` is validated at load time (unknown fields are errors that name the field);
:class:`SandboxResult` is what every run returns, including the isolation layers actually in force.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from parley.errors import WorkFailedError

Isolation = Literal["bwrap", "none"]
Status = Literal["ok", "error", "timeout", "memory", "killed"]
STATUSES: tuple[str, ...] = ("ok", "error", "timeout", "memory", "killed")


class SandboxError(WorkFailedError, RuntimeError):
    """The sandbox itself failed (not the program it ran): bad request, broken worker, setup error."""


class SandboxUnavailableError(SandboxError):
    """The configured isolation cannot be provided on this machine; the message says how to fix it."""


class SandboxConfig(BaseModel):
    """Limits and isolation for running untrusted code.

    ``isolation``: ``bwrap`` (bubblewrap namespaces: no network, read-only system, private /tmp, empty
    environment, unprivileged uid) or ``none`` (a plain subprocess with rlimits only; unsafe, and a
    warning is logged on every use). ``cgroups``: ``required`` puts every sandbox in its own cgroup v1
    ``memory`` and ``pids`` groups (fails if they cannot be created); ``off`` skips them, leaving
    RLIMIT_AS and RLIMIT_NPROC (which the kernel ignores for root) as the only memory/process limits.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    isolation: Isolation = "bwrap"
    cgroups: Literal["required", "off"] = "required"
    timeout_s: float = Field(default=10.0, gt=0, le=3600, description="Wall-clock limit per run.")
    cpu_time_s: int = Field(default=10, ge=1, le=3600, description="RLIMIT_CPU per run (seconds).")
    memory_mb: int = Field(default=1024, ge=32, le=65536, description="RLIMIT_AS and cgroup memory cap.")
    max_processes: int = Field(default=64, ge=1, le=4096, description="pids cgroup cap (and RLIMIT_NPROC).")
    max_output_bytes: int = Field(
        default=1 << 20, ge=1024, description="Cap on captured stdout and on stderr; the run is killed past it."
    )
    file_size_mb: int = Field(default=64, ge=1, description="RLIMIT_FSIZE: largest file a program may write.")
    tmp_size_mb: int = Field(default=128, ge=1, description="Size of the sandbox's private /tmp (tmpfs).")
    max_open_files: int = Field(default=256, ge=16, le=65536, description="RLIMIT_NOFILE.")
    bwrap_path: Path = Path("/usr/bin/bwrap")
    python_prefix: Path = Field(
        default_factory=lambda: Path(sys.base_prefix),
        description="Real prefix of the interpreter bound read-only at /opt/python inside the sandbox.",
    )
    python_name: str = Field(
        default=f"python{sys.version_info.major}.{sys.version_info.minor}",
        description="Interpreter file name under <python_prefix>/bin.",
    )
    ro_binds: dict[str, Path] = Field(
        default_factory=dict,
        description="Extra read-only binds, sandbox path -> host path (e.g. a site-packages directory).",
    )

    @field_validator("ro_binds")
    @classmethod
    def _check_binds(cls, value: dict[str, Path]) -> dict[str, Path]:
        reserved = ("/tmp", "/proc", "/dev", "/usr", "/opt/python", "/work")
        for dest in value:
            if not dest.startswith("/") or ".." in Path(dest).parts:
                raise ValueError(f"sandbox path {dest!r} must be absolute and contain no '..'")
            if any(dest == r or dest.startswith(r + "/") for r in reserved):
                raise ValueError(f"sandbox path {dest!r} overlaps a reserved mount ({', '.join(reserved)})")
        return value

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * 1024 * 1024


@dataclass
class SandboxResult:
    """The outcome of one sandboxed run.

    ``status``: ``ok`` (exit code 0), ``error`` (non-zero exit), ``timeout`` (wall clock or CPU time
    limit), ``memory`` (out of memory: MemoryError under RLIMIT_AS, or the cgroup OOM killer),
    ``killed`` (killed by a signal, or by the sandbox because its output passed the cap; ``detail``
    says which). ``isolation`` names the layers in force, e.g. ``bwrap+cgroup+rlimit``.
    ``stdout``/``stderr`` are decoded UTF-8 (invalid bytes replaced) and hold at most the output cap.
    """

    status: Status
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    isolation: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    signal: int | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy."""
        return asdict(self)

