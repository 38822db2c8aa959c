"""Identifiers of debates and turns.

A debate id is a function of ``(run_id, problem_id, sample_index)`` only, so a debate retried after a
resume gets the id it would have had the first time, and two different keys never share an id (the
key is encoded unambiguously and hashed with SHA-256, keeping 128 bits). Turn ids are
``f"{debate_id}/{turn_index}"``.
"""

from __future__ import annotations

import hashlib
import json
import re

_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def validate_run_id(run_id: str) -> str:
    """Return ``run_id`` if it is a safe identifier (letters, digits, ``_.-``; at most 128 chars)."""
    if not isinstance(run_id, str) or not _RUN_ID_RE.match(run_id):
        raise ValueError(
            f"invalid run_id {run_id!r}: use 1-128 letters, digits, '_', '.' or '-' "
            "(starting with a letter or digit), or omit it to mint one"
        )
    return run_id


def make_debate_id(run_id: str, problem_id: str, sample_index: int) -> str:
    """Deterministic id of the debate on sample ``sample_index`` of ``problem_id`` in run ``run_id``."""
    if sample_index < 0:
        raise ValueError(f"sample_index must be >= 0, got {sample_index}")
    key = json.dumps([run_id, problem_id, int(sample_index)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def make_turn_id(debate_id: str, turn_index: int) -> str:
    """Id of turn ``turn_index`` of debate ``debate_id``."""
    return f"{debate_id}/{turn_index}"
