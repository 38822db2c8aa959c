"""Local metrics sink: ``metrics.jsonl`` (one JSON object per step) and ``params.json`` in a run dir.

Tables go to ``tables/<name>.jsonl`` (one ``{"step": s, "rows": [...]}`` line per call) and logged
artifacts are indexed in ``artifacts.json`` (name -> absolute path; the files stay where they are).

Each ``log_metrics`` line is flushed and fsynced, so a crash loses at most the line being written
(a torn last line is dropped when the tracker reopens the file and ignored by :func:`read_metrics`).
Resume: ``LocalTracker(run_dir, resume_step=s)`` first drops every record (and table line) with ``step > s`` (they
belong to work the resumed run will redo), so a resumed run never duplicates steps. Steps must
strictly increase across calls (also across reopenings); gather one step's metrics into one call.
Non-finite values are written as JSON ``NaN`` / ``Infinity`` (Python's ``json`` reads them back).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from parley.errors import UserError
from parley.tracking.base import table_columns

METRICS_FILE = "metrics.jsonl"
PARAMS_FILE = "params.json"
TABLES_DIR = "tables"
ARTIFACTS_FILE = "artifacts.json"


class MetricsFileError(UserError, ValueError):
    """``metrics.jsonl`` is corrupt (a bad line that is not a torn final line)."""


def _parse(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Records and the byte length of the intact prefix (a torn final line is excluded)."""
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    records: list[dict[str, Any]] = []
    good = 0
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        last = number == len(lines)
        if not raw.strip():
            good += len(raw) + (0 if last else 1)
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            if last:  # no trailing newline: a write cut short by a crash
                break
            raise MetricsFileError(f"{path}:{number}: not JSON ({exc})") from exc
        if last:  # parsed but unterminated: still a torn write
            break
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            raise MetricsFileError(f"{path}:{number}: record without an integer 'step'")
        records.append(record)
        good += len(raw) + 1
    return records, good


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every complete metrics record of ``run_dir`` in file order (``[]`` if none)."""
    return _parse(Path(run_dir) / METRICS_FILE)[0]


def read_table(run_dir: str | Path, name: str) -> list[dict[str, Any]]:
    """Every row logged to table ``name`` in ``run_dir``, in logging order (``[]`` if none)."""
    return [row for record in _parse(Path(run_dir) / TABLES_DIR / f"{name}.jsonl")[0] for row in record["rows"]]


def _truncate_steps(path: Path, resume_step: int | None) -> None:
    """Drop records with ``step > resume_step`` and a torn last line (no-op when nothing changes)."""
    records, good = _parse(path)
    kept = records if resume_step is None else [r for r in records if r["step"] <= resume_step]
    if len(kept) != len(records) or (path.exists() and good != path.stat().st_size):
        _atomic_write(path, b"".join(_line(r) for r in kept))


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class LocalTracker:
    """Writes ``run_dir/metrics.jsonl`` and ``run_dir/params.json``; see the module docstring."""

    def __init__(self, run_dir: str | Path, *, resume_step: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / METRICS_FILE
        records, good = _parse(self.path)
        if resume_step is not None:
            kept = [r for r in records if r["step"] <= resume_step]
            if len(kept) != len(records) or (self.path.exists() and good != self.path.stat().st_size):
                _atomic_write(self.path, b"".join(_line(r) for r in kept))
            records = kept
        elif self.path.exists() and good != self.path.stat().st_size:
            with open(self.path, "r+b") as f:
                f.truncate(good)
        self.last_step: int | None = max((r["step"] for r in records), default=None)
        tables = self.run_dir / TABLES_DIR
        if tables.is_dir():
            for table in sorted(tables.glob("*.jsonl")):
                _truncate_steps(table, resume_step)
        self._file = open(self.path, "ab")  # noqa: SIM115  (kept open across calls; closed in close())

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Write (replace) ``params.json``; values that JSON cannot hold are written with ``str``."""
        _atomic_write(self.run_dir / PARAMS_FILE,
                      json.dumps(dict(params), indent=2, sort_keys=True, default=str).encode() + b"\n")

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Append one record for ``step``. Raises ValueError if ``step`` does not exceed the last step."""
        if self._file.closed:
            raise ValueError(f"LocalTracker({self.run_dir}) is closed")
        if self.last_step is not None and step <= self.last_step:
            raise ValueError(
                f"step {step} <= last logged step {self.last_step} in {self.path}; steps must increase "
                f"(to resume, open the tracker with resume_step=<checkpoint step>)")
        record: dict[str, Any] = {"step": int(step)}
        for name, value in metrics.items():
            if name == "step":
                raise ValueError("metric name 'step' is reserved")
            record[name] = float(value)
        self._file.write(_line(record))
        self._file.flush()
        os.fsync(self._file.fileno())
        self.last_step = step

    def log_table(self, step: int, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append ``rows`` (logged at ``step``) to ``tables/<name>.jsonl``.

        Raises ValueError if ``step`` is below the last metrics step (W&B would drop such a table).
        """
        table_columns(name, rows)
        if self.last_step is not None and step < self.last_step:
            raise ValueError(f"table {name!r} at step {step} < last logged step {self.last_step}; log a step's "
                             "table right after (or before) its metrics")
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"table name {name!r}: use letters, digits, '_' and '-' (it names a file)")
        path = self.run_dir / TABLES_DIR / f"{name}.jsonl"
        path.parent.mkdir(exist_ok=True)
        with open(path, "ab") as f:
            f.write(json.dumps({"step": int(step), "rows": [dict(r) for r in rows]}, allow_nan=True,
                               default=str).encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())

    def log_artifact(self, path: str | Path, *, name: str | None = None) -> None:
        """Record ``path`` under ``name`` in ``artifacts.json`` (the file itself is not copied)."""
        target = Path(path).resolve()
        if not target.exists():
            raise FileNotFoundError(f"artifact {target} does not exist")
        index_path = self.run_dir / ARTIFACTS_FILE
        index = json.loads(index_path.read_text()) if index_path.exists() else {}
        index[name or target.name] = str(target)
        _atomic_write(index_path, json.dumps(index, indent=2, sort_keys=True).encode() + b"\n")

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> LocalTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _line(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, allow_nan=True).encode() + b"\n"


__all__ = ["LocalTracker", "MetricsFileError", "read_metrics", "read_table"]
