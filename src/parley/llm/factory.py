"""Build a :class:`ChatModel` from a :class:`ModelConfig` through the backend registry.

A backend is a factory ``(config, *, model_path) -> ChatModel`` registered by name with what it
declares about its models: ``token_ids`` (completions carry the exact sampled token ids and their
log-probs, which RL training needs) and ``local`` (it loads a checkpoint from disk, so ``model_path``
matters). The three built-ins import their heavy modules only when a model is built::

    from parley.llm import register_backend

    @register_backend("echo", token_ids=False)
    def echo_backend(config: ModelConfig, *, model_path: Path | None = None) -> ChatModel:
        return EchoModel(config.name)

``model.backend: echo`` is then valid in YAML (the registry, :data:`parley.config.registries.BACKENDS`,
is what config validation consults).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, cast

from parley.config.models import ModelConfig
from parley.config.registries import BACKENDS as _BACKENDS
from parley.llm.base import ChatModel
from parley.registry import Entry, Registry


class BackendFactory(Protocol):
    """Builds a model of one backend from its config (``model_path``: a resolved local checkpoint)."""

    def __call__(self, config: ModelConfig, *, model_path: Path | None = None) -> ChatModel: ...


BACKENDS = cast(Registry[BackendFactory], _BACKENDS)
"""The backend registry (names -> :class:`BackendFactory`, metadata ``token_ids`` and ``local``)."""


def register_backend(name: str, *, token_ids: bool = False, local: bool = False
                     ) -> Callable[[BackendFactory], BackendFactory]:
    """Register a backend factory under ``name`` (the value of ``model.backend``).

    Args:
        token_ids: its completions carry exact token ids and sampling log-probs (RL training needs it).
        local: it loads a local checkpoint (callers resolve ``model_path`` for it).
    """
    return BACKENDS.register(name, token_ids=token_ids, local=local)


def backend_entry(name: str) -> Entry[BackendFactory]:
    """The registered backend ``name`` with its declarations; unknown names list the known ones."""
    return BACKENDS.entry(name)


def create_model(config: ModelConfig, *, model_path: Path | None = None) -> ChatModel:
    """Instantiate the backend named by ``config.backend``.

    Args:
        config: the model section of a parley config.
        model_path: for local backends (``hf``), an already-resolved checkpoint directory (the CLI
            resolves the ``tiny`` alias to the embedded model's cache directory before calling this).
    """
    return BACKENDS.get(config.backend)(config, model_path=model_path)


@register_backend("hf", token_ids=True, local=True)
def _hf(config: ModelConfig, *, model_path: Path | None = None) -> ChatModel:
    from parley.llm.hf import HFChatModel

    return HFChatModel.from_config(config, model_path=model_path)


@register_backend("litellm")
def _litellm(config: ModelConfig, *, model_path: Path | None = None) -> ChatModel:
    from parley.llm.litellm_backend import LiteLLMChatModel

    return LiteLLMChatModel.from_config(config)


@register_backend("openai")
def _openai(config: ModelConfig, *, model_path: Path | None = None) -> ChatModel:
    from parley.llm.openai_backend import OpenAIChatModel

    return OpenAIChatModel.from_config(config)
