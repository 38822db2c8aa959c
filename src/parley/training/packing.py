"""Prefix-shared packing: a micro-batch's samples as token tries, each shared prefix computed once.

The G rollouts of a problem give a role G samples whose contexts share most of their tokens (the
solver's G contexts are identical in the first round; verifiers and judges share the system prompt and
the problem up to the first proposed answer). The padded batch (:func:`parley.training.samples.pad_batch`)
runs every sample's full context through the model: measured on the demo's rollouts, about half of
the positions trained per step repeat a position of another sample of the same micro-batch.

:func:`pack_batch` puts the samples' token sequences (context + completion) into tries: samples are
sorted by their token sequence, so each sample shares the longest possible prefix with the one before
it, and cut into rows of at most ``max_row_tokens`` trie nodes. A row lists its nodes depth-first; a
node attends exactly to its ancestors and itself (a 4-D attention mask, built where the model runs from
a compact per-sample block form), its position id is its depth.
Every node therefore computes the same hidden states as the same token of each sample through it in
the padded batch: the log-prob of each completion token, read at the node of the token before it, is
the padded path's log-prob up to float rounding, and since the loss is a sum over completion tokens the
gradient through a shared node is the sum of the gradients the padded path computes separately (again
equal up to rounding). This is the "shared-prefix" or "tree attention" packing of trie-based RL trainers;
parley applies it inside a micro-batch, never across policies.

:func:`packed_token_logprobs` returns ``(B, K)`` tensors (K = the longest completion) with a
``completion_mask``, which :func:`parley.training.losses.ppo_clip_loss` aggregates exactly as it
aggregates the padded ``(B, L)`` ones (only masked positions count).

Models: any Hugging Face causal LM whose forward takes a custom 4-D attention mask and a boolean 2-D
``logits_to_keep`` (transformers >= 5: Llama, Qwen2, Mistral, GPT-2, ... and peft wrappers of them).
:func:`packing_supported` says no (and :mod:`parley.training.optimise` pads instead) for older
transformers and for sliding-window attention, which a custom mask would silently drop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from parley.training import lean_forward
from parley.training.config import PACK_ROW_TOKENS
from parley.training.samples import TrainingSample


@dataclass
class PackedBatch:
    """Packed rows and where each sample's completion tokens are read from.

    ``input_ids``/``position_ids`` are ``(R, N)``. The tree is stored compactly: ``blocks[r, j]`` is the
    block of node j (the nodes one sample adds to its row are one block, padding is block ``S``) and
    ``prefixes[r, s]`` the ``(N,)`` columns block s inherits from the samples before it (its shared prefix),
    so node i attends to j iff ``prefixes[r, blocks[r, i], j]`` or (same block and ``j <= i``):
    :meth:`attention_mask` builds the ``(R, 1, N, N)`` additive mask from it where the model runs.
    ``keep`` ``(R, N)`` marks the nodes whose logits predict a completion token. For the t-th predicted
    token: ``targets[t]`` its id, ``sources[t]`` the index of its predicting node among the True entries of
    ``keep`` (row-major), ``slots[t]`` its flat index ``b * K + k`` into the ``(B, K)`` outputs.
    ``completion_mask``/``old_logprobs`` are ``(B, K)``, ``advantages`` ``(B,)``. ``sample_tokens`` is the
    samples' total length and ``nodes`` the positions the rows compute (padding included).
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    blocks: torch.Tensor
    prefixes: torch.Tensor
    keep: torch.Tensor
    targets: torch.Tensor
    sources: torch.Tensor
    slots: torch.Tensor
    completion_mask: torch.Tensor
    old_logprobs: torch.Tensor
    advantages: torch.Tensor
    sample_tokens: int
    nodes: int

    def to(self, device: torch.device | str) -> PackedBatch:
        """The same batch on ``device``."""
        return dataclasses.replace(self, **{f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)
                                            if isinstance(getattr(self, f.name), torch.Tensor)})

    def allowed(self) -> torch.Tensor:
        """``(R, N, N)`` bool: node i (dim 1) may attend to node j (dim 2)."""
        width = self.blocks.shape[1]
        inherited = torch.gather(self.prefixes, 1, self.blocks[:, :, None].expand(-1, -1, width))
        col = torch.arange(width, device=self.blocks.device)
        own = (self.blocks[:, :, None] == self.blocks[:, None, :]) & (col[None, :, None] >= col[None, None, :])
        return inherited | own

    def attention_mask(self, dtype: torch.dtype) -> torch.Tensor:
        """``(R, 1, N, N)`` additive mask in ``dtype``: 0 where a node may attend, the dtype's minimum elsewhere."""
        allowed = self.allowed()[:, None]
        zero = torch.zeros((), dtype=dtype, device=allowed.device)
        return torch.where(allowed, zero, torch.tensor(torch.finfo(dtype).min, dtype=dtype, device=allowed.device))


