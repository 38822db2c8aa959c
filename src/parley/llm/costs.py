"""Per-call cost from LiteLLM's bundled price map; unknown models cost ``None``, never a guess.

``LITELLM_LOCAL_MODEL_COST_MAP=True`` is set before LiteLLM is imported so it reads the price map
shipped in the package instead of fetching one over the network.

Prices are per token (``input_cost_per_token``/``output_cost_per_token``); tiered, cached-prompt and
batch prices are not modelled. A model served from a loopback ``api_base`` (a local vLLM or parley
server) is reported as ``None`` even if its name matches a priced model, since nobody bills for it.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

logger = logging.getLogger(__name__)

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


def import_litellm() -> ModuleType:
    """Import LiteLLM with the local price map and without its stdout debug banners."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


@lru_cache(maxsize=1)
def _price_map() -> dict[str, Any]:
    return dict(import_litellm().model_cost)


def is_local_endpoint(api_base: str | None) -> bool:
    """Whether ``api_base`` points at this machine."""
    if not api_base:
        return False
    host = urlparse(api_base).hostname or ""
    return host in _LOCAL_HOSTS


def price_per_token(model: str) -> tuple[float, float] | None:
    """(input, output) USD per token for ``model`` (``provider/name`` or ``name``), or ``None``."""
    prices = _price_map()
    candidates = [model]
    if "/" in model:
        candidates.append(model.split("/", 1)[1])
    for name in candidates:
        entry = prices.get(name)
        if not isinstance(entry, dict):
            continue
        prompt_price = entry.get("input_cost_per_token")
        completion_price = entry.get("output_cost_per_token")
        if isinstance(prompt_price, int | float) and isinstance(completion_price, int | float):
            return float(prompt_price), float(completion_price)
    return None


def completion_cost(
    model: str, prompt_tokens: int, completion_tokens: int, *, api_base: str | None = None
) -> float | None:
    """USD cost of one call, or ``None`` when the model's price is unknown or it is served locally."""
    if is_local_endpoint(api_base):
        return None
    price = price_per_token(model)
    if price is None:
        return None
    return prompt_tokens * price[0] + completion_tokens * price[1]
