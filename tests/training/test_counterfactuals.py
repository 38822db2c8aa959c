"""Counterfactual rollouts through the real debate engine with the scripted arithmetic agents."""

from __future__ import annotations

import asyncio

import pytest

from parley.config import ProtocolConfig
from parley.data.problem import Problem
from parley.debate import AgentPool, Transcript
from parley.rewards.shaping import MissingShapingInputError, ShapingBatch, shape
from parley.rewards.signals import exact_match_oracle
from parley.training.counterfactuals import (
    RolloutRequest,
    ScoredRollout,
    coma_baselines,
    difference_counterfactuals,
    protocol_run_fn,
    select_debates,
)
from tests.rewards.shaping.debates import PROBLEM, PROMPTS, SAMPLING, debate, pool, signals_of, svj


async def exact_scorer(transcript: Transcript) -> float:
    return 1.0 if exact_match_oracle(transcript.gold_answer)(transcript.final_answer) else 0.0


class Recorder:
    """A real run_fn over run_protocol that also keeps the rollouts it made, for inspection."""

    def __init__(self, cfg: ProtocolConfig, agents: AgentPool) -> None:
        self.inner = protocol_run_fn(protocol=cfg, agents=agents, prompts=PROMPTS, sampling=SAMPLING,
                                     scorer=exact_scorer, base_seed=0, run_id="run", config_hash="h")
        self.rollouts: list[Transcript] = []

    async def __call__(self, request: RolloutRequest) -> ScoredRollout:
        result = await self.inner(request)
        self.rollouts.append(result.transcript)
        return result


def test_difference_empty_null_removes_the_solver_not_the_verifier() -> None:
    # Right solver + verifier that always fails, no judge: stalls after 3 rounds with the right answer.
    cfg, agents = svj(use_judge=False), pool(verifier=1.0)
    original = debate(cfg, agents)
    assert original.final_answer == "-61" and [t.role for t in original.turns] == ["solver", "verifier"] * 3
    run = Recorder(cfg, agents)
    result = asyncio.run(difference_counterfactuals([original], [PROBLEM], run_fn=run))
    # Without the solver no answer is ever proposed (G = 0); without the verifier the solver still
    # stalls on -61 (G = 1).
    assert result.outcomes == {("run:p1:0", "solver"): 0.0, ("run:p1:0", "verifier"): 1.0}
    by_id = {t.debate_id: t for t in run.rollouts}
    no_solver = by_id["run:p1:0:cf:diff:solver:0"]
    assert [t.text for t in no_solver.turns if t.role == "solver"] == ["", "", ""]
    assert no_solver.final_answer is None
    # Cost: 3 verifier turns (7 tokens each) + 3 solver turns (11 tokens each); empty turns are free.
    assert (result.cost.rollouts, result.cost.turns, result.cost.tokens) == (2, 6, 54)
    assert result.cost.as_metrics()["counterfactual/tokens"] == 54.0
    # The difference rewards: D_solver = 1 - 0, D_verifier = 1 - 1.
    shaped = shape({"name": "difference"}, ShapingBatch([original], [signals_of(original)],
                                                        counterfactual_outcomes=result.outcomes))
    assert shaped.rewards == [[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]]


def test_difference_reference_null_and_k_rollouts() -> None:
    cfg, agents = svj(use_judge=False), pool(verifier=1.0)
    original = debate(cfg, agents)
    reference = pool(solver=1.0)  # a frozen reference whose solver is always wrong, verifier right
    result = asyncio.run(difference_counterfactuals(
        [original], [PROBLEM], run_fn=Recorder(cfg, agents), null="reference", reference=reference, k=2))
    # Reference solver: wrong answer, which the always-failing verifier (flipped) passes -> G = 0.
    # Reference verifier (right) passes the right solver at once -> G = 1.
    assert result.rollout_outcomes == {("run:p1:0", "solver"): [0.0, 0.0], ("run:p1:0", "verifier"): [1.0, 1.0]}
    assert result.outcomes == {("run:p1:0", "solver"): 0.0, ("run:p1:0", "verifier"): 1.0}
    # 4 rollouts of 2 turns each, all sampled (reference samples cost like any other), 11 + 7 tokens.
    assert (result.cost.rollouts, result.cost.turns, result.cost.tokens) == (4, 8, 72)
    with pytest.raises(ValueError, match="reference="):
        asyncio.run(difference_counterfactuals([original], [PROBLEM], run_fn=Recorder(cfg, agents),
                                               null="reference"))


