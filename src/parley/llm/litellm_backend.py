"""The ``litellm`` backend: any provider LiteLLM supports (Cohere, OpenAI, Anthropic, vLLM, ...).

Calls ``litellm.acompletion`` with ``num_retries=0`` and ``max_retries=0`` so parley's retry policy
(:mod:`parley.llm.retry`) is the only one: one logical call never multiplies into nested retries.
LiteLLM's exceptions are mapped to :mod:`parley.llm.errors` by HTTP status.

Key policy (see :mod:`parley.llm.keys`): ``api_key_env``/``secrets_file`` when set; else none for a
custom ``api_base``; else the provider's usual variable (e.g. ``COHERE_API_KEY`` for ``cohere/...``),
which must be set before any call.

Routing (``model.litellm_route``, default ``auto``): a model LiteLLM itself would reach over the
OpenAI protocol (provider ``openai``, with or without ``api_base``, or ``hosted_vllm`` with an
``api_base``) is sent through the official ``openai`` client instead (the same request body, the
model name without its provider prefix, the same key and endpoint), via
:func:`parley.llm.openai_backend.post_chat_completion`. Why: measured with
``benchmarks/api_throughput.py`` (svj debates, 64 in flight, 200 ms per call), LiteLLM spends about
four times the openai client's CPU per call, mostly on its own per-call cost calculation (a model
missing from its price map, such as any self-hosted one, goes through a slow generalisation
search), success-logging callbacks and the typed SDK path; at 64 concurrent calls on one core that
caps throughput near 58% of the ideal against 88% for the openai backend. parley computes costs
itself (:mod:`parley.llm.costs`), so nothing is lost. Providers with their own protocol (Cohere,
Anthropic, Gemini, ...) and ``litellm_route: litellm`` keep LiteLLM's path.
"""

from __future__ import annotations

import random
from typing import Any

import openai

from parley.config.errors import ConfigError
from parley.config.models import ModelConfig
from parley.llm.costs import import_litellm
from parley.llm.errors import (
    AuthenticationError,
    ConnectionLostError,
    LLMError,
    MissingAPIKeyError,
    ProviderError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
)
from parley.llm.keys import KeySource
from parley.llm.openai_backend import chat_body, make_async_client, post_chat_completion
from parley.llm.remote import RawCompletion, RemoteChatModel
from parley.llm.retry import parse_retry_after
from parley.llm.types import SamplingParams

_PLACEHOLDER_KEY = "parley-no-key"

# The variable LiteLLM reads for common providers, so parley can check it before any call and
# re-read it after a 401. Providers not listed fall back to ``litellm.validate_environment``.
PROVIDER_KEY_ENV: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "cohere": "COHERE_API_KEY",
    "cohere_chat": "COHERE_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "together_ai": "TOGETHERAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "fireworks_ai": "FIREWORKS_AI_API_KEY",
}


def _headers_of(exc: BaseException) -> dict[str, str]:
    response = getattr(exc, "response", None)
    for source in (getattr(exc, "litellm_response_headers", None), getattr(response, "headers", None)):
        if source:
            try:
                return {str(k): str(v) for k, v in dict(source).items()}
            except (TypeError, ValueError):
                continue
    return {}


def map_litellm_error(exc: BaseException, label: str, redact: Any) -> LLMError:
    """Translate a LiteLLM exception to parley's type, keeping the provider's (redacted) message."""
    litellm = import_litellm()
    exceptions = litellm.exceptions
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    message = redact(f"{label}: {type(exc).__name__}: {exc}")
    if isinstance(exc, exceptions.Timeout) or status == 408:
        return RequestTimeoutError(message, status)
    if isinstance(exc, exceptions.RateLimitError) or status == 429:
        return RateLimitError(message, 429, parse_retry_after(_headers_of(exc)))
    if isinstance(exc, exceptions.AuthenticationError | exceptions.PermissionDeniedError) or status in (401, 403):
        return AuthenticationError(message, status)
    if isinstance(exc, exceptions.APIConnectionError):
        return ConnectionLostError(message, status)
    if status is not None and (status >= 500 or status == 409):
        return ServerError(message, status, parse_retry_after(_headers_of(exc)))
    if isinstance(exc, exceptions.ServiceUnavailableError | exceptions.InternalServerError):
        return ServerError(message, status)
    return ProviderError(message, status)


def _provider_of(model: str) -> str | None:
    litellm = import_litellm()
    try:
        return str(litellm.get_llm_provider(model)[1])
    except litellm.exceptions.BadRequestError:
        return None


