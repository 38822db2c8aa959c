"""Errors raised by dataset loaders."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset could not be loaded; the message names the dataset, file and line where relevant."""
