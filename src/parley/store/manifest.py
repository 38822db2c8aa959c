"""The run manifest ``run.json``: who wrote this store, with which config, in which format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from parley.redact import redact_data
from parley.store.errors import StoreCorruptError, StoreNotFoundError, StoreSchemaError
from parley.store.files import MANIFEST_NAME, atomic_write_json

# Version of the on-disk layout and Parquet schemas. Bump it when either changes incompatibly;
# readers refuse stores with a newer version rather than misreading them.
STORE_SCHEMA_VERSION = 1


class ConfigChange(BaseModel):
    """A config the run used before it was reopened with ``allow_config_change=True``."""

    model_config = ConfigDict(extra="forbid")

    config_hash: str
    config: dict[str, Any]
    replaced_at: float


class RunManifest(BaseModel):
    """Contents of ``run.json``."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    config_hash: str
    created_at: float
    schema_version: int = STORE_SCHEMA_VERSION
    config: dict[str, Any] = Field(default_factory=dict)
    previous_configs: list[ConfigChange] = Field(default_factory=list)

    def save(self, root: Path) -> None:
        """Write the manifest atomically to ``root/run.json``."""
        atomic_write_json(root / MANIFEST_NAME, redact_data(self.model_dump(mode="json")))


def load_manifest(root: Path) -> RunManifest:
    """Read and check ``root/run.json``; errors name the directory and what is wrong."""
    if not root.exists():
        raise StoreNotFoundError(f"trajectory store {root} does not exist")
    if not root.is_dir():
        raise StoreNotFoundError(f"{root} is a file, not a trajectory store directory")
    path = root / MANIFEST_NAME
    if not path.exists():
        raise StoreNotFoundError(f"{root} is not a parley trajectory store: it has no {MANIFEST_NAME}")
    try:
        manifest = RunManifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as exc:
        raise StoreCorruptError(f"{path} is not a valid run manifest: {exc}") from exc
    if manifest.schema_version > STORE_SCHEMA_VERSION:
        raise StoreSchemaError(
            f"{path} has schema_version {manifest.schema_version}, but this parley reads at most "
            f"{STORE_SCHEMA_VERSION}; upgrade parley to read it"
        )
    return manifest
