"""Public entry points: :class:`Sandbox` (one fresh sandbox per run) and :class:`SandboxPool` (warm workers).

Both check on construction that the configured isolation really works here (bubblewrap present, the
cgroups creatable, a probe program runs) and raise :class:`SandboxUnavailableError` with the fix
otherwise; nothing silently degrades. ``isolation: none`` must be asked for and logs a warning on every
run. Every :class:`SandboxResult` names the isolation layers that were in force.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import queue
import threading
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from parley.sandbox.cgroups import cgroup_problem
from parley.sandbox.config import SandboxConfig, SandboxError, SandboxResult, SandboxUnavailableError
from parley.sandbox.process import SANDBOX_WORKDIR, WorkerProcess, base_env, isolation_label

logger = logging.getLogger(__name__)

_verified: set[str] = set()
_verified_lock = threading.Lock()


def check_available(config: SandboxConfig) -> None:
    """Raise :class:`SandboxUnavailableError` unless ``config``'s isolation can run here (probed once)."""
    key = config.model_dump_json(include={"isolation", "cgroups", "bwrap_path", "python_prefix", "python_name"})
    with _verified_lock:
        if key in _verified:
            return
    python = config.python_prefix / "bin" / config.python_name
    if not python.is_file():
        raise SandboxUnavailableError(
            f"sandbox.python_prefix: no interpreter at {python} (set python_prefix/python_name)"
        )
    if config.isolation == "bwrap" and not os.access(config.bwrap_path, os.X_OK):
        raise SandboxUnavailableError(
            f"bubblewrap is not installed at {config.bwrap_path}: install it (`apt-get install bubblewrap`, "
            "as scripts/install.sh does) or set sandbox.bwrap_path; to run untrusted code WITHOUT "
            "isolation set sandbox.isolation: none explicitly (unsafe)"
        )
    if config.cgroups == "required":
        problem = cgroup_problem()
        if problem is not None:
            raise SandboxUnavailableError(f"sandbox.cgroups is 'required' but {problem}")
    try:
        worker = WorkerProcess(config)
    except (SandboxError, OSError) as exc:
        raise SandboxUnavailableError(f"the {config.isolation} sandbox does not work here: {exc}") from exc
    try:
        probe = worker.run(_python_request(config, "print('ok')", None, None, None))
    finally:
        worker.close()
    if probe.status != "ok" or probe.stdout.strip() != "ok":
        raise SandboxUnavailableError(
            f"the {config.isolation} sandbox probe failed: status {probe.status}, {probe.detail}; "
            f"stderr: {probe.stderr.strip()[:500]}"
        )
    with _verified_lock:
        _verified.add(key)


def _limits(config: SandboxConfig, timeout_s: float | None) -> dict[str, Any]:
    timeout = config.timeout_s if timeout_s is None else timeout_s
    if timeout <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout}")
    return {
        "timeout_s": timeout,
        "cpu_time_s": config.cpu_time_s,
        "memory_bytes": config.memory_bytes,
        "file_size_bytes": config.file_size_mb << 20,
        "max_open_files": config.max_open_files,
        "max_processes": config.max_processes if config.isolation == "bwrap" else None,
        "max_output_bytes": config.max_output_bytes,
    }


def _encode_files(files: Mapping[str, bytes] | None, reserved: tuple[str, ...] = ()) -> dict[str, str]:
    encoded: dict[str, str] = {}
    for name, data in (files or {}).items():
        path = PurePosixPath(name)
        if not name or path.is_absolute() or ".." in path.parts or name in reserved:
            raise ValueError(f"files: {name!r} must be a relative path without '..' (and not {reserved})")
        if not isinstance(data, bytes | bytearray):
            raise ValueError(f"files[{name!r}] must be bytes, got {type(data).__name__}")
        encoded[str(path)] = base64.b64encode(data).decode()
    return encoded


def _python_request(
    config: SandboxConfig,
    code: str,
    stdin: bytes | None,
    files: Mapping[str, bytes] | None,
    timeout_s: float | None,
) -> dict[str, Any]:
    return {
        "kind": "python",
        "code": code,
        "stdin": None if stdin is None else base64.b64encode(stdin).decode(),
        "files": _encode_files(files, reserved=("main.py",)),
        **_limits(config, timeout_s),
    }


def _warn_unisolated(config: SandboxConfig) -> None:
    if config.isolation == "none":
        logger.warning(
            "running untrusted code WITHOUT isolation (sandbox.isolation: none): it can read your files "
            "and use the network; only rlimits%s apply",
            " and cgroups" if config.cgroups == "required" else "",
        )


