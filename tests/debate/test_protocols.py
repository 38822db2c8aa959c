"""Protocol control flow with the rule-based arithmetic agent (a real ChatModel with set error rates)."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest

from parley.config import ProtocolConfig
from parley.data.problem import Problem
from parley.debate import Agent, AgentPool, PromptSet, Transcript, run_protocol
from parley.debate.scripted_agent import ScriptedArithmeticAgent, evaluate_arithmetic
from parley.llm.types import SamplingParams

PROBLEM = Problem(id="p1", question="Calculate ( 56 + -33 ) - 84.", answer="-61", domain="reasoning")


def pool(solver: float, verifier: float = 0.0, judge: float = 0.0, agent: float = 0.0) -> AgentPool:
    agents = {f"agent_{k}": Agent(ScriptedArithmeticAgent("agent", agent), "shared") for k in range(3)}
    return AgentPool(
        Agent(ScriptedArithmeticAgent("solver", solver), "solver"),
        {"verifier": Agent(ScriptedArithmeticAgent("verifier", verifier), "verifier"),
         "judge": Agent(ScriptedArithmeticAgent("judge", judge), "judge"), **agents},
    )


def run(cfg: ProtocolConfig, agents: AgentPool, seed: int = 0, timeout: float | None = None) -> Transcript:
    return asyncio.run(run_protocol(
        PROBLEM, protocol=cfg, agents=agents, prompts=PromptSet(), sampling=SamplingParams(),
        run_id="run", debate_id="run:p1:0", config_hash="h", base_seed=seed, timeout_s=timeout))


def test_svj_stops_on_verifier_pass() -> None:
    t = run(ProtocolConfig(name="svj", max_rounds=3), pool(solver=0.0))
    assert t.termination_reason == "verifier_pass"
    assert [x.role for x in t.turns] == ["solver", "verifier", "judge"]
    assert t.final_answer == "-61" and t.final_confidence == 0.9
    assert t.turns[0].parsed.answer == "-61" and t.turns[1].parsed.verdict == "pass"
    assert t.rounds_used == 1


def test_svj_runs_to_max_rounds_when_always_wrong_and_verifier_right() -> None:
    t = run(ProtocolConfig(name="svj", max_rounds=3, stall_rounds=5), pool(solver=1.0))
    assert t.termination_reason == "max_rounds"
    assert [x.role for x in t.turns] == ["solver", "verifier"] * 3 + ["judge"]
    assert [x.round for x in t.turns] == [0, 0, 1, 1, 2, 2, 2]
    assert all(x.parsed.verdict == "fail" for x in t.turns if x.role == "verifier")
    # The solver saw its earlier attempts and critiques in later rounds.
    assert "Attempt 1" in t.turns[2].context[-1]["content"]
    assert "Critique" in t.turns[4].context[-1]["content"]


def test_svj_stalls_when_answer_repeats() -> None:
    # A verifier that always says FAIL (error_rate 1 on a correct solver) and a solver that keeps the
    # same (correct) answer: the debate stalls after stall_rounds unchanged rounds.
    t = run(ProtocolConfig(name="svj", max_rounds=6, stall_rounds=2), pool(solver=0.0, verifier=1.0))
    assert t.termination_reason == "stalled"
    assert t.rounds_used == 3


def test_mad_majority_and_turn_structure() -> None:
    t = run(ProtocolConfig(name="mad", num_agents=3, max_rounds=2), pool(solver=0.0, agent=0.0))
    assert t.termination_reason == "majority_vote"
    assert t.final_answer == "-61"
    assert [x.agent_id for x in t.turns] == ["agent_0", "agent_1", "agent_2"] * 2
    assert "Answers from the other agents" in t.turns[3].context[-1]["content"]
    assert "Answers from the other agents" not in t.turns[0].context[-1]["content"]


def test_mad_with_judge() -> None:
    t = run(ProtocolConfig(name="mad", num_agents=2, max_rounds=1, use_judge=True), pool(solver=0.0))
    assert t.termination_reason == "judge" and t.turns[-1].role == "judge"


def test_single_and_self_consistency() -> None:
    single = run(ProtocolConfig(name="single"), pool(solver=0.0))
    assert single.termination_reason == "single" and len(single.turns) == 1
    sc = run(ProtocolConfig(name="self_consistency", num_samples=7), pool(solver=0.3), seed=3)
    assert len(sc.turns) == 7 and sc.termination_reason == "majority_vote"
    answers = [x.parsed.answer for x in sc.turns]
    top = max(set(answers), key=answers.count)
    assert sc.final_answer == top


def test_seeds_make_runs_reproducible_and_distinct() -> None:
    a = run(ProtocolConfig(name="self_consistency", num_samples=6), pool(solver=0.5), seed=1)
    b = run(ProtocolConfig(name="self_consistency", num_samples=6), pool(solver=0.5), seed=1)
    c = run(ProtocolConfig(name="self_consistency", num_samples=6), pool(solver=0.5), seed=2)
    assert [t.text for t in a.turns] == [t.text for t in b.turns]
    assert [t.text for t in a.turns] != [t.text for t in c.turns]


def test_unknown_protocol_lists_known() -> None:
    cfg = ProtocolConfig.model_construct(name="nope", max_rounds=1)
    with pytest.raises(ValueError, match="svj"):
        run(cfg, pool(solver=0.0))


def test_evaluate_arithmetic_is_a_whitelist() -> None:
    assert evaluate_arithmetic("-1 / -( -( -( -2 - 9 ) ) + -3 + -13 )") == Fraction(-1, 27)
    assert evaluate_arithmetic("( 56 + -33 ) - 84") == -61
    for bad in ["__import__('os').system('true')", "2 ** 10", "x + 1", "(1).__class__"]:
        with pytest.raises(ValueError):
            evaluate_arithmetic(bad)
