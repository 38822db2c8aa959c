"""The training forward of a Llama-family model that runs the last layer only where logits are kept.

:func:`parley.training.packing.packed_token_logprobs` needs logits only at the nodes that predict a
completion token (``keep``), and the model's own forward computes every node through every layer
before dropping the rest at the LM head. Every layer but the last must run at every node (later nodes
attend to their keys and values), but in the LAST layer a node that is not kept contributes only its
keys and values: its query, attention output and MLP feed nothing that is read. :func:`kept_logits`
therefore runs the model's own modules in the transformers order (the same operations as
``LlamaDecoderLayer``, ``LlamaAttention`` with sdpa, ``LlamaMLP``) for every node up to the last layer,
and there computes keys and values for every node but the rest for the kept nodes only. Packed rows
are mostly context (on the demo's rollouts about 70% of the nodes predict no completion token), so on
a 2-layer model this saves about a quarter of the forward and backward work.

Logits are those of the model's forward up to float rounding (the last layer's products run on fewer
rows); gradients likewise, through the same modules (so LoRA-free full or frozen fine-tuning; peft
wrappers use the model's forward). Tested in ``tests/training/test_packing.py`` against the padded batch.
:func:`supported` says when it applies (:func:`parley.llm.decoders.lean_supported` in training mode:
Llama, Qwen2, Mistral without a sliding window, no attention dropout, no gradient checkpointing).
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from parley.llm.decoders import lean_supported


def supported(model: Any) -> bool:
    """Whether :func:`kept_logits` reproduces ``model``'s forward (training or not)."""
    return lean_supported(model, training=True) and getattr(model.config, "_attn_implementation", "sdpa") in {
        "sdpa", "eager"}


def _rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[r, index[r, j]]`` for ``x`` of shape ``(R, N, ...)`` and ``index`` ``(R, K)``."""
    shape = (*index.shape, *x.shape[2:])
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand(shape))


def kept_logits(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                keep: torch.Tensor) -> torch.Tensor:
    """``(kept nodes, V)`` logits at ``keep``'s True entries in row-major order (as the model's forward with
    ``logits_to_keep=keep`` returns them). ``attention_mask``: the ``(R, 1, N, N)`` additive mask."""
    inner = model.model
    layers = list(inner.layers)
    rotate_half = sys.modules[type(layers[0].self_attn).__module__].rotate_half
    counts = keep.sum(dim=1)
    width = int(counts.max()) if counts.numel() else 0
    # Per row, the kept nodes first in their order (a stable sort of "not kept"), padded with other nodes.
    index = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)[:, :width]
    valid = torch.arange(width, device=keep.device)[None] < counts[:, None]
    x = inner.embed_tokens(input_ids)
    cos, sin = inner.rotary_emb(x, position_ids)
    rows, nodes = input_ids.shape
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        attn = layer.self_attn
        h = layer.input_layernorm(x)
        k = attn.k_proj(h).view(rows, nodes, -1, attn.head_dim).transpose(1, 2)
        v = attn.v_proj(h).view(rows, nodes, -1, attn.head_dim).transpose(1, 2)
        k = k * cos.unsqueeze(1) + rotate_half(k) * sin.unsqueeze(1)
        if i == last:
            h, x = _rows(h, index), _rows(x, index)
            q_cos, q_sin = _rows(cos, index), _rows(sin, index)
            mask = attention_mask.gather(2, index[:, None, :, None].expand(-1, attention_mask.shape[1], -1, nodes))
        else:
            q_cos, q_sin, mask = cos, sin, attention_mask
        q = attn.q_proj(h).view(rows, h.shape[1], -1, attn.head_dim).transpose(1, 2)
        q = q * q_cos.unsqueeze(1) + rotate_half(q) * q_sin.unsqueeze(1)
        out = torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, scale=attn.scaling, enable_gqa=q.shape[1] != k.shape[1])
        x = x + attn.o_proj(out.transpose(1, 2).reshape(rows, h.shape[1], -1))
        x = x + layer.mlp(layer.post_attention_layernorm(x))
    logits: torch.Tensor = model.lm_head(inner.norm(x))
    return logits[valid]