def _lcp(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _fill_rows(trees: list[list[tuple[int, int]]], sizes: list[int]) -> list[list[tuple[int, int]]]:
    """Independent tries laid side by side in rows as wide as the largest (first fit, largest first).

    Rows are padded to the widest one, so a row holding one small trie wastes the rest of its width; tries in
    one row do not see each other (each starts with nothing shared, so it inherits no columns).
    """
    width = max(sizes)
    rows: list[list[tuple[int, int]]] = []
    free: list[int] = []
    for t in sorted(range(len(trees)), key=lambda t: -sizes[t]):
        slot = next((r for r, room in enumerate(free) if room >= sizes[t]), None)
        if slot is None:
            rows.append([])
            free.append(width)
            slot = len(rows) - 1
        rows[slot].extend(trees[t])
        free[slot] -= sizes[t]
    return rows


def pack_batch(samples: Sequence[TrainingSample], pad_id: int = 0, *, max_row_tokens: int = PACK_ROW_TOKENS,
               position_cost: float | None = None) -> PackedBatch:
    """Pack ``samples`` into prefix-sharing rows (see the module docstring).

    Samples join the current row while it stays within ``max_row_tokens`` nodes and, when
    ``position_cost`` is given (the cost of one position's projections and MLP in units of one attention
    cell, :func:`position_cost`), while joining is cheaper than a row of their own: a sample of length
    ``len`` sharing ``shared`` tokens with a row of ``n`` nodes adds ``new = len - shared`` positions and
    ``(n + new)^2 - n^2`` attention cells, against ``len`` positions and ``len^2`` cells alone. (Attention
    in a packed row is dense over its nodes, so one long row of many problems would spend in attention
    what sharing saves.)

    Raises:
        ValueError: no samples, a sample with an empty context, or ``max_row_tokens < 1``.
    """
    if not samples:
        raise ValueError("pack_batch: no samples")
    if max_row_tokens < 1:
        raise ValueError(f"max_row_tokens={max_row_tokens}: must be >= 1")
    for b, s in enumerate(samples):
        if not s.context_ids:
            raise ValueError(f"sample {b} ({s.debate_id!r} turn {s.turn_index}): empty context")
    seqs = [list(s.context_ids) + list(s.completion_ids) for s in samples]
    order = sorted(range(len(samples)), key=lambda i: seqs[i])
    # Rows: runs of consecutive samples (in sorted order) whose trie fits the node budget.
    rows: list[list[tuple[int, int]]] = []  # per row: (sample index, shared prefix with the previous)
    sizes: list[int] = []
    for i in order:
        shared = _lcp(seqs[rows[-1][-1][0]], seqs[i]) if rows else 0
        length, new = len(seqs[i]), len(seqs[i]) - shared
        worse = position_cost is not None and rows and (
            position_cost * new + (sizes[-1] + new) ** 2 - sizes[-1] ** 2 > position_cost * length + length ** 2)
        if not rows or sizes[-1] + new > max_row_tokens or worse:
            rows.append([(i, 0)])
            sizes.append(len(seqs[i]))
        else:
            rows[-1].append((i, shared))
            sizes[-1] += len(seqs[i]) - shared
    rows = _fill_rows(rows, sizes)
    width = max(sizes)
    n_rows = len(rows)
    most = max(len(row) for row in rows)
    ids = torch.full((n_rows, width), pad_id, dtype=torch.long)
    positions = torch.zeros((n_rows, width), dtype=torch.long)
    blocks = torch.full((n_rows, width), most, dtype=torch.long)  # padding: block `most`, inheriting nothing
    prefixes = torch.zeros((n_rows, most + 1, width), dtype=torch.bool)
    longest = max(len(s.completion_ids) for s in samples)
    completion = torch.zeros((len(samples), longest), dtype=torch.float32)
    old = torch.zeros((len(samples), longest), dtype=torch.float32)
    read_rows: list[torch.Tensor] = []  # per sample: (row, column of the predicting node, target id, slot)
    for r, row in enumerate(rows):
        path: list[int] = []  # node columns of the current sample's path, by depth
        used = 0
        for block, (i, shared) in enumerate(row):
            seq = seqs[i]
            del path[shared:]
            new = len(seq) - shared
            if new:
                ids[r, used:used + new] = torch.tensor(seq[shared:], dtype=torch.long)
                positions[r, used:used + new] = torch.arange(shared, len(seq))
                blocks[r, used:used + new] = block
                if shared:
                    prefixes[r, block, torch.tensor(path)] = True
                path.extend(range(used, used + new))
                used += new
            c, k = len(samples[i].context_ids), len(samples[i].completion_ids)
            completion[i, :k] = 1.0
            old[i, :k] = torch.tensor(samples[i].old_logprobs, dtype=torch.float32)
            read_rows.append(torch.stack([
                torch.full((k,), r), torch.tensor(path[c - 1:c + k - 1]), torch.tensor(seq[c:c + k]),
                torch.arange(i * longest, i * longest + k)], dim=1))
    read = torch.cat(read_rows).long()
    where = read[:, 0] * width + read[:, 1]
    keep = torch.zeros((n_rows, width), dtype=torch.bool)
    keep.view(-1)[where] = True
    # Index of each kept node among keep's True entries in row-major order (what the model returns).
    flat_index = torch.full((n_rows * width,), -1, dtype=torch.long)
    kept = keep.view(-1).nonzero().squeeze(1)
    flat_index[kept] = torch.arange(kept.numel())
    return PackedBatch(
        input_ids=ids, position_ids=positions, blocks=blocks, prefixes=prefixes, keep=keep,
        targets=read[:, 2].clone(), sources=flat_index[where], slots=read[:, 3].clone(), completion_mask=completion,
        old_logprobs=old, advantages=torch.tensor([s.advantage for s in samples], dtype=torch.float32),
        sample_tokens=sum(len(s) for s in seqs), nodes=n_rows * width)


def packed_token_logprobs(model: Any, batch: PackedBatch, temperature: float = 1.0, *,
                          attention_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logprobs, entropy)``, both ``(B, K)``, of every sample's completion tokens in one forward.

    The same quantities as :func:`parley.training.losses.token_logprobs` at the completion positions
    (0 outside ``batch.completion_mask``); entropy is reported only (no gradient). ``attention_mask``:
    ``batch.attention_mask(dtype)`` when already built (the policy and its reference share it).
    """
    scale = temperature if temperature > 0 else 1.0
    if attention_mask is None:
        attention_mask = batch.attention_mask(model.get_input_embeddings().weight.dtype)
    if lean_forward.supported(model):  # the last layer only at the kept nodes
        logits = lean_forward.kept_logits(model, batch.input_ids, attention_mask, batch.position_ids, batch.keep)
    else:
        logits = model(input_ids=batch.input_ids, attention_mask=attention_mask,
                       position_ids=batch.position_ids, logits_to_keep=batch.keep).logits
        logits = logits.reshape(-1, logits.shape[-1])  # (kept nodes, V)
    logp_all = torch.log_softmax(logits.float() / scale, dim=-1)
    picked = logp_all[batch.sources, batch.targets]
    b, k = batch.completion_mask.shape
    logp = torch.zeros(b * k, dtype=picked.dtype, device=picked.device).index_put((batch.slots,), picked)
    with torch.no_grad():
        node_entropy = -(logp_all.exp() * logp_all).sum(dim=-1)
        entropy = torch.zeros(b * k, dtype=picked.dtype, device=picked.device)
        entropy[batch.slots] = node_entropy[batch.sources]
    return logp.view(b, k), entropy.view(b, k)


def position_cost(model: Any) -> float:
    """Work of one position's projections and MLP over that of one attention cell (one query-key pair).

    Per layer a position costs about 2 x (the layer's parameters) multiply-adds and a cell about
    2 x hidden size (q.k and the weighted value), so the ratio is the decoder layers' parameters over
    2 x layers x hidden size (about 6 x hidden for a Llama-shaped layer; 770 for the tiny model).
    """
    config = model.config
    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    embeddings = {id(p) for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m is not None
                  for p in m.parameters()}
    body = sum(p.numel() for p in model.parameters() if id(p) not in embeddings and p.dim() > 1)
    if not hidden or not layers or body <= 0:
        return 6.0 * float(hidden or 512)
    return body / (2.0 * layers * hidden)


def packing_supported(model: Any) -> bool:
    """Whether ``model`` runs :func:`packed_token_logprobs` exactly (see the module docstring)."""
    import transformers

    if int(transformers.__version__.split(".")[0]) < 5:
        return False  # boolean 2-D logits_to_keep arrived in transformers 5
    config = getattr(model, "config", None)
    if getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True):
        return False
    return getattr(config, "_attn_implementation", "sdpa") in {"sdpa", "eager"}
