"""Experiment state in SQLite (``<root>/experiments.db``): experiments, labels, stages, attempts, artifacts.

Every process (runner, stage process, ``status``, ``cancel``) opens its own connection; the database
is in WAL mode with a busy timeout, so readers never block the runner. A stage is ``succeeded`` only
after its outputs passed their checks and their checksums are in ``artifacts``.

Stage statuses: ``pending``, ``running``, ``succeeded``, ``failed``, ``blocked`` (a dependency did not
succeed), ``cancelled``. Attempt statuses: ``running``, ``returned`` (the function returned; outputs
not yet checked), ``succeeded``, ``failed``, ``crashed`` (the process died without reporting),
``cancelled``, ``interrupted`` (its runner died). An attempt records the executor it ran on (its
:meth:`~parley.executors.Executor.describe` mapping) and the job id there, so ``cancel`` and ``resume``
can reach the job from any process. Experiment statuses: ``running``, ``succeeded``,
``failed``, ``cancelled``, ``interrupted``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley.experiments.outputs import Artifact

_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, spec_hash TEXT NOT NULL, spec_json TEXT NOT NULL,
  dir TEXT NOT NULL, status TEXT NOT NULL, error TEXT, command TEXT, created_at REAL NOT NULL,
  updated_at REAL NOT NULL, runner_pid INTEGER, cancel_requested INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS labels (
  experiment_id TEXT NOT NULL, label TEXT NOT NULL, PRIMARY KEY (experiment_id, label));
CREATE TABLE IF NOT EXISTS stages (
  experiment_id TEXT NOT NULL, stage_id TEXT NOT NULL, position INTEGER NOT NULL, base_id TEXT NOT NULL,
  arm_id TEXT, kind TEXT NOT NULL, needs TEXT NOT NULL, kind_module TEXT, kind_file TEXT, dir TEXT NOT NULL,
  status TEXT NOT NULL, error TEXT, attempts INTEGER NOT NULL DEFAULT 0,
  completions INTEGER NOT NULL DEFAULT 0, progress TEXT, progress_fraction REAL, updated_at REAL NOT NULL,
  PRIMARY KEY (experiment_id, stage_id));
CREATE TABLE IF NOT EXISTS attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT, experiment_id TEXT NOT NULL, stage_id TEXT NOT NULL,
  number INTEGER NOT NULL, status TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL, pid INTEGER,
  pid_created REAL, exit_code INTEGER, error TEXT, error_type TEXT, transient INTEGER, job_id TEXT,
  executor TEXT);
CREATE TABLE IF NOT EXISTS artifacts (
  experiment_id TEXT NOT NULL, stage_id TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL,
  size INTEGER NOT NULL, recorded_at REAL NOT NULL, PRIMARY KEY (experiment_id, stage_id, path));
"""

TERMINAL_STAGE = frozenset({"succeeded", "failed", "blocked", "cancelled"})


@dataclass(frozen=True)
class ExperimentRecord:
    """A row of ``experiments`` plus its labels."""

    id: str
    name: str
    spec_hash: str
    spec: dict[str, Any]
    dir: Path
    status: str
    error: str | None
    command: str | None
    created_at: float
    updated_at: float
    runner_pid: int | None
    cancel_requested: bool
    labels: tuple[str, ...]


@dataclass(frozen=True)
class StageRecord:
    """A row of ``stages``."""

    experiment_id: str
    stage_id: str
    position: int
    base_id: str
    arm_id: str | None
    kind: str
    needs: tuple[str, ...]
    kind_module: str | None
    kind_file: str | None
    dir: Path
    status: str
    error: str | None
    attempts: int
    completions: int
    progress: str | None
    progress_fraction: float | None
    updated_at: float


@dataclass(frozen=True)
class AttemptRecord:
    """A row of ``attempts``."""

    id: int
    experiment_id: str
    stage_id: str
    number: int
    status: str
    started_at: float
    ended_at: float | None
    pid: int | None
    pid_created: float | None
    exit_code: int | None
    error: str | None
    error_type: str | None
    transient: bool | None
    job_id: str | None = None
    executor: dict[str, Any] | None = None


