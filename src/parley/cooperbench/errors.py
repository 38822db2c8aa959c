"""Errors of the CooperBench tools that a user can fix (a wrong path, an unreadable records file)."""

from __future__ import annotations

from parley.errors import UserError, WorkFailedError


class CooperBenchInputError(UserError, ValueError):
    """A records file, logs directory or dataset task cannot be read; the message names the path."""


class NothingToAnalyseError(WorkFailedError):
    """The input was read but holds nothing usable, so no metric could be computed (exit 1)."""
