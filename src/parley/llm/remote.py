"""The call pipeline shared by the remote backends (``litellm`` and ``openai``).

One logical call = rate-limit wait -> concurrency slot -> request under a hard per-request timeout
(``asyncio.timeout``, so no client setting can make it hang) -> on 401, re-read the key once and
resend if it changed -> on a retryable failure, back off and try again (:mod:`parley.llm.retry`).
Subclasses only translate one request to their client and map its exceptions to
:mod:`parley.llm.errors` types with secret-free messages.

A failure whose cause is a refused connection, a host name that does not resolve or a failed TLS
handshake becomes :class:`~parley.llm.errors.EndpointUnreachableError` here, whatever the client called
it (the ``openai`` client's aiohttp transport reports a refused connection as a *timeout*): it is not
retried, so a run against an endpoint that is down fails on its first call with one message naming the
endpoint and the fix, instead of retrying every call of every debate.

Clients and semaphores are created once per event loop (an httpx connection pool belongs to the
loop that opened it) and reused for every call on that loop: no per-call construction, no global
lock on the hot path.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import random
import socket
import ssl
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from parley.config.models import ModelConfig
from parley.llm.base import ChatModel
from parley.llm.costs import completion_cost
from parley.llm.errors import AuthenticationError, EndpointUnreachableError, RequestTimeoutError, RetryableError
from parley.llm.keys import KeySource
from parley.llm.ratelimit import RateLimiter, estimate_tokens
from parley.llm.retry import RetryPolicy, call_with_retries
from parley.llm.types import Completion, Message, SamplingParams, Usage

logger = logging.getLogger(__name__)

ClientT = TypeVar("ClientT")
_ROLES = ("system", "user", "assistant")
DEFAULT_POOL_SIZE = 256


@dataclass
class RawCompletion:
    """What one successful request returned, before usage and cost bookkeeping."""

    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    model: str | None = None


@dataclass
class _LoopState(Generic[ClientT]):
    client: ClientT
    semaphore: asyncio.Semaphore | None


def check_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Validate chat messages and return them as plain dicts (raises ``ValueError`` naming the bad one)."""
    if not messages:
        raise ValueError("messages: at least one message is required")
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if role not in _ROLES:
            raise ValueError(f"messages[{i}].role: must be one of {', '.join(_ROLES)}, got {role!r}")
        if not isinstance(content, str):
            raise ValueError(f"messages[{i}].content: must be a string, got {type(content).__name__}")
        out.append({"role": role, "content": content})
    return out


_UNREACHABLE_FIX = {
    "connection refused": "nothing is listening there: start the server, or set model.api_base to a running "
    "endpoint (e.g. --set model.api_base=http://127.0.0.1:8000/v1)",
    "host name not found": "check the host name in model.api_base (and the network or proxy settings)",
    "TLS handshake failed": "check the scheme in model.api_base (http:// or https://) and the server's certificate",
}


def unreachable_reason(exc: BaseException) -> str | None:
    """Why ``exc`` means the endpoint cannot be reached at all, or ``None`` for any other failure.

    Walks the exception's causes (``__cause__``, ``__context__`` and aiohttp's ``os_error``) looking for
    a refused connection, a failed DNS lookup or a TLS error. A timeout or a connection dropped after it
    was made is *not* unreachable (it may well work on the next try).
    """
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen or len(seen) > 32:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return "host name not found"
        if isinstance(current, ssl.SSLError | ssl.CertificateError):
            return "TLS handshake failed"
        for link in (current.__cause__, current.__context__, getattr(current, "os_error", None)):
            if isinstance(link, BaseException):
                todo.append(link)
    return None