class Sandbox:
    """Runs each program in a fresh sandbox (start-up ~50-150 ms); use :class:`SandboxPool` for throughput."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        check_available(self.config)
        self.isolation = isolation_label(self.config)

    def run_python(
        self,
        code: str,
        stdin: bytes | None = None,
        files: Mapping[str, bytes] | None = None,
        timeout_s: float | None = None,
    ) -> SandboxResult:
        """Run ``code`` as ``main.py`` in a private scratch directory holding ``files``."""
        request = _python_request(self.config, code, stdin, files, timeout_s)
        _warn_unisolated(self.config)
        worker = WorkerProcess(self.config)
        try:
            return worker.run(request)
        finally:
            worker.close()

    def run_command(
        self,
        argv: list[str],
        *,
        workdir: Path | None = None,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        files: Mapping[str, bytes] | None = None,
        timeout_s: float | None = None,
    ) -> SandboxResult:
        """Run ``argv`` in a fresh sandbox.

        ``workdir`` (a host directory) is bound read-write at ``/work`` and is the working directory,
        so e.g. a repository's test command can run on it and leave its outputs there; without it the
        command runs in a private scratch directory holding ``files``. ``env`` adds variables to the
        otherwise empty environment (PATH, HOME, LANG are set). ``argv[0]`` is looked up on that PATH;
        ``python`` is the sandbox's interpreter, which sees only the standard library: to run e.g.
        pytest, bind a site-packages directory with ``SandboxConfig.ro_binds`` and put it on
        ``PYTHONPATH`` in ``env``.
        """
        if not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError("argv must be a non-empty list of strings")
        if workdir is not None and not Path(workdir).is_dir():
            raise ValueError(f"workdir {workdir} is not a directory")
        full_env = base_env(self.config, "/tmp")
        full_env.update(env or {})
        if self.config.isolation == "none":
            full_env["HOME"] = str(workdir) if workdir else full_env["HOME"]
        request: dict[str, Any] = {
            "kind": "exec",
            "argv": list(argv),
            "env": full_env,
            "stdin": None if stdin is None else base64.b64encode(stdin).decode(),
            "files": _encode_files(files),
            **_limits(self.config, timeout_s),
        }
        if workdir is not None:
            resolved = Path(workdir).resolve()
            request["cwd"] = SANDBOX_WORKDIR if self.config.isolation == "bwrap" else str(resolved)
        else:
            resolved = None
        _warn_unisolated(self.config)
        worker = WorkerProcess(self.config, workdir=resolved)
        try:
            return worker.run(request)
        finally:
            worker.close()


class SandboxPool:
    """``size`` warm sandboxed workers; each job runs in a fresh forked child of one of them.

    Thread-safe: callers block until a worker is free. A worker that dies (or hangs) is replaced on
    the next use. From asyncio use :meth:`arun_python` (``asyncio.to_thread``). Close the pool (or use
    it as a context manager) to stop the workers and remove their cgroups.
    """

    def __init__(self, config: SandboxConfig | None = None, size: int = 2) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.config = config or SandboxConfig()
        check_available(self.config)
        self.isolation = isolation_label(self.config)
        self.size = size
        self.replaced = 0
        self._slots: queue.Queue[WorkerProcess | None] = queue.Queue()
        self._all: set[WorkerProcess] = set()
        self._lock = threading.Lock()
        self._closed = False
        for _ in range(size):
            self._slots.put(self._spawn())

    def _spawn(self) -> WorkerProcess:
        worker = WorkerProcess(self.config)
        with self._lock:
            self._all.add(worker)
        return worker

    def _retire(self, worker: WorkerProcess) -> None:
        with self._lock:
            self._all.discard(worker)
        worker.close()

    def run_python(
        self,
        code: str,
        stdin: bytes | None = None,
        files: Mapping[str, bytes] | None = None,
        timeout_s: float | None = None,
    ) -> SandboxResult:
        """Like :meth:`Sandbox.run_python`, on a warm worker."""
        if self._closed:
            raise SandboxError("the sandbox pool is closed")
        request = _python_request(self.config, code, stdin, files, timeout_s)
        _warn_unisolated(self.config)
        worker = self._slots.get()
        try:
            if worker is None or not worker.alive:
                if worker is not None:
                    self._retire(worker)
                    self.replaced += 1
                worker = None
                worker = self._spawn()
            result = worker.run(request)
            if not worker.alive:
                logger.info("sandbox worker died during a job (%s); replacing it", result.detail)
                self._retire(worker)
                self.replaced += 1
                worker = None
            return result
        finally:
            self._slots.put(worker)

    async def arun_python(
        self,
        code: str,
        stdin: bytes | None = None,
        files: Mapping[str, bytes] | None = None,
        timeout_s: float | None = None,
    ) -> SandboxResult:
        """:meth:`run_python` without blocking the event loop."""
        return await asyncio.to_thread(self.run_python, code, stdin, files, timeout_s)

    def close(self) -> None:
        """Stop every worker (idempotent)."""
        self._closed = True
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.close()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
