"""The inverse-CDF sampler: frequencies follow softmax(logits / T), top-p truncates, greedy is argmax."""

from __future__ import annotations

import torch

from parley.llm.sampling import sample_tokens


def _draw(logits: list[float], temperature: float, top_p: float, n: int = 20000) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    rows = torch.tensor([logits], dtype=torch.float32).repeat(n, 1)
    return sample_tokens(rows, torch.full((n,), temperature), torch.full((n,), top_p), torch.rand(n, generator=gen))


def test_frequencies_match_tempered_softmax() -> None:
    logits = [2.0, 1.0, 0.0, -1.0, 0.5]
    ids, logprobs = _draw(logits, temperature=0.7, top_p=1.0)
    expected = torch.softmax(torch.tensor(logits) / 0.7, dim=0)
    freq = torch.bincount(ids, minlength=len(logits)).float() / len(ids)
    assert torch.allclose(freq, expected, atol=0.015)
    assert torch.allclose(logprobs, expected.log()[ids], atol=1e-6)


def test_top_p_keeps_the_nucleus_and_reports_untruncated_logprobs() -> None:
    logits = [3.0, 2.0, 1.0, 0.0, -1.0]
    probs = torch.softmax(torch.tensor(logits), dim=0)  # ~ [.64, .24, .09, .03, .01]
    ids, logprobs = _draw(logits, temperature=1.0, top_p=0.8)
    assert set(ids.tolist()) == {0, 1}  # 0.64 < 0.8 so token 1 is needed; 0.88 >= 0.8 stops there
    freq = torch.bincount(ids, minlength=5).float() / len(ids)
    assert abs(float(freq[0]) - float(probs[0] / probs[:2].sum())) < 0.015
    assert torch.allclose(logprobs, probs.log()[ids], atol=1e-6)


def test_greedy_rows_take_the_argmax_beside_sampled_rows() -> None:
    logits = torch.tensor([[0.0, 5.0, 1.0], [0.0, 5.0, 1.0]])
    ids, logprobs = sample_tokens(
        logits, torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0]), torch.tensor([0.999, 0.999])
    )
    # greedy row: argmax; sampled row (top_p 1): u near 1 lands on the last token in vocabulary order
    assert ids.tolist() == [1, 2]
    assert torch.allclose(logprobs, torch.log_softmax(logits, dim=-1)[[0, 1], [1, 2]])
