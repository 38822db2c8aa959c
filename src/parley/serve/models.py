"""Which checkpoint ``parley serve NAME`` loads, and the model id clients pass to reach it.

One function, :func:`resolve_served_model`, over the model catalog (:mod:`parley.llm.catalog`):

- a registered name (``tiny``: the embedded warm-started tiny model, built and cached on first use,
  exactly what ``parley train`` and ``parley generate`` use; ``smollm2`` once fetched): served under
  that name, so configs that name ``tiny`` (``examples/generate_openai.yaml``) reach it;
- ``hf:ORG/NAME`` or a checkpoint directory (written by ``save_pretrained``): served under the
  directory's name.

``model_name`` (``--model-name``) overrides the served id in both cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from parley.llm.catalog import get_entry, resolve_model

TINY = "tiny"


@dataclass(frozen=True)
class ServedModel:
    """A checkpoint directory and the id it is served under."""

    path: Path
    served_id: str


def resolve_served_model(name: str, model_name: str | None = None) -> ServedModel:
    """Resolve ``name`` (a catalog name, ``hf:ORG/NAME`` or a checkpoint directory) without loading weights.

    Raises:
        FileNotFoundError: the catalog cannot resolve ``name`` (its message names the fix).
        ValueError: ``model_name`` is empty.
    """
    if model_name is not None and not model_name.strip():
        raise ValueError("--model-name: the served model id must not be empty")
    path = resolve_model(name)
    default_id = name if get_entry(name) is not None else path.resolve().name
    return ServedModel(path, model_name or default_id)
