"""``TrajectoryStore.remove``: rewriting shards without some debates (``parley generate --retry-errors``)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from parley.store import TrajectoryStore
from parley.store.files import list_shards, shard_name
from parley.store.rewrite import _copy_shard
from tests.store.factory import CONFIG, CONFIG_HASH, make_transcript


def _fill(root: Path) -> TrajectoryStore:
    store = TrajectoryStore.open(root, run_id="r", config_hash=CONFIG_HASH, config=CONFIG)
    for shard in range(3):
        store.write([make_transcript("r", f"p{shard}-{i}", 0, n_turns=2 + i) for i in range(3)])
    return store


def _raw_keys(root: Path) -> list[tuple[str, int]]:
    keys: list[tuple[str, int]] = []
    for seq in list_shards(root).committed:
        table = pq.read_table(root / shard_name("debates", seq), columns=["problem_id", "sample_index"])
        keys += list(zip(table["problem_id"].to_pylist(), table["sample_index"].to_pylist(), strict=True))
    return keys


def test_remove_rewrites_only_the_shards_holding_the_keys_and_they_can_be_written_again(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with _fill(root) as store:
        untouched = (root / shard_name("debates", 3)).stat().st_mtime_ns
        removed = store.remove({("p0-1", 0), ("p1-0", 0), ("p1-1", 0), ("p1-2", 0), ("absent", 0)})
        assert removed == {("p0-1", 0), ("p1-0", 0), ("p1-1", 0), ("p1-2", 0)}
        assert list_shards(root).committed == [3, 4]  # shard 1 rewritten as 4; shard 2 emptied and gone
        assert (root / shard_name("debates", 3)).stat().st_mtime_ns == untouched
        assert not any(root.glob("turns-0000000[12].parquet"))
        assert ("p1-1", 0) not in store.completed_keys()
        store.write([make_transcript("r", "p1-1", 0, n_turns=5)])  # accepted again, once
    read = TrajectoryStore.read(root)
    by_key = {(t.problem_id, t.sample_index): t for t in read.iter_transcripts()}
    assert sorted(by_key) == sorted(_raw_keys(root))  # nothing repeated
    assert set(by_key) == {("p0-0", 0), ("p0-2", 0), ("p2-0", 0), ("p2-1", 0), ("p2-2", 0), ("p1-1", 0)}
    assert len(by_key["p0-2", 0].turns) == 4 and len(by_key["p1-1", 0].turns) == 5  # turns follow their debate
    assert read.count() == (6, sum(len(t.turns) for t in by_key.values()))


def test_a_crash_between_the_copy_and_the_uncommit_loses_nothing_and_the_next_remove_heals(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with _fill(root) as store:
        before = {(t.problem_id, t.sample_index): t.model_dump() for t in store.iter_transcripts()}
        # The state a kill leaves after shard 1 was copied (without p0-1) but before it was uncommitted.
        scan = store._scan()
        write = lambda table, path, _rows: pq.write_table(table, path)  # noqa: E731
        _copy_shard(root, 1, 4, [True, False, True], scan.shard_n_turns(1), write, (8, 8))
    reopened = TrajectoryStore.open(root, config_hash=CONFIG_HASH, config=CONFIG)
    assert {(t.problem_id, t.sample_index): t.model_dump() for t in reopened.iter_transcripts()} == before
    assert reopened.remove({("p0-1", 0)}) == {("p0-1", 0)}
    reopened.close()
    keys = _raw_keys(root)
    assert len(keys) == len(set(keys)) == 8 and ("p0-1", 0) not in keys
