"""Reward shaping strategies, registered by name (docs/algorithms.md section 6).

``shape(config, batch)`` maps a :class:`ShapingBatch` (transcripts, their :class:`DebateSignals` and
any counterfactual inputs) to per-turn rewards plus diagnostics. :func:`required_inputs` says which
extra inputs a strategy's config needs. ``ShapingConfig`` is the pydantic field type for embedding a
strategy's config in a trainer config: it validates a mapping against the registry
(:func:`parse_shaping_config`: unknown names list the known, a strategy registered by a user is
selectable from YAML) and serialises every field of the selected strategy's config.
"""

from typing import Annotated

from pydantic import BeforeValidator, SerializeAsAny

from parley.rewards.shaping.base import (
    INPUTS,
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
    required_inputs,
    shape,
    validate_shaping_field,
)
from parley.rewards.shaping.margin import MarginConfig, QualityConfig
from parley.rewards.shaping.potential import PotentialConfig
from parley.rewards.shaping.strategies import ComaConfig, DifferenceConfig, IdentityConfig, MixingConfig

ShapingConfig = Annotated[SerializeAsAny[ShapingStrategyConfig], BeforeValidator(validate_shaping_field)]

__all__ = [
    "INPUTS",
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
    "required_inputs",
    "shape",
    "validate_shaping_field",
]
