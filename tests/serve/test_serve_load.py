"""`parley serve` under 200 concurrent requests, and malformed requests, over the real tiny model on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from parley.serve import BackgroundServer, ServeLimits, load_hf_app
from tests.tiny_model_support import tiny_model_dir

NAME = "tiny-load"
CONCURRENT = 200


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


def _body(i: int, **extra: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": f"Question: Calculate {i % 10} + {i % 7}."}]
    return {"model": NAME, "messages": messages, "max_tokens": 4, "seed": i, **extra}


async def _burst(base_url: str, n: int) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=300) as client:
        return list(await asyncio.gather(*(client.post("/chat/completions", json=_body(i)) for i in range(n))))


@pytest.fixture(scope="module")
def bounded(tiny_dir: Path) -> Iterator[BackgroundServer]:
    app = load_hf_app(tiny_dir, batch_size=16, batch_wait_ms=10, served_name=NAME,
                      limits=ServeLimits(max_pending=48, max_body_bytes=64 * 1024))
    with BackgroundServer(app) as server:
        yield server


@pytest.mark.timeout(600)
def test_overload_is_answered_or_rejected_with_503_and_the_server_stays_up(bounded: BackgroundServer) -> None:
    responses = asyncio.run(_burst(bounded.base_url, CONCURRENT))
    ok = [r for r in responses if r.status_code == 200]
    rejected = [r for r in responses if r.status_code == 503]
    assert len(ok) + len(rejected) == CONCURRENT, sorted({r.status_code for r in responses})
    assert len(ok) >= 48 and rejected  # the first 48 are admitted; the burst exceeds the bound
    for r in ok:
        assert r.json()["choices"][0]["finish_reason"] in ("stop", "length")
    for r in rejected:
        error = r.json()["error"]
        assert error["code"] == "server_overloaded" and "--max-pending" in error["message"]
        assert r.headers["retry-after"] == "1"
    assert httpx.get(bounded.base_url.removesuffix("/v1") + "/health").json() == {"status": "ok"}
    stats = httpx.get(bounded.base_url.removesuffix("/v1") + "/parley/stats").json()
    assert stats["rejected"] == len(rejected) and stats["pending"] == 0 and stats["completions"] == len(ok)
    after = httpx.post(bounded.base_url + "/chat/completions", json=_body(7), timeout=120)
    assert after.status_code == 200  # nothing leaked: admission is free again


@pytest.mark.timeout(600)
def test_every_request_is_answered_within_the_default_bound(tiny_dir: Path) -> None:
    app = load_hf_app(tiny_dir, batch_size=32, batch_wait_ms=10, served_name=NAME)
    with BackgroundServer(app) as server:
        responses = asyncio.run(_burst(server.base_url, CONCURRENT))
    assert [r.status_code for r in responses] == [200] * CONCURRENT


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "needle"),
    [
        ("POST", "/chat/completions", {"content": b"{not json", "headers": {"content-type": "application/json"}},
         400, "JSON"),
        ("POST", "/chat/completions", {"json": [1, 2]}, 400, "dictionary"),
        ("POST", "/chat/completions", {"json": {"model": NAME}}, 400, "messages"),
        ("POST", "/chat/completions", {"json": _body(1, max_tokens="many")}, 400, "max_tokens"),
        ("POST", "/chat/completions", {"json": _body(1, messages=[{"role": "user", "content": "x" * 70_000}])},
         413, "--max-body-bytes"),
        ("GET", "/chat/completions", {}, 405, "GET"),
        ("POST", "/completions", {"json": {"model": NAME, "prompt": "hi"}}, 404, "/v1/chat/completions"),
    ],
)
def test_malformed_requests_get_4xx_with_a_message(
    bounded: BackgroundServer, method: str, path: str, kwargs: dict[str, Any], status: int, needle: str
) -> None:
    response = httpx.request(method, bounded.base_url + path, timeout=60, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert needle in error["message"] and error["type"] == "invalid_request_error"


def test_more_choices_than_the_bound_is_a_400(tiny_dir: Path) -> None:
    app = load_hf_app(tiny_dir, served_name=NAME, limits=ServeLimits(max_pending=4))
    with BackgroundServer(app) as server:
        response = httpx.post(server.base_url + "/chat/completions", json=_body(1, n=5), timeout=60)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "n" and "--max-pending" in response.json()["error"]["message"]
