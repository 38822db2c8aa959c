"""Remove committed debates from a store by rewriting the shards that hold them.

Used to run debates again (``parley generate --retry-errors``): the store stays append-only in the sense
that no committed file is ever modified in place. Each affected shard is copied, without the removed
debates and their turns, into a new shard (turns file, then debates file: the usual commit), and only then
is the old shard uncommitted (its debates file first, so its turns file becomes an ordinary orphan that
:meth:`TrajectoryStore.repair` removes).

Crash safety: killed between the new commit and the old uncommit, the store holds both copies of the
kept debates (identical rows; readers keep the first and skip the repeat) and the removed debates are
still committed, so nothing is lost. A later removal heals it: shards whose rows are all repeats are
uncommitted, and rewritten shards drop their repeats too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Collection
from itertools import accumulate
from pathlib import Path

import pyarrow as pa

from parley.store.files import fsync_dir, shard_name
from parley.store.reading import KeyScan, open_parquet

logger = logging.getLogger(__name__)

ParquetWriter = Callable[[pa.Table, Path, int], None]


def remove_debates(
    root: Path,
    scan: KeyScan,
    keys: Collection[tuple[str, int]],
    next_seq: int,
    write: ParquetWriter,
    row_groups: tuple[int, int],
) -> tuple[set[tuple[str, int]], int]:
    """Remove the committed debates of ``keys`` (and repeated rows) from the shards of ``scan``.

    Args:
        root: the store directory (its write lock must be held by the caller).
        scan: the current key scan of the committed shards.
        keys: ``(problem_id, sample_index)`` pairs to remove; keys not committed are ignored.
        next_seq: the first free shard number.
        write: writes one Parquet table atomically (the store's own writer).
        row_groups: rows per row group for the turns and the debates files.

    Returns:
        The keys actually removed, and the next free shard number.
    """
    wanted = set(keys)
    removed: set[tuple[str, int]] = set()
    for seq in scan.seqs:
        table = scan.parts[seq]
        pairs = list(zip(table["problem_id"].to_pylist(), table["sample_index"].to_pylist(), strict=True))
        repeats = scan.drops.get(seq, set())
        drop = {row for row, key in enumerate(pairs) if key in wanted or row in repeats}
        if not drop:
            continue
        removed |= {pairs[row] for row in drop if row not in repeats}
        keep = [row not in drop for row in range(len(pairs))]
        if any(keep):
            _copy_shard(root, seq, next_seq, keep, scan.shard_n_turns(seq), write, row_groups)
            next_seq += 1
        _uncommit(root, seq)
        logger.info("trajectory store %s: shard %d rewritten without %d debate(s)", root, seq, len(drop))
    return removed, next_seq


def _copy_shard(
    root: Path,
    seq: int,
    new_seq: int,
    keep: list[bool],
    n_turns: list[int],
    write: ParquetWriter,
    row_groups: tuple[int, int],
) -> None:
    starts = [0, *accumulate(n_turns)]
    keep_turns = [keep[row] for row in range(len(keep)) for _ in range(starts[row], starts[row + 1])]
    debates = open_parquet(root / shard_name("debates", seq)).read()
    turns = open_parquet(root / shard_name("turns", seq)).read()
    write(turns.filter(pa.array(keep_turns, pa.bool_())), root / shard_name("turns", new_seq), row_groups[0])
    write(debates.filter(pa.array(keep, pa.bool_())), root / shard_name("debates", new_seq), row_groups[1])


def _uncommit(root: Path, seq: int) -> None:
    (root / shard_name("debates", seq)).unlink()
    fsync_dir(root)
    with contextlib.suppress(FileNotFoundError):
        (root / shard_name("turns", seq)).unlink()
    fsync_dir(root)


__all__ = ["remove_debates"]