#: Providers LiteLLM reaches over the plain OpenAI chat-completions protocol that ``auto`` routes.
OPENAI_PROTOCOL_PROVIDERS: frozenset[str] = frozenset({"openai", "hosted_vllm"})


def openai_route(config: ModelConfig) -> str | None:
    """The model name to send through the openai client, or ``None`` to keep LiteLLM's own path."""
    if config.litellm_route != "auto":
        return None
    litellm = import_litellm()
    try:
        model, provider, _, _ = litellm.get_llm_provider(config.name, api_base=config.api_base)
    except litellm.exceptions.BadRequestError:
        return None
    if provider not in OPENAI_PROTOCOL_PROVIDERS or (provider != "openai" and config.api_base is None):
        return None
    return str(model)


class LiteLLMChatModel(RemoteChatModel[openai.AsyncOpenAI | None]):
    """A chat model reached through LiteLLM (``name`` like ``cohere/command-a-03-2025``).

    ``routed_name`` is set when the model goes through the openai client (module docstring).
    """

    backend = "litellm"

    def __init__(self, config: ModelConfig, keys: KeySource, *, rng: random.Random | None = None) -> None:
        super().__init__(config, keys, rng=rng)
        self.routed_name = openai_route(config)

    @classmethod
    def from_config(cls, config: ModelConfig, *, rng: random.Random | None = None) -> LiteLLMChatModel:
        """Build the model; raises :class:`MissingAPIKeyError` now if a required key is absent."""
        if config.backend != "litellm":
            raise ValueError(f"model.backend: expected 'litellm', got {config.backend!r}")
        litellm = import_litellm()
        if config.api_key_env is not None or config.secrets_file is not None:
            keys = KeySource(config.api_key_env, config.secrets_file, required=True)
        elif config.api_base is not None:
            keys = KeySource(None, None, required=False)
        else:
            provider = _provider_of(config.name)
            if provider is None:
                raise ConfigError(
                    f"model.name: LiteLLM cannot tell the provider of {config.name!r}; "
                    "use 'provider/model' (e.g. 'cohere/command-a-03-2025') or set model.api_base"
                )
            env = PROVIDER_KEY_ENV.get(provider)
            if env is not None:
                keys = KeySource(env, None, required=True)
            else:
                missing = litellm.validate_environment(config.name).get("missing_keys") or []
                if missing:
                    raise MissingAPIKeyError(
                        f"model {config.name!r} ({provider}) needs {', '.join(missing)} in the environment, "
                        "or set model.api_key_env / model.secrets_file"
                    )
                keys = KeySource(None, None, required=False)
        return cls(config, keys, rng=rng)

    def _make_client(self) -> openai.AsyncOpenAI | None:
        if self.routed_name is not None:
            return make_async_client(self.config, self.pool_size)
        # LiteLLM keeps its own cached provider clients; import it here so the first call does not.
        import_litellm()
        return None

    async def _close_client(self, client: openai.AsyncOpenAI | None) -> None:
        if client is not None:
            await client.close()

    async def _send(
        self,
        client: openai.AsyncOpenAI | None,
        messages: list[dict[str, Any]],
        params: SamplingParams,
        api_key: str | None,
    ) -> RawCompletion:
        if client is not None and self.routed_name is not None:
            raw = await post_chat_completion(
                client, chat_body(self.routed_name, messages, params), api_key, self.label, self.keys.redact
            )
            return RawCompletion(raw.text, raw.finish_reason, raw.prompt_tokens, raw.completion_tokens, None)
        litellm = import_litellm()
        kwargs: dict[str, Any] = {
            "model": self.name,
            "messages": messages,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_new_tokens,
            "timeout": self.config.request_timeout_s,
            "num_retries": 0,
            "max_retries": 0,
        }
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if self.config.api_base is not None:
            kwargs["api_base"] = self.config.api_base
        if api_key is not None:
            kwargs["api_key"] = api_key
        elif self.config.api_base is not None:
            # A keyless custom endpoint: LiteLLM's OpenAI-compatible path insists on some key.
            kwargs["api_key"] = _PLACEHOLDER_KEY
        try:
            response = await litellm.acompletion(**kwargs)
        except openai.OpenAIError as exc:  # every LiteLLM API exception derives from openai's base
            raise map_litellm_error(exc, self.label, self.keys.redact) from None
        choices = getattr(response, "choices", None)
        if not choices:
            raise ConnectionLostError(f"{self.label}: response had no choices")
        choice = choices[0]
        usage = getattr(response, "usage", None)
        return RawCompletion(
            text=choice.message.content or "",
            finish_reason=choice.finish_reason,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            model=None,  # LiteLLM reports the bare name; keep the configured provider/model name
        )
