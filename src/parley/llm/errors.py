"""Precise exceptions raised by model backends.

Retry logic keys off these types: only :class:`RetryableError` subclasses are retried. Everything
else (bad request, auth after the one key re-read, missing key, an endpoint that cannot be reached at
all) surfaces at once with the provider's own message. Every one is a
:class:`parley.errors.WorkFailedError` (the command line prints the message and exits 1; a missing key
is bad input and exits 2).
"""

from __future__ import annotations

from typing import ClassVar

from parley.errors import WorkFailedError


class LLMError(WorkFailedError, RuntimeError):
    """Base class of every model-backend error."""


class MissingAPIKeyError(LLMError):
    """No API key was found in the environment or the secrets file (raised before any call)."""

    exit_code: ClassVar[int] = 2


class EndpointUnreachableError(LLMError):
    """Nothing answers at the endpoint: connection refused, the host name does not resolve, or TLS failed.

    Not retried: unlike a timeout or a dropped connection, retrying the same address within a run does
    not change the answer, and a run that retried it would spend minutes storing nothing but errors.
    ``endpoint`` is the configured ``api_base`` (or the model name when none is set), ``reason`` one of
    ``connection refused``, ``host name not found`` or ``TLS handshake failed``.
    """

    def __init__(self, message: str, endpoint: str, reason: str) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.reason = reason


class ProviderError(LLMError):
    """The provider answered with a non-retryable error (4xx other than 408/429)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class AuthenticationError(ProviderError):
    """401/403 from the provider, after the key was re-read once."""


class RetryableError(LLMError):
    """A transient failure: worth retrying with backoff."""

    def __init__(self, message: str, status_code: int | None = None, retry_after_s: float | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.retry_after_s = retry_after_s


class RateLimitError(RetryableError):
    """429 from the provider; ``retry_after_s`` comes from its Retry-After header when present."""


class ServerError(RetryableError):
    """5xx from the provider."""


class RequestTimeoutError(RetryableError):
    """The request exceeded the per-request timeout."""


class ConnectionLostError(RetryableError):
    """The connection dropped or the response was malformed mid-stream."""


class RetriesExhaustedError(LLMError):
    """A retryable failure persisted past ``max_retries``; ``last_error`` is the final cause."""

    def __init__(self, message: str, last_error: BaseException, attempts: int) -> None:
        super().__init__(message)
        self.last_error = last_error
        self.attempts = attempts


class StructuredOutputError(LLMError):
    """The model's output did not validate against the requested schema after the allowed re-asks."""
