"""Errors raised while loading or validating configuration."""

from __future__ import annotations

from parley.errors import UserError


class ConfigError(UserError, ValueError):
    """A configuration file or override is malformed; the message names the field path and the fix."""
