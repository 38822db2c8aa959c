"""``asyncio.run`` for coroutines that return large results.

On Python 3.11, ``asyncio.run`` checks after the run whether its SIGINT handler is still installed
(``signal.getsignal``), which formats that handler's repr, and with it the finished main task's, whose
repr includes ``reprlib.repr`` of the task's RESULT: for a step's rollouts (a batch of transcripts,
dataclasses of pydantic models) the full ``repr`` is built before ``reprlib`` truncates it (10-25 ms
per call on the RL step benchmark, every training step). :func:`run_coroutine` returns the result
through a box with a constant repr: the same ``asyncio.run``, Ctrl-C handling included, at no cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class _Box(Generic[T]):
    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<result>"


async def _boxed(coro: Coroutine[Any, Any, T]) -> _Box[T]:
    return _Box(await coro)


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)`` without formatting the result's repr afterwards (see the module docstring)."""
    return asyncio.run(_boxed(coro)).value
