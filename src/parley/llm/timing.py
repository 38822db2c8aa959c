"""Phase timers: where the time of a generation or an RL step goes (for benchmarks and profiling).

A :class:`PhaseTimer` accumulates wall time per named phase (``with timer("prefill"): ...``). Library
code takes an optional timer and times its phases only when one is given, so the default path pays
nothing. On an accelerator, kernels run asynchronously: pass ``sync`` (e.g. ``torch.cuda.synchronize``)
so each phase's time includes its kernels; with ``sync`` the timed run is slower than an untimed one,
which is why benchmarks report the untimed throughput beside the split.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class PhaseTimer:
    """Wall seconds and call counts per phase name, accumulated over any number of runs."""

    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.sync = sync

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        if self.sync is not None:
            self.sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            if self.sync is not None:
                self.sync()
            self.add(phase, time.perf_counter() - start)

    def add(self, phase: str, seconds: float, calls: int = 1) -> None:
        """Add ``seconds`` (measured elsewhere) to ``phase``."""
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds
        self.calls[phase] = self.calls.get(phase, 0) + calls

    def merge(self, other: PhaseTimer, prefix: str = "") -> None:
        """Add every phase of ``other`` (names prefixed with ``prefix``)."""
        for phase, seconds in other.seconds.items():
            self.add(prefix + phase, seconds, other.calls.get(phase, 0))

    def total(self) -> float:
        return sum(self.seconds.values())

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


@contextmanager
def maybe(timer: PhaseTimer | None, phase: str) -> Iterator[None]:
    """``timer(phase)`` when a timer is given, else nothing."""
    if timer is None:
        yield
    else:
        with timer(phase):
            yield
