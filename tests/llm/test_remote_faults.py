"""Both remote backends against the scripted server: retries, Retry-After, 4xx, timeouts, exhaustion.

Assertions use the server's own call records (attempt counts, outcomes, arrival times as lower
bounds), never wall-clock upper bounds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from parley.llm.errors import ProviderError, RetriesExhaustedError, ServerError
from parley.llm.scripted_server import Fault, ServerScript
from tests.llm.remote_support import BACKENDS, PARAMS, make_model, run, run_closing, scripted, user, warm_up

__all__ = ["scripted"]  # the fixture is imported for pytest


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_completes_exactly_once_despite_faults(backend: str, scripted: Any) -> None:
    faults = [
        Fault("rate_limit", first_n=2, match="rl-", retry_after_s=0.05),
        Fault("server_error", first_n=1, match="err-", status=503),
        Fault("drop", first_n=1, match="drop-"),
        Fault("malformed", first_n=2, match="bad-"),
        Fault("slow", first_n=1, match="slow-", delay_s=60.0),
    ]
    server = scripted(ServerScript(latency_s=0.01, faults=faults))
    model = make_model(backend, server.base_url, request_timeout_s=2.0)
    expected_attempts = {"rl-": 3, "err-": 2, "drop-": 2, "bad-": 3, "slow-": 2, "fine-": 1}
    prompts = [f"{prefix}{i}" for prefix in expected_attempts for i in range(3)]

    async def scenario() -> list[Any]:
        await warm_up(model)
        results = await asyncio.gather(*(model.complete(user(p), PARAMS) for p in prompts))
        await model.aclose()
        return list(results)

    completions = run(scenario())
    for prompt, completion in zip(prompts, completions, strict=True):
        prefix = prompt.split("-")[0] + "-"
        assert completion.text == f"Echo: {prompt}"
        assert server.attempts_for(prompt) == expected_attempts[prefix], prompt
        assert completion.attempts == expected_attempts[prefix], prompt
        oks = [c for c in server.calls() if c.key == prompt and c.outcome == "ok"]
        assert len(oks) == 1, f"{prompt} answered {len(oks)} times"
    counts = server.outcome_counts()
    assert counts["rate_limit"] == 6 and counts["malformed"] == 6
    assert counts["server_error"] == 3 and counts["drop"] == 3 and counts["slow"] == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_retry_after_is_honoured(backend: str, scripted: Any) -> None:
    server = scripted(ServerScript(faults=[Fault("rate_limit", first_n=1, retry_after_s=0.6)]))
    # Backoff window far below Retry-After, so only the header can explain the wait.
    model = make_model(backend, server.base_url, backoff_base_s=0.001, backoff_max_s=0.001)
    completion = run_closing(model, model.complete(user("please wait"), PARAMS))
    arrivals = [c.arrival_s for c in server.calls() if c.key == "please wait"]
    assert completion.attempts == 2 and len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 0.6


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_request_is_not_retried_and_keeps_provider_message(backend: str, scripted: Any) -> None:
    message = "This model's maximum context length is 8 tokens; you asked for 9000."
    server = scripted(ServerScript(faults=[Fault("bad_request", first_n=5, message=message)]))
    model = make_model(backend, server.base_url)
    with pytest.raises(ProviderError) as info:
        run_closing(model, model.complete(user("too long"), PARAMS))
    assert info.value.status_code == 400
    assert message in str(info.value)
    assert server.attempts_for("too long") == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_retries_stop_at_max_retries(backend: str, scripted: Any) -> None:
    server = scripted(ServerScript(faults=[Fault("server_error", first_n=10)]))
    model = make_model(backend, server.base_url, max_retries=2)
    with pytest.raises(RetriesExhaustedError) as info:
        run_closing(model, model.complete(user("always failing"), PARAMS))
    assert info.value.attempts == 3
    assert isinstance(info.value.last_error, ServerError)
    assert info.value.last_error.status_code == 500
    assert server.attempts_for("always failing") == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_kth_call_fault_and_usage(backend: str, scripted: Any) -> None:
    server = scripted(ServerScript(faults=[Fault("server_error", every_k=3)], reply="Answer: 42"))
    model = make_model(backend, server.base_url)

    async def scenario() -> list[Any]:
        out = [await model.complete(user(f"q{i} with five words"), PARAMS) for i in range(6)]
        await model.aclose()
        return out

    completions = run(scenario())
    assert all(c.text == "Answer: 42" for c in completions)
    # Calls 3, 6 and 9 of the server failed: 6 requests took 8 calls (6 ok + 2 failures).
    assert server.outcome_counts() == {"ok": 6, "server_error": 2}
    assert completions[0].usage.prompt_tokens == 4 and completions[0].usage.completion_tokens == 2
    assert completions[0].usage.cost_usd is None  # a local server: no price, never a made-up one


@pytest.mark.parametrize("backend", BACKENDS)
def test_many_concurrent_calls_all_succeed(backend: str, scripted: Any) -> None:
    server = scripted(ServerScript(latency_s=0.05))
    model = make_model(backend, server.base_url, max_concurrency=32)
    prompts = [f"concurrent {i}" for i in range(120)]

    async def scenario() -> list[Any]:
        out = await asyncio.gather(*(model.complete(user(p), PARAMS) for p in prompts))
        await model.aclose()
        return list(out)

    completions = run(scenario())
    assert [c.text for c in completions] == [f"Echo: {p}" for p in prompts]
    assert len(server.calls()) == len(prompts)
