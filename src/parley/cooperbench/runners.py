"""How a feature's tests are run on a merged tree: the :class:`TestRunner` interface and three runners.

CooperBench (arXiv 2601.13295, Sec. 3.3) runs each feature's tests in the task's Docker image. parley
keeps that step behind one small interface so patch evaluation does not care where tests run:

* :class:`SandboxTestRunner` (default): :mod:`parley.sandbox` (bubblewrap, no network, empty env);
  imported lazily so the rest of :mod:`parley.cooperbench` works without it.
* :class:`DockerTestRunner`: ``docker run --network none`` with the task image, when Docker is
  configured *and* reachable; otherwise it raises :class:`RunnerUnavailableError` saying so.
* :class:`LocalTestRunner`: explicit ``isolation="none"``: a plain subprocess with a minimal
  environment. It logs a warning on every use: model-written code runs with your permissions.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from parley.cooperbench.errors import CooperBenchInputError
from parley.errors import WorkFailedError

logger = logging.getLogger(__name__)

RunStatus = Literal["ok", "error", "timeout", "killed", "memory"]
MAX_OUTPUT_CHARS = 20_000


class RunnerUnavailableError(WorkFailedError, RuntimeError):
    """The configured test runner cannot work on this machine; the message says why and what to do."""


@dataclass
class TestRun:
    """Outcome of one test command: ``status`` ``ok`` means exit code 0."""

    __test__ = False  # not a pytest test class

    status: RunStatus
    exit_code: int | None
    output: str
    duration_s: float
    isolation: str


class TestRunner(Protocol):
    """Runs ``argv`` with ``workdir`` (a copy of the merged tree) as working directory."""

    isolation: str

    def run(self, argv: list[str], *, workdir: Path, timeout_s: float) -> TestRun: ...


def _tail(text: str) -> str:
    return text if len(text) <= MAX_OUTPUT_CHARS else "...\n" + text[-MAX_OUTPUT_CHARS:]


class LocalTestRunner:
    """No isolation (``isolation = "none"``); for trusted fixtures and machines without a sandbox."""

    isolation = "none"

    def run(self, argv: list[str], *, workdir: Path, timeout_s: float) -> TestRun:
        logger.warning(
            "cooperbench: running tests WITHOUT isolation (runner=local) in %s: the code can read your files "
            "and use the network",
            workdir,
        )
        env = {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.defpath]),
            "HOME": str(workdir),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        start = time.monotonic()
        try:
            proc = subprocess.run(
                argv,
                cwd=workdir,
                env=env,
                capture_output=True,
                timeout=timeout_s,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            out = (exc.stdout or b"").decode("utf-8", "replace") + (exc.stderr or b"").decode("utf-8", "replace")
            return TestRun("timeout", None, _tail(out), time.monotonic() - start, self.isolation)
        out = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
        status: RunStatus = "ok" if proc.returncode == 0 else ("killed" if proc.returncode < 0 else "error")
        return TestRun(status, proc.returncode, _tail(out), time.monotonic() - start, self.isolation)


class SandboxTestRunner:
    """Tests in :class:`parley.sandbox.Sandbox` (``workdir`` bound read-write at ``/work``)."""

    def __init__(self, config: Any = None) -> None:
        try:
            from parley.sandbox import Sandbox, SandboxConfig, SandboxUnavailableError
        except ImportError as exc:  # the sandbox package is optional for loading/analysis
            raise RunnerUnavailableError(f"parley.sandbox cannot be imported: {exc}") from exc
        try:
            self._sandbox = Sandbox(config or SandboxConfig())
        except SandboxUnavailableError as exc:
            raise RunnerUnavailableError(
                f"sandbox runner unavailable: {exc}. Use --runner local (no isolation) only for trusted code."
            ) from exc
        self.isolation = str(self._sandbox.isolation)

    def run(self, argv: list[str], *, workdir: Path, timeout_s: float) -> TestRun:
        res = self._sandbox.run_command(argv, workdir=workdir, timeout_s=timeout_s)
        status: RunStatus = res.status if res.status in ("ok", "error", "timeout", "killed", "memory") else "error"
        return TestRun(status, res.exit_code, _tail(res.stdout + res.stderr), res.duration_s, res.isolation)


class DockerTestRunner:
    """Tests in the task's Docker image, with the tree mounted at ``/workspace/repo`` and no network."""

    isolation = "docker"

    def __init__(self, image: str, docker: str = "docker") -> None:
        exe = shutil.which(docker)
        if exe is None:
            raise RunnerUnavailableError(
                f"runner=docker is configured but the `{docker}` executable is not on PATH on this machine"
            )
        try:
            probe = subprocess.run([exe, "info"], capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RunnerUnavailableError(f"runner=docker is configured but `docker info` failed: {exc}") from exc
        if probe.returncode != 0:
            msg = probe.stderr.decode("utf-8", "replace").strip().splitlines()
            raise RunnerUnavailableError(
                "runner=docker is configured but Docker is not available here (`docker info`: "
                f"{msg[-1] if msg else 'exit ' + str(probe.returncode)}); use --runner sandbox"
            )
        self.exe, self.image = exe, image

    def run(self, argv: list[str], *, workdir: Path, timeout_s: float) -> TestRun:
        cmd = [self.exe, "run", "--rm", "--network", "none", "--entrypoint", ""]
        cmd += ["-v", f"{workdir.resolve()}:/workspace/repo", "-w", "/workspace/repo", self.image, *argv]
        start = time.monotonic()
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return TestRun("timeout", None, "", time.monotonic() - start, self.isolation)
        out = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
        return TestRun(
            "ok" if proc.returncode == 0 else "error", proc.returncode, _tail(out), time.monotonic() - start, "docker"
        )


def make_runner(kind: str, *, docker_image: str | None = None, sandbox_config: Any = None) -> TestRunner:
    """A runner by name: ``sandbox``, ``docker`` (needs ``docker_image``) or ``local``."""
    if kind == "sandbox":
        return SandboxTestRunner(sandbox_config)
    if kind == "docker":
        if not docker_image:
            raise RunnerUnavailableError("runner=docker needs --docker-image (the task's test image)")
        return DockerTestRunner(docker_image)
    if kind == "local":
        return LocalTestRunner()
    raise CooperBenchInputError(f"--runner {kind!r}: expected sandbox, docker or local")
