"""Retry policy, Retry-After parsing, token buckets, costs and message validation on real inputs."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time

import pytest

from parley.llm.costs import completion_cost, import_litellm, is_local_endpoint
from parley.llm.errors import (
    ProviderError,
    RateLimitError,
    RetriesExhaustedError,
    RetryableError,
    ServerError,
)
from parley.llm.ratelimit import RateLimiter, TokenBucket, estimate_tokens
from parley.llm.remote import check_messages
from parley.llm.retry import RetryPolicy, call_with_retries, parse_retry_after
from parley.llm.structured import parse_structured


def test_backoff_is_capped_full_jitter_and_respects_retry_after() -> None:
    policy = RetryPolicy(max_retries=5, backoff_base_s=0.5, backoff_max_s=4.0)
    rng = random.Random(0)
    plain = ServerError("x", 500)
    for retry in range(8):
        window = min(4.0, 0.5 * 2**retry)
        delays = [policy.delay_s(plain, retry, rng) for _ in range(200)]
        assert all(0.0 <= d <= window for d in delays)
        assert max(delays) > 0.5 * window  # jitter spans the window, not a fixed point
    advised = RateLimitError("slow down", 429, retry_after_s=7.5)
    assert all(policy.delay_s(advised, 0, rng) >= 7.5 for _ in range(50))
    huge = RateLimitError("slow down", 429, retry_after_s=10_000)
    assert policy.delay_s(huge, 0, rng) == policy.max_retry_after_s


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    future = email.utils.formatdate(time.time() + 60, usegmt=True)
    parsed = parse_retry_after({"Retry-After": future})
    assert parsed is not None and 50 < parsed <= 61
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_call_with_retries_only_retries_retryable() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ServerError("boom", 502)
        return "done"

    policy = RetryPolicy(max_retries=4, backoff_base_s=0.001, backoff_max_s=0.001)
    assert asyncio.run(call_with_retries(flaky, policy, label="t")) == ("done", 3)

    async def bad_request() -> str:
        calls.append(1)
        raise ProviderError("no such model", 404)

    calls.clear()
    with pytest.raises(ProviderError, match="no such model"):
        asyncio.run(call_with_retries(bad_request, policy, label="t"))
    assert len(calls) == 1

    async def always() -> str:
        raise RetryableError("flaky network")

    with pytest.raises(RetriesExhaustedError) as info:
        asyncio.run(call_with_retries(always, RetryPolicy(max_retries=2, backoff_base_s=0.001), label="t"))
    assert info.value.attempts == 3 and "flaky network" in str(info.value)


def test_token_bucket_arithmetic_with_a_manual_clock() -> None:
    now = [100.0]
    bucket = TokenBucket(rate_per_minute=60, capacity=2, clock=lambda: now[0])  # 1 unit/s
    assert bucket.reserve(1) == 0.0
    assert bucket.reserve(1) == 0.0
    assert bucket.reserve(1) == pytest.approx(1.0)  # in debt by one: wait a second
    assert bucket.reserve(1) == pytest.approx(2.0)  # queued behind the previous caller
    now[0] += 2.0
    assert bucket.reserve(0) == 0.0  # debt repaid
    bucket.adjust(+10)  # refunds never exceed the capacity
    assert bucket.reserve(2) == 0.0 and bucket.reserve(1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="rate_per_minute"):
        TokenBucket(0)


def test_rate_limiter_settles_token_estimates() -> None:
    limiter = RateLimiter(None, tokens_per_minute=600, token_burst=100)  # 10 tokens/s
    assert limiter.tokens is not None and limiter.requests is None
    asyncio.run(limiter.acquire(100))
    limiter.settle(100, 40)  # used only 40: 60 come back
    assert limiter.tokens.reserve(55) == 0.0
    estimate = estimate_tokens([{"role": "user", "content": "x" * 400}], max_new_tokens=50)
    assert 150 <= estimate <= 160


def test_costs_come_from_litellm_price_map_or_are_none() -> None:
    litellm = import_litellm()
    expected = sum(litellm.cost_per_token(model="gpt-4o-mini", prompt_tokens=1000, completion_tokens=500))
    assert completion_cost("gpt-4o-mini", 1000, 500) == pytest.approx(expected)
    assert completion_cost("openai/gpt-4o-mini", 1000, 500) == pytest.approx(expected)
    assert completion_cost("no-such-model-xyz", 1000, 500) is None
    assert completion_cost("gpt-4o-mini", 1000, 500, api_base="http://127.0.0.1:8000/v1") is None
    assert is_local_endpoint("http://localhost:1/v1") and not is_local_endpoint("https://api.openai.com/v1")


def test_bad_messages_are_rejected_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="at least one"):
        check_messages([])
    with pytest.raises(ValueError, match=r"messages\[1\].role"):
        check_messages([{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}])  # type: ignore[typeddict-item]


def test_parse_structured_finds_the_first_valid_object() -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        answer: int

    assert parse_structured('noise {"x": 1} then {"answer": 42} end', Answer).answer == 42
    with pytest.raises(ValueError, match="did not match"):
        parse_structured('{"answer": "forty-two"}', Answer)
