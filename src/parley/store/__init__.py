"""Trajectory store: append-only, crash-safe, sharded Parquet storage of debate transcripts.

Public API: :class:`TrajectoryStore` (``open`` to write/resume, ``read`` to stream),
:func:`make_debate_id` / :func:`make_turn_id`, the run manifest and the store's exceptions.
"""

from parley.store.errors import (
    ConfigHashMismatchError,
    InvalidTranscriptError,
    StoreCorruptError,
    StoreError,
    StoreLockedError,
    StoreNotFoundError,
    StoreSchemaError,
)
from parley.store.ids import make_debate_id, make_turn_id
from parley.store.manifest import STORE_SCHEMA_VERSION, RunManifest
from parley.store.schema import DEBATES_SCHEMA, TURNS_SCHEMA
from parley.store.store import TrajectoryStore

__all__ = [
    "DEBATES_SCHEMA",
    "STORE_SCHEMA_VERSION",
    "TURNS_SCHEMA",
    "ConfigHashMismatchError",
    "InvalidTranscriptError",
    "RunManifest",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "StoreNotFoundError",
    "StoreSchemaError",
    "TrajectoryStore",
    "make_debate_id",
    "make_turn_id",
]
