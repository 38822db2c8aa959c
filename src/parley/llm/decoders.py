"""KV-cached incremental forward passes for :func:`parley.llm.sampling.generate`.

A decoder runs the prompt once (``prefill``), then one token per row per ``step``, and can keep or
repeat rows of its batch (``select``: drop finished rows, or fan one prefilled prompt out to the G rows
that share it). Two implementations:

- :class:`HFDecoder`: the model's own ``forward`` with a transformers ``DynamicCache``. Works for any
  Hugging Face causal LM; it is the reference and the fallback.
- :class:`LeanDecoder`: for plain Llama-family checkpoints (``LlamaForCausalLM``, ``Qwen2ForCausalLM``,
  ``MistralForCausalLM`` without a sliding window). It calls the model's own submodules (embedding,
  RMSNorms, output projections, the model's rotary embedding and ``apply_rotary_pos_emb``) in the order
  the transformers implementation does, runs the q/k/v projections as one matmul and the MLP's gate/up
  projections as another (their weights concatenated when the decoder is made, i.e. once per
  ``generate`` call, so they always are the current weights), with a preallocated KV buffer, one boolean attention mask
  kept up to date in place and ``scaled_dot_product_attention``. It skips what costs time per token on
  small models (mask construction, cache bookkeeping objects, output dataclasses, kwargs plumbing) and
  gives the same logits up to float rounding (tested against :class:`HFDecoder`). Anything it does not
  recognise (another architecture, a peft wrapper, rope variants it cannot prove equal) uses
  :class:`HFDecoder`.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Sequence
from typing import Any, Protocol

import torch

_LEAN_CLASSES = ("LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM")


class Decoder(Protocol):
    """Incremental forward over a batch of left-padded rows."""

    def prefill(self, input_ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor,
                budget: int) -> torch.Tensor:
        """``(B, V)`` next-token logits after the prompts; ``budget`` = most tokens any row will add."""

    def step(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Feed one token per row (at ``positions``, ``(B,)``); ``(B, V)`` next-token logits."""

    def select(self, index: torch.Tensor) -> None:
        """Keep (or repeat) the rows at ``index`` of the batch, in that order."""


def cache_kwarg(model: Any) -> str:
    """The forward() keyword for the KV cache: ``cache`` (transformers >= 5.2x) or ``past_key_values``."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


class HFDecoder:
    """The model's own forward with a ``DynamicCache`` (any Hugging Face causal LM)."""

    def __init__(self, model: Any) -> None:
        from transformers import DynamicCache

        self.model = model
        self.cache = DynamicCache(config=model.config)
        self.kw = cache_kwarg(model)
        self.mask: torch.Tensor | None = None

    def prefill(self, input_ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor,
                budget: int) -> torch.Tensor:
        self.mask = mask
        out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True,
                         logits_to_keep=1, **{self.kw: self.cache})
        return out.logits[:, -1, :]

    def step(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        assert self.mask is not None
        self.mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], 1))], dim=1)
        out = self.model(input_ids=ids[:, None], attention_mask=self.mask, position_ids=positions[:, None],
                         use_cache=True, **{self.kw: self.cache})
        return out.logits[:, -1, :]

    def select(self, index: torch.Tensor) -> None:
        assert self.mask is not None
        self.cache.batch_select_indices(index)
        self.mask = self.mask[index]


