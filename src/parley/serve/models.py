"""Which checkpoint ``parley serve NAME`` loads, and the model id clients pass to reach it.

One function, :func:`resolve_served_model`, so a model-name catalog can replace it in one place:

- ``tiny``: the embedded warm-started tiny model (:func:`parley.tiny.ensure_tiny_sft_model`, built
  and cached on first use, exactly what ``parley train`` and ``parley generate`` use for ``tiny``),
  served as ``tiny`` so configs that name ``tiny`` (``examples/generate_openai.yaml``) reach it;
- a checkpoint directory (written by ``save_pretrained``): served under the directory's name.

``model_name`` (``--model-name``) overrides the served id in both cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TINY = "tiny"


@dataclass(frozen=True)
class ServedModel:
    """A checkpoint directory and the id it is served under."""

    path: Path
    served_id: str


def resolve_served_model(name: str, model_name: str | None = None) -> ServedModel:
    """Resolve ``name`` (``tiny`` or a checkpoint directory) without loading any weights.

    Raises:
        FileNotFoundError: ``name`` is neither ``tiny`` nor a directory holding ``config.json``.
        ValueError: ``model_name`` is empty.
    """
    if model_name is not None and not model_name.strip():
        raise ValueError("--model-name: the served model id must not be empty")
    if name == TINY:
        from parley.tiny.sft import ensure_tiny_sft_model

        return ServedModel(ensure_tiny_sft_model(), model_name or TINY)
    path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        what = "does not exist" if not path.exists() else "has no config.json"
        raise FileNotFoundError(
            f"model {name!r}: {path} {what}; pass a checkpoint directory written by save_pretrained "
            f"(with config.json) or '{TINY}' for the embedded model"
        )
    return ServedModel(path, model_name or path.resolve().name)
