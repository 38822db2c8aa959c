"""A pool of long-lived verifier worker processes with a hard, external timeout per call.

Why not :class:`concurrent.futures.ProcessPoolExecutor`: it cannot kill one hung call; a killed
worker breaks the whole executor. Here each worker has its own pipe; a dispatcher thread hands
tasks to idle workers, waits on the pipes with the earliest deadline as its timeout, and when a
call overruns it kills that worker (SIGKILL), reports ``timeout`` for that call only and starts a
replacement. A worker that dies mid-call (crash, OOM kill) is reported as ``crashed`` and replaced.

Workers are fresh interpreters (``python -c`` booting :mod:`parley.rewards._worker`), not forks of the caller:
the caller may hold threads, CUDA contexts or sockets, and ``multiprocessing``'s spawn/forkserver
would re-run the caller's ``__main__`` in every worker. A fresh interpreter also lets the pool hand
each worker an environment without any secrets. The price is ~2 s of imports per (re)start, paid
by that one worker only; the others keep serving.

``submit`` is thread-safe and returns a :class:`concurrent.futures.Future`; asyncio callers can
``await asyncio.wrap_future(fut)``. The pool starts lazily on the first submit.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import weakref
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Final

from parley.rewards._worker import _KEEP_ENV

logger = logging.getLogger(__name__)



@dataclass
class TaskOutcome:
    """What happened to one pool call. ``status``: ``ok``, ``error``, ``timeout`` or ``crashed``."""

    status: str
    value: Any = None
    error: str | None = None
    worker_pid: int | None = None


@dataclass
class _Task:
    task_id: int
    kind: str
    payload: Any
    timeout_s: float
    future: Future[TaskOutcome]


# A fresh worker imports math-verify, sympy and reasoning-gym before it reads its first task (~2 s on
# an idle machine, far more on a loaded one). Its first task gets this much extra time so the boot is
# not charged to the call's own timeout; later tasks are timed exactly.
BOOT_ALLOWANCE_S: Final = 60.0

# ``-c`` rather than ``-m``: ``-m`` would import the package first and then run _worker a second time.
_WORKER_BOOT: Final = "from parley.rewards._worker import _main; _main()"


class _Worker:
    """One worker: a fresh interpreter running :func:`parley.rewards._worker.worker_main`."""

    def __init__(self, memory_limit_mb: int | None) -> None:
        parent_sock, child_sock = socket.socketpair()
        child_fd = child_sock.fileno()
        argv = [sys.executable, "-c", _WORKER_BOOT, "--fd", str(child_fd)]
        if memory_limit_mb:
            argv += ["--memory-limit-mb", str(memory_limit_mb)]
        try:
            self.process = subprocess.Popen(
                argv, pass_fds=(child_fd,), env=_worker_env(), stdin=subprocess.DEVNULL, close_fds=True,
                process_group=0,  # its own group: Ctrl-C in a terminal reaches the parent, not the workers
            )
        finally:
            child_sock.close()
        self.conn = Connection(parent_sock.detach())
        self.task: _Task | None = None
        self.deadline: float | None = None
        self.booted = False  # True once it has answered a task (so its imports are done)

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            logger.error("verifier worker %s did not exit after SIGKILL", self.process.pid)
        self.conn.close()


def _worker_env() -> dict[str, str]:
    """The workers' whole environment: locale, PATH and the parent's import path. No secrets."""
    env = {key: os.environ[key] for key in _KEEP_ENV if key in os.environ}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class VerifierPool:
    """``size`` worker processes (default: CPU count) serving verifier calls with hard timeouts."""

    def __init__(self, size: int | None = None, memory_limit_mb: int | None = 4096) -> None:
        self.size = max(1, size or os.cpu_count() or 1)
        self.memory_limit_mb = memory_limit_mb
        self._lock = threading.Lock()
        self._pending: collections.deque[_Task] = collections.deque()
        self._ids = itertools.count()
        self._workers: list[_Worker] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self._wake_r: Connection | None = None
        self._wake_w: Connection | None = None
        self.restarts = 0
        self.timeouts = 0
        self._finalizer: weakref.finalize | None = None

    # ---- public API -------------------------------------------------------------------------
    def submit(self, kind: str, payload: Any, timeout_s: float) -> Future[TaskOutcome]:
        """Queue one call; the future resolves to a :class:`TaskOutcome` (it never raises)."""
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        future: Future[TaskOutcome] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the verifier pool is closed")
            self._ensure_started()
            self._pending.append(_Task(next(self._ids), kind, payload, timeout_s, future))
        self._wake()
        return future

    def run(self, kind: str, payload: Any, timeout_s: float) -> TaskOutcome:
        """Submit one call and wait for its outcome."""
        return self.submit(kind, payload, timeout_s).result()

    def worker_pids(self) -> list[int]:
        """PIDs of the live workers (changes when a worker is replaced)."""
        with self._lock:
            return [w.pid for w in self._workers]

    def close(self) -> None:
        """Stop the dispatcher and all workers; pending calls resolve as ``error``. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._finalizer is not None:
            self._finalizer.detach()

    def __enter__(self) -> VerifierPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals --------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        wake_r, wake_w = socket.socketpair()
        self._wake_r, self._wake_w = Connection(wake_r.detach()), Connection(wake_w.detach())
        self._workers = [_Worker(self.memory_limit_mb) for _ in range(self.size)]
        self._thread = threading.Thread(target=self._dispatch, name="parley-verifier-pool", daemon=True)
        self._thread.start()
        self._finalizer = weakref.finalize(self, VerifierPool._shutdown_workers, self._workers)

    @staticmethod
    def _shutdown_workers(workers: list[_Worker]) -> None:
        for worker in workers:
            with contextlib.suppress(OSError, ValueError):  # already gone: kill() below reaps it
                worker.conn.send(None)
        for worker in workers:
            try:
                worker.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                logger.info("verifier worker %s ignored shutdown; killing it", worker.pid)
            worker.kill()

    def _wake(self) -> None:
        if self._wake_w is not None:
            try:
                self._wake_w.send_bytes(b"x")
            except (OSError, ValueError):
                logger.debug("verifier pool wake-up pipe is closed")

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        index = self._workers.index(worker)
        self._workers[index] = _Worker(self.memory_limit_mb)
        self.restarts += 1

    def _assign(self) -> None:
        for worker in self._workers:
            if worker.task is not None:
                continue
            with self._lock:
                if not self._pending:
                    return
                task = self._pending.popleft()
            if not task.future.set_running_or_notify_cancel():
                continue
            try:
                worker.conn.send((task.task_id, task.kind, task.payload))
            except (OSError, ValueError):
                logger.warning("verifier worker %s was dead before a call; replacing it", worker.pid)
                self._replace(worker)
                with self._lock:
                    self._pending.appendleft(task)
                continue
            worker.task = task
            worker.deadline = time.monotonic() + task.timeout_s + (0.0 if worker.booted else BOOT_ALLOWANCE_S)

    def _finish(self, worker: _Worker, outcome: TaskOutcome) -> None:
        task = worker.task
        worker.task = None
        worker.deadline = None
        if task is not None:
            task.future.set_result(outcome)

    def _dispatch(self) -> None:
        assert self._wake_r is not None
        try:
            while True:
                with self._lock:
                    closed = self._closed
                if closed:
                    break
                self._assign()
                busy = [w for w in self._workers if w.task is not None]
                deadlines = [w.deadline for w in busy if w.deadline is not None]
                timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                ready = wait([self._wake_r, *(w.conn for w in busy)], timeout)
                for conn in ready:
                    if conn is self._wake_r:
                        while self._wake_r.poll():
                            self._wake_r.recv_bytes()
                        continue
                    worker = next(w for w in busy if w.conn is conn)
                    self._receive(worker)
                now = time.monotonic()
                for worker in list(self._workers):
                    if worker.task is not None and worker.deadline is not None and now >= worker.deadline:
                        pid = worker.pid
                        timeout_s = worker.task.timeout_s
                        self.timeouts += 1
                        self._finish(worker, TaskOutcome("timeout", None, f"no result within {timeout_s:g} s; "
                                                         "the worker was killed", pid))
                        logger.warning("verifier call exceeded %.3g s; killed worker %s", timeout_s, pid)
                        self._replace(worker)
        finally:
            self._stop_all()

    def _receive(self, worker: _Worker) -> None:
        pid = worker.pid
        try:
            _task_id, ok, value = worker.conn.recv()
        except (EOFError, OSError):
            try:
                code: int | None = worker.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                code = None
            self._finish(worker, TaskOutcome("crashed", None, f"verifier worker died (exit code {code})", pid))
            logger.warning("verifier worker %s died with exit code %s; replacing it", pid, code)
            self._replace(worker)
            return
        worker.booted = True
        if ok:
            self._finish(worker, TaskOutcome("ok", value, None, pid))
        else:
            self._finish(worker, TaskOutcome("error", None, str(value), pid))

    def _stop_all(self) -> None:
        for worker in self._workers:
            if worker.task is not None:
                self._finish(worker, TaskOutcome("error", None, "the verifier pool was closed", None))
        with self._lock:
            pending = list(self._pending)
            self._pending.clear()
        for task in pending:
            if task.future.set_running_or_notify_cancel():
                task.future.set_result(TaskOutcome("error", None, "the verifier pool was closed", None))
        VerifierPool._shutdown_workers(self._workers)
        for conn in (self._wake_r, self._wake_w):
            if conn is not None:
                conn.close()
