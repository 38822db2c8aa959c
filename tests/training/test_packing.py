"""Prefix-shared packing: the same log-probs, entropies and gradients as the padded batch, fewer positions."""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, MistralConfig, Qwen2Config

from parley.training import lean_forward
from parley.training.config import TrainConfig
from parley.training.losses import token_logprobs
from parley.training.optimise import optimise
from parley.training.packing import pack_batch, packed_token_logprobs, packing_supported, position_cost
from parley.training.policies import PolicySet
from parley.training.samples import TrainingSample, micro_batches, pad_batch
from tests.tiny_model_support import tiny_model_dir
from tests.training.dp_worker import ROLES

VOCAB = 96


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


def _sample(ctx: list[int], comp: list[int], role: str, i: int, rng: random.Random) -> TrainingSample:
    return TrainingSample(
        context_ids=ctx, completion_ids=comp, old_logprobs=[rng.uniform(-6.0, -3.0) for _ in comp], role=role,
        policy_id="shared", round=0, turn_index=i, problem_id=f"p{i % 3}", debate_id=f"d{i}",
        group_id=(f"p{i % 3}", role, 0), raw_reward=float(i % 2), shaped_reward=float(i % 2),
        advantage=rng.choice([-1.0, -0.5, 0.5, 1.0]))


def grouped_samples(vocab: int = VOCAB, seed: int = 0, roles: tuple[str, ...] = ROLES) -> list[TrainingSample]:
    """Debate-shaped samples: per role a system prompt, per problem G=4 rollouts sharing the context
    (first-round solvers), contexts that fork after the problem (verifiers), one exact duplicate, and
    completions that share their first tokens."""
    rng = random.Random(seed)

    def toks(n: int) -> list[int]:
        return [rng.randrange(4, vocab) for _ in range(n)]

    out: list[TrainingSample] = []
    for role in roles:
        system = [1, *toks(6)]
        for _ in range(3):
            problem = toks(rng.randint(3, 7))
            head = toks(2)
            for g in range(4):
                fork = toks(rng.randint(0, 5)) if role != roles[0] else []
                comp = (head + toks(rng.randint(1, 4))) if g % 2 else toks(rng.randint(1, 6))
                out.append(_sample(system + problem + fork, comp, role, len(out), rng))
        out.append(_sample(list(out[-1].context_ids), list(out[-1].completion_ids), role, len(out), rng))
    return out


def _close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-5) -> bool:
    """Equal up to float32 rounding, relative to the tensor's scale (sums in another order)."""
    return float((a - b).abs().max()) <= rel * float(b.abs().max()) + 1e-8


