"""Exceptions raised by the trajectory store. Every message names the store directory or file."""

from __future__ import annotations

from parley.errors import UserError


class StoreError(UserError):
    """Base class of every trajectory-store error."""


class StoreNotFoundError(StoreError):
    """The directory does not exist or holds no ``run.json`` (it is not a trajectory store)."""


class StoreLockedError(StoreError):
    """Another live process holds the store's write lock."""


class ConfigHashMismatchError(StoreError):
    """A store was reopened for writing with a config whose hash differs from its ``run.json``."""


class StoreCorruptError(StoreError):
    """A committed file is unreadable or inconsistent (never raised for orphans left by a crash)."""


class StoreSchemaError(StoreError):
    """The store was written with a schema version this code does not read."""


class InvalidTranscriptError(StoreError, ValueError):
    """A transcript handed to :meth:`TrajectoryStore.write` does not belong in this store."""
