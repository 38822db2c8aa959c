"""Host side of one sandboxed worker: launch (bwrap argv, rlimits, cgroup), talk, classify, kill.

Layers, outermost first: a fresh cgroup v1 memory+pids group joined before ``exec``; rlimits set in the
same ``preexec_fn`` (inherited by everything inside); bubblewrap namespaces (user with uid/gid 65534
and no further user namespaces, pid, net with only ``lo``, ipc, uts, cgroup, mount) with ``/usr`` and
the interpreter prefix read-only, a size-capped private ``/tmp``, a fresh ``/proc`` and ``/dev``, and an
empty environment; the worker (``_worker.py``) then applies per-job rlimits, output caps and the
wall-clock deadline. The host keeps its own deadline (job timeout + grace) in case the worker hangs.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import resource
import selectors
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from parley.sandbox import _worker
from parley.sandbox.cgroups import CgroupLimits
from parley.sandbox.config import SandboxConfig, SandboxError, SandboxResult, Status

logger = logging.getLogger(__name__)

SANDBOX_UID = 65534
SANDBOX_PYTHON_PREFIX = "/opt/python"
SANDBOX_WORKDIR = "/work"
HOST_GRACE_S = 10.0
STARTUP_TIMEOUT_S = 30.0
_WORKER_SOURCE = Path(_worker.__file__).read_text(encoding="utf-8")
_SYSTEM_DIRS = ("lib", "lib32", "lib64", "libx32", "bin", "sbin")


def isolation_label(config: SandboxConfig) -> str:
    """The layers in force, e.g. ``bwrap+cgroup+rlimit`` or ``none+rlimit``."""
    parts: list[str] = [config.isolation]
    if config.cgroups == "required":
        parts.append("cgroup")
    parts.append("rlimit")
    return "+".join(parts)


def sandbox_python(config: SandboxConfig) -> str:
    """The interpreter path as the worker sees it."""
    if config.isolation == "bwrap":
        return f"{SANDBOX_PYTHON_PREFIX}/bin/{config.python_name}"
    return str(config.python_prefix / "bin" / config.python_name)


def base_env(config: SandboxConfig, home: str) -> dict[str, str]:
    """The whole environment a sandboxed program starts with (nothing from the parent)."""
    if config.isolation == "bwrap":
        prefix = SANDBOX_PYTHON_PREFIX
        env = {"LD_LIBRARY_PATH": f"{prefix}/lib"}  # else a system libpython may shadow the prefix's
    else:
        prefix, env = str(config.python_prefix), {}
    env.update({"PATH": f"{prefix}/bin:/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"})
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # leave no stale __pycache__ in a bound work directory
    return env


def bwrap_argv(config: SandboxConfig, workdir: Path | None) -> list[str]:
    """The bubblewrap command line that starts a worker."""
    argv = [
        str(config.bwrap_path),
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--uid", str(SANDBOX_UID),
        "--gid", str(SANDBOX_UID),
        "--die-with-parent",
        "--new-session",
        "--hostname", "sandbox",
        "--ro-bind", "/usr", "/usr",
    ]  # fmt: skip
    for name in _SYSTEM_DIRS:
        host = Path("/") / name
        if host.is_symlink():
            argv += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            argv += ["--ro-bind", str(host), str(host)]
    argv += ["--ro-bind", str(config.python_prefix), SANDBOX_PYTHON_PREFIX]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--size", str(config.tmp_size_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    if workdir is not None:
        argv += ["--bind", str(workdir), SANDBOX_WORKDIR]
    for dest, host_path in sorted(config.ro_binds.items()):
        argv += ["--ro-bind", str(host_path), dest]
    argv += ["--remount-ro", "/", "--clearenv"]  # the sandbox's own root tmpfs: read-only too
    for key, value in base_env(config, "/tmp").items():
        argv += ["--setenv", key, value]
    argv += ["--chdir", "/tmp", sandbox_python(config), "-I", "-c", _WORKER_SOURCE, "--sweep"]
    return argv


def _read_exact(fd: int, n: int, deadline: float, sel: selectors.BaseSelector) -> bytes | None:
    data = bytearray()
    while len(data) < n:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not sel.select(remaining):
            return None
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _read_frame(fd: int, deadline: float) -> bytes | None:
    """One length-prefixed frame from ``fd``, or ``None`` on EOF or when ``deadline`` passes."""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        header = _read_exact(fd, 4, deadline, sel)
        if header is None:
            return None
        return _read_exact(fd, int.from_bytes(header, "big"), deadline, sel)


def classify(resp: dict[str, Any], stderr: str, oom_kills: int, config: SandboxConfig) -> tuple[Status, str]:
    """Map what the worker observed (plus cgroup OOM kills) to a status and a one-line detail."""
    sig = resp.get("signal")
    if resp["timed_out"]:
        return "timeout", f"wall-clock limit of {resp['timeout_s']:g}s exceeded"
    if resp["output_capped"]:
        return "killed", f"output passed the cap of {config.max_output_bytes} bytes"
    if sig == signal.SIGXCPU:
        return "timeout", f"CPU time limit of {resp['cpu_time_s']}s exceeded"
    if oom_kills > 0:
        return "memory", f"killed by the out-of-memory killer at the {config.memory_mb} MB cgroup limit"
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    if resp["exit_code"] not in (0, None) and lines and lines[-1].startswith("MemoryError"):
        return "memory", f"MemoryError under the {config.memory_mb} MB address-space limit"
    if sig is not None:
        if sig == signal.SIGXFSZ:
            return "killed", f"file size limit of {config.file_size_mb} MB exceeded"
        return "killed", f"killed by signal {signal.Signals(sig).name}"
    if resp["exit_code"] == 0:
        return "ok", "exit code 0"
    return "error", f"exit code {resp['exit_code']}"


class WorkerProcess:
    """One long-lived sandboxed worker process; not thread-safe (a pool hands it to one caller)."""

    def __init__(self, config: SandboxConfig, workdir: Path | None = None) -> None:
        self.config = config
        self.isolation = isolation_label(config)
        self.cgroup: CgroupLimits | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        if config.cgroups == "required":
            # Room for the two bubblewrap processes and the worker on top of the job's own processes.
            self.cgroup = CgroupLimits(config.memory_bytes + (128 << 20), config.max_processes + 3)
        if config.isolation == "bwrap":
            argv, env, cwd = bwrap_argv(config, workdir), {}, None
        else:
            self._scratch = tempfile.TemporaryDirectory(prefix="parley-sandbox-")
            cwd = self._scratch.name
            argv = [sandbox_python(config), "-I", "-c", _WORKER_SOURCE]
            env = base_env(config, cwd)
        worker_as = config.memory_bytes + (512 << 20)
        fsize = config.file_size_mb << 20
        nofile = config.max_open_files
        cgroup = self.cgroup

        def preexec() -> None:  # runs between fork and exec: os-level calls only
            if cgroup is not None:
                cgroup.join_in_child()
            resource.setrlimit(resource.RLIMIT_AS, (worker_as, worker_as))
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=preexec,
                close_fds=True,
            )
        except OSError as exc:
            self.close()
            raise SandboxError(f"could not start the sandbox worker ({argv[0]}): {exc}") from exc
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self._out = self.proc.stdout.fileno()
        hello = _read_frame(self._out, time.monotonic() + STARTUP_TIMEOUT_S)
        if hello != b"ready":
            diag = self._worker_stderr()
            self.close()
            raise SandboxError(f"the sandbox worker failed to start: {diag or 'no output'}")
        self.jobs = 0

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _worker_stderr(self) -> str:
        """What the worker (or bubblewrap) wrote on its own stderr, once it has exited or been killed."""
        self.kill()
        assert self.proc.stderr is not None
        try:
            return self.proc.stderr.read(4096).decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def run(self, req: dict[str, Any]) -> SandboxResult:
        """Send one job and wait for its result; a dead or hung worker becomes a ``killed`` result."""
        if self._scratch is not None:
            req["scratch_root"] = self._scratch.name
        oom_before = self.cgroup.oom_kills() if self.cgroup else 0
        payload = json.dumps(req).encode()
        start = time.monotonic()
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(len(payload).to_bytes(4, "big") + payload)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # the worker is gone: the read below reports it
        deadline = start + float(req["timeout_s"]) + HOST_GRACE_S
        raw = _read_frame(self._out, deadline)
        self.jobs += 1
        oom = (self.cgroup.oom_kills() if self.cgroup else 0) - oom_before
        if raw is None:
            # No frame before the deadline: the worker hung. No frame but EOF before it: the worker died, even
            # if its process is not reaped yet (checking ``alive`` here raced with the exit on a loaded machine).
            hung = time.monotonic() >= deadline
            diag = self._worker_stderr()
            status: Status = "memory" if oom > 0 else ("timeout" if hung else "killed")
            detail = (
                "the sandbox worker stopped answering and was killed"
                if hung
                else "the sandbox worker died during the job (killed by the program or the OOM killer)"
            )
            if diag:
                logger.debug("sandbox worker stderr: %s", diag)
            return SandboxResult(
                status, None, "", "", time.monotonic() - start, self.isolation, signal=None, detail=detail
            )
        resp = json.loads(raw)
        resp["timeout_s"], resp["cpu_time_s"] = req["timeout_s"], req["cpu_time_s"]
        stdout = base64.b64decode(resp["stdout"]).decode("utf-8", "replace")
        stderr = base64.b64decode(resp["stderr"]).decode("utf-8", "replace")
        status, detail = classify(resp, stderr, oom, self.config)
        return SandboxResult(
            status=status,
            exit_code=resp["exit_code"],
            stdout=stdout,
            stderr=stderr,
            duration_s=resp["duration_s"],
            isolation=self.isolation,
            stdout_truncated=resp["stdout_truncated"],
            stderr_truncated=resp["stderr_truncated"],
            signal=resp["signal"],
            detail=detail,
        )

    def kill(self) -> None:
        """SIGKILL the worker's process group and cgroup (idempotent)."""
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def close(self) -> None:
        """Stop the worker and release its cgroups and scratch directory."""
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None and proc.stdin is not None:
            try:
                proc.stdin.close()  # EOF: the worker exits by itself
                proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                logger.debug("sandbox worker %s did not exit on EOF; killing it", proc.pid)
        self.kill()
        if proc is not None:
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        if self.cgroup is not None:
            self.cgroup.close()
            self.cgroup = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
