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
import sys
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


def lean_supported(model: Any) -> bool:
    """Whether :class:`LeanDecoder` reproduces ``model``'s forward (else use :class:`HFDecoder`)."""
    if type(model).__name__ not in _LEAN_CLASSES or model.training:
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


class LeanDecoder:
    """Llama-family forward with a preallocated KV buffer (see the module docstring)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        inner = model.model
        self.embed = inner.embed_tokens
        self.layers = list(inner.layers)
        self.norm = inner.norm
        self.rotary = inner.rotary_emb
        self.lm_head = model.lm_head
        self.rope = sys.modules[type(self.layers[0].self_attn).__module__].apply_rotary_pos_emb
        attn = self.layers[0].self_attn
        cfg = model.config
        self.heads = cfg.num_attention_heads
        self.kv_heads = getattr(cfg, "num_key_value_heads", None) or self.heads
        self.head_dim = attn.head_dim
        self.scaling = float(attn.scaling)
        self.qkv = [_fused(layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj)
                    for layer in self.layers]
        self.gate_up = [_fused(layer.mlp.gate_proj, layer.mlp.up_proj) for layer in self.layers]
        self.q_width = self.heads * self.head_dim
        self.kv_width = self.kv_heads * self.head_dim
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.valid = torch.zeros(0, 0, dtype=torch.bool)
        self.length = 0  # filled columns of the KV buffer

    def _attend(self, i: int, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        layer = self.layers[i]
        attn = layer.self_attn
        b, q_len, _ = x.shape
        qkv = torch.nn.functional.linear(layer.input_layernorm(x), *self.qkv[i])
        q, k, v = qkv.split((self.q_width, self.kv_width, self.kv_width), dim=-1)
        q = q.view(b, q_len, -1, self.head_dim).transpose(1, 2)
        k = k.view(b, q_len, -1, self.head_dim).transpose(1, 2)
        v = v.view(b, q_len, -1, self.head_dim).transpose(1, 2)
        q, k = self.rope(q, k, cos, sin)
        end = self.length + q_len
        self.keys[i][:, :, self.length:end] = k
        self.values[i][:, :, self.length:end] = v
        out = torch.nn.functional.scaled_dot_product_attention(
            q, self.keys[i][:, :, :end], self.values[i][:, :, :end], attn_mask=mask, scale=self.scaling,
            enable_gqa=self.kv_heads != self.heads)
        x = x + attn.o_proj(out.transpose(1, 2).reshape(b, q_len, -1))
        gate, up = torch.nn.functional.linear(layer.post_attention_layernorm(x), *self.gate_up[i]).chunk(2, dim=-1)
        return x + layer.mlp.down_proj(layer.mlp.act_fn(gate) * up)

    def _forward(self, ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        cos, sin = self.rotary(x, positions)
        for i in range(len(self.layers)):
            x = self._attend(i, x, cos, sin, mask)
        self.length += ids.shape[1]
        return self.lm_head(self.norm(x[:, -1:, :]))[:, -1, :]

    def prefill(self, input_ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor,
                budget: int) -> torch.Tensor:
        b, width = input_ids.shape
        total = width + budget
        dtype = self.embed.weight.dtype
        device = input_ids.device
        shape = (b, self.kv_heads, total, self.head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in self.layers]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in self.layers]
        self.valid = torch.zeros((b, total), dtype=torch.bool, device=device)
        self.valid[:, :width] = mask.bool()
        self.length = 0
        causal = torch.ones((width, width), dtype=torch.bool, device=device).tril()
        full = causal[None] & self.valid[:, None, :width]
        # A padding query attends to nothing; let it see itself so its (unused) output stays finite.
        full = full | torch.eye(width, dtype=torch.bool, device=device)[None]
        return self._forward(input_ids, positions, full[:, None])

    def step(self, ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        self.valid[:, self.length] = True
        mask = self.valid[:, None, None, : self.length + 1]
        return self._forward(ids[:, None], positions[:, None], mask)

    def select(self, index: torch.Tensor) -> None:
        self.keys = [k[index] for k in self.keys]
        self.values = [v[index] for v in self.values]
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
