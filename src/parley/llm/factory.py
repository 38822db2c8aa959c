"""Build a :class:`ChatModel` from a :class:`ModelConfig` (backends are imported lazily)."""

from __future__ import annotations

from pathlib import Path

from parley.config.errors import ConfigError
from parley.config.models import ModelConfig
from parley.llm.base import ChatModel

KNOWN_BACKENDS = ("hf", "litellm", "openai")


def create_model(config: ModelConfig, *, model_path: Path | None = None) -> ChatModel:
    """Instantiate the backend named by ``config.backend``.

    Args:
        config: the model section of a parley config.
        model_path: for ``hf``, an already-resolved checkpoint directory (the CLI resolves the
            ``tiny`` alias to the embedded model's cache directory before calling this).
    """
    if config.backend == "hf":
        from parley.llm.hf import HFChatModel

        return HFChatModel.from_config(config, model_path=model_path)
    if config.backend == "litellm":
        from parley.llm.litellm_backend import LiteLLMChatModel

        return LiteLLMChatModel.from_config(config)
    if config.backend == "openai":
        from parley.llm.openai_backend import OpenAIChatModel

        return OpenAIChatModel.from_config(config)
    raise ConfigError(f"model.backend: unknown backend {config.backend!r}; known: {', '.join(KNOWN_BACKENDS)}")
