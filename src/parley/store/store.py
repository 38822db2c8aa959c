"""The trajectory store: append-only, sharded, crash-safe Parquet storage of transcripts.

One store directory holds one run (see :mod:`parley.store.files` for the layout). Each
:meth:`TrajectoryStore.write` call commits one shard pair: the turns file, then the debates file whose
appearance commits it. A process killed at any point leaves either a committed shard or debris that
readers ignore and the next writer removes, never a half-visible debate. One writer at a time holds an
``flock``; any number of readers stream committed shards without a lock.

Resume: :meth:`completed_keys` lists the ``(problem_id, sample_index)`` pairs already committed, and
:func:`~parley.store.ids.make_debate_id` gives a retried debate the id it had the first time.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import suppress
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from parley.debate.types import Transcript
from parley.store.errors import (
    ConfigHashMismatchError,
    InvalidTranscriptError,
    StoreCorruptError,
    StoreError,
)
from parley.store.files import (
    MANIFEST_NAME,
    WriteLock,
    atomic_write,
    fsync_dir,
    list_shards,
    shard_name,
)
from parley.store.ids import make_debate_id, validate_run_id
from parley.store.manifest import STORE_SCHEMA_VERSION, ConfigChange, RunManifest, load_manifest
from parley.store.reading import KeyScan, rows_of, scan_keys, shard_batches
from parley.store.rewrite import remove_debates
from parley.store.schema import (
    DEBATES_SCHEMA,
    TURNS_SCHEMA,
    build_transcript,
    transcripts_to_tables,
    turn_payloads,
)

logger = logging.getLogger(__name__)

# Rows per Parquet row group: readers hold about one row group per open shard in memory.
TURNS_ROW_GROUP = 4096
DEBATES_ROW_GROUP = 4096
_FILE_METADATA = {b"parley.store_schema_version": str(STORE_SCHEMA_VERSION).encode()}


class TrajectoryStore:
    """A run's transcripts on disk. Build with :meth:`open` (writer) or :meth:`read` (reader)."""

    def __init__(self, root: Path, manifest: RunManifest, lock: WriteLock | None) -> None:
        """Internal: use :meth:`open` or :meth:`read`."""
        self.root = root
        self.manifest = manifest
        self.run_id = manifest.run_id
        self.config_hash = manifest.config_hash
        self._lock = lock
        self._completed: set[tuple[str, int]] = set()
        self._next_seq = 1

    # ------------------------------------------------------------------ construction
    @classmethod
    def open(
        cls,
        root: Path,
        *,
        run_id: str | None = None,
        config_hash: str,
        config: dict[str, Any],
        allow_config_change: bool = False,
    ) -> TrajectoryStore:
        """Create the store at ``root`` or reopen it for appending; takes the write lock.

        A new store mints ``run_id`` (uuid4 hex) unless one is given and writes ``run.json``. Reopening
        keeps the stored run id (a different explicit ``run_id`` is an error) and refuses a different
        ``config_hash`` unless ``allow_config_change`` (the old config is then kept in
        ``previous_configs``). Opening also runs :meth:`repair`.
        """
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise StoreError(f"cannot create a trajectory store at {root}: it is a file")
        root.mkdir(parents=True, exist_ok=True)
        lock = WriteLock(root)
        lock.acquire()
        try:
            manifest = cls._open_manifest(root, run_id, config_hash, config, allow_config_change)
            store = cls(root, manifest, lock)
            store.repair()
            scan = store._scan()
            store._completed = scan.keys()
            store._next_seq = list_shards(root).max_seq + 1
        except BaseException:
            lock.release()
            raise
        logger.info(
            "opened trajectory store %s for writing (run %s, %d debates committed)",
            root,
            manifest.run_id,
            len(store._completed),
        )
        return store

    @staticmethod
    def _open_manifest(
        root: Path, run_id: str | None, config_hash: str, config: dict[str, Any], allow_change: bool
    ) -> RunManifest:
        if not (root / MANIFEST_NAME).exists():
            if list_shards(root).committed:
                raise StoreCorruptError(f"{root} holds committed shards but no {MANIFEST_NAME}")
            manifest = RunManifest(
                run_id=validate_run_id(run_id) if run_id is not None else uuid.uuid4().hex,
                config_hash=config_hash,
                created_at=time.time(),
                config=config,
            )
            _save_manifest(manifest, root)
            logger.info("created trajectory store %s (run %s)", root, manifest.run_id)
            return manifest
        manifest = load_manifest(root)
        if run_id is not None and run_id != manifest.run_id:
            raise StoreError(
                f"trajectory store {root} belongs to run {manifest.run_id!r}, not {run_id!r}; "
                "omit run_id to resume it, or use a new output directory for a new run"
            )
        if manifest.config_hash != config_hash:
            if not allow_change:
                raise ConfigHashMismatchError(
                    f"trajectory store {root} was written with config hash {manifest.config_hash}, "
                    f"but the current config hashes to {config_hash}; use a new output directory, "
                    "or pass allow_config_change=True to append records with the new config"
                )
            logger.warning(
                "trajectory store %s: config hash changes from %s to %s (allowed)",
                root,
                manifest.config_hash,
                config_hash,
            )
            previous = ConfigChange(config_hash=manifest.config_hash, config=manifest.config, replaced_at=time.time())
            manifest = manifest.model_copy(
                update={
                    "config_hash": config_hash,
                    "config": config,
                    "previous_configs": [*manifest.previous_configs, previous],
                }
            )
            _save_manifest(manifest, root)
        return manifest

    @classmethod
    def read(cls, root: Path) -> TrajectoryStore:
        """Open ``root`` read-only (no lock; shards committed later become visible to later calls)."""
        root = Path(root)
        return cls(root, load_manifest(root), lock=None)

    # ------------------------------------------------------------------ writing
    @property
    def writable(self) -> bool:
        return self._lock is not None and self._lock.held

    def _require_writable(self, action: str) -> None:
        if not self.writable:
            raise StoreError(
                f"cannot {action} trajectory store {self.root}: it is open read-only or closed "
                "(use TrajectoryStore.open to write)"
            )

    def repair(self) -> list[Path]:
        """Remove temporary files and orphan turns shards left by a crash; returns what was removed."""
        self._require_writable("repair")
        listing = list_shards(self.root)
        removed: list[Path] = []
        for path in [*listing.temp_files, *listing.orphan_turns]:
            with suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
        if removed:
            fsync_dir(self.root)
            logger.warning(
                "trajectory store %s: removed %d uncommitted file(s) left by an interrupted write: %s",
                self.root,
                len(removed),
                ", ".join(p.name for p in removed),
            )
        return removed

    def write(self, transcripts: Sequence[Transcript]) -> None:
        """Commit ``transcripts`` as one shard pair, atomically: after a crash all or none are stored.

        Every transcript must carry this store's ``run_id`` and ``config_hash``, the debate id given by
        :func:`make_debate_id`, and a ``(problem_id, sample_index)`` not already committed.
        """
        self._require_writable("write to")
        if not transcripts:
            return
        keys = self._validate(transcripts)
        turns, debates = transcripts_to_tables(transcripts)
        seq = self._next_seq
        self._next_seq += 1
        turns_path = self.root / shard_name("turns", seq)
        _write_parquet(turns, turns_path, TURNS_ROW_GROUP)
        try:
            _write_parquet(debates, self.root / shard_name("debates", seq), DEBATES_ROW_GROUP)
        except BaseException:
            with suppress(FileNotFoundError):
                turns_path.unlink()
            raise
        self._completed |= keys
        logger.debug(
            "trajectory store %s: committed shard %d (%d debates, %d turns)",
            self.root,
            seq,
            debates.num_rows,
            turns.num_rows,
        )

    def _validate(self, transcripts: Sequence[Transcript]) -> set[tuple[str, int]]:
        keys: set[tuple[str, int]] = set()
        for tr in transcripts:
            if not isinstance(tr, Transcript):
                raise InvalidTranscriptError(f"write() takes Transcript objects, got {type(tr).__name__}")
            where = f"transcript for problem {tr.problem_id!r} sample {tr.sample_index}"
            if tr.run_id != self.run_id:
                raise InvalidTranscriptError(f"{where} has run_id {tr.run_id!r}; this store is run {self.run_id!r}")
            if tr.config_hash != self.config_hash:
                raise InvalidTranscriptError(
                    f"{where} has config_hash {tr.config_hash}; this store is open with {self.config_hash}"
                )
            expected = make_debate_id(self.run_id, tr.problem_id, tr.sample_index)
            if tr.debate_id != expected:
                raise InvalidTranscriptError(
                    f"{where} has debate_id {tr.debate_id!r}, expected {expected!r}; "
                    "build debate ids with parley.store.make_debate_id"
                )
            key = (tr.problem_id, tr.sample_index)
            if key in self._completed or key in keys:
                twice = "" if key in self._completed else " (twice in this batch)"
                raise InvalidTranscriptError(
                    f"{where} is already committed{twice} to {self.root}; skip keys in completed_keys() when resuming"
                )
            keys.add(key)
        return keys

    def remove(self, keys: Collection[tuple[str, int]]) -> set[tuple[str, int]]:
        """Remove the committed debates of ``keys`` so they can be written again; returns those removed.

        Shards holding them are rewritten into new shards, never edited in place (see
        :mod:`parley.store.rewrite` for why a crash midway loses nothing).
        """
        self._require_writable("remove debates from")
        removed, self._next_seq = remove_debates(
            self.root, self._scan(), keys, self._next_seq, _write_parquet, (TURNS_ROW_GROUP, DEBATES_ROW_GROUP)
        )
        self._completed -= removed
        return removed

    def close(self) -> None:
        """Release the write lock (idempotent). Reads keep working after close."""
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> TrajectoryStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ reading
    def _scan(self) -> KeyScan:
        return scan_keys(self.root, list_shards(self.root).committed)

    def completed_keys(self) -> set[tuple[str, int]]:
        """``(problem_id, sample_index)`` of every committed debate (reads only the key columns)."""
        return self._scan().keys()

    def count(self) -> tuple[int, int]:
        """``(debates, turns)`` committed, duplicates excluded."""
        scan = self._scan()
        return scan.n_debates, scan.n_turns

    def iter_debate_batches(
        self, columns: Sequence[str] | None = None, batch_size: int = 8192
    ) -> Iterator[pa.RecordBatch]:
        """Stream the ``debates`` rows (one per transcript, no turns) as Arrow batches."""
        _check_columns(columns, DEBATES_SCHEMA, "debates")
        scan = self._scan()
        for seq in scan.seqs:
            yield from shard_batches(
                self.root / shard_name("debates", seq),
                columns=columns,
                batch_size=batch_size,
                drop_rows=scan.drops.get(seq),
            )

    def iter_turn_batches(
        self, columns: Sequence[str] | None = None, batch_size: int = 8192
    ) -> Iterator[pa.RecordBatch]:
        """Stream the ``turns`` rows (one per turn) as Arrow batches, projected to ``columns``."""
        _check_columns(columns, TURNS_SCHEMA, "turns")
        scan = self._scan()
        for seq in scan.seqs:
            yield from shard_batches(
                self.root / shard_name("turns", seq),
                columns=columns,
                batch_size=batch_size,
                drop_rows=scan.turn_drops(seq),
            )

    def iter_transcripts(self, problem_id: str | None = None, batch_size: int = 256) -> Iterator[Transcript]:
        """Stream committed transcripts in commit order (all, or those of ``problem_id``).

        Memory stays bounded by one row group per shard kind plus ``batch_size`` debates.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        scan = self._scan()
        for seq in scan.seqs:
            if problem_id is not None and not scan.has_problem(seq, problem_id):
                continue
            debates_path = self.root / shard_name("debates", seq)
            turns_path = self.root / shard_name("turns", seq)
            turn_rows = (
                pair
                for batch in shard_batches(
                    turns_path,
                    columns=None,
                    batch_size=batch_size * 4,
                    drop_rows=scan.turn_drops(seq),
                    problem_id=problem_id,
                )
                for pair in turn_payloads(batch)
            )
            debate_batches = shard_batches(
                debates_path,
                columns=None,
                batch_size=batch_size,
                drop_rows=scan.drops.get(seq),
                problem_id=problem_id,
            )
            for debate in rows_of(debate_batches):
                n_turns, debate_id = debate["n_turns"], debate["debate_id"]
                pairs = [pair for _, pair in zip(range(n_turns), turn_rows, strict=False)]
                if len(pairs) != n_turns or any(pair[0] != debate_id for pair in pairs):
                    raise StoreCorruptError(
                        f"{turns_path} does not hold the {n_turns} turns of debate "
                        f"{debate_id} recorded in {debates_path.name}"
                    )
                yield build_transcript(debate, [turn for _, turn in pairs], str(debates_path))
            if next(turn_rows, None) is not None:
                raise StoreCorruptError(f"{turns_path} holds turns of no debate in {debates_path.name}")


def _check_columns(columns: Sequence[str] | None, schema: pa.Schema, kind: str) -> None:
    if columns is None:
        return
    unknown = [c for c in columns if c not in schema.names]
    if unknown:
        raise ValueError(f"unknown {kind} column(s) {unknown}; known: {', '.join(schema.names)}")


def _write_parquet(table: pa.Table, path: Path, row_group_size: int) -> None:
    table = table.replace_schema_metadata(_FILE_METADATA)
    atomic_write(
        path,
        lambda tmp: pq.write_table(table, tmp, compression="zstd", row_group_size=row_group_size),
    )


def _save_manifest(manifest: RunManifest, root: Path) -> None:
    try:
        manifest.save(root)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"cannot write {root / MANIFEST_NAME}: the config is not JSON-serialisable: {exc}") from exc
