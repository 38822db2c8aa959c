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


@dataclass
class KeyScan:
    """Keys of every committed debate, in commit order, and the rows to skip as duplicates.

    ``drops`` maps a shard seq to the debate row positions (within that shard) that repeat a key
    committed earlier; it is empty unless the store was tampered with.
    """

    seqs: list[int]
    table: pa.Table  # columns: seq, row, problem_id, sample_index, n_turns
    drops: dict[int, set[int]] = field(default_factory=dict)

    @property
    def n_debates(self) -> int:
        return self.table.num_rows - sum(len(rows) for rows in self.drops.values())

    @property
    def n_turns(self) -> int:
        if self.table.num_rows == 0:
            return 0
        total = int(pc.sum(self.table["n_turns"]).as_py())
        return total - sum(sum(self.shard_n_turns(s)[r] for r in rows) for s, rows in self.drops.items())

    def keys(self) -> set[tuple[str, int]]:
        pids = self.table["problem_id"].to_pylist()
        samples = self.table["sample_index"].to_pylist()
        return set(zip(pids, samples, strict=True))

    def shard_n_turns(self, seq: int) -> list[int]:
        mask = pc.equal(self.table["seq"], seq)
        return [int(n) for n in self.table.filter(mask)["n_turns"].to_pylist()]

    def has_problem(self, seq: int, problem_id: str) -> bool:
        """Whether shard ``seq`` commits any debate of ``problem_id``."""
        mask = pc.and_(pc.equal(self.table["seq"], seq), pc.equal(self.table["problem_id"], problem_id))
        return bool(pc.any(mask).as_py())

    def turn_drops(self, seq: int) -> set[int] | None:
        """Turn row positions of shard ``seq`` that belong to dropped debates (None: drop none)."""
        rows = self.drops.get(seq)
        if not rows:
            return None
        counts = self.shard_n_turns(seq)
        starts = [0, *accumulate(counts)]
        return {t for r in rows for t in range(starts[r], starts[r + 1])}


_SCAN_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("row", pa.int64()),
        ("problem_id", pa.string()),
        ("sample_index", pa.int64()),
        ("n_turns", pa.int64()),
    ]
)


def scan_keys(root: Path, seqs: Sequence[int]) -> KeyScan:
    """Read only ``problem_id``, ``sample_index`` and ``n_turns`` of every committed debates shard."""
    parts: list[pa.Table] = []
    for seq in seqs:
        path = root / shard_name("debates", seq)
        try:
            part = pq.read_table(path, columns=["problem_id", "sample_index", "n_turns"])
        except _READ_ERRORS as exc:
            raise StoreCorruptError(f"cannot read committed shard {path}: {exc}") from exc
        n = part.num_rows
        parts.append(
            pa.table(
                {
                    "seq": pa.array([seq] * n, pa.int64()),
                    "row": pa.array(range(n), pa.int64()),
                    "problem_id": part["problem_id"].combine_chunks(),
                    "sample_index": part["sample_index"].combine_chunks(),
                    "n_turns": part["n_turns"].combine_chunks(),
                },
                schema=_SCAN_SCHEMA,
            )
        )
    table = pa.concat_tables(parts) if parts else _SCAN_SCHEMA.empty_table()
    scan = KeyScan(seqs=list(seqs), table=table)
    if table.num_rows:
        unique = table.group_by(["problem_id", "sample_index"]).aggregate([]).num_rows
        if unique != table.num_rows:
            scan.drops = _duplicate_rows(table)
            logger.warning(
                "trajectory store %s holds %d duplicate (problem_id, sample_index) commits; "
                "keeping the first of each and skipping the rest",
                root,
                table.num_rows - unique,
            )
    return scan


def _duplicate_rows(table: pa.Table) -> dict[int, set[int]]:
    seen: set[tuple[str, int]] = set()
    drops: dict[int, set[int]] = defaultdict(set)
    cols = [table[name].to_pylist() for name in ("seq", "row", "problem_id", "sample_index")]
    for seq, row, pid, sample in zip(*cols, strict=True):
        if (pid, sample) in seen:
            drops[seq].add(row)
        else:
            seen.add((pid, sample))
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
    batches = pf.iter_batches(batch_size=batch_size, columns=read_cols)
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
