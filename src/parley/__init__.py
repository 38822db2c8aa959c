"""parley: train and evaluate language models that work in teams.

The public API. Every CLI command is one of these calls; each name loads its package on first use
(PEP 562), so ``import parley`` stays light (no torch, transformers or provider SDKs)::

    import parley

    cfg = parley.load_config("examples/generate_svj_tiny.yaml", ["dataset.limit=4"])
    result = parley.run_generation(cfg)                                  # parley generate
    scores = parley.evaluate(cfg, label="svj", out_dir="runs/eval")       # parley eval run
    rl = parley.load_config("examples/train_tiny_identity.yaml", model=parley.TrainRunConfig)
    run = parley.train(rl)                                               # parley train
    record = parley.run_experiment("experiment.yaml")                    # parley experiment run

Extension points (a registered unit is selectable from YAML by its name): :func:`protocol`
(debate protocols, with their roles), :func:`register_shaping_strategy` (with the inputs it needs),
:func:`register_verifier` (reward domains), :func:`register_loader` (dataset names),
:func:`register_backend` (model backends) and :func:`register_stage_kind` (experiment stages).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> (module, attribute). Grouped by the data flow; the docs list the same names.
_EXPORTS: dict[str, tuple[str, str]] = {
    # configuration
    "load_config": ("parley.config", "load_config"),
    "config_hash": ("parley.config", "config_hash"),
    "ConfigError": ("parley.config", "ConfigError"),
    "ParleyConfig": ("parley.config", "ParleyConfig"),
    "TrainRunConfig": ("parley.training.config", "TrainRunConfig"),
    # data
    "load_problems": ("parley.data", "load_problems"),
    "known_datasets": ("parley.data", "known_datasets"),
    "register_loader": ("parley.data.loaders", "register_loader"),
    "Problem": ("parley.data", "Problem"),
    # models
    "create_model": ("parley.llm", "create_model"),
    "register_backend": ("parley.llm", "register_backend"),
    "ChatModel": ("parley.llm", "ChatModel"),
    "SamplingParams": ("parley.llm", "SamplingParams"),
    # debates
    "run_protocol": ("parley.debate", "run_protocol"),
    "protocol": ("parley.debate", "protocol"),
    "protocol_roles": ("parley.debate", "protocol_roles"),
    "Agent": ("parley.debate", "Agent"),
    "AgentPool": ("parley.debate", "AgentPool"),
    "PromptSet": ("parley.debate", "PromptSet"),
    "Transcript": ("parley.debate", "Transcript"),
    "Turn": ("parley.debate", "Turn"),
    # storage
    "TrajectoryStore": ("parley.store", "TrajectoryStore"),
    # rewards
    "default_registry": ("parley.rewards", "default_registry"),
    "register_verifier": ("parley.rewards", "register_verifier"),
    "RewardRegistry": ("parley.rewards", "RewardRegistry"),
    "shape": ("parley.rewards.shaping", "shape"),
    "required_inputs": ("parley.rewards.shaping", "required_inputs"),
    "register_shaping_strategy": ("parley.rewards.shaping", "register"),
    # generation, evaluation, training, experiments
    "run_generation": ("parley.generation", "run_generation"),
    "build_agents": ("parley.generation", "build_agents"),
    "evaluate": ("parley.evaluation", "evaluate"),
    "compare": ("parley.evaluation", "compare"),
    "train": ("parley.training.trainer", "train"),
    "load_spec": ("parley.experiments", "load_spec"),
    "run_experiment": ("parley.experiments.launch", "run_experiment"),
    "register_stage_kind": ("parley.experiments", "register_stage_kind"),
}

__all__ = [  # the same names as _EXPORTS (a test checks), spelled out for linters
    "Agent",
    "AgentPool",
    "ChatModel",
    "ConfigError",
    "ParleyConfig",
    "Problem",
    "PromptSet",
    "RewardRegistry",
    "SamplingParams",
    "TrainRunConfig",
    "TrajectoryStore",
    "Transcript",
    "Turn",
    "__version__",
    "build_agents",
    "compare",
    "config_hash",
    "create_model",
    "default_registry",
    "evaluate",
    "known_datasets",
    "load_config",
    "load_problems",
    "load_spec",
    "protocol",
    "protocol_roles",
    "register_backend",
    "register_loader",
    "register_shaping_strategy",
    "register_stage_kind",
    "register_verifier",
    "required_inputs",
    "run_experiment",
    "run_generation",
    "run_protocol",
    "shape",
    "train",
]


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'parley' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # what type checkers and IDEs see; at run time every name loads on first use
    from parley.config import ConfigError, ParleyConfig, config_hash, load_config
    from parley.data import Problem, known_datasets, load_problems
    from parley.data.loaders import register_loader
    from parley.debate import Agent, AgentPool, PromptSet, Transcript, Turn, protocol, protocol_roles, run_protocol
    from parley.evaluation import compare, evaluate
    from parley.experiments import load_spec, register_stage_kind
    from parley.experiments.launch import run_experiment
    from parley.generation import build_agents, run_generation
    from parley.llm import ChatModel, SamplingParams, create_model, register_backend
    from parley.rewards import RewardRegistry, default_registry, register_verifier
    from parley.rewards.shaping import register as register_shaping_strategy
    from parley.rewards.shaping import required_inputs, shape
    from parley.store import TrajectoryStore
    from parley.training.config import TrainRunConfig
    from parley.training.trainer import train
