"""The fast sampling path gives the reference path's ids and log-probs, on three architectures.

Reference: :func:`parley.llm.sampling_reference.reference_generate` (the model's own forward, one
``torch.rand(1)`` per row per token, per-row bookkeeping). Fast: :func:`parley.llm.sampling.generate`
(uniforms drawn up front, shared-prompt prefill, tensor bookkeeping) with the lean Llama-family decoder
and with the model's own forward. Models: the embedded tiny Llama, a random-init Qwen2 (attention
biases, grouped-query attention: lean path) and a random-init GPT-2 (generic path), all with the tiny
tokenizer. Tolerance: ids, texts and finish reasons equal; log-probs within 1e-5 (float32 rounding of
differently batched kernels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, Qwen2Config

from parley.llm.decoders import HFDecoder, LeanDecoder, lean_supported
from parley.llm.hf import HFChatModel
from parley.llm.sampling import generate, left_pad
from parley.llm.sampling_reference import reference_generate
from parley.llm.types import SamplingParams
from tests.tiny_model_support import tiny_model_dir


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


def _other(kind: str, tiny_dir: Path) -> Any:
    vocab = len(AutoTokenizer.from_pretrained(tiny_dir))
    torch.manual_seed(1)
    if kind == "qwen2":
        config: Any = Qwen2Config(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    else:
        config = GPT2Config(vocab_size=vocab, n_embd=64, n_layer=2, n_head=4, n_positions=512)
    return AutoModelForCausalLM.from_config(config).eval()


def _chat(kind: str, tiny_dir: Path) -> HFChatModel:
    if kind == "llama":
        return HFChatModel.from_pretrained(tiny_dir)
    return HFChatModel(_other(kind, tiny_dir), AutoTokenizer.from_pretrained(tiny_dir), name=kind)


def _requests(chat: HFChatModel) -> tuple[list[list[int]], list[SamplingParams], list[int]]:
    """Varied lengths, repeated prompts (shared prefill), greedy / nucleus / tempered rows, stop strings."""
    prompts, params = [], []
    for i in range(12):
        text = f"Question: Calculate {i % 4} - 3 * {i % 3}." + " Check it." * (i % 3)
        prompts.append(chat.encode_prompt([{"role": "user", "content": text}]))
        params.append(SamplingParams(temperature=[1.0, 0.7, 0.0, 1.4][i % 4], top_p=[1.0, 0.9, 1.0, 0.8][i % 4],
                                     max_new_tokens=6 + 3 * (i % 5), stop=("1",) if i % 5 == 0 else ()))
    return prompts, params, [100 + i % 6 for i in range(12)]


@pytest.mark.parametrize("kind", ["llama", "qwen2", "gpt2"])
def test_fast_path_equals_reference_path(kind: str, tiny_dir: Path) -> None:
    chat = _chat(kind, tiny_dir)
    assert lean_supported(chat.model) == (kind != "gpt2")
    prompts, params, seeds = _requests(chat)
    kw: dict[str, Any] = {"decode": chat.decode, "pad_id": chat.pad_id, "stop_token_ids": chat.stop_token_ids,
                          "max_positions": chat.max_positions}
    reference = reference_generate(chat.model, prompts, params, seeds, **kw)
    for lean in (True, False):
        fast = generate(chat.model, prompts, params, seeds, lean=lean, **kw)
        for f, r in zip(fast, reference, strict=True):
            assert f.token_ids == r.token_ids
            assert (f.text, f.finish_reason) == (r.text, r.finish_reason)
            assert f.logprobs == pytest.approx(r.logprobs, abs=1e-5)
    assert {r.finish_reason for r in reference} >= {"length"}
    assert len({tuple(r.token_ids) for r in reference}) > 6  # the rows really differ


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_lean_decoder_logits_equal_the_model_forward(kind: str, tiny_dir: Path) -> None:
    chat = _chat(kind, tiny_dir)
    prompts = [chat.encode_prompt([{"role": "user", "content": "Hi" + " there" * k}]) for k in range(4)]
    ids, mask, positions = left_pad(prompts, chat.pad_id, torch.device("cpu"))
    with torch.inference_mode():
        lean, hf = LeanDecoder(chat.model), HFDecoder(chat.model)
        a, b = lean.prefill(ids, mask, positions, 5), hf.prefill(ids, mask, positions, 5)
        nxt = positions[:, -1] + 1
        for step in range(5):
            assert torch.allclose(a, b, atol=1e-5), step
            tok = b.argmax(dim=-1)
            if step == 2:  # drop and reorder rows mid-way, as finished rows are dropped
                index = torch.tensor([3, 0, 1])
                lean.select(index)
                hf.select(index)
                tok, nxt = tok[index], nxt[index]
            a, b = lean.step(tok, nxt), hf.step(tok, nxt)
            nxt = nxt + 1


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_prompts_sharing_prefixes_are_prefilled_once_with_the_same_logits(kind: str, tiny_dir: Path) -> None:
    """A role's system prompt shared by every row, a problem shared by groups of rows, one unrelated prompt:
    the lean prefill computes the shared prefixes once and still gives the model's logits."""
    from parley.llm.decoders import _shared_prefixes

    chat = _chat(kind, tiny_dir)
    system = {"role": "system", "content": "You check arithmetic. Recompute every column and say PASS or FAIL."}
    prompts = [chat.encode_prompt([system, {"role": "user", "content": f"Problem {p}: {p} + {7 * p}. Answer: "
                                            + "1" * (a + 1)}]) for p in range(3) for a in range(3)]
    prompts.append(chat.encode_prompt([{"role": "user", "content": "Something else entirely."}]))
    shared = _shared_prefixes(prompts)
    assert all(n > 0 for n in shared[:-1]) and shared[-1] == 0
    assert len({tuple(p[:n]) for p, n in zip(prompts, shared, strict=True) if n}) < len(prompts) - 1
    ids, mask, positions = left_pad(prompts, chat.pad_id, torch.device("cpu"))
    with torch.inference_mode():
        # share_min_work=0: these test models are small enough that the default would not share.
        lean, hf = LeanDecoder(chat.model, share_min_work=0), HFDecoder(chat.model)
        a, b = lean.prefill(ids, mask, positions, 6), hf.prefill(ids, mask, positions, 6)
        nxt = positions[:, -1] + 1
        for step in range(6):
            assert torch.allclose(a, b, atol=1e-5), step
            tok = b.argmax(dim=-1)
            if step == 3:
                index = torch.tensor([9, 0, 4, 4, 7])
                lean.select(index)
                hf.select(index)
                tok, nxt = tok[index], nxt[index]
            a, b = lean.step(tok, nxt), hf.step(tok, nxt)
            nxt = nxt + 1


