"""The ``openai`` backend: the official ``AsyncOpenAI`` client against any OpenAI-compatible endpoint.

The client is built with ``max_retries=0`` so :mod:`parley.llm.retry` is the only retry loop, one
client (and one connection pool sized for ``max_concurrency``) per event loop. The key is sent per
request as an ``Authorization`` header, so a key re-read after a 401 takes effect at once.

Requests go through the client's low-level ``post`` (the same auth, error classes, timeouts and pool
as ``chat.completions.create``) over its aiohttp transport: measured on a 2-core machine, the typed
``create`` path spent ~4 ms of CPU per call on request transformation and response models, which
capped throughput far below what a 64-way concurrent benchmark needs.

Key policy (see :mod:`parley.llm.keys`): with neither ``api_key_env`` nor ``secrets_file`` set,
a local ``api_base`` needs no key and any other endpoint uses ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import httpx2
import openai
from openai._types import RequestOptions

from parley.config.models import ModelConfig
from parley.llm.errors import (
    AuthenticationError,
    ConnectionLostError,
    LLMError,
    ProviderError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
)
from parley.llm.keys import KeySource
from parley.llm.remote import RawCompletion, RemoteChatModel
from parley.llm.retry import parse_retry_after
from parley.llm.types import SamplingParams

logger = logging.getLogger(__name__)

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
_PLACEHOLDER_KEY = "parley-no-key"  # the client insists on a key; the real one goes in each request


def _provider_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return exc.message


def map_openai_error(exc: BaseException, label: str, redact: Any) -> LLMError | None:
    """Translate an ``openai`` (or JSON decoding) exception to parley's type; ``None`` if unknown.

    ``redact`` scrubs keys from the provider's text before it goes into the message.
    """
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = redact(f"{label}: HTTP {status}: {_provider_message(exc)}")
        if status == 429:
            return RateLimitError(message, status, parse_retry_after(dict(exc.response.headers)))
        if status in (408, 409) or status >= 500:
            retry_after = parse_retry_after(dict(exc.response.headers))
            if status == 408:
                return RequestTimeoutError(message, status, retry_after)
            return ServerError(message, status, retry_after)
        if status in (401, 403):
            return AuthenticationError(message, status)
        return ProviderError(message, status)
    if isinstance(exc, openai.APITimeoutError):
        return RequestTimeoutError(redact(f"{label}: request timed out ({exc})"))
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return ConnectionLostError(redact(f"{label}: connection failed: {type(cause).__name__}: {cause}"))
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError):
        return ConnectionLostError(redact(f"{label}: malformed response body: {exc}"))
    return None


def parse_chat_completion(data: object, label: str) -> RawCompletion:
    """Read text, finish reason, usage and model from a ``chat.completion`` JSON object.

    A body of the wrong shape is a malformed response: :class:`ConnectionLostError` (retryable).
    """
    malformed = ConnectionLostError(f"{label}: malformed chat.completion body (no choices[0].message)")
    if not isinstance(data, dict):
        raise malformed
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(choice, dict) or not isinstance(message, dict) or not isinstance(content, str | None):
        raise malformed
    content = content or ""
    raw_usage = data.get("usage")
    usage: dict[str, Any] = raw_usage if isinstance(raw_usage, dict) else {}
    prompt_tokens = usage.get("prompt_tokens")
    completion_tokens = usage.get("completion_tokens")
    return RawCompletion(
        text=content,
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=prompt_tokens if isinstance(prompt_tokens, int) else None,
        completion_tokens=completion_tokens if isinstance(completion_tokens, int) else None,
        model=data.get("model") if isinstance(data.get("model"), str) else None,
    )


def make_async_client(config: ModelConfig, pool_size: int) -> openai.AsyncOpenAI:
    """An ``AsyncOpenAI`` client for ``config.api_base`` with no retries of its own and ``pool_size``
    connections, over aiohttp when installed (it sustains a higher request rate than httpx2)."""
    limits = httpx2.Limits(max_connections=pool_size, max_keepalive_connections=pool_size)
    timeout = httpx2.Timeout(config.request_timeout_s)
    try:
        http_client = openai.DefaultAioHttpClient(limits=limits, timeout=timeout)
    except RuntimeError:  # the client says aiohttp is not installed
        logger.info("aiohttp not installed; the openai client uses the httpx2 transport")
        http_client = openai.DefaultAsyncHttpxClient(limits=limits, timeout=timeout)
    return openai.AsyncOpenAI(
        api_key=_PLACEHOLDER_KEY,
        base_url=config.api_base,
        max_retries=0,
        timeout=config.request_timeout_s,
        http_client=http_client,
    )


def chat_body(model: str, messages: list[dict[str, Any]], params: SamplingParams) -> dict[str, Any]:
    """The ``/chat/completions`` request body for one call."""
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "max_tokens": params.max_new_tokens,
    }
    if params.stop:
        body["stop"] = list(params.stop)
    if params.seed is not None:
        body["seed"] = params.seed
    return body


async def post_chat_completion(
    client: openai.AsyncOpenAI, body: dict[str, Any], api_key: str | None, label: str, redact: Any
) -> RawCompletion:
    """POST ``body`` with the key in this request's header; errors mapped to parley's, redacted.

    Uses the client's low-level ``post`` (the same auth, errors, timeouts and pool as
    ``chat.completions.create``) without its per-call TypedDict transform and pydantic response
    model, which cost several ms of CPU per call under high concurrency.
    """
    options: RequestOptions = {"max_retries": 0}
    if api_key:
        options["headers"] = {"Authorization": f"Bearer {api_key}"}
    try:
        data = await client.post("/chat/completions", cast_to=object, body=body, options=options)
    except (openai.OpenAIError, json.JSONDecodeError) as exc:
        mapped = map_openai_error(exc, label, redact)
        if mapped is None:
            raise LLMError(redact(f"{label}: {type(exc).__name__}: {exc}")) from None
        raise mapped from None
    return parse_chat_completion(data, label)


class OpenAIChatModel(RemoteChatModel[openai.AsyncOpenAI]):
    """A chat model served over the OpenAI protocol (OpenAI, vLLM, parley's own server, ...)."""

    backend = "openai"

    @classmethod
    def from_config(cls, config: ModelConfig, *, rng: random.Random | None = None) -> OpenAIChatModel:
        """Build the model; raises :class:`MissingAPIKeyError` now if a required key is absent."""
        if config.backend != "openai":
            raise ValueError(f"model.backend: expected 'openai', got {config.backend!r}")
        explicit = config.api_key_env is not None or config.secrets_file is not None
        if explicit:
            keys = KeySource(config.api_key_env, config.secrets_file, required=True)
        elif config.api_base is not None:
            keys = KeySource(None, None, required=False)
        else:
            keys = KeySource(DEFAULT_KEY_ENV, None, required=True)
        return cls(config, keys, rng=rng)

    def _make_client(self) -> openai.AsyncOpenAI:
        return make_async_client(self.config, self.pool_size)

    async def _send(
        self,
        client: openai.AsyncOpenAI,
        messages: list[dict[str, Any]],
        params: SamplingParams,
        api_key: str | None,
    ) -> RawCompletion:
        return await post_chat_completion(
            client, chat_body(self.name, messages, params), api_key, self.label, self.keys.redact
        )

    async def _close_client(self, client: openai.AsyncOpenAI) -> None:
        await client.close()
