"""Errors raised by dataset loaders."""

from __future__ import annotations

from parley.errors import UserError


class DatasetError(UserError, ValueError):
    """A dataset could not be loaded; the message names the dataset, file and line where relevant."""
