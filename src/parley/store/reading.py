"""Streaming reads of committed shards: key scans, defensive de-duplication, batch and row iterators.

Nothing here loads a whole store: shards are read one Parquet row group at a time through
``ParquetFile.iter_batches``, and the only store-wide structure is the key scan (three narrow columns
of the debates files, held as Arrow arrays).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from parley.store.errors import StoreCorruptError
from parley.store.files import shard_name

logger = logging.getLogger(__name__)

_READ_ERRORS = (pa.ArrowException, OSError)


def open_parquet(path: Path) -> pq.ParquetFile:
    """Open a committed shard, turning a read failure into :class:`StoreCorruptError`."""
    try:
        return pq.ParquetFile(path)
    except _READ_ERRORS as exc:
        raise StoreCorruptError(f"cannot read committed shard {path}: {exc}") from exc


_KEY_COLUMNS = ["problem_id", "sample_index", "n_turns"]


@dataclass
class KeyScan:
    """Keys of every committed debate, per shard in commit order, and the rows to skip as duplicates.

    ``parts`` maps a shard seq to its ``problem_id``, ``sample_index`` and ``n_turns`` columns.
    ``drops`` maps a shard seq to the debate row positions (within that shard) that repeat a key
    committed earlier; it is empty unless the store was tampered with.
    """

    parts: dict[int, pa.Table]
    drops: dict[int, set[int]] = field(default_factory=dict)

    @property
    def seqs(self) -> list[int]:
        return list(self.parts)

    @property
    def n_debates(self) -> int:
        total = sum(t.num_rows for t in self.parts.values())
        return total - sum(len(rows) for rows in self.drops.values())

    @property
    def n_turns(self) -> int:
        total = sum(int(pc.sum(t["n_turns"]).as_py() or 0) for t in self.parts.values())
        return total - sum(sum(self.shard_n_turns(s)[r] for r in rows) for s, rows in self.drops.items())

    def keys(self) -> set[tuple[str, int]]:
        out: set[tuple[str, int]] = set()
        for table in self.parts.values():
            out.update(zip(table["problem_id"].to_pylist(), table["sample_index"].to_pylist(), strict=True))
        return out

    def shard_n_turns(self, seq: int) -> list[int]:
        return [int(n) for n in self.parts[seq]["n_turns"].to_pylist()]

    def has_problem(self, seq: int, problem_id: str) -> bool:
        """Whether shard ``seq`` commits any debate of ``problem_id``."""
        return bool(pc.any(pc.equal(self.parts[seq]["problem_id"], problem_id)).as_py())

    def turn_drops(self, seq: int) -> set[int] | None:
        """Turn row positions of shard ``seq`` that belong to dropped debates (None: drop none)."""
        rows = self.drops.get(seq)
        if not rows:
            return None
        starts = [0, *accumulate(self.shard_n_turns(seq))]
        return {t for r in rows for t in range(starts[r], starts[r + 1])}


def scan_keys(root: Path, seqs: Sequence[int]) -> KeyScan:
    """Read only ``problem_id``, ``sample_index`` and ``n_turns`` of every committed debates shard.

    Uses ``ParquetFile.read`` and compute kernels only: ``pq.read_table``, ``Table.group_by`` and even
    ``pa.array`` from Python objects pull in pyarrow.dataset, Acero or pandas (tens of MB of RSS each)
    in a process that only reads.
    """
    parts: dict[int, pa.Table] = {}
    for seq in seqs:
        path = root / shard_name("debates", seq)
        try:
            parts[seq] = pq.ParquetFile(path).read(columns=_KEY_COLUMNS)
        except _READ_ERRORS as exc:
            raise StoreCorruptError(f"cannot read committed shard {path}: {exc}") from exc
    scan = KeyScan(parts=parts)
    if _has_duplicate_keys(list(parts.values())):
        scan.drops = _duplicate_rows(parts)
        logger.warning(
            "trajectory store %s holds %d duplicate (problem_id, sample_index) commits; "
            "keeping the first of each and skipping the rest",
            root,
            sum(len(rows) for rows in scan.drops.values()),
        )
    return scan


def _has_duplicate_keys(tables: list[pa.Table]) -> bool:
    # Sort and compare neighbours: lighter than a hash-based distinct count (about half the peak
    # memory on 250k keys), and it converts no Python scalar, so pandas is never imported.
    if sum(t.num_rows for t in tables) < 2:
        return False
    keys = pa.concat_tables([t.select(["problem_id", "sample_index"]) for t in tables])
    order = pc.sort_indices(keys, sort_keys=[("problem_id", "ascending"), ("sample_index", "ascending")])
    ordered = keys.take(order)
    n = ordered.num_rows
    same = [pc.equal(ordered[name].slice(1), ordered[name].slice(0, n - 1)) for name in keys.column_names]
    return bool(pc.any(pc.and_(*same)).as_py())


def _duplicate_rows(parts: dict[int, pa.Table]) -> dict[int, set[int]]:
    seen: set[tuple[str, int]] = set()
    drops: dict[int, set[int]] = defaultdict(set)
    for seq, table in parts.items():
        pairs = zip(table["problem_id"].to_pylist(), table["sample_index"].to_pylist(), strict=True)
        for row, key in enumerate(pairs):
            if key in seen:
                drops[seq].add(row)
            else:
                seen.add(key)
    return dict(drops)


def shard_batches(
    path: Path,
    *,
    columns: Sequence[str] | None,
    batch_size: int,
    drop_rows: set[int] | None = None,
    problem_id: str | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream a shard's batches, skipping ``drop_rows`` and rows of other problems when asked.

    ``problem_id`` filtering needs the ``problem_id`` column, so it is read even when not requested.
    """
    pf = open_parquet(path)
    read_cols = None if columns is None else list(columns)
    if read_cols is not None and problem_id is not None and "problem_id" not in read_cols:
        read_cols.append("problem_id")
    # use_threads=False: decoding columns in parallel raised peak RSS by ~40 MB for no gain on 2 cores.
    batches = pf.iter_batches(batch_size=batch_size, columns=read_cols, use_threads=False)
    offset = 0
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except _READ_ERRORS as exc:
            raise StoreCorruptError(f"cannot read committed shard {path}: {exc}") from exc
        n = batch.num_rows
        if drop_rows:
            batch = batch.filter(pa.array([offset + i not in drop_rows for i in range(n)]))
        offset += n
        if problem_id is not None:
            batch = batch.filter(pc.equal(batch.column("problem_id"), problem_id))
        if columns is not None and read_cols != list(columns):
            batch = batch.select(list(columns))
        if batch.num_rows:
            yield batch


def rows_of(batches: Iterator[pa.RecordBatch]) -> Iterator[dict[str, Any]]:
    """Python dict rows of ``batches``, one batch converted at a time."""
    for batch in batches:
        yield from batch.to_pylist()
