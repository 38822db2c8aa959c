"""Local problem files: JSONL, Parquet and YAML.

Each record needs ``question`` and usually ``answer``; ``id`` defaults to ``<file stem>-<index>``,
``domain`` to the loader default, and any other keys go to ``metadata``. A malformed JSONL line is an
error naming the file and line, or (``skip_bad_lines``) is skipped and reported.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from parley.data.errors import DatasetError
from parley.data.problem import Problem

logger = logging.getLogger(__name__)

_PROBLEM_KEYS = {"id", "question", "answer", "domain", "metadata"}


@dataclass
class SkippedLine:
    """A line that ``skip_bad_lines`` dropped, and why."""

    path: str
    line: int
    reason: str


@dataclass
class FileLoadReport:
    """What a file load skipped (empty unless ``skip_bad_lines`` was set and lines were bad)."""

    skipped: list[SkippedLine] = field(default_factory=list)


def iter_jsonl(path: Path, *, skip_bad_lines: bool = False, report: FileLoadReport | None = None
               ) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSONL file.

    Raises:
        DatasetError: ``<path>:<line>: <reason>`` for invalid JSON, non-UTF-8 bytes or a non-object
            line, unless ``skip_bad_lines`` (then the line is recorded in ``report`` and skipped).
    """
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
                if not isinstance(obj, dict):
                    raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
            except (UnicodeDecodeError, ValueError) as exc:
                reason = f"{path}:{number}: malformed JSONL line: {exc}"
                if not skip_bad_lines:
                    raise DatasetError(reason + " (use --skip-bad-lines to skip such lines)") from None
                logger.warning("skipping %s", reason)
                if report is not None:
                    report.skipped.append(SkippedLine(str(path), number, str(exc)))
                continue
            yield number, obj


def record_to_problem(record: dict[str, Any], *, default_id: str, default_domain: str, where: str) -> Problem:
    """Turn a loose record into a :class:`Problem` (extra keys become metadata)."""
    if "question" not in record:
        # Accept the common alternative column names of public datasets.
        for alt in ("problem", "prompt"):
            if alt in record:
                record = {**record, "question": record[alt]}
                break
        else:
            raise DatasetError(f"{where}: record has no 'question' field (keys: {sorted(record)})")
    metadata = dict(record.get("metadata") or {})
    metadata.update({k: v for k, v in record.items() if k not in _PROBLEM_KEYS | {"problem", "prompt"}})
    answer = record.get("answer")
    try:
        return Problem(
            id=str(record.get("id", default_id)),
            question=str(record["question"]),
            answer=None if answer is None else str(answer),
            domain=record.get("domain", default_domain),
            metadata=metadata,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field_path = ".".join(str(p) for p in first["loc"])
        raise DatasetError(f"{where}: field {field_path}: {first['msg']}") from None


def load_file(path: Path, *, default_domain: str = "math", skip_bad_lines: bool = False,
              report: FileLoadReport | None = None) -> list[Problem]:
    """Load problems from a ``.jsonl``, ``.parquet`` or ``.yaml``/``.yml`` file."""
    if not path.exists():
        raise DatasetError(f"dataset file not found: {path}")
    suffix = path.suffix.lower()
    problems: list[Problem] = []
    if suffix == ".jsonl":
        for number, obj in iter_jsonl(path, skip_bad_lines=skip_bad_lines, report=report):
            where = f"{path}:{number}"
            try:
                problems.append(record_to_problem(
                    obj, default_id=f"{path.stem}-{number}", default_domain=default_domain, where=where))
            except DatasetError as exc:
                if not skip_bad_lines:
                    raise
                if report is not None:
                    report.skipped.append(SkippedLine(str(path), number, str(exc)))
        return problems
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        for index, row in enumerate(table.to_pylist()):
            problems.append(record_to_problem(
                row, default_id=f"{path.stem}-{index}", default_domain=default_domain,
                where=f"{path} row {index}"))
        return problems
    if suffix in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise DatasetError(f"{path}: not valid YAML: {exc}") from None
        if isinstance(data, dict) and "problems" in data:
            data = data["problems"]
        if not isinstance(data, list):
            raise DatasetError(f"{path}: expected a list of problems (or a 'problems:' list)")
        for index, row in enumerate(data):
            if not isinstance(row, dict):
                raise DatasetError(f"{path}: item {index} is not a mapping")
            problems.append(record_to_problem(
                row, default_id=f"{path.stem}-{index}", default_domain=default_domain,
                where=f"{path} item {index}"))
        return problems
    raise DatasetError(f"{path}: unsupported file type {suffix!r}; use .jsonl, .parquet or .yaml")
