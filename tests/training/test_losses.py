"""PPO-clip loss, k3 KL and per-token log-probs against hand-computed values and a real tiny Llama."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from parley.llm.sampling import sequence_logprobs
from parley.training.losses import k3_kl, ppo_clip_loss, token_logprobs


def test_ratio_one_is_minus_mean_advantage() -> None:
    logp = torch.tensor([[0.0, -1.0, -2.0], [0.0, -0.5, -9.0]], requires_grad=True)
    old = logp.detach().clone()
    mask = torch.tensor([[0.0, 1.0, 1.0], [0.0, 1.0, 0.0]])
    adv = torch.tensor([1.0, -0.5])
    out = ppo_clip_loss(logp, old, adv, mask)
    # token_mean: (-1 - 1 + 0.5) / 3 = -0.5
    assert out.loss.item() == pytest.approx(-0.5)
    out.loss.backward()
    assert logp.grad is not None
    assert logp.grad.flatten().tolist() == pytest.approx([0.0, -1 / 3, -1 / 3, 0.0, 0.5 / 3, 0.0])
    assert out.metrics["ratio_mean"] == pytest.approx(1.0) and out.metrics["clip_fraction"] == 0.0
    assert out.metrics["approx_kl"] == pytest.approx(0.0) and out.metrics["tokens"] == 3.0
    # seq_mean: mean(-1, 0.5) = -0.25
    assert ppo_clip_loss(logp, old, adv, mask, aggregation="seq_mean").loss.item() == pytest.approx(-0.25)


def test_clipping_on_both_sides() -> None:
    ratios = [1.5, 0.5, 0.5, 1.5]
    old = torch.zeros(1, 4)
    logp = torch.tensor([[math.log(r) for r in ratios]], requires_grad=True)
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0]])
    out = ppo_clip_loss(logp, old, adv, torch.ones(1, 4))
    # per token: -min(1.5, 1.2) = -1.2 (clipped) | -min(-0.5, -0.8) = 0.8 (clipped) | -0.5 | 1.5
    assert out.loss.item() == pytest.approx((-1.2 + 0.8 - 0.5 + 1.5) / 4)
    assert out.metrics["clip_fraction"] == pytest.approx(0.5)
    out.loss.backward()
    assert logp.grad is not None
    # clipped tokens get no gradient; d(-ratio*A)/dlogp = -A*ratio, / 4 tokens.
    assert logp.grad[0].tolist() == pytest.approx([0.0, 0.0, -0.125, 0.375])


def test_decoupled_clip_range() -> None:
    logp = torch.tensor([[math.log(1.25), math.log(0.85)]])
    out = ppo_clip_loss(logp, torch.zeros(1, 2), torch.tensor([[1.0, -1.0]]), torch.ones(1, 2),
                        eps_low=0.1, eps_high=0.3)
    # 1.25 < 1.3: unclipped -> -1.25; 0.85 < 0.9 with A < 0: clipped -> -min(-0.85, -0.9) = 0.9.
    assert out.loss.item() == pytest.approx((-1.25 + 0.9) / 2)
    assert out.metrics["clip_fraction"] == pytest.approx(0.5)


def test_k3_kl() -> None:
    logp = torch.tensor([[-1.0, -2.0]])
    assert k3_kl(logp, logp).tolist() == [[0.0, 0.0]]
    ref = logp + math.log(2.0)
    # exp(log 2) - log 2 - 1 = 0.3068528
    assert k3_kl(logp, ref)[0].tolist() == pytest.approx([0.3068528, 0.3068528])
    mask = torch.ones(1, 2)
    out = ppo_clip_loss(logp, logp, torch.tensor([1.0]), mask, ref_logprobs=ref, beta=0.1)
    assert out.loss.item() == pytest.approx(-1.0 + 0.1 * 0.3068528)
    assert out.metrics["kl"] == pytest.approx(0.3068528)
    skipped = ppo_clip_loss(logp, logp, torch.tensor([1.0]), mask, ref_logprobs=ref, beta=0.0)
    assert skipped.loss.item() == pytest.approx(-1.0) and skipped.metrics["kl"] == pytest.approx(0.3068528)
    with pytest.raises(ValueError, match="ref_logprobs"):
        ppo_clip_loss(logp, logp, torch.tensor([1.0]), mask, beta=0.1)


def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64)
    return LlamaForCausalLM(config).eval()


def test_token_logprobs_matches_the_sampler_scoring() -> None:
    model = tiny_llama()
    context, completion = [5, 9, 11, 3], [7, 8, 2]
    ids = torch.tensor([context + completion + [0, 0]])  # right padding
    attention = torch.tensor([[1] * 7 + [0, 0]])
    mask = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        logp, entropy = token_logprobs(model, ids, attention, mask, temperature=0.7)
    # The sampler's own scoring path (left padding) gives the same log-probs.
    expected = sequence_logprobs(model, [(context, completion)], temperature=0.7)[0]
    assert logp[0, 4:7].tolist() == pytest.approx(expected, abs=1e-5)
    assert logp[0, :4].tolist() == [0.0] * 4 and logp[0, 7:].tolist() == [0.0, 0.0]
    assert all(0.0 < e <= math.log(64) + 1e-5 for e in entropy[0, 4:7].tolist())


def test_gradient_flows_only_from_own_completion_tokens() -> None:
    model = tiny_llama()
    # Context: [system, other role's tokens (verifier critique), own prompt]; completion: own tokens.
    other_role = [20, 21, 22]
    context = [1, 4, *other_role, 6, 4]
    completion = [30, 31, 32]
    ids = torch.tensor([context + completion])
    attention = torch.ones_like(ids)
    mask = torch.tensor([[0] * len(context) + [1] * len(completion)])
    captured: list[torch.Tensor] = []

    def keep(_module: object, _inputs: object, output: torch.Tensor) -> None:
        output.retain_grad()
        captured.append(output)

    handle = model.lm_head.register_forward_hook(keep)
    logp, _ = token_logprobs(model, ids, attention, mask)
    handle.remove()
    out = ppo_clip_loss(logp, logp.detach(), torch.tensor([1.0]), mask.float())
    out.loss.backward()
    grad = captured[0].grad
    assert grad is not None
    # Logits at position j predict token j + 1: only positions whose next token is a completion token
    # (len(context) - 1 .. end - 1) carry gradient; the other role's positions carry exactly zero.
    # (token_logprobs keeps logits only from the first completion column on: ``offset`` columns skipped.)
    first_target = len(context) - 1
    offset = ids.shape[1] - grad.shape[1]
    assert offset <= first_target
    assert torch.count_nonzero(grad[0, :first_target - offset]) == 0
    assert torch.count_nonzero(grad[0, -1]) == 0
    assert all(torch.count_nonzero(grad[0, j - offset]) > 0 for j in range(first_target, ids.shape[1] - 1))
    # The other role's tokens are context: changing them changes the completion's log-probs.
    changed = torch.tensor([[1, 4, 40, 41, 42, 6, 4, *completion]])
    with torch.no_grad():
        logp2, _ = token_logprobs(model, changed, attention, mask)
    assert not torch.allclose(logp.detach()[0, len(context):], logp2[0, len(context):])
