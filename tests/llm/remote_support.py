"""Helpers for the remote-backend tests (imported explicitly; tests/llm/conftest.py is left to others)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from parley.config.models import ModelConfig
from parley.llm.litellm_backend import LiteLLMChatModel
from parley.llm.openai_backend import OpenAIChatModel
from parley.llm.remote import RemoteChatModel
from parley.llm.scripted_server import ScriptedServer, ServerScript
from parley.llm.types import Message, SamplingParams

# "litellm" routes openai/... models through the openai client (model.litellm_route: auto, the
# default); "litellm-native" keeps LiteLLM's own request path, so both stay tested.
BACKENDS = ("openai", "litellm", "litellm-native")
PARAMS = SamplingParams(temperature=0.0, max_new_tokens=32)


def user(text: str) -> list[Message]:
    """A one-message conversation."""
    return [{"role": "user", "content": text}]


def make_model(backend: str, base_url: str, **overrides: Any) -> RemoteChatModel[Any]:
    """A remote model of ``backend`` against ``base_url`` with fast backoff (overridable)."""
    native = backend == "litellm-native"
    backend = "litellm" if native else backend
    settings: dict[str, Any] = {
        "backend": backend,
        "name": "scripted" if backend == "openai" else "openai/scripted",
        "api_base": base_url,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "request_timeout_s": 10.0,
    }
    if native:
        settings["litellm_route"] = "litellm"
    settings.update(overrides)
    config = ModelConfig(**settings)
    if backend == "openai":
        return OpenAIChatModel.from_config(config)
    return LiteLLMChatModel.from_config(config)


@pytest.fixture
def scripted() -> Iterator[Any]:
    """A factory starting scripted servers that are all stopped at the end of the test."""
    servers: list[ScriptedServer] = []

    def start(script: ServerScript | None = None) -> ScriptedServer:
        server = ScriptedServer(script or ServerScript()).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


async def warm_up(model: RemoteChatModel[Any]) -> None:
    """One call so lazy imports inside the client do not count against short timeouts."""
    await model.complete(user("warm-up"), PARAMS)


def run(coro: Any) -> Any:
    """Run a coroutine on a fresh event loop."""
    return asyncio.run(coro)


async def closing(model: RemoteChatModel[Any], coro: Any) -> Any:
    """Await ``coro``, then close the model's client for this loop (even when ``coro`` raised)."""
    try:
        return await coro
    finally:
        await model.aclose()


def run_closing(model: RemoteChatModel[Any], coro: Any) -> Any:
    """Run ``coro`` on a fresh loop and close the model's client on that loop afterwards."""
    return asyncio.run(closing(model, coro))
