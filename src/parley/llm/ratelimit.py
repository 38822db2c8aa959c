"""Client-side request and token rate limits: async token buckets without locks.

A bucket holds up to ``capacity`` units and refills at ``rate_per_minute``. ``acquire(n)`` takes
``n`` units at once, letting the balance go negative, and sleeps until the debt is repaid. Because
the debit happens before the sleep (and asyncio runs one task at a time), callers are served in
arrival order and no lock is needed on the hot path. Token usage is estimated before a call and
corrected with :meth:`TokenBucket.adjust` once the provider reports the real count.

Guarantee: over any span of ``t`` seconds a bucket releases at most ``capacity + rate * t / 60``
units. A cancelled waiter keeps its debit (the limiter errs on the slow side).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from parley.llm.types import Message


class TokenBucket:
    """One token bucket.

    Args:
        rate_per_minute: refill rate.
        capacity: most units available at once (the burst); default one second's worth, at least 1.
        clock: a monotonic clock in seconds (injectable for tests of the arithmetic).
    """

    def __init__(
        self, rate_per_minute: float, capacity: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError(f"TokenBucket.rate_per_minute: must be > 0, got {rate_per_minute}")
        self.rate_per_s = rate_per_minute / 60.0
        self.capacity = capacity if capacity is not None else max(1.0, self.rate_per_s)
        if self.capacity <= 0:
            raise ValueError(f"TokenBucket.capacity: must be > 0, got {self.capacity}")
        self._clock = clock
        self._level = self.capacity
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate_per_s)
        self._stamp = now

    def reserve(self, amount: float) -> float:
        """Debit ``amount`` now; returns the seconds the caller must wait before using it."""
        self._refill()
        self._level -= amount
        return 0.0 if self._level >= 0 else -self._level / self.rate_per_s

    async def acquire(self, amount: float = 1.0) -> float:
        """Debit ``amount`` and sleep until it is covered; returns the seconds waited."""
        wait = self.reserve(amount)
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    def adjust(self, refund: float) -> None:
        """Return ``refund`` units (negative: charge more), e.g. after the real token count is known."""
        self._refill()
        self._level = min(self.capacity, self._level + refund)


def estimate_tokens(messages: Sequence[Message], max_new_tokens: int) -> int:
    """A pre-call token estimate: ~4 characters per prompt token, plus the completion budget."""
    chars = sum(len(m["content"]) + len(m["role"]) + 4 for m in messages)
    return chars // 4 + 1 + max_new_tokens


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits for one model (either may be ``None``)."""

    def __init__(
        self,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        *,
        request_burst: float | None = None,
        token_burst: float | None = None,
    ) -> None:
        self.requests = TokenBucket(requests_per_minute, request_burst) if requests_per_minute else None
        self.tokens = TokenBucket(tokens_per_minute, token_burst) if tokens_per_minute else None

    @property
    def active(self) -> bool:
        """Whether any limit is configured."""
        return self.requests is not None or self.tokens is not None

    async def acquire(self, estimated_tokens: int) -> None:
        """Wait for one request slot and ``estimated_tokens`` tokens."""
        waits = []
        if self.requests is not None:
            waits.append(self.requests.reserve(1.0))
        if self.tokens is not None:
            waits.append(self.tokens.reserve(float(estimated_tokens)))
        wait = max(waits, default=0.0)
        if wait > 0:
            await asyncio.sleep(wait)

    def settle(self, estimated_tokens: int, actual_tokens: int | None) -> None:
        """Correct the token bucket once the real usage is known (``None``: the call used none)."""
        if self.tokens is not None:
            self.tokens.adjust(float(estimated_tokens - (actual_tokens or 0)))
