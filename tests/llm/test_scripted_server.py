"""The scripted server itself, spoken to over raw HTTP: protocol, scheduling, records, subprocess mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from parley.llm.scripted_server import Fault, ScriptedServerProcess, ServerScript
from tests.llm.remote_support import scripted

__all__ = ["scripted"]


def _chat(base_url: str, content: str, key: str | None = None, **extra: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": "m", "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(f"{base_url}/chat/completions", json=body, headers=headers, timeout=30)


def test_replies_follow_the_openai_protocol(scripted: Any) -> None:
    server = scripted(ServerScript(reply="Verdict: PASS because the sum is right"))
    response = _chat(server.base_url, "check this please")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Verdict: PASS because the sum is right"}
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 7, "total_tokens": 10}
    truncated = _chat(server.base_url, "again", max_tokens=2).json()
    assert truncated["choices"][0]["message"]["content"] == "Verdict: PASS"
    assert truncated["choices"][0]["finish_reason"] == "length"
    stopped = _chat(server.base_url, "again", stop=[" because"]).json()
    assert stopped["choices"][0]["message"]["content"] == "Verdict: PASS"
    assert httpx.get(f"{server.base_url}/models", timeout=30).json()["data"][0]["id"] == "scripted-model"
    assert httpx.post(f"{server.base_url}/nope", json={}, timeout=30).status_code == 404


def test_first_n_and_every_k_schedules_are_exact(scripted: Any) -> None:
    faults = [
        Fault("rate_limit", first_n=2, match="a", retry_after_s=1.5),
        Fault("server_error", every_k=2, status=503),
    ]
    server = scripted(ServerScript(faults=faults))
    statuses = [_chat(server.base_url, "a").status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    assert [_chat(server.base_url, "b").status_code for _ in range(4)] == [503, 200, 503, 200]
    limited = _chat(server.base_url, "a2")
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1.5"
    assert server.attempts_for("a") == 3 and server.attempts_for("b") == 4
    # Calls taken by an earlier fault do not count for later ones: a#3 is every_k's 1st call, b#1 its 2nd.
    assert server.outcome_counts() == {"rate_limit": 3, "ok": 3, "server_error": 2}
    server.reset()
    assert server.calls() == []


def test_key_file_is_read_on_every_request(scripted: Any, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("first\n")
    server = scripted(ServerScript(key_file=str(key_file)))
    assert _chat(server.base_url, "x", key="first").status_code == 200
    key_file.write_text("second")
    refused = _chat(server.base_url, "x", key="first")
    assert refused.status_code == 401 and "first" in refused.json()["error"]["message"]
    assert _chat(server.base_url, "x", key="second").status_code == 200
    assert [c.authorized for c in server.calls()] == [True, False, True]


def test_malformed_and_dropped_responses(scripted: Any) -> None:
    server = scripted(
        ServerScript(faults=[Fault("malformed", first_n=1, match="m"), Fault("drop", first_n=1, match="d")])
    )
    broken = _chat(server.base_url, "m")
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    with pytest.raises(httpx.RemoteProtocolError):
        _chat(server.base_url, "d")
    assert _chat(server.base_url, "d").status_code == 200


def test_bad_fault_specs_are_rejected() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Fault("drop")
    with pytest.raises(ValueError, match="unknown kind"):
        Fault("explode", first_n=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="callable reply"):
        ServerScript(reply=lambda messages: "x").to_json()


def test_subprocess_server_serves_and_reports_calls() -> None:
    script = ServerScript(reply="Answer: 42", faults=[Fault("server_error", first_n=1)])
    with ScriptedServerProcess(script) as server:
        assert _chat(server.base_url, "q").status_code == 500
        ok = _chat(server.base_url, "q")
        assert ok.json()["choices"][0]["message"]["content"] == "Answer: 42"
        assert [(c.key, c.outcome) for c in server.calls()] == [("q", "server_error"), ("q", "ok")]
        server.reset()
        assert server.calls() == []
