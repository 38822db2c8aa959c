"""Lazy, bounded-memory reads and defensive de-duplication."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parley.store import StoreCorruptError, TrajectoryStore
from tests.store.factory import CONFIG, CONFIG_HASH, make_transcript

N_SHARDS = 6
PER_SHARD = 500  # debates; 4 turns each -> 12,000 turn rows


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big")
    with TrajectoryStore.open(root, run_id="r", config_hash=CONFIG_HASH, config=CONFIG) as store:
        template = make_transcript("r", "p", 0)
        for shard in range(N_SHARDS):
            batch = []
            for i in range(PER_SHARD):
                s = shard * PER_SHARD + i
                t = make_transcript("r", f"p{s % 97}", s)
                batch.append(t.model_copy(update={"question": f"{s} {template.question}" * 50}))
            store.write(batch)
    return root


def test_turn_batches_are_bounded_and_projected(big_store: Path) -> None:
    store = TrajectoryStore.read(big_store)
    sizes = [b.num_rows for b in store.iter_turn_batches(columns=["turn_id", "role"], batch_size=300)]
    assert sum(sizes) == N_SHARDS * PER_SHARD * 4 and max(sizes) <= 300
    assert len(sizes) >= N_SHARDS * PER_SHARD * 4 // 300
    batch = next(store.iter_turn_batches(columns=["role", "turn_id"]))
    assert batch.schema.names == ["role", "turn_id"]
    debates = list(store.iter_debate_batches(columns=["problem_id"], batch_size=128))
    assert sum(b.num_rows for b in debates) == N_SHARDS * PER_SHARD and max(b.num_rows for b in debates) <= 128


def test_transcripts_stream_lazily_with_bounded_memory(big_store: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(big_store, root)
    store = TrajectoryStore.read(root)
    in_memory = sum(pq.read_table(p).nbytes for p in root.glob("*.parquet"))  # the whole store in Arrow
    baseline = pa.total_allocated_bytes()
    it = store.iter_transcripts(batch_size=64)
    first = next(it)
    assert (first.problem_id, first.sample_index) == ("p0", 0)
    # shards are opened only when reached: removing the last one now breaks the stream only at its turn
    (root / f"turns-{N_SHARDS:08d}.parquet").unlink()
    peak, n = 0, 1
    with pytest.raises(StoreCorruptError, match=f"turns-{N_SHARDS:08d}"):
        for _ in it:
            n += 1
            peak = max(peak, pa.total_allocated_bytes())
    assert n == (N_SHARDS - 1) * PER_SHARD
    assert peak - baseline < in_memory / 3, (peak, baseline, in_memory)


def test_float64_logprobs_are_stored_as_float32(tmp_path: Path) -> None:
    with TrajectoryStore.open(tmp_path, run_id="r", config_hash=CONFIG_HASH, config=CONFIG) as store:
        t = make_transcript("r", "p", 0)
        t.turns[0].logprobs = [-0.1]
        store.write([t])
    (back,) = store.iter_transcripts()
    assert back.turns[0].logprobs == [float(pa.scalar(-0.1, pa.float32()).as_py())]


def test_duplicates_are_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    with TrajectoryStore.open(a, run_id="r", config_hash=CONFIG_HASH, config=CONFIG) as store:
        store.write([make_transcript("r", "p", i, n_turns=i + 1) for i in range(3)])
    with TrajectoryStore.open(b, run_id="r", config_hash=CONFIG_HASH, config=CONFIG) as other:
        # keys 1 and 2 overlap with a's; key 3 is new. Turn counts differ to test row ranges.
        other.write([make_transcript("r", "p", 1, n_turns=6), make_transcript("r", "p", 3, n_turns=2)])
        other.write([make_transcript("r", "p", 2, n_turns=5), make_transcript("r", "p", 4, n_turns=1)])
    for seq in (1, 2):  # tamper: graft b's shards into a as shards 5 and 6
        for kind in ("turns", "debates"):
            shutil.copy(b / f"{kind}-{seq:08d}.parquet", a / f"{kind}-{seq + 4:08d}.parquet")
    reader = TrajectoryStore.read(a)
    with caplog.at_level(logging.WARNING, logger="parley.store"):
        got = [(t.sample_index, len(t.turns)) for t in reader.iter_transcripts(batch_size=1)]
    assert got == [(0, 1), (1, 2), (2, 3), (3, 2), (4, 1)]  # first commit of each key wins
    assert "duplicate" in caplog.text
    assert reader.count() == (5, 9)
    assert reader.completed_keys() == {("p", i) for i in range(5)}
    turn_ids = [i for batch in reader.iter_turn_batches(columns=["turn_id"]) for i in batch["turn_id"].to_pylist()]
    assert len(turn_ids) == 9 == len(set(turn_ids))
    assert sum(b.num_rows for b in reader.iter_debate_batches()) == 5