def _model(kind: str, vocab: int = VOCAB) -> Any:
    torch.manual_seed(1)
    if kind == "llama":
        config: Any = LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512)
    elif kind == "qwen2":
        config = Qwen2Config(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    else:
        config = GPT2Config(vocab_size=vocab, n_embd=64, n_layer=2, n_head=4, n_positions=512, resid_pdrop=0.0,
                            embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=2)
    return AutoModelForCausalLM.from_config(config)


def test_every_completion_token_is_read_once_and_shared_prefixes_are_computed_once() -> None:
    samples = grouped_samples()
    packed = pack_batch(samples, max_row_tokens=10_000)
    total = sum(len(s.context_ids) + len(s.completion_ids) for s in samples)
    assert packed.sample_tokens == total
    assert packed.input_ids.shape[0] == 1 and packed.nodes < 0.6 * total  # one row, far fewer positions
    assert packed.targets.numel() == sum(len(s.completion_ids) for s in samples)
    assert sorted(packed.slots.tolist()) == packed.slots.tolist() or len(set(packed.slots.tolist())) == len(
        packed.slots)
    assert int(packed.completion_mask.sum()) == packed.targets.numel()
    # Each target is the token that follows its predicting node on some sample's path.
    k = packed.completion_mask.shape[1]
    for t in range(packed.targets.numel()):
        b, j = divmod(int(packed.slots[t]), k)
        assert int(packed.targets[t]) == samples[b].completion_ids[j]
    # A node's position id is its depth; it attends to itself and its ancestors only.
    allowed = packed.allowed()[0]
    assert torch.equal(allowed.sum(dim=1)[: packed.nodes], packed.position_ids[0] + 1)
    assert torch.equal(packed.attention_mask(torch.float32)[0, 0] == 0, allowed)
    ancestors = {0}  # the first sample's path is a chain: node j attends to 0..j
    for j in range(1, min(len(s.context_ids) for s in samples)):
        ancestors.add(j)
        assert set(allowed[j].nonzero().squeeze(1).tolist()) == ancestors


def test_rows_respect_the_budget_and_a_long_sample_gets_its_own_row() -> None:
    samples = grouped_samples()
    longest = max(len(s.context_ids) + len(s.completion_ids) for s in samples)
    packed = pack_batch(samples, max_row_tokens=longest)
    assert packed.input_ids.shape[0] > 1 and packed.input_ids.shape[1] == longest
    tiny_rows = pack_batch(samples, max_row_tokens=1)
    assert tiny_rows.input_ids.shape[0] == len(samples)  # every sample alone, still exact (tested below)
    with pytest.raises(ValueError, match="max_row_tokens"):
        pack_batch(samples, max_row_tokens=0)
    with pytest.raises(ValueError, match="no samples"):
        pack_batch([])


def test_independent_tries_share_a_row_without_seeing_each_other() -> None:
    samples = grouped_samples()
    rng = random.Random(9)
    samples.append(_sample([1, *(rng.randrange(4, VOCAB) for _ in range(80))], [5, 6], ROLES[0], 99, rng))
    # Attention dear: many small tries, which fit beside each other in rows as wide as the long sample.
    packed = pack_batch(samples, max_row_tokens=10_000, position_cost=8.0)
    roots = (packed.position_ids == 0) & (packed.blocks < packed.prefixes.shape[1] - 1)
    assert int(roots.sum(dim=1).max()) > 1  # some row holds several tries
    allowed = packed.allowed()
    for r in range(allowed.shape[0]):
        starts = roots[r].nonzero().squeeze(1).tolist()
        for a, b in itertools.pairwise(starts):  # nodes of a later trie never see an earlier one
            assert not allowed[r, b:, a:b].any()


@pytest.mark.parametrize("kind", ["llama", "qwen2", "gpt2"])
@pytest.mark.parametrize(("row_tokens", "cost"), [(10_000, None), (24, None), (10_000, 8.0)])
def test_packed_logprobs_entropies_and_gradients_equal_the_padded_batch(kind: str, row_tokens: int,
                                                                        cost: float | None) -> None:
    model = _model(kind)
    assert packing_supported(model)
    # Llama and Qwen2 take the lean forward (last layer at the kept nodes only), GPT-2 the model's own.
    assert lean_forward.supported(model) == (kind != "gpt2")
    samples = grouped_samples()
    if cost is not None:  # a long sample: the small tries then share rows (see the test above)
        rng = random.Random(9)
        samples.append(_sample([1, *(rng.randrange(4, VOCAB) for _ in range(80))], [5, 6], ROLES[0], 99, rng))
    weights = torch.randn(len(samples), 12, generator=torch.Generator().manual_seed(3))

    def run(packed: bool) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        if packed:
            pb = pack_batch(samples, max_row_tokens=row_tokens, position_cost=cost)
            logp, ent = packed_token_logprobs(model, pb, temperature=0.7)
        else:
            batch = pad_batch(samples)
            full, full_ent = token_logprobs(model, batch.input_ids, batch.attention_mask, batch.completion_mask,
                                            temperature=0.7)
            k = max(len(s.completion_ids) for s in samples)
            logp = torch.zeros(len(samples), k)
            ent = torch.zeros(len(samples), k)
            for b, s in enumerate(samples):
                c, n = len(s.context_ids), len(s.completion_ids)
                logp = logp.index_put((torch.full((n,), b), torch.arange(n)), full[b, c:c + n])
                ent[b, :n] = full_ent[b, c:c + n].detach()
        (logp * weights[:, : logp.shape[1]]).sum().backward()
        grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
        return logp.detach(), ent, grads

    logp_p, ent_p, grad_p = run(True)
    logp_r, ent_r, grad_r = run(False)
    assert torch.allclose(logp_p, logp_r, atol=1e-5), (logp_p - logp_r).abs().max()
    assert torch.allclose(ent_p, ent_r, atol=1e-5)
    assert grad_p.keys() == grad_r.keys() and grad_p
    for name, value in grad_r.items():
        assert _close(grad_p[name], value), name


@pytest.mark.parametrize("aggregation", ["token_mean", "seq_mean"])
def test_optimise_with_packing_gives_the_padded_update(tiny_dir: Path, aggregation: str) -> None:
    """optimise() packed and padded on the tiny model (with a KL reference): the same gradient and metrics."""
    grads, metrics = [], []
    for packing in ("prefix", "pad"):
        torch.manual_seed(0)
        cfg = TrainConfig(micro_batch_size=8, max_grad_norm=1e9, lr=1e-3, aggregation=aggregation,
                          packing=packing, kl_beta=0.05)
        policies = PolicySet.build(tiny_dir, ROLES, cfg, batch_size=4, num_threads=1)
        vocab = int(policies.tokenizer.vocab_size)
        metrics.append(optimise(policies, grouped_samples(vocab), cfg, pad_id=0))
        model = policies.policies["shared"].model
        grads.append({n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None})
    packed, padded = grads
    assert packed.keys() == padded.keys() and packed
    for name, value in padded.items():
        assert _close(packed[name], value), name
    assert metrics[0].keys() == metrics[1].keys()
    # With seq_mean a micro-batch's policy_loss / kl are means over its own sequences, so their token-weighted
    # log depends on how samples are grouped (packed batches group by prefix, padded ones by length).
    chunk_dependent = ("policy_loss/", "kl/") if aggregation == "seq_mean" else ()
    for key, value in metrics[1].items():
        if key.startswith(chunk_dependent):
            continue
        assert metrics[0][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_the_lean_forward_gives_the_model_forwards_kept_logits(kind: str) -> None:
    model = _model(kind)
    pb = pack_batch(grouped_samples(), max_row_tokens=24)
    mask = pb.attention_mask(torch.float32)
    lean = lean_forward.kept_logits(model, pb.input_ids, mask, pb.position_ids, pb.keep)
    full = model(input_ids=pb.input_ids, attention_mask=mask, position_ids=pb.position_ids,
                 logits_to_keep=pb.keep).logits.reshape(-1, lean.shape[-1])
    assert lean.shape == full.shape == (int(pb.keep.sum()), VOCAB)
    assert _close(lean, full)
    dropout = _model(kind)
    dropout.config.attention_dropout = 0.1
    assert not lean_forward.supported(dropout.train())


def test_token_order_puts_shared_prefixes_side_by_side() -> None:
    samples = grouped_samples()
    random.Random(5).shuffle(samples)
    for chunk in micro_batches(samples, 4, order="tokens"):
        seqs = [s.context_ids + s.completion_ids for s in chunk]
        assert seqs == sorted(seqs) and len({s.role for s in chunk}) == 1


def test_position_cost_follows_the_model_shape(tiny_dir: Path) -> None:
    tiny = AutoModelForCausalLM.from_pretrained(tiny_dir)
    wide = _model("llama")  # hidden 64, MLP 128: (4 * 64^2 + 3 * 64 * 128) / (2 * 64) = 320
    assert position_cost(wide) == pytest.approx(320.0)
    assert position_cost(tiny) > position_cost(wide)


def test_sliding_window_models_fall_back_to_padding() -> None:
    config = MistralConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                           num_attention_heads=4, num_key_value_heads=4, sliding_window=16)
    assert not packing_supported(AutoModelForCausalLM.from_config(config))
    qwen = _model("qwen2")  # Qwen2 declares a window but does not use it by default
    assert qwen.config.use_sliding_window is False and packing_supported(qwen)


def test_layout_fields_at_their_defaults_leave_the_config_hash_alone() -> None:
    from parley.config.loading import config_hash

    assert "packing" not in TrainConfig().model_dump() and "pack_row_tokens" not in TrainConfig().model_dump()
    assert TrainConfig(packing="pad").model_dump()["packing"] == "pad"
    assert config_hash(TrainConfig()) == config_hash(TrainConfig(packing="prefix", pack_row_tokens=512))
    assert config_hash(TrainConfig()) != config_hash(TrainConfig(packing="pad"))
