"""A real local Ray cluster for tests: head on 127.0.0.1, free ports, its own temp dir; stopped by pid.

``ray start`` runs from this interpreter's ``bin`` with that directory first on PATH, so a job's
``python`` is this venv's. Every port is chosen free, so clusters of other users of the machine are
never touched; on teardown only the processes whose command line names this cluster's temp dir are
stopped (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

START_BOUND_S = 120


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free ports: every socket stays bound until all are chosen (ports picked one at a time
    and released can repeat: a run saw the same port handed to two Ray components)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


@dataclass(frozen=True)
class RayCluster:
    """A started cluster: the job server address, its temp dir and the environment it was started with."""

    address: str
    gcs_address: str
    temp_dir: Path
    env: dict[str, str]


def ray_env() -> dict[str, str]:
    """Loopback-only Ray settings (see the Ray notes in docs/scale-out.md)."""
    bindir = str(Path(sys.executable).parent)
    return {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0",
            "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}


def _cluster_processes(temp_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(str(temp_dir) in part for part in proc.info["cmdline"] or []):
                found.append(proc)
    return found


def cluster_workers(temp_dir: Path, name: str) -> list[psutil.Process]:
    """Worker processes of this cluster whose title names ``name`` (e.g. an actor class): children of its raylet."""
    found = []
    for proc in _cluster_processes(temp_dir):
        with contextlib.suppress(psutil.Error):
            found += [c for c in proc.children(recursive=True) if name in " ".join(c.cmdline())]
    return found


def stop_cluster(temp_dir: Path) -> None:
    """Stop this cluster's processes by pid: SIGTERM, then SIGKILL whatever is left after 10 s."""
    procs = _cluster_processes(temp_dir)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(procs, timeout=10)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=10)


@contextlib.contextmanager
def local_ray_cluster(num_cpus: int = 2) -> Iterator[RayCluster]:
    """Start a head node on 127.0.0.1 (bounded wait until its job server answers), stop it afterwards."""
    temp_dir = Path(tempfile.mkdtemp(prefix="pray-", dir="/tmp"))  # short: Ray's socket paths are length-limited
    env = ray_env()
    names = ("--port", "--dashboard-port", "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
             "--metrics-export-port", "--runtime-env-agent-port", "--node-manager-port", "--object-manager-port",
             "--ray-client-server-port")
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    dashboard = ports["--dashboard-port"]
    cmd = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--node-ip-address=127.0.0.1",
           "--dashboard-host=127.0.0.1", f"--num-cpus={num_cpus}", "--num-gpus=0", f"--temp-dir={temp_dir}",
           "--include-dashboard=true", "--disable-usage-stats",
           *(f"{k}={v}" for k, v in ports.items())]
    # (worker ports: Ray's default range; each worker binds a free one there)
    address = f"http://127.0.0.1:{dashboard}"
    try:
        started = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=START_BOUND_S, check=False)
        if started.returncode != 0:
            raise RuntimeError(f"ray start failed ({started.returncode}): {started.stderr[-2000:]}")
        from ray.job_submission import JobSubmissionClient

        deadline = time.monotonic() + START_BOUND_S
        while True:
            try:
                JobSubmissionClient(address).list_jobs()
                break
            except (ConnectionError, RuntimeError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the test Ray cluster's job server never answered: {exc}") from exc
                time.sleep(0.5)
        yield RayCluster(address, f"127.0.0.1:{ports['--port']}", temp_dir, env)
    finally:
        stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
