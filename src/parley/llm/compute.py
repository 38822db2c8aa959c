"""One thread that runs a process's torch compute, so the process has one OpenMP thread team.

PyTorch's CPU operators parallelise with OpenMP, and every Python thread that runs a parallel operator
gets its own team of worker threads. With two teams in one process (the trainer's main thread
optimising, a sampler's batcher thread generating) there are more OpenMP threads than cores, and GNU
OpenMP then throttles its spin-waiting: each worker sleeps almost at once after an operator and has to be
woken for the next, which on small operators costs more than the parallelism gains. Measured on a
2-core machine (2026-12-01): the tiny model's packed training forward and backward, 2 threads, took
152 ms for ten micro-batches alone and 283-310 ms once another (idle) thread had run one parallel
matrix product; with that other thread at 1 thread it took 152 ms again. That is why parley's samplers
default to half the cores and the RL trainer ran on one thread.

:class:`ComputeThread` gives a set of models one thread to run on: :meth:`ComputeThread.run` executes a
function there and returns its result (or raises its exception) to the caller, which waits. The RL
trainer routes its samplers' batches (:class:`parley.llm.hf.HFChatModel` ``compute=``) and its
optimisation through one such thread with ``threads`` intra-op threads, and keeps every other thread at
one, so both phases use all the cores it was given without a second team. Calls from the compute thread
itself run inline (no deadlock when one routed function calls another).

Thread-local torch state does not cross: the function runs with the compute thread's own grad mode
(enabled), inference mode and autocast state, so routed functions set what they need themselves (as
:func:`parley.llm.sampling.generate`'s ``torch.inference_mode`` does).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def default_threads() -> int:
    """Intra-op threads for a process's compute thread: ``OMP_NUM_THREADS`` when set (parley's executors
    set it to a job's CPUs), else the CPUs this process may run on, shared among the data-parallel
    processes of this machine (``LOCAL_WORLD_SIZE``, as torchrun and Ray Train set it)."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover  (not Linux)
        cpus = os.cpu_count() or 1
    local = os.environ.get("LOCAL_WORLD_SIZE", "").strip()
    return max(1, cpus // (int(local) if local.isdigit() and int(local) > 0 else 1))


def run_on(compute: ComputeThread | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on ``compute``, or right here when it is ``None``."""
    return fn(*args, **kwargs) if compute is None else compute.run(fn, *args, **kwargs)


class ComputeThread:
    """A single worker thread with ``threads`` torch intra-op threads (see the module docstring)."""

    def __init__(self, threads: int | None = None, *, name: str = "parley-compute") -> None:
        self.threads = threads if threads is not None else default_threads()
        if self.threads < 1:
            raise ValueError(f"threads={self.threads}: must be >= 1")
        self._ident: int | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name, initializer=self._start)
        self._closed = False
        self.calls = 0  # observability: functions run here (inline re-entrant calls included)

    def _start(self) -> None:
        import torch

        self._ident = threading.get_ident()
        torch.set_num_threads(self.threads)

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the compute thread; its result, or its exception re-raised here."""
        self.calls += 1
        if threading.get_ident() == self._ident:
            return fn(*args, **kwargs)
        if self._closed:
            raise RuntimeError("the compute thread is closed")
        return self._executor.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        """Finish the queued work and stop the thread. Idempotent."""
        if not self._closed:
            self._closed = True
            self._executor.shutdown(wait=True)
