"""Configuration: pydantic models per component, YAML loading, ``--set`` overrides, config hash."""

from parley.config.errors import ConfigError
from parley.config.loading import apply_overrides, config_hash, load_config, parse_overrides
from parley.config.models import (
    DatasetConfig,
    GenerationConfig,
    LoggingConfig,
    ModelConfig,
    OutputConfig,
    ParleyConfig,
    ProtocolConfig,
    TrackingConfig,
)

__all__ = [
    "ConfigError",
    "DatasetConfig",
    "GenerationConfig",
    "LoggingConfig",
    "ModelConfig",
    "OutputConfig",
    "ParleyConfig",
    "ProtocolConfig",
    "TrackingConfig",
    "apply_overrides",
    "config_hash",
    "load_config",
    "parse_overrides",
]
