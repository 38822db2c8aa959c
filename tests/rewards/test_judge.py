"""LLM judge against a real OpenAI-compatible HTTP server on 127.0.0.1 with scripted replies."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from parley.config.models import ModelConfig
from parley.data.problem import Problem
from parley.llm.openai_backend import OpenAIChatModel
from parley.rewards.judge import (
    InvalidJudgeReply,
    JudgeVerifier,
    LLMJudge,
    Rubric,
    agreement,
    parse_verdict,
)
from parley.rewards.registry import RewardRegistry


def _reply_for(messages: list[dict[str, Any]]) -> str:
    """The scripted judge: decides by the answer in the first user message and by re-ask count."""
    prompt = messages[1]["content"]
    reasks = sum(1 for m in messages if m["role"] == "assistant")
    if "Paris" in prompt:
        return 'Sure. {"score": 9, "rationale": "Correct capital, concise."}'
    if "London" in prompt:  # first an invalid reply, then a valid one after the re-ask
        return "It is wrong." if reasks == 0 else '{"score": 1, "rationale": "Wrong city."}'
    if "Lyon" in prompt:  # off-scale every time: exhausts the re-asks
        return '{"score": 42, "rationale": "??"}'
    return '```json\n{"score": 5, "rationale": "Partly right."}\n```'


class _Handler(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.requests.append(body)
        text = _reply_for(body["messages"])
        payload = {
            "id": f"cmpl-{len(_Handler.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass  # keep test output clean


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


RUBRIC = Rubric(name="capital", criteria="Score 10 for the correct capital city, 0 for a wrong one.",
                scale_min=0, scale_max=10)


def _judge(url: str, max_reasks: int = 2) -> LLMJudge:
    model = OpenAIChatModel.from_config(ModelConfig(backend="openai", name="judge-model", api_base=url))
    return LLMJudge(model, RUBRIC, max_reasks=max_reasks)


def test_scores_reasks_and_caches(server_url: str) -> None:
    judge = _judge(server_url)
    registry = RewardRegistry()
    registry.register("judge", JudgeVerifier(judge, pass_threshold=0.5))
    q = Problem(id="q", question="What is the capital of France?", domain="judge")
    start = len(_Handler.requests)
    results = registry.score_batch([(q, "Paris"), (q, "London"), (q, "Marseille, maybe"), (q, None)])
    assert [r.status for r in results] == ["ok", "ok", "ok", "no_answer"]
    assert [r.score for r in results] == [0.9, 0.1, 0.5, 0.0]
    assert [r.correct for r in results] == [True, False, True, False]
    assert results[1].details["attempts"] == 2  # one invalid reply, one re-ask
    assert results[0].details["rationale"] == "Correct capital, concise."
    assert len(_Handler.requests) - start == 4  # Paris 1 + London 2 + Marseille 1
    # The re-ask carried the invalid reply and the reason back to the model.
    (reask,) = [r for r in _Handler.requests[start:] if len(r["messages"]) == 4]
    assert reask["messages"][2] == {"role": "assistant", "content": "It is wrong."}
    assert "invalid" in reask["messages"][3]["content"]
    again = registry.score(q, "Paris")
    assert again.details["cached"] is True and again.score == 0.9
    assert len(_Handler.requests) - start == 4  # served from the cache


def test_gives_up_after_bounded_reasks(server_url: str) -> None:
    judge = _judge(server_url, max_reasks=1)
    verifier = JudgeVerifier(judge)
    q = Problem(id="q", question="What is the capital of France?", domain="judge")
    start = len(_Handler.requests)
    result = verifier.score(q, "Lyon")
    assert result.status == "error" and result.correct is False
    assert "2 attempts" in (result.error or "") and "outside the scale" in (result.error or "")
    assert len(_Handler.requests) - start == 2


def test_parse_verdict_validation() -> None:
    assert parse_verdict('{"score": 7, "rationale": "ok"}', RUBRIC) == (7.0, "ok")
    echoed = 'Format: {"score": <int>} ... {"score": 3, "rationale": "fine"}'
    assert parse_verdict(echoed, RUBRIC) == (3.0, "fine")
    for bad in ["no json", '{"score": true, "rationale": "x"}', '{"score": 7.5, "rationale": "x"}',
                '{"score": 11, "rationale": "x"}', '{"score": 5}', '{"score": "5", "rationale": "x"}']:
        with pytest.raises(InvalidJudgeReply):
            parse_verdict(bad, RUBRIC)
    unit = Rubric(name="u", criteria="c", scale_min=0, scale_max=1, integer_scale=False)
    assert parse_verdict('{"score": 0.75, "rationale": "x"}', unit) == (0.75, "x")


def test_agreement_accuracy_and_kappa() -> None:
    judge = [True, True, False, False, True, False, True, True]
    gold: list[bool | None] = [True, False, False, False, True, True, True, None]
    report = agreement(judge, gold)
    # 7 labelled pairs: tp=3, tn=2, fp=1, fn=1 -> p_o = 5/7; p_judge = 4/7, p_gold = 4/7
    p_o, p_e = 5 / 7, (4 / 7) ** 2 + (3 / 7) ** 2
    assert report.n == 7
    assert report.confusion == {"tp": 3, "tn": 2, "fp": 1, "fn": 1}
    assert report.accuracy == pytest.approx(p_o)
    assert report.kappa == pytest.approx((p_o - p_e) / (1 - p_e))
    assert agreement([True, True], [True, True]).kappa is None
    with pytest.raises(ValueError):
        agreement([True], [])