@pytest.mark.parametrize("share", [False, True])
@pytest.mark.parametrize("first", ["step", "select"])
def test_rows_prefilled_in_length_order_come_back_in_the_callers_order(share: bool, first: str,
                                                                       tiny_dir: Path) -> None:
    """The lean prefill runs rows shortest first in chunks cut to their own width (a few rows per chunk
    here), then hands logits and cache rows back in the caller's order, whether a step or a select comes
    next."""
    chat = _chat("llama", tiny_dir)
    system = {"role": "system", "content": "You check arithmetic."}
    lengths = [9, 0, 14, 3, 3, 21, 1, 6]  # not sorted; two rows of one length
    prompts = [chat.encode_prompt([system, {"role": "user", "content": "Check: " + "12 + 3 " * k}]) for k in lengths]
    ids, mask, positions = left_pad(prompts, chat.pad_id, torch.device("cpu"))
    with torch.inference_mode():
        lean = LeanDecoder(chat.model, share_min_work=0 if share else float("inf"), prefill_chunk_tokens=96)
        hf = HFDecoder(chat.model)
        a, b = lean.prefill(ids, mask, positions, 4), hf.prefill(ids, mask, positions, 4)
        assert lean._perm is not None  # the rows were reordered
        assert len(lean._length_chunks(sorted(len(p) for p in prompts))) > 2
        assert torch.allclose(a, b, atol=1e-5)
        nxt = positions[:, -1] + 1
        tok = b.argmax(dim=-1)
        if first == "select":
            index = torch.tensor([5, 1, 1, 6, 0])
            lean.select(index)
            hf.select(index)
            tok, nxt = tok[index], nxt[index]
        for step in range(3):
            a, b = lean.step(tok, nxt), hf.step(tok, nxt)
            assert torch.allclose(a, b, atol=1e-5), step
            tok, nxt = b.argmax(dim=-1), nxt + 1


def test_drawing_a_budget_at_once_equals_successive_draws() -> None:
    """The fast path draws ``torch.rand(budget)`` up front; it must equal one draw per token."""
    for n in (1, 17, 64, 1000):
        one, many = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
        assert torch.equal(torch.cat([torch.rand(1, generator=one) for _ in range(n)]),
                           torch.rand(n, generator=many))


def test_training_mode_and_peft_wrappers_use_the_generic_path(tiny_dir: Path) -> None:
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    assert lean_supported(model.eval())
    assert not lean_supported(model.train())
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model.eval(), LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    assert not lean_supported(peft_model)
    assert not lean_supported(peft_model.base_model.model)  # LoRA layers are not plain Linear modules
