"""The OpenAI-compatible app over the real tiny model, served in-process on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from parley.llm.hf import HFChatModel
from parley.llm.types import SamplingParams
from parley.serve import BackgroundServer, load_hf_app
from tests.tiny_model_support import tiny_model_dir

NAME = "tiny-test"
MESSAGES: list[Any] = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Question: Calculate 5 - 3 - 6."},
]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def server(tiny_dir: Path) -> Iterator[BackgroundServer]:
    app = load_hf_app(tiny_dir, batch_size=8, batch_wait_ms=20, served_name=NAME)
    with BackgroundServer(app) as running:
        yield running


def _post(server: BackgroundServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=60)


def _body(**extra: Any) -> dict[str, Any]:
    return {"model": NAME, "messages": MESSAGES, "max_tokens": 6, "seed": 1, **extra}


def test_models_endpoint(server: BackgroundServer) -> None:
    listing = httpx.get(f"{server.base_url}/models").json()
    assert [m["id"] for m in listing["data"]] == [NAME]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": NAME, "messages": []}, "messages"),
        (_body(temperature=3.5), "temperature"),
        (_body(max_tokens=0), "max_tokens"),
        (_body(n=0), "n"),
        (_body(stop=["a", "b", "c", "d", "e"]), "stop"),
        (_body(top_logprobs=3), "top_logprobs"),
        ({"model": NAME, "messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
        ({"messages": MESSAGES}, "model"),
    ],
)
def test_invalid_requests_get_openai_style_400(server: BackgroundServer, body: dict, param: str) -> None:
    response = _post(server, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param and param in error["message"]


def test_malformed_json_and_unknown_model_and_long_prompt(server: BackgroundServer) -> None:
    response = httpx.post(
        f"{server.base_url}/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    response = _post(server, _body(model="gpt-9"))
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"
    response = _post(server, _body(messages=[{"role": "user", "content": "1 + 2 = 3. " * 2000}]))
    assert response.status_code == 400 and "context" in response.json()["error"]["message"]


def test_token_ids_and_logprobs_match_the_local_model(server: BackgroundServer, tiny_dir: Path) -> None:
    data = _post(server, _body(logprobs=True, return_token_ids=True, temperature=0.8, max_tokens=10)).json()
    choice = data["choices"][0]
    local = HFChatModel.from_pretrained(tiny_dir).generate_batch(
        [(MESSAGES, SamplingParams(temperature=0.8, max_new_tokens=10, seed=1))]
    )[0]
    assert choice["token_ids"] == local.token_ids
    assert data["prompt_token_ids"] == local.prompt_token_ids
    assert choice["message"]["content"] == local.text
    assert [e["logprob"] for e in choice["logprobs"]["content"]] == pytest.approx(local.logprobs, abs=1e-4)
    assert data["usage"] == {
        "prompt_tokens": len(local.prompt_token_ids or []),
        "completion_tokens": len(local.token_ids or []),
        "total_tokens": len(local.prompt_token_ids or []) + len(local.token_ids or []),
    }


def test_n_choices_and_streaming_with_the_openai_client(server: BackgroundServer) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    result = client.chat.completions.create(model=NAME, messages=MESSAGES, n=2, seed=5, max_tokens=8)
    assert [c.index for c in result.choices] == [0, 1]
    assert result.usage is not None
    assert result.usage.completion_tokens >= 2
    plain = client.chat.completions.create(model=NAME, messages=MESSAGES, seed=9, max_tokens=8)
    stream = client.chat.completions.create(
        model=NAME, messages=MESSAGES, seed=9, max_tokens=8, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert chunks[-1].usage is not None and plain.usage is not None
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


def test_concurrent_requests_share_one_batch(tiny_dir: Path) -> None:
    # A long wait with batch size 8: eight concurrent requests fill one batch, then sampling starts at once.
    app = load_hf_app(tiny_dir, batch_size=8, batch_wait_ms=3000, served_name=NAME)
    with BackgroundServer(app) as server:
        stats_url = f"{server.base_url.removesuffix('/v1')}/parley/stats"
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="unused", max_retries=0)

        async def burst() -> list:
            calls = [
                client.chat.completions.create(model=NAME, messages=MESSAGES, seed=100 + i, max_tokens=6)
                for i in range(8)
            ]
            try:
                return await asyncio.gather(*calls)
            finally:
                await client.close()

        results = asyncio.run(burst())
        stats = httpx.get(stats_url).json()
        assert all(r.choices[0].finish_reason in ("stop", "length") for r in results)
        assert {k: stats[k] for k in ("requests", "completions", "batches", "rejected")} == {
            "requests": 8, "completions": 8, "batches": 1, "rejected": 0}
        # Batched answers equal the ones sampled alone (different seeds give different answers).
        sync = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        alone = sync.chat.completions.create(model=NAME, messages=MESSAGES, seed=103, max_tokens=6)
        assert alone.choices[0].message.content == results[3].choices[0].message.content
        assert len({r.choices[0].message.content for r in results}) > 1
