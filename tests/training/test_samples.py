"""Training samples from real debates: tiny-model solver/judge (exact ids + log-probs), scripted verifier."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from parley.debate import Agent, AgentPool, Transcript, run_protocol
from parley.debate.scripted_agent import ScriptedArithmeticAgent
from parley.llm.hf import HFChatModel
from parley.llm.types import SamplingParams
from parley.rewards.selection import best_of_n
from parley.rewards.shaping import ShapingBatch, shape
from parley.training.advantages import AdvantageConfig, compute_advantages, with_advantages
from parley.training.losses import ppo_clip_loss, token_logprobs
from parley.training.samples import MissingTokenIdsError, pad_batch, samples_from_transcripts
from tests.rewards.shaping.debates import PROBLEM, PROMPTS, debate, pool, signals_of, svj
from tests.tiny_model_support import tiny_model_dir


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def transcripts(tiny_dir: Path) -> list[Transcript]:
    """Two svj debates (2 rounds) on one problem: tiny-model solver and judge (policy ``shared``), a
    scripted verifier (policy ``verifier_frozen``, no token ids)."""

    async def run() -> list[Transcript]:
        model = HFChatModel.from_pretrained(tiny_dir)
        agents = AgentPool(Agent(model, "shared"), {
            "verifier": Agent(ScriptedArithmeticAgent("verifier", 0.0), "verifier_frozen")})
        try:
            return [await run_protocol(
                PROBLEM, protocol=svj(max_rounds=2), agents=agents, prompts=PROMPTS,
                sampling=SamplingParams(temperature=1.0, max_new_tokens=12), run_id="r",
                debate_id=f"r:p1:{i}", config_hash="h", sample_index=i) for i in range(2)]
        finally:
            await model.aclose()

    return asyncio.run(run())


def test_one_sample_per_trainable_turn_with_exact_ids(transcripts: list[Transcript]) -> None:
    assert [t.role for t in transcripts[0].turns] == ["solver", "verifier", "solver", "verifier", "judge"]
    rewards = shape({"name": "identity"}, ShapingBatch(transcripts, [signals_of(t) for t in transcripts])).rewards
    samples = samples_from_transcripts(transcripts, rewards, {"shared"}, outcomes=[0.0, 0.0])
    assert len(samples) == 6
    assert [(s.debate_id, s.turn_index, s.role, s.round) for s in samples[:3]] == [
        ("r:p1:0", 0, "solver", 0), ("r:p1:0", 2, "solver", 1), ("r:p1:0", 4, "judge", 1)]
    assert [s.group_id for s in samples] == [("p1", "solver", 0), ("p1", "solver", 1), ("p1", "judge", 0)] * 2
    for s in samples:
        turn = transcripts[0 if s.debate_id == "r:p1:0" else 1].turns[s.turn_index]
        assert s.context_ids == turn.context_token_ids and s.completion_ids == turn.token_ids
        assert s.old_logprobs == turn.logprobs and s.policy_id == "shared" and not s.selected
    # The frozen scripted verifier has no ids: asking to train it is a clear error.
    with pytest.raises(MissingTokenIdsError, match=r"turn 1 \(role 'verifier', policy 'verifier_frozen'\)"):
        samples_from_transcripts(transcripts, rewards, None, outcomes=[0.0, 0.0])
    with pytest.raises(ValueError, match="no reward"):
        samples_from_transcripts(transcripts, rewards, {"shared"})


def test_recomputed_logprobs_match_sampling_and_loss_runs(tiny_dir: Path, transcripts: list[Transcript]) -> None:
    rewards = [[1.0, 0.0, 0.5, 0.0, 0.25], [0.0, 0.0, 0.5, 0.0, 1.0]]
    samples = samples_from_transcripts(transcripts, rewards, {"shared"}, outcomes=[1.0, 0.0])
    result = compute_advantages(samples, AdvantageConfig(estimator="grpo", scale="none", group_size=2))
    # groups: solver/0 (1, 0) -> +-0.5; solver/1 (0.5, 0.5) -> 0; judge/0 (0.25, 1) -> -+0.375
    assert result.advantages == [0.5, 0.0, -0.375, -0.5, 0.0, 0.375]
    assert result.per_role["solver"].zero_variance_group_fraction == 0.5
    batch = pad_batch(with_advantages(samples, result))
    lengths = [len(s.context_ids) + len(s.completion_ids) for s in samples]
    assert batch.input_ids.shape == (6, max(lengths))
    assert batch.completion_mask.sum().item() == sum(len(s.completion_ids) for s in samples)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir).eval()
    logp, entropy = token_logprobs(model, batch.input_ids, batch.attention_mask, batch.completion_mask, 1.0)
    mask = batch.completion_mask.bool()
    # The trainer's forward pass reproduces the sampler's log-probs of the exact sampled ids.
    assert torch.allclose(logp[mask], batch.old_logprobs[mask], atol=1e-4)
    out = ppo_clip_loss(logp, batch.old_logprobs, batch.advantages, batch.completion_mask, entropy=entropy)
    assert out.metrics["ratio_mean"] == pytest.approx(1.0, abs=1e-3) and out.metrics["clip_fraction"] == 0.0
    out.loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_best_of_n_survivors_are_flagged(transcripts: list[Transcript]) -> None:
    survivors = best_of_n(transcripts, [0.0, 1.0])
    assert [s.transcript.debate_id for s in survivors] == ["r:p1:1"]
    samples = samples_from_transcripts([survivors[0].transcript], [[1.0] * 5], {"shared"}, outcomes=[1.0])
    assert samples and all(s.selected for s in samples)


def test_scripted_debates_have_no_ids() -> None:
    t = debate(svj(), pool())
    with pytest.raises(MissingTokenIdsError, match="local"):
        samples_from_transcripts([t], [[1.0, 1.0, 1.0]], {"solver"}, outcomes=[1.0])
