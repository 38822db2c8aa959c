"""Check a stage's declared outputs and checksum them.

A file's checksum is the sha256 of its bytes; a directory's is the sha256 over its files' relative
paths and their own sha256, in sorted order (so it changes when any file is added, removed or edited).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from parley.experiments.errors import OutputCheckError
from parley.experiments.spec import OutputSpec

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Artifact:
    """A checked output: its path relative to the stage directory, checksum and size in bytes."""

    path: str
    sha256: str
    size: int


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checksum(path: Path) -> tuple[str, int]:
    """(sha256, size) of a file, or of a directory tree as described in the module docstring."""
    if path.is_file():
        return file_sha256(path), path.stat().st_size
    digest = hashlib.sha256()
    size = 0
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix()
        digest.update(f"{rel}\0{file_sha256(f)}\n".encode())
        size += f.stat().st_size
    return digest.hexdigest(), size


def check_output(stage_dir: Path, spec: OutputSpec) -> Artifact:
    """Check one declared output and checksum it.

    Raises:
        OutputCheckError: missing, of the wrong type, empty, or not valid JSON / JSON lines.
    """
    path = stage_dir / spec.path
    if not path.exists():
        raise OutputCheckError(f"output {spec.path}: missing (expected at {path})")
    if spec.type == "dir" and not path.is_dir():
        raise OutputCheckError(f"output {spec.path}: expected a directory, found a file")
    if spec.type == "file" and not path.is_file():
        raise OutputCheckError(f"output {spec.path}: expected a file, found a directory")
    sha, size = checksum(path)
    if spec.non_empty and size == 0:
        raise OutputCheckError(f"output {spec.path}: empty")
    if spec.format == "json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise OutputCheckError(f"output {spec.path}: not valid JSON ({exc})") from None
        missing = [k for k in spec.required_keys if not isinstance(data, dict) or k not in data]
        if missing:
            raise OutputCheckError(f"output {spec.path}: missing keys {missing}")
    elif spec.format == "jsonl":
        records = 0
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    json.loads(line)
                except json.JSONDecodeError as exc:
                    raise OutputCheckError(f"output {spec.path}: line {lineno} is not JSON ({exc})") from None
                records += 1
        if records < spec.min_records:
            raise OutputCheckError(f"output {spec.path}: {records} records, expected at least {spec.min_records}")
    return Artifact(spec.path, sha, size)


def check_outputs(stage_dir: Path, outputs: tuple[OutputSpec, ...] | list[OutputSpec]) -> list[Artifact]:
    """Check every declared output; the first failure raises :class:`OutputCheckError`."""
    return [check_output(stage_dir, o) for o in outputs]
