"""Build the agents of a run from its config: one model per distinct model config, shared by roles.

Roles listed in ``models`` get their own model (and their own policy id); every other role uses
``model`` (policy id ``shared``). Identical model configs share one instance, so a single local
checkpoint serves every role through one micro-batcher.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from parley.config.errors import ConfigError
from parley.config.models import ModelConfig, ParleyConfig
from parley.debate.context import Agent, AgentPool
from parley.llm.base import ChatModel
from parley.llm.factory import create_model

ModelPathResolver = Callable[[ModelConfig], Path | None]


class ModelPathError(ConfigError, FileNotFoundError):
    """``model.name`` of an ``hf`` model does not resolve through the model catalog (the message says why)."""


def resolve_model_path(config: ModelConfig) -> Path | None:
    """For ``hf`` models: ``model.name`` through the model catalog (:func:`parley.llm.catalog.resolve_model`:
    ``tiny``, ``smollm2``, ``hf:ORG/NAME`` or a checkpoint directory); ``None`` for remote backends."""
    if config.backend != "hf":
        return None
    from parley.llm.catalog import ModelNotAvailableError, resolve_model

    try:
        return resolve_model(config.name)
    except ModelNotAvailableError as exc:
        raise ModelPathError(f"model.name: {exc}") from exc


def build_agents(cfg: ParleyConfig, resolver: ModelPathResolver = resolve_model_path) -> AgentPool:
    """An :class:`AgentPool` for ``cfg`` (models are created lazily per distinct config)."""
    cache: dict[str, ChatModel] = {}

    def model_for(mc: ModelConfig) -> ChatModel:
        key = json.dumps(mc.model_dump(mode="json"), sort_keys=True)
        if key not in cache:
            cache[key] = create_model(mc, model_path=resolver(mc))
        return cache[key]

    default_model = model_for(cfg.model)
    by_role = {role: Agent(model_for(mc), policy_id=role) for role, mc in cfg.models.items()}
    return AgentPool(Agent(default_model, policy_id="shared"), by_role)