def _fused(*linears: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One weight (and bias) for several ``nn.Linear`` of the same input: outputs side by side."""
    weight = torch.cat([m.weight for m in linears], dim=0)
    biases = [m.bias for m in linears]
    if all(b is None for b in biases):
        return weight, None
    bias = torch.cat([b if b is not None else weight.new_zeros(m.out_features) for b, m in zip(biases, linears,
                                                                                              strict=True)])
    return weight, bias


#: Models with at most this many bytes of weights get input-major copies of them per ``generate`` call
#: (see :class:`LeanDecoder`); larger ones use transposed views (no copy).
TRANSPOSE_MAX_BYTES = 64 * 2**20


def _input_major(weight: torch.Tensor, bias: torch.Tensor | None, copy: bool
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(in, out)`` weight for ``x @ w`` (a contiguous copy when ``copy``, else a view) and the bias."""
    w = weight.detach().t()
    return (w.contiguous() if copy else w), (None if bias is None else bias.detach())


def _mm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``linear`` with an input-major weight: ``x @ weight (+ bias)`` over the last dimension."""
    flat = x.reshape(-1, x.shape[-1])
    out = torch.mm(flat, weight) if bias is None else torch.addmm(bias, flat, weight)
    return out.view(*x.shape[:-1], weight.shape[1])


def _checkpointing(model: Any) -> bool:
    """Whether activation (gradient) checkpointing is on (transformers 5 renamed the flag)."""
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):
        if hasattr(type(model), name) or name in vars(model):
            return bool(getattr(model, name))
    return False


def lean_supported(model: Any, *, training: bool = False) -> bool:
    """Whether :class:`LeanDecoder` reproduces ``model``'s forward (else use :class:`HFDecoder`).

    ``training``: whether a forward of the same modules in train mode does (no attention dropout, no
    gradient checkpointing); :mod:`parley.training.lean_forward` asks this.
    """
    if type(model).__name__ not in _LEAN_CLASSES:
        return False
    if model.training and not training:
        return False
    if training and (float(getattr(model.config, "attention_dropout", 0.0) or 0.0) > 0
                     or _checkpointing(model)):
        return False
    cfg = model.config
    if getattr(cfg, "use_sliding_window", False) or (
            type(model).__name__ == "MistralForCausalLM" and getattr(cfg, "sliding_window", None)):
        return False
    if getattr(cfg, "pretraining_tp", 1) not in (None, 1):
        return False
    if getattr(cfg, "final_logit_softcapping", None) or getattr(cfg, "attn_logit_softcapping", None):
        return False
    rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    if rope.get("rope_type", rope.get("type", "default")) not in ("default", "linear", "llama3", "yarn"):
        return False  # dynamic rope updates its frequencies with the sequence length: leave it to HF
    inner = getattr(model, "model", None)
    layers = getattr(inner, "layers", None)
    if inner is None or layers is None or not hasattr(inner, "rotary_emb") or not hasattr(model, "lm_head"):
        return False
    need = ("input_layernorm", "post_attention_layernorm", "self_attn", "mlp")
    attn = ("q_proj", "k_proj", "v_proj", "o_proj", "scaling", "head_dim")
    mlp = ("gate_proj", "up_proj", "down_proj", "act_fn")
    for layer in layers:
        if not all(hasattr(layer, n) for n in need) or not all(hasattr(layer.self_attn, n) for n in attn):
            return False
        if not all(hasattr(layer.mlp, n) for n in mlp):
            return False
        if hasattr(layer.self_attn, "q_norm") or getattr(layer.self_attn, "sliding_window", None):
            return False
    return all(type(m).__module__.startswith(("transformers.", "torch.nn.")) for m in model.modules())


#: Prompt positions per prefill chunk: the prompts are run a few rows at a time, shortest first, each chunk
#: cut to its longest row (not the batch's: ~20% fewer positions on the debate step's prompts), so each
#: operator's activations stay in the core's cache (``benchmarks/prefill.py`` compares chunk sizes;
#: docs/performance.md).
PREFILL_CHUNK_TOKENS = 512


#: Shortest prompt prefix the prefill computes once for the rows that share it (see
#: :func:`_shared_prefixes`).
MIN_SHARED_PREFIX = 8

#: Work (positions saved x decoder parameters) below which sharing prefixes is not worth its second
#: prefill pass: it pays on SmolLM2-135M, not on the tiny model, whose prefill is mostly per-operator
#: overhead (``benchmarks/prefill.py``; figures in docs/performance.md).
SHARE_MIN_WORK = 1e9


def _shared_prefixes(prompts: list[list[int]], min_saved: float = 1) -> list[int]:
    """Per prompt, how many of its first tokens the prefill computes once with other prompts: its longest
    common prefix with any other prompt (at least :data:`MIN_SHARED_PREFIX`, at most all but its last
    token, whose logits start sampling); all 0 when sharing would save fewer than ``min_saved`` positions
    or under an eighth of them."""
    order = sorted(range(len(prompts)), key=lambda i: prompts[i])
    shared = [0] * len(prompts)
    for a, b in itertools.pairwise(order):
        x, y = prompts[a], prompts[b]
        n = 0
        limit = min(len(x), len(y))
        while n < limit and x[n] == y[n]:
            n += 1
        shared[a], shared[b] = max(shared[a], n), max(shared[b], n)
    shared = [min(n, len(p) - 1) if n >= MIN_SHARED_PREFIX else 0 for n, p in zip(shared, prompts, strict=True)]
    once = sum(len(pre) for pre in {tuple(p[:n]) for p, n in zip(prompts, shared, strict=True) if n})
    saved = sum(shared) - once
    if saved < min_saved or saved * 8 < sum(len(p) for p in prompts):
        return [0] * len(prompts)
    return shared


def left_pad(
    prompts: Sequence[Sequence[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-padded ``(input_ids, attention_mask, position_ids)`` for ``prompts``."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, prompt in enumerate(prompts):
        if prompt:
            ids[i, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
            mask[i, width - len(prompt) :] = 1
    positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), positions.to(device)


class LeanDecoder:
    """Llama-family forward with a preallocated KV buffer (see the module docstring).

    The prefill skips what no later step reads: in the last layer only the keys and values of every
    prompt position are needed (later tokens attend to them), while the query, attention output and MLP
    are needed for the last position alone (its logits start sampling). On a 2-layer model that is
    almost half of the prefill's work. Prompt prefixes shared by several rows (a role's system prompt and
    a problem, shared by its G rollouts) are computed once and their keys and values copied to each row
    (:func:`_shared_prefixes`, when the work saved exceeds ``share_min_work``: see
    :data:`SHARE_MIN_WORK`); the rows' own tokens then attend to them through the validity mask. The
    rows run shortest first, a few per chunk, each chunk only as wide as its longest row (``sort_rows``;
    ``False`` keeps the caller's order at the batch's width), and come back in the caller's order.

    Per token it runs few operators: the rotary cos/sin come from a table made once per call (the
    model's own rotary embedding over every position the call can reach), the rotation is applied to
    the queries and keys together (``x * cos + roll(x) * sin`` with the sine's first half negated: the
    same products and sums as ``rotate_half``), float32 RMSNorms are one fused ``rms_norm``, and the
    products use weights laid out input-major (for models of at most :data:`TRANSPOSE_MAX_BYTES` of
    weights, copied once per call; measured 1.2-1.8x faster matrix products at batch 1-32 on the tiny
    model's shapes; larger models use transposed views, as ``linear`` does).
    """

    def __init__(self, model: Any, *, share_min_work: float = SHARE_MIN_WORK,
                 prefill_chunk_tokens: int = PREFILL_CHUNK_TOKENS, sort_rows: bool = True) -> None:
        self.share_min_work = share_min_work
        self.prefill_chunk_tokens = prefill_chunk_tokens
        self.sort_rows = sort_rows  # False: chunks of the caller's rows at the batch's width (for comparison)
        inner = model.model
        self.embed = inner.embed_tokens
        self.layers = list(inner.layers)
        self.norm = inner.norm
        self.rotary = inner.rotary_emb
        attn = self.layers[0].self_attn
        cfg = model.config
        self.heads = cfg.num_attention_heads
        self.kv_heads = getattr(cfg, "num_key_value_heads", None) or self.heads
        self.head_dim = attn.head_dim
        self.scaling = float(attn.scaling)
        self.silu = getattr(cfg, "hidden_act", None) == "silu"
        self.q_width = self.heads * self.head_dim
        self.kv_width = self.kv_heads * self.head_dim
        weights = [(layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj) for layer in self.layers]
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        self.decoder_params = sum(p.numel() for layer in self.layers for p in layer.parameters())
        copy = size <= TRANSPOSE_MAX_BYTES
        self.qkv = [_input_major(*_fused(*w), copy) for w in weights]
        self.o = [_input_major(*_fused(layer.self_attn.o_proj), copy) for layer in self.layers]
        self.gate_up = [_input_major(*_fused(layer.mlp.gate_proj, layer.mlp.up_proj), copy) for layer in self.layers]
        self.down = [_input_major(*_fused(layer.mlp.down_proj), copy) for layer in self.layers]
        self.head = _input_major(*_fused(model.lm_head), copy)
        # Keys and values of every layer in one buffer, rows first: (rows, 2 * layers, kv heads, columns,
        # head dim), so dropping or repeating rows is one gather for the whole cache.
        self.cache = torch.zeros(0)
        self.valid = torch.zeros(0, 0, dtype=torch.bool)
        self.cos = self.sin = torch.zeros(0)
        self.length = 0  # filled columns of the KV buffer
        self._perm: torch.Tensor | None = None  # caller row -> buffer row, until the buffer is reordered

    def _rms(self, module: Any, x: torch.Tensor) -> torch.Tensor:
        if (x.dtype == torch.float32 and type(module).__name__.endswith("RMSNorm")
                and hasattr(module, "variance_epsilon")):
            return torch.nn.functional.rms_norm(x, (x.shape[-1],), module.weight, module.variance_epsilon)
        return module(x)

    def _tables(self, positions: int, device: torch.device) -> None:
        """cos and signed sin for positions ``0 .. positions - 1`` from the model's rotary embedding."""
        ids = torch.arange(positions, device=device)[None]
        cos, sin = self.rotary(self.embed.weight[:1][None], ids)
        half = self.head_dim // 2
        self.cos, self.sin = cos[0], torch.cat([-sin[0, :, :half], sin[0, :, half:]], dim=-1)

    def _project(self, i: int, x: torch.Tensor, positions: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Layer ``i``'s rotated queries, keys and values of ``x`` (``(B, heads, T, head_dim)`` each)."""
        b, q_len, _ = x.shape
        qkv = _mm(self._rms(self.layers[i].input_layernorm, x), *self.qkv[i])
        qk = qkv[..., : self.q_width + self.kv_width].view(b, q_len, -1, self.head_dim)
        cos, sin = self.cos[positions][:, :, None], self.sin[positions][:, :, None]
        qk = qk * cos + qk.roll(self.head_dim // 2, dims=-1) * sin
        q = qk[:, :, : self.heads].transpose(1, 2)
        k = qk[:, :, self.heads :].transpose(1, 2)
        v = qkv[..., self.q_width + self.kv_width :].view(b, q_len, -1, self.head_dim).transpose(1, 2)
        return q, k, v

    def _finish(self, i: int, x: torch.Tensor, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """Attention of ``q`` over ``keys``/``values``, then layer ``i``'s output projection and MLP."""
        b, q_len, _ = x.shape
        out = torch.nn.functional.scaled_dot_product_attention(
            q, keys, values, attn_mask=mask, scale=self.scaling, enable_gqa=self.kv_heads != self.heads)
        return self._mlp(i, x + _mm(out.transpose(1, 2).reshape(b, q_len, -1), *self.o[i]))

    def _mlp(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """``x`` plus layer ``i``'s MLP of its post-attention norm (any leading shape)."""
        layer = self.layers[i]
        gate, up = _mm(self._rms(layer.post_attention_layernorm, x), *self.gate_up[i]).chunk(2, dim=-1)
        act = torch.nn.functional.silu(gate) if self.silu else layer.mlp.act_fn(gate)
        return x + _mm(act * up, *self.down[i])

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return _mm(self._rms(self.norm, x[:, -1, :]), *self.head)

    def _run(self, ids: torch.Tensor, positions: torch.Tensor, cache: torch.Tensor, columns: slice,
             mask: torch.Tensor, last_mask: torch.Tensor | None) -> torch.Tensor | None:
        """Run the tokens ``ids`` through every layer, their keys and values into ``cache[:, :, :, columns]``
        (``cache``: these rows' view), attending over ``cache[:, :, :, :columns.stop]`` with ``mask``.

        ``last_mask`` given: the last layer's attention and MLP run for the last position only (its mask
        row), and its logits are returned; ``None``: the last layer only stores keys and values.
        """
        x = torch.nn.functional.embedding(ids, self.embed.weight)
        last = len(self.layers) - 1
        for i in range(last + 1):
            q, k, v = self._project(i, x, positions)
            cache[:, 2 * i, :, columns] = k
            cache[:, 2 * i + 1, :, columns] = v
            keys, values = cache[:, 2 * i, :, : columns.stop], cache[:, 2 * i + 1, :, : columns.stop]
            if i < last:
                x = self._finish(i, x, q, keys, values, mask)
            elif last_mask is not None:
                return self._logits(self._finish(i, x[:, -1:], q[:, :, -1:], keys, values, last_mask))
        return None

    def _chunks(self, rows: int, width: int) -> list[slice]:
        step = max(1, self.prefill_chunk_tokens // max(width, 1))
        return [slice(a, min(a + step, rows)) for a in range(0, rows, step)]

    def _length_chunks(self, lengths: Sequence[int]) -> list[tuple[slice, int]]:
        """Consecutive rows of ascending ``lengths`` as ``(rows, width)`` chunks: each as many rows as fit
        in :attr:`prefill_chunk_tokens` positions at the chunk's own width (its longest row), at least one."""
        chunks: list[tuple[slice, int]] = []
        start = 0
        while start < len(lengths):
            end = start + 1
            while end < len(lengths) and (end + 1 - start) * lengths[end] <= self.prefill_chunk_tokens:
                end += 1
            chunks.append((slice(start, end), max(lengths[end - 1], 1)))
            start = end
        return chunks

    def _queries_mask(self, valid: torch.Tensor, start: int) -> torch.Tensor:
        """``(rows, 1, T, start + T)`` mask of T prompt queries at columns ``start ..``: every valid column
        before them, causal among them; a padding query sees itself (its unused output stays finite)."""
        width = valid.shape[1] - start
        device = valid.device
        own = torch.ones((width, width), dtype=torch.bool, device=device).tril()[None] & valid[:, None, start:]
        own = own | torch.eye(width, dtype=torch.bool, device=device)[None]
        before = valid[:, None, :start].expand(-1, width, -1)
        return torch.cat([before, own], dim=-1)[:, None]

    def prefill(self, input_ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor,
                budget: int) -> torch.Tensor:
        b, width = input_ids.shape
        device = input_ids.device
        self._perm = None
        lengths = [int(n) for n in mask.sum(dim=1).tolist()]
        prompts = [row[width - n:] for row, n in zip(input_ids.tolist(), lengths, strict=True)]
        shared = _shared_prefixes(prompts, min_saved=self.share_min_work / max(self.decoder_params, 1))
        # Rows run in ascending order of the length they compute (so each chunk is cut to its own width,
        # not the longest prompt's), then are put back in the caller's order.
        order = sorted(range(b), key=lambda r: lengths[r] - shared[r]) if self.sort_rows else list(range(b))
        reordered = order != list(range(b))
        if reordered:
            prompts = [prompts[r] for r in order]
            lengths = [lengths[r] for r in order]
            shared = [shared[r] for r in order]
        prefixes = sorted({tuple(p[:n]) for p, n in zip(prompts, shared, strict=True) if n})
        wp = max((len(pre) for pre in prefixes), default=0)
        ws = max(n - k for n, k in zip(lengths, shared, strict=True))
        total = wp + ws + budget
        # Uninitialised is safe where a column is written before any read (prompt columns, and the step that
        # adds a column); the prefix columns of rows without a prefix are zeroed below.
        self.cache = torch.empty((b, 2 * len(self.layers), self.kv_heads, total, self.head_dim),
                                 dtype=self.embed.weight.dtype, device=device)
        self.valid = torch.zeros((b, total), dtype=torch.bool, device=device)
        self._tables(max(lengths) + budget + 1, device)
        if prefixes:
            # Each shared prefix once (all layers' keys and values, no logits), then copied to its rows.
            pre_ids, pre_mask, pre_pos = left_pad(prefixes, 0, device)  # pad ids are never read
            pre_cache = torch.zeros((len(prefixes) + 1, *self.cache.shape[1:3], wp, self.head_dim),
                                    dtype=self.cache.dtype, device=device)  # the last row stays 0
            pre_valid = pre_mask.bool()
            for rows in self._chunks(len(prefixes), wp):
                self._run(pre_ids[rows], pre_pos[rows], pre_cache[rows], slice(0, wp),
                          self._queries_mask(pre_valid[rows], 0), None)
            which = {pre: j for j, pre in enumerate(prefixes)}
            index = torch.tensor([which[tuple(p[:n])] if n else len(prefixes) for p, n in zip(prompts, shared,
                                                                                             strict=True)],
                                 dtype=torch.long, device=device)
            torch.index_select(pre_cache, 0, index, out=self.cache[..., :wp, :])
            self.valid[:, :wp] = torch.cat([pre_valid, pre_valid.new_zeros((1, wp))])[index]
        suffixes = [p[n:] for p, n in zip(prompts, shared, strict=True)]
        suf_ids, suf_mask, suf_pos = left_pad(suffixes, 0, device)
        suf_pos = suf_pos + torch.tensor(shared, dtype=torch.long, device=device)[:, None]
        self.valid[:, wp:wp + ws] = suf_mask.bool()
        logits = []
        chunks = (self._length_chunks([n - k for n, k in zip(lengths, shared, strict=True)]) if self.sort_rows
                  else [(rows, ws) for rows in self._chunks(b, wp + ws)])
        for rows, cw in chunks:
            # The chunk's rows are at most cw long: the suffix columns before their last cw hold only
            # padding, which is never computed but is read (masked) by later steps, so it is zeroed.
            start = wp + ws - cw
            self.cache[rows, :, :, wp:start] = 0
            valid = self.valid[rows, : wp + ws]
            out = self._run(suf_ids[rows, ws - cw:], suf_pos[rows, ws - cw:], self.cache[rows], slice(start, wp + ws),
                            self._queries_mask(valid, start), valid[:, None, None, :])
            assert out is not None
            logits.append(out)
        self.length = wp + ws
        result = logits[0] if len(logits) == 1 else torch.cat(logits)
        if reordered:
            # Caller row r is buffer row _perm[r]; the buffer is reordered by the next select or step (one
            # gather, shared with generate's fan-out select where one follows).
            self._perm = torch.tensor(sorted(range(b), key=order.__getitem__), dtype=torch.long, device=device)
            result = result[self._perm]
        return result

    def step(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        if self._perm is not None:
            self.select(torch.arange(len(self._perm), device=self._perm.device))
        # One token per row: activations stay 2-D (rows, hidden), the rotary rows are looked up once for
        # every layer, queries / keys / values are views of the projection (no transposes).
        col = self.length
        self.valid[:, col] = True
        mask = self.valid[:, None, None, : col + 1]
        b = ids.shape[0]
        x = torch.nn.functional.embedding(ids, self.embed.weight)
        cos, sin = self.cos[positions][:, None], self.sin[positions][:, None]
        qk_width, heads = self.q_width + self.kv_width, self.heads
        for i, layer in enumerate(self.layers):
            qkv = _mm(self._rms(layer.input_layernorm, x), *self.qkv[i])
            qk = qkv[:, :qk_width].view(b, -1, self.head_dim)
            qk = qk * cos + qk.roll(self.head_dim // 2, dims=-1) * sin
            self.cache[:, 2 * i, :, col] = qk[:, heads:]
            self.cache[:, 2 * i + 1, :, col] = qkv[:, qk_width:].view(b, -1, self.head_dim)
            out = torch.nn.functional.scaled_dot_product_attention(
                qk[:, :heads, None], self.cache[:, 2 * i, :, : col + 1], self.cache[:, 2 * i + 1, :, : col + 1],
                attn_mask=mask, scale=self.scaling, enable_gqa=self.kv_heads != heads)
            x = self._mlp(i, x + _mm(out.reshape(b, -1), *self.o[i]))
        self.length += 1
        return _mm(self._rms(self.norm, x), *self.head)

    def select(self, index: torch.Tensor) -> None:
        if self._perm is not None:
            index, self._perm = self._perm[index], None
        # Only the filled columns are copied (the rest is written before it is read).
        kept = torch.empty((len(index), *self.cache.shape[1:]), dtype=self.cache.dtype, device=self.cache.device)
        torch.index_select(self.cache[..., : self.length, :], 0, index, out=kept[..., : self.length, :])
        self.cache = kept
        self.valid = self.valid[index]


#: Largest preallocated KV buffer (bytes, all layers) the lean decoder takes; larger batches use HF's
#: growing cache, which also frees finished rows' memory sooner.
LEAN_MAX_CACHE_BYTES = 2 * 2**30


def make_decoder(model: Any, rows: int, columns: int, lean: bool = True) -> Decoder:
    """:class:`LeanDecoder` where supported (and ``lean``) and its KV buffer for ``rows`` x ``columns``
    fits in :data:`LEAN_MAX_CACHE_BYTES`, else :class:`HFDecoder`."""
    if lean and lean_supported(model):
        cfg = model.config
        kv_heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
        head_dim = model.model.layers[0].self_attn.head_dim
        size = model.model.embed_tokens.weight.element_size()
        need = 2 * len(model.model.layers) * rows * kv_heads * columns * head_dim * size
        if need <= LEAN_MAX_CACHE_BYTES:
            return LeanDecoder(model)
    return HFDecoder(model)
