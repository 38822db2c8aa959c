"""The ``openai`` backend: the official ``AsyncOpenAI`` client against any OpenAI-compatible endpoint.

The client is built with ``max_retries=0`` so :mod:`parley.llm.retry` is the only retry loop, one
client (and one connection pool sized for ``max_concurrency``) per event loop. The key is sent per
request as an ``Authorization`` header, so a key re-read after a 401 takes effect at once.

Key policy (see :mod:`parley.llm.keys`): with neither ``api_key_env`` nor ``secrets_file`` set,
a local ``api_base`` needs no key and any other endpoint uses ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import json
import random
from typing import Any

import httpx2
import openai

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
        size = self.pool_size
        http_client = openai.DefaultAsyncHttpxClient(
            limits=httpx2.Limits(max_connections=size, max_keepalive_connections=size),
            timeout=httpx2.Timeout(self.config.request_timeout_s),
        )
        return openai.AsyncOpenAI(
            api_key=_PLACEHOLDER_KEY,
            base_url=self.config.api_base,
            max_retries=0,
            timeout=self.config.request_timeout_s,
            http_client=http_client,
        )

    async def _send(
        self,
        client: openai.AsyncOpenAI,
        messages: list[dict[str, Any]],
        params: SamplingParams,
        api_key: str | None,
    ) -> RawCompletion:
        extra: dict[str, Any] = {}
        if params.stop:
            extra["stop"] = list(params.stop)
        if params.seed is not None:
            extra["seed"] = params.seed
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
        try:
            response = await client.chat.completions.create(
                model=self.name,
                messages=messages,  # type: ignore[arg-type]
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_new_tokens,
                extra_headers=headers,
                **extra,
            )
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            mapped = map_openai_error(exc, self.label, self.keys.redact)
            if mapped is None:
                raise LLMError(self.keys.redact(f"{self.label}: {type(exc).__name__}: {exc}")) from None
            raise mapped from None
        if not response.choices:
            raise ConnectionLostError(f"{self.label}: response had no choices")
        choice = response.choices[0]
        usage = response.usage
        return RawCompletion(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            model=response.model,
        )

    async def _close_client(self, client: openai.AsyncOpenAI) -> None:
        await client.close()
