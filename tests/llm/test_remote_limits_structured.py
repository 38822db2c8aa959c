"""Client-side rate limits and structured output, through both backends and the scripted server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from parley.llm.errors import StructuredOutputError
from parley.llm.scripted_server import ServerScript
from parley.llm.types import Message
from tests.llm.remote_support import BACKENDS, PARAMS, make_model, run, run_closing, scripted, user, warm_up

__all__ = ["scripted"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_requests_per_minute_bounds_arrivals(backend: str, scripted: Any) -> None:
    server = scripted()
    # 120/min = 2/s with a burst of 2: 6 requests need at least (6 - 2) / 2 = 2 s between the first
    # and last arrival. The bound is a lower bound; 5% slack covers loopback jitter in arrival stamps.
    # A warm-up call first, so client start-up cost does not delay the first arrival.
    model = make_model(backend, server.base_url, requests_per_minute=120)
    prompts = [f"limited {i}" for i in range(6)]

    async def scenario() -> None:
        await warm_up(model)
        await asyncio.gather(*(model.complete(user(p), PARAMS) for p in prompts))
        await model.aclose()

    run(scenario())
    arrivals = sorted(c.arrival_s for c in server.calls() if c.key in prompts)
    assert len(arrivals) == 6
    assert arrivals[-1] - arrivals[0] >= 2.0 * 0.95
    for i in range(2, 6):  # every window holds at most burst + rate * span requests
        assert arrivals[i] - arrivals[0] >= (i + 1 - 2) / 2.0 * 0.95


class Verdict(BaseModel):
    """The structured reply the tests ask for."""

    verdict: str
    confidence: float


def _reply_after_reasks(good_after: int) -> Any:
    def reply(messages: list[dict[str, Any]]) -> str:
        asked = sum(1 for m in messages if m["role"] == "user")
        if asked <= good_after:
            return "I think it passes, roughly 0.9 sure." if asked % 2 else '{"verdict": "PASS"}'
        return 'Sure:\n```json\n{"verdict": "PASS", "confidence": 0.9}\n```'

    return reply


@pytest.mark.parametrize("backend", BACKENDS)
def test_structured_output_reasks_until_valid(backend: str, scripted: Any) -> None:
    server = scripted(ServerScript(reply=_reply_after_reasks(good_after=2)))
    model = make_model(backend, server.base_url)
    messages: list[Message] = [{"role": "system", "content": "You are a verifier."}, *user("Check 2+2=4.")]
    result = run_closing(model, model.complete_structured(messages, Verdict, PARAMS, max_reasks=2))
    assert result.value == Verdict(verdict="PASS", confidence=0.9)
    assert result.reasks == 2 and len(server.calls()) == 3
    # The re-ask carried the validation error back to the model.
    assert "confidence" in server.calls()[2].key and "could not be used" in server.calls()[2].key


@pytest.mark.parametrize("backend", BACKENDS)
def test_structured_output_gives_up_after_max_reasks(backend: str, scripted: Any) -> None:
    server = scripted(ServerScript(reply="no json here"))
    model = make_model(backend, server.base_url)
    with pytest.raises(StructuredOutputError, match="no JSON object found"):
        run_closing(model, model.complete_structured(user("Check it."), Verdict, PARAMS, max_reasks=1))
    assert len(server.calls()) == 2
