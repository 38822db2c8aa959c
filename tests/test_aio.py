"""parley.aio.run_coroutine: asyncio.run's result, without formatting the result's repr afterwards."""

from __future__ import annotations

import asyncio

from parley import aio


class Counted:
    reprs = 0

    def __repr__(self) -> str:
        Counted.reprs += 1
        return "Counted()"


def test_run_returns_the_result_and_never_formats_it() -> None:
    async def work() -> Counted:
        await asyncio.sleep(0)
        return Counted()

    Counted.reprs = 0
    result = aio.run_coroutine(work())
    assert isinstance(result, Counted)
    assert Counted.reprs == 0


def test_run_propagates_errors() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    try:
        aio.run_coroutine(fails())
    except ValueError as exc:
        assert str(exc) == "boom"
    else:  # pragma: no cover
        raise AssertionError("no error")
