"""Per-sandbox cgroup v1 ``memory`` and ``pids`` groups.

Why cgroups: RLIMIT_NPROC is ignored for root (and bubblewrap's sandbox uid maps to the caller's uid),
so only the ``pids`` controller stops a fork bomb; the ``memory`` controller caps the resident memory of
the whole process tree, including tmpfs pages, which RLIMIT_AS (per process, virtual) cannot.

Each group is created under this process's own group in each hierarchy (so limits above still apply)
and joined by the child between ``fork`` and ``exec`` (see :meth:`CgroupLimits.join_in_child`).
Only cgroup v1 is implemented, because that is what the target machines mount; on a cgroup v2 host
:func:`cgroup_problem` explains the situation and ``cgroups: off`` is the explicit way out.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
import uuid
from pathlib import Path

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
_CONTROLLERS = ("memory", "pids")


def _own_path(controller: str) -> str:
    """This process's group path in a v1 hierarchy, from ``/proc/self/cgroup``."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path
    return "/"


def cgroup_problem() -> str | None:
    """``None`` when v1 ``memory`` and ``pids`` groups can be created here, else why not."""
    for controller in _CONTROLLERS:
        mount = CGROUP_ROOT / controller
        if not (mount / "cgroup.procs").exists():
            return (
                f"the cgroup v1 '{controller}' controller is not mounted at {mount} "
                "(parley's sandbox needs cgroup v1 memory and pids groups; set sandbox.cgroups: off "
                "to rely on rlimits only)"
            )
        parent = mount / _own_path(controller).lstrip("/")
        if not os.access(parent, os.W_OK):
            return f"cannot create cgroups under {parent} (not writable; run as root or set cgroups: off)"
    return None


class CgroupLimits:
    """A fresh ``memory`` + ``pids`` group pair for one sandbox process tree."""

    def __init__(self, memory_bytes: int, max_pids: int) -> None:
        name = f"parley-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.dirs: dict[str, Path] = {}
        self._procs: list[str] = []
        try:
            for controller in _CONTROLLERS:
                path = CGROUP_ROOT / controller / _own_path(controller).lstrip("/") / name
                path.mkdir()
                self.dirs[controller] = path
            mem = self.dirs["memory"]
            (mem / "memory.limit_in_bytes").write_text(str(memory_bytes))
            if (mem / "memory.memsw.limit_in_bytes").exists():
                (mem / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
            (self.dirs["pids"] / "pids.max").write_text(str(max_pids))
            self._procs = [str(d / "cgroup.procs") for d in self.dirs.values()]
        except OSError:
            self.close()
            raise

    def join_in_child(self) -> None:
        """Move the calling process into both groups. Called in a ``preexec_fn``: os calls only."""
        pid = str(os.getpid()).encode()
        for procs in self._procs:
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, pid)
            finally:
                os.close(fd)

    def oom_kills(self) -> int:
        """How many processes the OOM killer has killed in this group so far."""
        try:
            text = (self.dirs["memory"] / "memory.oom_control").read_text()
        except OSError:
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def memory_failures(self) -> int:
        """How many times usage hit the limit (``memory.failcnt``)."""
        try:
            return int((self.dirs["memory"] / "memory.failcnt").read_text())
        except (OSError, ValueError):
            return 0

    def pids(self) -> list[int]:
        """Processes currently in the group."""
        found: set[int] = set()
        for path in self._procs:
            try:
                found.update(int(p) for p in Path(path).read_text().split())
            except OSError:
                continue
        return sorted(found)

    def kill_all(self) -> None:
        """SIGKILL everything in the group, repeating while new processes appear (bounded)."""
        for _ in range(100):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)
        logger.warning("cgroup %s still has processes after repeated SIGKILL", self.dirs.get("pids"))

    def close(self) -> None:
        """Kill what is left and remove the groups (retrying briefly while exiting tasks drain)."""
        if self.dirs:
            self.kill_all()
        for controller, path in list(self.dirs.items()):
            for attempt in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if attempt == 49:
                        logger.warning("could not remove cgroup %s", path)
                    time.sleep(0.01)
            del self.dirs[controller]
