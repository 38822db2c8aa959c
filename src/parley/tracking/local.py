"""Local metrics sink: ``metrics.jsonl`` (one JSON object per step) and ``params.json`` in a run dir.

Each ``log_metrics`` line is flushed and fsynced, so a crash loses at most the line being written
(a torn last line is dropped when the tracker reopens the file and ignored by :func:`read_metrics`).
Resume: ``LocalTracker(run_dir, resume_step=s)`` first drops every record with ``step > s`` (they
belong to work the resumed run will redo), so a resumed run never duplicates steps. Steps must
strictly increase across calls (also across reopenings); gather one step's metrics into one call.
Non-finite values are written as JSON ``NaN`` / ``Infinity`` (Python's ``json`` reads them back).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from parley.errors import UserError

METRICS_FILE = "metrics.jsonl"
PARAMS_FILE = "params.json"


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

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> LocalTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _line(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, allow_nan=True).encode() + b"\n"


__all__ = ["LocalTracker", "MetricsFileError", "read_metrics"]
