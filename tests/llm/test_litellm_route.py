"""model.litellm_route: which LiteLLM models go through the openai client, and that both paths answer."""

from __future__ import annotations

import pytest

from parley.config.models import ModelConfig
from parley.llm.litellm_backend import LiteLLMChatModel, openai_route
from tests.llm.remote_support import PARAMS, run_closing, scripted, user  # noqa: F401 - fixture

LOCAL = "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    ("name", "api_base", "route", "expected"),
    [
        ("openai/scripted", LOCAL, "auto", "scripted"),
        ("openai/gpt-4o-mini", None, "auto", "gpt-4o-mini"),
        ("gpt-4o-mini", None, "auto", "gpt-4o-mini"),
        ("hosted_vllm/my-model", LOCAL, "auto", "my-model"),
        ("hosted_vllm/my-model", None, "auto", None),  # no endpoint to send it to: LiteLLM's path
        ("cohere/command-a-03-2025", None, "auto", None),
        ("anthropic/claude-3-5-sonnet", None, "auto", None),
        ("groq/llama-3.1-8b-instant", None, "auto", None),
        ("openai/scripted", LOCAL, "litellm", None),
    ],
)
def test_route_decision(name: str, api_base: str | None, route: str, expected: str | None) -> None:
    config = ModelConfig(backend="litellm", name=name, api_base=api_base, litellm_route=route)  # type: ignore[arg-type]
    assert openai_route(config) == expected


@pytest.mark.parametrize("route", ["auto", "litellm"])
def test_both_paths_answer_the_same_request(scripted, route: str) -> None:  # noqa: F811 - fixture
    server = scripted()
    config = ModelConfig(backend="litellm", name="openai/scripted", api_base=server.base_url, litellm_route=route)  # type: ignore[arg-type]
    model = LiteLLMChatModel.from_config(config)
    assert (model.routed_name is not None) == (route == "auto")
    completion = run_closing(model, model.complete(user("hello there"), PARAMS))
    assert completion.text == "Echo: hello there"
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert server.outcome_counts() == {"ok": 1}
