"""Every shaping strategy on one fixed batch of real tiny-model debates (docs/algorithms.md section 6).

The batch comes from the warm-started tiny model through the trainer's own rollout code; difference
and coma get their inputs from real counterfactual rollouts with the same model. Each strategy's
advantages are compared with identity's: equal where the definition says so, different where it must be.
"""

from __future__ import annotations

import asyncio

import pytest

from parley.config import load_config
from parley.data import load_problems
from parley.debate.prompts import PromptSet
from parley.rewards.registry import default_registry
from parley.rewards.shaping import ShapingBatch, parse_shaping_config, shape
from parley.training.advantages import AdvantageConfig, compute_advantages
from parley.training.config import TrainRunConfig
from parley.training.counterfactuals import coma_baselines, difference_counterfactuals, protocol_run_fn
from parley.training.data import ProblemSampler
from parley.training.policies import PolicySet
from parley.training.rollouts import AnswerScorer, RolloutBatch, collect_rollouts, sampling_params, step_seed
from parley.training.samples import samples_from_transcripts
from tests.training.tiny_rl_support import small_tiny_model, train_overrides


@pytest.fixture(scope="module")
def real_batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[RolloutBatch, dict[str, object]]:
    out = tmp_path_factory.mktemp("shaping")
    cfg = load_config(None, train_overrides(small_tiny_model(), out, **{"protocol.max_rounds": 2,
                                                                       "train.group_size": 4}),
                      model=TrainRunConfig)
    problems = load_problems(cfg.dataset)
    policies = PolicySet.build(small_tiny_model(), ["solver", "verifier", "judge"], cfg.train)
    registry = default_registry()
    scorer = AnswerScorer(registry, {p.id: p for p in problems})
    agents = policies.agent_pool()

    async def run() -> tuple[RolloutBatch, object, object]:
        batch = await collect_rollouts(ProblemSampler(problems, 1).next(6), agents=agents, cfg=cfg, scorer=scorer,
                                       step=1, run_id="shaping-test", config_hash="h", prompts=PromptSet())
        run_fn = protocol_run_fn(protocol=cfg.protocol, agents=agents, prompts=PromptSet(),
                                 sampling=sampling_params(cfg), scorer=scorer.outcome, base_seed=step_seed(cfg, 1),
                                 run_id="shaping-test", config_hash="h")
        diff = await difference_counterfactuals(batch.transcripts, batch.problems, run_fn=run_fn, k=1)
        coma = await coma_baselines(batch.transcripts, batch.problems, run_fn=run_fn, roles=["solver"], m=2)
        await policies.aclose()
        return batch, diff, coma

    try:
        batch, diff, coma = asyncio.run(run())
    finally:
        registry.close()
    return batch, {"diff": diff, "coma": coma}


def _advantages(batch: RolloutBatch, rewards: list[list[float]]) -> list[float]:
    samples = samples_from_transcripts(batch.transcripts, rewards, outcomes=batch.outcomes)
    return list(compute_advantages(samples, AdvantageConfig(estimator="grpo", group_size=4)).advantages)


def _shape(batch: RolloutBatch, cfg: dict[str, object], **inputs: object) -> list[list[float]]:
    return shape(parse_shaping_config(cfg), ShapingBatch(batch.transcripts, batch.signals, **inputs)).rewards  # type: ignore[arg-type]


def test_batch_is_real_and_has_reward_variance(real_batch: tuple[RolloutBatch, dict[str, object]]) -> None:
    batch, _ = real_batch
    assert len(batch.transcripts) == 24
    assert all(t.turns[0].token_ids for t in batch.transcripts)  # sampled ids from the local model
    assert {t.role for t in batch.transcripts[0].turns} >= {"solver", "verifier", "judge"}
    assert 0.0 < sum(batch.outcomes) < len(batch.outcomes)


def test_equal_to_identity_where_the_definition_says_so(real_batch: tuple[RolloutBatch, dict[str, object]]) -> None:
    batch, _ = real_batch
    identity = _shape(batch, {"name": "identity"})
    assert identity == [[g] * len(t.turns) for g, t in zip(batch.outcomes, batch.transcripts, strict=True)]
    # mixing with alpha = 1 is identity.
    assert _shape(batch, {"name": "mixing", "alpha": 1.0}) == identity
    # potential shaping with Phi = 0 and undiscounted return-to-go is identity.
    zero = _shape(batch, {"name": "potential", "phi": "callable", "gamma": 1.0, "target": "return_to_go"},
                  potential_fn=lambda t, s, i: 0.0)
    assert zero == identity
    assert _advantages(batch, zero) == _advantages(batch, identity)


def test_potential_telescopes_on_real_debates(real_batch: tuple[RolloutBatch, dict[str, object]]) -> None:
    batch, _ = real_batch
    gamma = 0.9
    shaped = _shape(batch, {"name": "potential", "phi": "answer_correct", "gamma": gamma, "target": "step"})
    for rewards, s, g in zip(shaped, batch.signals, batch.outcomes, strict=True):
        T = len(rewards)
        phi = [1.0 if c else 0.0 for c in s.latest_answer_correct]
        discounted = sum(gamma**t * r for t, r in enumerate(rewards))
        assert discounted == pytest.approx(gamma ** (T - 1) * g + gamma**T * phi[T] - phi[0])


def test_differ_from_identity_where_they_must(real_batch: tuple[RolloutBatch, dict[str, object]]) -> None:
    batch, cf = real_batch
    identity = _shape(batch, {"name": "identity"})
    diff_result = cf["diff"]
    diff = _shape(batch, {"name": "difference"}, counterfactual_outcomes=diff_result.outcomes)  # type: ignore[attr-defined]
    for t, row, g in zip(batch.transcripts, diff, batch.outcomes, strict=True):
        for turn, r in zip(t.turns, row, strict=True):
            assert r == pytest.approx(g - diff_result.outcomes[(t.debate_id, turn.role)])  # type: ignore[attr-defined]
    nonzero_cf = any(v > 0 for v in diff_result.outcomes.values())  # type: ignore[attr-defined]
    assert (diff != identity) == nonzero_cf
    coma_result = cf["coma"]
    coma = _shape(batch, {"name": "coma", "roles": ["solver"]}, baselines=coma_result.baselines)  # type: ignore[attr-defined]
    for t, row, g in zip(batch.transcripts, coma, batch.outcomes, strict=True):
        for turn, r in zip(t.turns, row, strict=True):
            expected = g - coma_result.baselines[(t.debate_id, turn.index)] if turn.role == "solver" else g  # type: ignore[attr-defined]
            assert r == pytest.approx(expected)
    mixing = _shape(batch, {"name": "mixing", "alpha": 0.5})
    local_differs = any(loc != s.outcome for s in batch.signals for loc in s.local)
    assert (mixing != identity) == local_differs and local_differs
    for name in ("margin", "quality"):
        assert _shape(batch, {"name": name, "alpha": 0.5}) != identity
    assert _advantages(batch, mixing) != _advantages(batch, identity)
    assert cf["diff"].cost.rollouts > 0 and cf["coma"].cost.rollouts > 0  # type: ignore[attr-defined]
