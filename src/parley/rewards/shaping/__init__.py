"""Reward shaping strategies, registered by name (docs/algorithms.md section 6).

``shape(config, batch)`` maps a :class:`ShapingBatch` (transcripts, their :class:`DebateSignals` and
any counterfactual inputs) to per-turn rewards plus diagnostics. ``ShapingConfig`` is the pydantic
union of every built-in strategy config, discriminated by ``name``, for embedding in a trainer config;
:func:`parse_shaping_config` validates a mapping against the registry (unknown names list the known).
"""

from typing import Annotated

from pydantic import Field

from parley.rewards.shaping.base import (
    STRATEGIES,
    MissingShapingInputError,
    PotentialFn,
    ShapingBatch,
    ShapingError,
    ShapingResult,
    ShapingStrategyConfig,
    UnknownShapingStrategyError,
    known_strategies,
    parse_shaping_config,
    register,
    shape,
)
from parley.rewards.shaping.margin import MarginConfig, QualityConfig
from parley.rewards.shaping.potential import PotentialConfig
from parley.rewards.shaping.strategies import ComaConfig, DifferenceConfig, IdentityConfig, MixingConfig

ShapingConfig = Annotated[
    IdentityConfig | MixingConfig | DifferenceConfig | ComaConfig | PotentialConfig | MarginConfig | QualityConfig,
    Field(discriminator="name"),
]

__all__ = [
    "STRATEGIES",
    "ComaConfig",
    "DifferenceConfig",
    "IdentityConfig",
    "MarginConfig",
    "MissingShapingInputError",
    "MixingConfig",
    "PotentialConfig",
    "PotentialFn",
    "QualityConfig",
    "ShapingBatch",
    "ShapingConfig",
    "ShapingError",
    "ShapingResult",
    "ShapingStrategyConfig",
    "UnknownShapingStrategyError",
    "known_strategies",
    "parse_shaping_config",
    "register",
    "shape",
]