class RemoteChatModel(ChatModel, Generic[ClientT]):
    """Base of the remote backends: retries, limits, timeouts, key rotation, usage and cost."""

    backend: ClassVar[str] = "remote"

    def __init__(self, config: ModelConfig, keys: KeySource, *, rng: random.Random | None = None) -> None:
        self.config = config
        self.name = config.name
        self.keys = keys
        self.policy = RetryPolicy.from_config(config)
        self.limiter = RateLimiter(config.requests_per_minute, config.tokens_per_minute)
        self.label = f"{self.backend}:{config.name}"
        self._rng = rng or random.Random()
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState[ClientT]] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, api_base={self.config.api_base!r}, keys={self.keys!r})"

    @property
    def pool_size(self) -> int:
        """Connections kept open per event loop: ``max_concurrency`` or a generous default."""
        return self.config.max_concurrency or DEFAULT_POOL_SIZE

    # -- subclass hooks ------------------------------------------------------------------------
    @abc.abstractmethod
    def _make_client(self) -> ClientT:
        """Build the client for the running event loop (called once per loop)."""

    @abc.abstractmethod
    async def _send(
        self, client: ClientT, messages: list[dict[str, Any]], params: SamplingParams, api_key: str | None
    ) -> RawCompletion:
        """Make one request; raise :mod:`parley.llm.errors` types whose messages hold no secret."""

    async def _close_client(self, client: ClientT) -> None:
        """Release a client's connections (default: nothing to do)."""

    # -- the pipeline --------------------------------------------------------------------------
    def _state(self) -> _LoopState[ClientT]:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            limit = self.config.max_concurrency
            state = _LoopState(self._make_client(), asyncio.Semaphore(limit) if limit else None)
            self._states[loop] = state
        return state

    async def complete(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        """Sample one completion, retrying transient failures (see the module docstring)."""
        plain = check_messages(messages)
        state = self._state()
        started = time.perf_counter()
        raw, attempts = await call_with_retries(
            lambda: self._attempt(state, plain, params), self.policy, label=self.label, rng=self._rng
        )
        prompt_tokens = raw.prompt_tokens or 0
        completion_tokens = raw.completion_tokens or 0
        cost = (
            completion_cost(self.name, prompt_tokens, completion_tokens, api_base=self.config.api_base)
            if raw.prompt_tokens is not None and raw.completion_tokens is not None
            else None
        )
        return Completion(
            text=raw.text,
            model=raw.model or self.name,
            finish_reason="length" if raw.finish_reason == "length" else "stop",
            usage=Usage(prompt_tokens, completion_tokens, cost),
            latency_s=time.perf_counter() - started,
            attempts=attempts,
        )

    async def _attempt(
        self, state: _LoopState[ClientT], messages: list[dict[str, Any]], params: SamplingParams
    ) -> RawCompletion:
        estimate = estimate_tokens(messages, params.max_new_tokens)  # type: ignore[arg-type]
        if self.limiter.active:
            await self.limiter.acquire(estimate)
        used: int | None = None
        try:
            slot = state.semaphore if state.semaphore is not None else contextlib.nullcontext()
            async with slot:
                raw = await self._send_with_key_refresh(state.client, messages, params)
            used = (raw.prompt_tokens or 0) + (raw.completion_tokens or 0)
            return raw
        finally:
            if self.limiter.active:
                self.limiter.settle(estimate, used)

    async def _send_with_key_refresh(
        self, client: ClientT, messages: list[dict[str, Any]], params: SamplingParams
    ) -> RawCompletion:
        key = self.keys.key
        try:
            return await self._send_with_timeout(client, messages, params, key)
        except AuthenticationError:
            fresh = self.keys.reload()
            if fresh == key:
                raise
            logger.warning("%s: authentication failed; retrying once with the re-read key", self.label)
            return await self._send_with_timeout(client, messages, params, fresh)

    async def _send_with_timeout(
        self, client: ClientT, messages: list[dict[str, Any]], params: SamplingParams, key: str | None
    ) -> RawCompletion:
        timeout = self.config.request_timeout_s
        try:
            async with asyncio.timeout(timeout):
                return await self._send(client, messages, params, key)
        except TimeoutError:
            raise RequestTimeoutError(
                f"{self.label}: no response within {timeout:g}s (model.request_timeout_s)"
            ) from None
        except RetryableError as exc:
            reason = unreachable_reason(exc)
            if reason is None:
                raise
            endpoint = self.config.api_base or f"the provider's default endpoint for {self.name!r}"
            raise EndpointUnreachableError(
                f"{self.label}: cannot reach {endpoint} ({reason}); {_UNREACHABLE_FIX[reason]}",
                endpoint=endpoint,
                reason=reason,
            ) from exc

    async def aclose(self) -> None:
        """Close the client of the running loop (clients of other loops are dropped). Idempotent."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        state = self._states.pop(loop, None)
        if state is not None:
            await self._close_client(state.client)
