"""Errors raised while loading or validating configuration."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration file or override is malformed; the message names the field path and the fix."""