class ExperimentStore:
    """Read and write experiment state in one SQLite file (created on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA busy_timeout = 60000")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.executescript(_SCHEMA)
        columns = {r[1] for r in self._conn.execute("PRAGMA table_info(attempts)")}
        for column in ("job_id", "executor"):  # added with parley.executors; older databases gain them here
            if column not in columns:
                try:
                    self._conn.execute(f"ALTER TABLE attempts ADD COLUMN {column} TEXT")
                except sqlite3.OperationalError as exc:  # another process added it first
                    if "duplicate column" not in str(exc):
                        raise

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on error."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def data_version(self) -> int:
        """SQLite's ``PRAGMA data_version``: changes whenever another connection commits."""
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    # experiments -------------------------------------------------------------------------------
    def create_experiment(self, exp_id: str, name: str, spec_hash: str, spec: dict[str, Any], exp_dir: Path,
                          labels: Iterable[str], command: str, stages: list[dict[str, Any]]) -> None:
        """Insert an experiment, its labels and its stages (all ``pending``)."""
        now = time.time()
        with self.transaction() as c:
            c.execute("INSERT INTO experiments (id, name, spec_hash, spec_json, dir, status, command, created_at,"
                      " updated_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                      (exp_id, name, spec_hash, json.dumps(spec), str(exp_dir), command, now, now))
            c.executemany("INSERT OR IGNORE INTO labels VALUES (?, ?)", [(exp_id, lab) for lab in labels])
            c.executemany(
                "INSERT INTO stages (experiment_id, stage_id, position, base_id, arm_id, kind, needs, kind_module,"
                " kind_file, dir, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                [(exp_id, s["stage_id"], i, s["base_id"], s["arm_id"], s["kind"], json.dumps(s["needs"]),
                  s["kind_module"], s["kind_file"], str(s["dir"]), now) for i, s in enumerate(stages)])

    def add_labels(self, exp_id: str, labels: Iterable[str]) -> None:
        """Attach more labels to an experiment."""
        with self.transaction() as c:
            c.executemany("INSERT OR IGNORE INTO labels VALUES (?, ?)", [(exp_id, lab) for lab in labels])

    def get_experiment(self, exp_id: str) -> ExperimentRecord | None:
        """The experiment with this id, or None."""
        row = self._conn.execute("SELECT * FROM experiments WHERE id = ?", (exp_id,)).fetchone()
        return self._experiment(row) if row else None

    def list_experiments(self, label: str | None = None) -> list[ExperimentRecord]:
        """All experiments (or those with ``label``), oldest first."""
        if label is None:
            rows = self._conn.execute("SELECT * FROM experiments ORDER BY created_at, id").fetchall()
        else:
            rows = self._conn.execute(
                "SELECT e.* FROM experiments e JOIN labels l ON l.experiment_id = e.id WHERE l.label = ?"
                " ORDER BY e.created_at, e.id", (label,)).fetchall()
        return [self._experiment(r) for r in rows]

    def set_experiment(self, exp_id: str, **fields: Any) -> None:
        """Update columns of an experiment (``status``, ``error``, ``runner_pid``, ``cancel_requested``)."""
        self._update("experiments", "id = ?", (exp_id,), fields)

    def _experiment(self, row: sqlite3.Row) -> ExperimentRecord:
        labels = tuple(r[0] for r in self._conn.execute(
            "SELECT label FROM labels WHERE experiment_id = ? ORDER BY label", (row["id"],)))
        return ExperimentRecord(row["id"], row["name"], row["spec_hash"], json.loads(row["spec_json"]),
                                Path(row["dir"]), row["status"], row["error"], row["command"], row["created_at"],
                                row["updated_at"], row["runner_pid"], bool(row["cancel_requested"]), labels)

    # stages --------------------------------------------------------------------------------------
    def stages(self, exp_id: str) -> list[StageRecord]:
        """The experiment's stages in plan (topological) order."""
        rows = self._conn.execute("SELECT * FROM stages WHERE experiment_id = ? ORDER BY position",
                                  (exp_id,)).fetchall()
        return [self._stage(r) for r in rows]

    def stage(self, exp_id: str, stage_id: str) -> StageRecord:
        """One stage (KeyError when unknown)."""
        row = self._conn.execute("SELECT * FROM stages WHERE experiment_id = ? AND stage_id = ?",
                                 (exp_id, stage_id)).fetchone()
        if row is None:
            raise KeyError(f"experiment {exp_id}: no stage {stage_id!r}")
        return self._stage(row)

    def set_stage(self, exp_id: str, stage_id: str, **fields: Any) -> None:
        """Update columns of a stage (``status``, ``error``, ``progress``...)."""
        self._update("stages", "experiment_id = ? AND stage_id = ?", (exp_id, stage_id), fields)

    def set_stage_if(self, exp_id: str, stage_id: str, allowed: Iterable[str], **fields: Any) -> bool:
        """Update a stage only while its status is one of ``allowed``; True when it was updated."""
        allowed = list(allowed)
        marks = ",".join("?" * len(allowed))
        return self._update("stages", f"experiment_id = ? AND stage_id = ? AND status IN ({marks})",
                            (exp_id, stage_id, *allowed), fields) > 0

    @staticmethod
    def _stage(row: sqlite3.Row) -> StageRecord:
        return StageRecord(row["experiment_id"], row["stage_id"], row["position"], row["base_id"], row["arm_id"],
                           row["kind"], tuple(json.loads(row["needs"])), row["kind_module"], row["kind_file"],
                           Path(row["dir"]), row["status"], row["error"], row["attempts"], row["completions"],
                           row["progress"], row["progress_fraction"], row["updated_at"])

    # attempts ------------------------------------------------------------------------------------
    def start_attempt(self, exp_id: str, stage_id: str, pid: int | None = None,
                      pid_created: float | None = None) -> int:
        """Record a new running attempt (and the stage as running); returns the attempt's row id."""
        now = time.time()
        with self.transaction() as c:
            number = 1 + c.execute("SELECT attempts FROM stages WHERE experiment_id = ? AND stage_id = ?",
                                   (exp_id, stage_id)).fetchone()[0]
            cur = c.execute("INSERT INTO attempts (experiment_id, stage_id, number, status, started_at, pid,"
                            " pid_created) VALUES (?, ?, ?, 'running', ?, ?, ?)",
                            (exp_id, stage_id, number, now, pid, pid_created))
            c.execute("UPDATE stages SET status = 'running', attempts = ?, error = NULL, progress = NULL,"
                      " progress_fraction = NULL, updated_at = ? WHERE experiment_id = ? AND stage_id = ?",
                      (number, now, exp_id, stage_id))
        return int(cur.lastrowid or 0)

    def finish_attempt(self, attempt_id: int, status: str, **fields: Any) -> None:
        """Close an attempt with ``status`` (and ``error``, ``error_type``, ``transient``, ``exit_code``)."""
        self._update("attempts", "id = ?", (attempt_id,), {"status": status, "ended_at": time.time(), **fields},
                     touch=False)

    def set_attempt(self, attempt_id: int, **fields: Any) -> None:
        """Update columns of an attempt (``pid``, ``pid_created``...)."""
        self._update("attempts", "id = ?", (attempt_id,), fields, touch=False)

    def report_attempt(self, attempt_id: int, status: str, **fields: Any) -> None:
        """Written by the stage process itself: ``returned``, or ``failed`` with its error."""
        self._update("attempts", "id = ?", (attempt_id,), {"status": status, **fields}, touch=False)

    def attempts(self, exp_id: str, stage_id: str | None = None) -> list[AttemptRecord]:
        """Attempts of an experiment (or one stage), in order."""
        sql, args = "SELECT * FROM attempts WHERE experiment_id = ?", [exp_id]
        if stage_id is not None:
            sql, args = sql + " AND stage_id = ?", [*args, stage_id]
        rows = self._conn.execute(sql + " ORDER BY id", args).fetchall()
        return [AttemptRecord(r["id"], r["experiment_id"], r["stage_id"], r["number"], r["status"],
                              r["started_at"], r["ended_at"], r["pid"], r["pid_created"], r["exit_code"],
                              r["error"], r["error_type"], None if r["transient"] is None else bool(r["transient"]),
                              r["job_id"], json.loads(r["executor"]) if r["executor"] else None)
                for r in rows]

    def attempt(self, attempt_id: int) -> AttemptRecord:
        """One attempt by row id."""
        row = self._conn.execute("SELECT * FROM attempts WHERE id = ?", (attempt_id,)).fetchone()
        if row is None:
            raise KeyError(f"no attempt {attempt_id}")
        exp_attempts = self.attempts(row["experiment_id"], row["stage_id"])
        return next(a for a in exp_attempts if a.id == attempt_id)

    # artifacts -----------------------------------------------------------------------------------
    def complete_stage(self, exp_id: str, stage_id: str, attempt_id: int, artifacts: list[Artifact]) -> None:
        """In one transaction: record the checksums, mark the attempt and the stage succeeded."""
        now = time.time()
        with self.transaction() as c:
            c.execute("DELETE FROM artifacts WHERE experiment_id = ? AND stage_id = ?", (exp_id, stage_id))
            c.executemany("INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?)",
                          [(exp_id, stage_id, a.path, a.sha256, a.size, now) for a in artifacts])
            c.execute("UPDATE attempts SET status = 'succeeded', ended_at = ? WHERE id = ?", (now, attempt_id))
            c.execute("UPDATE stages SET status = 'succeeded', error = NULL, completions = completions + 1,"
                      " progress_fraction = 1.0, updated_at = ? WHERE experiment_id = ? AND stage_id = ?",
                      (now, exp_id, stage_id))

    def artifacts(self, exp_id: str, stage_id: str | None = None) -> list[tuple[str, Artifact]]:
        """(stage id, artifact) pairs of an experiment (or one stage)."""
        sql, args = "SELECT * FROM artifacts WHERE experiment_id = ?", [exp_id]
        if stage_id is not None:
            sql, args = sql + " AND stage_id = ?", [*args, stage_id]
        rows = self._conn.execute(sql + " ORDER BY stage_id, path", args).fetchall()
        return [(r["stage_id"], Artifact(r["path"], r["sha256"], r["size"])) for r in rows]

    # helpers -------------------------------------------------------------------------------------
    def _update(self, table: str, where: str, args: tuple[Any, ...], fields: dict[str, Any],
                touch: bool = True) -> int:
        if touch:
            fields = {**fields, "updated_at": time.time()}
        cols = ", ".join(f"{k} = ?" for k in fields)
        cur = self._conn.execute(f"UPDATE {table} SET {cols} WHERE {where}", (*fields.values(), *args))
        return int(cur.rowcount)


def wait_for_change(store: ExperimentStore, timeout_s: float, *, min_sleep_s: float = 0.05,
                    max_sleep_s: float = 2.0) -> bool:
    """Block until another connection commits to the database, or ``timeout_s`` passes.

    Polls ``PRAGMA data_version`` (a cheap read of the WAL index, no query of the tables) with sleeps
    that start at ``min_sleep_s`` and double up to ``max_sleep_s`` while nothing changes, so a watcher
    reacts within ~50 ms to a busy experiment and costs almost nothing on an idle one. True on change.
    """
    start = store.data_version()
    deadline = time.monotonic() + timeout_s
    sleep = min_sleep_s
    while True:
        if store.data_version() != start:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(sleep, left))
        sleep = min(max_sleep_s, sleep * 2)
