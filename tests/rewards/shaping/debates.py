"""Real debate transcripts for shaping / training / tracking tests: the debate engine run with the
rule-based :class:`ScriptedArithmeticAgent` (a real ChatModel with set error rates)."""

from __future__ import annotations

import asyncio

from parley.config import ProtocolConfig
from parley.data.problem import Problem
from parley.debate import Agent, AgentPool, PromptSet, Transcript, run_protocol
from parley.debate.context import Intervention
from parley.debate.scripted_agent import ScriptedArithmeticAgent
from parley.llm.types import SamplingParams
from parley.rewards.signals import DebateSignals, debate_signals, exact_match_oracle

PROBLEM = Problem(id="p1", question="Calculate ( 56 + -33 ) - 84.", answer="-61", domain="reasoning")
PROMPTS = PromptSet()
SAMPLING = SamplingParams()


def pool(solver: float = 0.0, verifier: float = 0.0, judge: float = 0.0, agent: float = 0.0) -> AgentPool:
    agents = {f"agent_{k}": Agent(ScriptedArithmeticAgent("agent", agent), "agent") for k in range(3)}
    return AgentPool(
        Agent(ScriptedArithmeticAgent("solver", solver), "solver"),
        {"verifier": Agent(ScriptedArithmeticAgent("verifier", verifier), "verifier"),
         "judge": Agent(ScriptedArithmeticAgent("judge", judge), "judge"), **agents},
    )


def svj(max_rounds: int = 3, stall_rounds: int = 2, use_judge: bool | None = None) -> ProtocolConfig:
    return ProtocolConfig(name="svj", max_rounds=max_rounds, stall_rounds=stall_rounds, use_judge=use_judge)


def debate(cfg: ProtocolConfig, agents: AgentPool, *, sample_index: int = 0, seed: int = 0,
           problem: Problem = PROBLEM, intervention: Intervention | None = None) -> Transcript:
    return asyncio.run(run_protocol(
        problem, protocol=cfg, agents=agents, prompts=PROMPTS, sampling=SAMPLING, run_id="run",
        debate_id=f"run:{problem.id}:{sample_index}", config_hash="h", sample_index=sample_index,
        base_seed=seed, intervention=intervention))


def signals_of(transcript: Transcript) -> DebateSignals:
    return debate_signals(transcript, exact_match_oracle(transcript.gold_answer))
