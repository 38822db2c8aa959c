"""The one retry policy of parley's remote backends.

Only :class:`~parley.llm.errors.RetryableError` (429, 5xx, timeouts, dropped connections, malformed
responses) is retried; everything else propagates at once, unchanged. Delays are capped exponential
backoff with full jitter (``uniform(0, min(cap, base * 2**retry))``, the AWS "full jitter" scheme),
and never shorter than the provider's ``Retry-After``. Provider clients are configured with zero
retries of their own, so one logical call makes at most ``max_retries + 1`` requests.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from parley.config.models import ModelConfig
from parley.llm.errors import RetriesExhaustedError, RetryableError

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How many times, and how long apart, a retryable failure is retried.

    Args:
        max_retries: retries after the first attempt (0 disables retrying).
        backoff_base_s: the first backoff window; it doubles per retry.
        backoff_max_s: the cap on the backoff window.
        max_retry_after_s: the longest ``Retry-After`` honoured (longer advice is capped to this).
    """

    max_retries: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 300.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"RetryPolicy.max_retries: must be >= 0, got {self.max_retries}")
        if self.backoff_base_s <= 0 or self.backoff_max_s <= 0:
            raise ValueError("RetryPolicy: backoff_base_s and backoff_max_s must be > 0")

    @classmethod
    def from_config(cls, config: ModelConfig) -> RetryPolicy:
        """The policy a model config asks for."""
        return cls(config.max_retries, config.backoff_base_s, config.backoff_max_s)

    def delay_s(self, error: RetryableError, retry_index: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry_index`` (0-based) after ``error``."""
        window = min(self.backoff_max_s, self.backoff_base_s * (2.0 ** min(retry_index, 62)))
        delay = rng.uniform(0.0, window)
        if error.retry_after_s is not None:
            delay = max(delay, min(error.retry_after_s, self.max_retry_after_s))
        return delay


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date); else ``None``."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            logger.debug("ignoring unparseable retry-after-ms header %r", raw_ms)
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        logger.debug("ignoring unparseable Retry-After header %r", raw)
        return None
    return max(0.0, when.timestamp() - time.time())


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    label: str,
    rng: random.Random | None = None,
) -> tuple[T, int]:
    """Run ``attempt`` until it succeeds, retrying only :class:`RetryableError`.

    Returns the result and the number of attempts made. Raises the first non-retryable error as is,
    or :class:`RetriesExhaustedError` (with ``last_error`` and ``attempts``) when retries run out.
    Each retry is logged at WARNING with the status, attempt number and delay (``label`` names the
    model; error messages must already be free of secrets).
    """
    rng = rng or random.Random()
    attempts = 0
    while True:
        attempts += 1
        try:
            return await attempt(), attempts
        except RetryableError as error:
            if attempts > policy.max_retries:
                raise RetriesExhaustedError(
                    f"{label}: gave up after {attempts} attempts; last error: {type(error).__name__}: {error}",
                    last_error=error,
                    attempts=attempts,
                ) from error
            delay = policy.delay_s(error, attempts - 1, rng)
            logger.warning(
                "%s: attempt %d/%d failed (%s, status %s): %s; retrying in %.2fs",
                label,
                attempts,
                policy.max_retries + 1,
                type(error).__name__,
                error.status_code,
                error,
                delay,
                extra={"model": label, "status": error.status_code, "attempt": attempts, "delay_s": delay},
            )
            await asyncio.sleep(delay)
