"""LLM-judge classifiers against a real local OpenAI-protocol server with scripted answers."""

from __future__ import annotations

import asyncio
import json

from parley.config import ModelConfig
from parley.cooperbench.llm_judges import JUDGE_MODES, judge_record
from parley.cooperbench.types import AgentMessage, AgentRun, RunRecord
from parley.llm.openai_backend import OpenAIChatModel

from .conftest import TASK_DIR
from .judge_server import ScriptedJudge, serve

VALID = (
    "```json\n"
    + json.dumps(
        {
            m: {
                "detected": m == "broken_commitment",
                "evidence": "agent1 promised add() but" if m == "broken_commitment" else "",
            }
            for m in JUDGE_MODES
        }
    )
    + "\n```"
)


def _record(n_messages: int = 2) -> RunRecord:
    patch = (TASK_DIR / "feature1" / "feature.patch").read_text()
    msgs = [
        AgentMessage(sender="agent1" if i % 2 == 0 else "agent2", text=f"message {i}: I will edit add() in calc.py")
        for i in range(n_messages)
    ]
    return RunRecord(
        repo="demo_task",
        task_id=1,
        features=(1, 2),
        setting="coop-comm",
        agents=[
            AgentRun(agent_id="agent1", features=[1], patch=patch),
            AgentRun(agent_id="agent2", features=[2], patch=None),
        ],
        messages=msgs,
    )


def _judge(judge: ScriptedJudge, record: RunRecord, **kw: int) -> list:  # type: ignore[type-arg]
    async def go() -> list:  # type: ignore[type-arg]
        with serve(judge) as url:
            model = OpenAIChatModel.from_config(
                ModelConfig(backend="openai", name="judge", api_base=url, max_retries=0)
            )
            try:
                return await judge_record(model, record, **kw)
            finally:
                await model.aclose()

    return asyncio.run(go())


def test_valid_answer_becomes_findings() -> None:
    judge = ScriptedJudge([VALID])
    findings = _judge(judge, _record())
    by = {f.classifier: f for f in findings}
    assert set(by) == set(JUDGE_MODES)
    assert by["broken_commitment"].status == "detected"
    assert by["divergent_architecture"].status == "not_detected"
    prompt = judge.requests[0][-1]["content"]
    assert "float(a) + float(b)" in prompt and "message 1" in prompt  # patches and transcript both shown


def test_invalid_answer_is_reasked_then_reported_not_run() -> None:
    judge = ScriptedJudge(["no json here", VALID])
    findings = _judge(judge, _record())
    assert len(judge.requests) == 2 and "not valid" in judge.requests[1][-1]["content"]
    assert {f.status for f in findings} >= {"detected"}
    bad = ScriptedJudge(['{"divergent_architecture": {"detected": "maybe"}}'])
    findings = _judge(bad, _record())
    assert all(f.status == "not_run" and "invalid" in f.reason for f in findings)


def test_long_transcript_is_summarised_not_cut() -> None:
    judge = ScriptedJudge([VALID])
    record = _record(n_messages=400)
    findings = _judge(judge, record, max_context_chars=4000)
    summary_requests = [r for r in judge.requests if r[-1]["content"].startswith("Summarise this part")]
    assert len(summary_requests) >= 2
    seen = "\n".join(r[-1]["content"] for r in summary_requests)
    assert "message 0:" in seen and "message 399:" in seen  # every message reached the summariser
    final = judge.requests[-1][-1]["content"]
    assert "(part 1)" in final and "outline of the patch" in final
    assert all("context summarised" in f.evidence for f in findings)