def test_coma_replays_the_prefix_and_resamples_the_turn() -> None:
    cfg, agents = svj(), pool(solver=0.5, judge=0.3)
    original = debate(cfg, agents)
    run = Recorder(cfg, agents)
    result = asyncio.run(coma_baselines([original], {PROBLEM.id: PROBLEM}, run_fn=run, m=2))
    assert set(result.baselines) == {("run:p1:0", t.index) for t in original.turns}
    for (_, index), values in result.rollout_outcomes.items():
        assert len(values) == 2 and result.baselines[("run:p1:0", int(index))] == sum(values) / 2
    for t in original.turns:
        alternatives = [r for r in run.rollouts if f":cf:coma:{t.index}:" in r.debate_id]
        assert len(alternatives) == 2
        for alt in alternatives:
            # Same context: every turn before t is the original turn, verbatim.
            assert [x.text for x in alt.turns[: t.index]] == [x.text for x in original.turns[: t.index]]
            assert alt.turns[t.index].context == original.turns[t.index].context
    # Deterministic: the same call gives the same baselines.
    again = asyncio.run(coma_baselines([original], [PROBLEM], run_fn=Recorder(cfg, agents), m=2))
    assert again.baselines == result.baselines


def test_coma_deterministic_case_and_cost() -> None:
    # Right solver, always-failing verifier, no judge: every alternative keeps G = 1, so b = 1 and the
    # COMA reward is G - b = 0 on every turn.
    cfg, agents = svj(use_judge=False), pool(verifier=1.0)
    original = debate(cfg, agents)
    result = asyncio.run(coma_baselines([original], [PROBLEM], run_fn=Recorder(cfg, agents), m=2))
    assert result.baselines == {("run:p1:0", i): 1.0 for i in range(6)}
    # Turn t re-rolls turns t..5 (6 - t sampled turns, 11 tokens each), twice: 2 * 21 turns.
    assert (result.cost.rollouts, result.cost.turns, result.cost.tokens) == (12, 42, 462)
    shaped = shape({"name": "coma"}, ShapingBatch([original], [signals_of(original)], baselines=result.baselines))
    assert shaped.rewards == [[0.0] * 6]


def test_fraction_selects_debates_and_shaping_needs_their_inputs() -> None:
    assert select_debates(4, 0.5, seed=3) == select_debates(4, 0.5, seed=3)
    assert len(select_debates(4, 0.5, seed=3)) == 2 and select_debates(4, 0.0, seed=0) == []
    assert select_debates(3, 0.1, seed=0) != []  # at least one when fraction > 0
    with pytest.raises(ValueError, match="fraction"):
        select_debates(3, 1.5, seed=0)
    cfg, agents = svj(use_judge=False), pool(verifier=1.0)
    # Two problems x G=2: fraction 0.5 selects one WHOLE problem group (never half of each group, which
    # would leave singleton GRPO groups with advantage 0).
    second = PROBLEM.model_copy(update={"id": "p2"})
    originals = [debate(cfg, agents, sample_index=i, problem=p) for p in (PROBLEM, second) for i in range(2)]
    result = asyncio.run(difference_counterfactuals(originals, {"p1": PROBLEM, "p2": second},
                                                    run_fn=Recorder(cfg, agents), fraction=0.5, seed=3))
    assert len(result.debate_ids) == 2 and result.cost.rollouts == 4
    chosen = [t for t in originals if t.debate_id in result.debate_ids]
    assert len({t.problem_id for t in chosen}) == 1
    ok = shape({"name": "difference"}, ShapingBatch(chosen, [signals_of(t) for t in chosen],
                                                     counterfactual_outcomes=result.outcomes))
    assert ok.rewards == [[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]] * 2
    with pytest.raises(MissingShapingInputError, match="debate"):
        shape({"name": "difference"}, ShapingBatch(originals, [signals_of(t) for t in originals],
                                                   counterfactual_outcomes=result.outcomes))


def test_problem_mismatch_is_an_error() -> None:
    cfg, agents = svj(use_judge=False), pool()
    original = debate(cfg, agents)
    other = Problem(id="p9", question="Calculate 1 + 1.", answer="2", domain="reasoning")
    with pytest.raises(RuntimeError, match="no problem 'p1'"):
        asyncio.run(difference_counterfactuals([original], [other], run_fn=Recorder(cfg, agents)))
