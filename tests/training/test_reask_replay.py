"""Counterfactual replays reproduce a turn's structured re-ask instead of sampling it again."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

from parley.config import ProtocolConfig
from parley.data.problem import Problem
from parley.debate import Agent, AgentPool, PromptSet, Transcript, run_protocol
from parley.llm.base import ChatModel
from parley.llm.types import Completion, Message, SamplingParams, Usage
from parley.training.counterfactuals import RolloutRequest, ScoredRollout, coma_baselines, protocol_run_fn

PROBLEM = Problem(id="p1", question="What is 3 + 4?", answer="7", domain="reasoning")
CFG = ProtocolConfig(name="svj", prompts_dir="instruct", max_rounds=1, use_judge=False)
PROMPTS = PromptSet(CFG.prompts_dir)
SAMPLING = SamplingParams(max_new_tokens=64)


class Counting(ChatModel):
    """A solver that never writes its answer line, then answers each re-ask with a new number."""

    def __init__(self) -> None:
        self.counter = itertools.count(1)

    async def complete(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        last = messages[-1]["content"]
        if last.startswith("Reply with one line: Answer"):
            text = f"Answer: {next(self.counter)}"
        elif "Is the proposed answer correct?" in last:
            text = "Verdict: FAIL\nCritique: wrong."
        else:
            text = "I will finish my paragraph with the line."
        return Completion(text=text, model="counting", usage=Usage(len(last.split()), len(text.split()), 0.0))


async def score(transcript: Transcript) -> float:
    return 1.0 if transcript.final_answer == "7" else 0.0


def test_coma_replays_the_recorded_reask() -> None:
    agents = AgentPool(Agent(Counting(), "shared"))
    original = asyncio.run(run_protocol(PROBLEM, protocol=CFG, agents=agents, prompts=PROMPTS, sampling=SAMPLING,
                                        run_id="run", debate_id="run:p1:0", config_hash="h"))
    assert original.turns[0].reask is not None and original.turns[0].parsed.answer == "1"
    inner = protocol_run_fn(protocol=CFG, agents=agents, prompts=PROMPTS, sampling=SAMPLING, scorer=score,
                            base_seed=0, run_id="run", config_hash="h")
    rollouts: list[Transcript] = []

    async def run_fn(request: RolloutRequest) -> ScoredRollout:
        result = await inner(request)
        rollouts.append(result.transcript)
        return result

    result = asyncio.run(coma_baselines([original], [PROBLEM], run_fn=run_fn, roles=["verifier"], m=2))
    assert len(rollouts) == 2
    for alt in rollouts:
        solver = alt.turns[0]
        assert solver.reask is not None and solver.reask.text == "Answer: 1"  # replayed, not re-sampled
        assert solver.completion_tokens == original.turns[0].completion_tokens
    # Only the verifier turns were sampled again: the solver's turn and its re-ask were free.
    assert result.cost.turns == 2
