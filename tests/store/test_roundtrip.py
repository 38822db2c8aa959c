"""Round trip, ids, resume keys, config-hash checks and write validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parley.store import (
    ConfigHashMismatchError,
    InvalidTranscriptError,
    StoreError,
    StoreNotFoundError,
    TrajectoryStore,
    make_debate_id,
    make_turn_id,
)
from tests.store.factory import CONFIG, CONFIG_HASH, make_transcript


def _open(root: Path, **kw: object) -> TrajectoryStore:
    return TrajectoryStore.open(root, config_hash=kw.pop("config_hash", CONFIG_HASH), config=CONFIG, **kw)  # type: ignore[arg-type]


def test_round_trip_is_exact(tmp_path: Path) -> None:
    with _open(tmp_path / "s", run_id="run-1") as store:
        written = [make_transcript("run-1", "p/α", 0), make_transcript("run-1", "p/α", 1)]
        written += [make_transcript("run-1", "q", 2, n_turns=0), make_transcript("run-1", "q", 3, n_turns=5)]
        store.write(written[:2])
        store.write(written[2:])
    back = list(TrajectoryStore.read(tmp_path / "s").iter_transcripts(batch_size=1))
    assert back == written
    assert back[0].turns[0].logprobs is not None and back[0].turns[0].logprobs[-1] == float("-inf")
    assert back[0].turns[1].token_ids == [] and back[0].turns[1].logprobs is None


def test_manifest_and_ids(tmp_path: Path) -> None:
    store = _open(tmp_path)
    store.close()
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert len(manifest["run_id"]) == 32 and manifest["config_hash"] == CONFIG_HASH
    assert manifest["config"] == CONFIG and manifest["schema_version"] == 1 and manifest["created_at"] > 0
    # ids are deterministic and separate keys that a naive join would confuse
    assert make_debate_id("r", "a", 1) == make_debate_id("r", "a", 1)
    ids = {make_debate_id(r, p, s) for r, p, s in [("r", "a", 11), ("r", "a1", 1), ("r2", "a", 11), ("r", "a:1", 1)]}
    assert len(ids) == 4
    assert make_turn_id("d", 3) == "d/3"


def test_every_turn_row_carries_ids_and_config_hash(tmp_path: Path) -> None:
    with _open(tmp_path, run_id="r") as store:
        store.write([make_transcript("r", "p", 0), make_transcript("r", "p", 1)])
        cols = ["run_id", "config_hash", "debate_id", "problem_id", "sample_index", "turn_id"]
        rows = [r for b in store.iter_turn_batches(columns=cols) for r in b.to_pylist()]
    assert len(rows) == 8 and len({r["turn_id"] for r in rows}) == 8
    for row in rows:
        assert row["run_id"] == "r" and row["config_hash"] == CONFIG_HASH
        assert row["debate_id"] == make_debate_id("r", row["problem_id"], row["sample_index"])
        assert row["turn_id"].startswith(row["debate_id"] + "/")


def test_resume_keys_and_no_duplicates(tmp_path: Path) -> None:
    keys = [(f"p{i}", s) for i in range(5) for s in range(2)]
    with _open(tmp_path, run_id="r") as store:
        store.write([make_transcript("r", p, s) for p, s in keys[:4]])
    # "crash" here, then resume: the runner skips completed keys and writes the rest
    with _open(tmp_path) as store:
        assert store.run_id == "r"
        done = store.completed_keys()
        assert done == set(keys[:4])
        store.write([make_transcript("r", p, s) for p, s in keys if (p, s) not in done])
        assert store.count() == (10, 40)
        with pytest.raises(InvalidTranscriptError, match="already committed"):
            store.write([make_transcript("r", "p0", 0)])
    reader = TrajectoryStore.read(tmp_path)
    got = [(t.problem_id, t.sample_index) for t in reader.iter_transcripts()]
    assert sorted(got) == sorted(keys) and len(got) == len(set(got))
    assert [t.sample_index for t in reader.iter_transcripts(problem_id="p3")] == [0, 1]
    assert list(reader.iter_transcripts(problem_id="nope")) == []


def test_config_hash_mismatch(tmp_path: Path) -> None:
    _open(tmp_path, run_id="r").close()
    with pytest.raises(ConfigHashMismatchError) as info:
        _open(tmp_path, config_hash="other")
    msg = str(info.value)
    assert CONFIG_HASH in msg and "other" in msg and "new output directory" in msg
    with _open(tmp_path, config_hash="other", allow_config_change=True) as store:
        assert store.config_hash == "other"
        store.write([make_transcript("r", "p", 0, config_hash="other")])
        with pytest.raises(InvalidTranscriptError, match="config_hash"):
            store.write([make_transcript("r", "p", 1)])
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["config_hash"] == "other"
    assert manifest["previous_configs"][0]["config_hash"] == CONFIG_HASH
    with pytest.raises(StoreError, match="belongs to run 'r'"):
        _open(tmp_path, run_id="someone-else", config_hash="other")


def test_write_validation(tmp_path: Path) -> None:
    with _open(tmp_path, run_id="r") as store:
        with pytest.raises(InvalidTranscriptError, match="run_id"):
            store.write([make_transcript("x", "p", 0)])
        bad = make_transcript("r", "p", 0).model_copy(update={"debate_id": "mine"})
        with pytest.raises(InvalidTranscriptError, match="make_debate_id"):
            store.write([bad])
        with pytest.raises(InvalidTranscriptError, match="twice in this batch"):
            store.write([make_transcript("r", "p", 0), make_transcript("r", "p", 0)])
        too_big = make_transcript("r", "p", 1)
        too_big.turns[0].token_ids = [2**40]
        with pytest.raises(InvalidTranscriptError, match="token_ids"):
            store.write([too_big])
        assert store.count() == (0, 0)
        store.write([])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "write.lock"]
    with pytest.raises(StoreError, match="read-only"):
        TrajectoryStore.read(tmp_path).write([make_transcript("r", "p", 0)])


def test_missing_or_foreign_dir(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError, match="does not exist"):
        TrajectoryStore.read(tmp_path / "nope")
    with pytest.raises(StoreNotFoundError, match=r"no run\.json"):
        TrajectoryStore.read(tmp_path)
    with pytest.raises(ValueError, match="unknown turns column"):
        next(_open(tmp_path / "s").iter_turn_batches(columns=["bogus"]))


def test_bad_open_arguments_fail_clearly_and_release_the_lock(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not JSON-serialisable"):
        TrajectoryStore.open(tmp_path / "a", config_hash="h", config={"x": object()})
    with pytest.raises(ValueError, match="invalid run_id"):
        TrajectoryStore.open(tmp_path / "b", run_id="../escape", config_hash="h", config={})
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="it is a file"):
        TrajectoryStore.open(tmp_path / "file", config_hash="h", config={})
    # the failed opens released their locks: opening again works
    TrajectoryStore.open(tmp_path / "b", run_id="ok", config_hash="h", config={}).close()
    TrajectoryStore.open(tmp_path / "b", config_hash="h", config={}).close()
