"""Crash safety (debris on disk, processes SIGKILLed mid-write) and the single-writer lock."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from parley.store import StoreLockedError, TrajectoryStore
from tests.store.factory import CONFIG, CONFIG_HASH, make_transcript

REPO = Path(__file__).resolve().parents[2]


def _open(root: Path) -> TrajectoryStore:
    return TrajectoryStore.open(root, run_id="r", config_hash=CONFIG_HASH, config=CONFIG)


def _check_intact(root: Path, batch: int) -> set[tuple[str, int]]:
    """Every committed debate rebuilds completely; commits are whole batches; no key twice."""
    reader = TrajectoryStore.read(root)
    transcripts = list(reader.iter_transcripts())
    keys = [(t.problem_id, t.sample_index) for t in transcripts]
    assert len(keys) == len(set(keys))
    assert len(keys) % batch == 0
    for t in transcripts:
        assert t == make_transcript("r", t.problem_id, t.sample_index, n_turns=len(t.turns))
        assert len(t.turns) == 4
    assert reader.count() == (len(keys), 4 * len(keys))
    return set(keys)


def _child(root: Path, body: str) -> subprocess.Popen[str]:
    code = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from pathlib import Path
        from parley.store import TrajectoryStore
        from tests.store.factory import CONFIG, CONFIG_HASH, make_transcript
        store = TrajectoryStore.open(Path({str(root)!r}), run_id="r", config_hash=CONFIG_HASH, config=CONFIG)
        """
    ) + textwrap.dedent(body)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)


def test_debris_is_ignored_then_repaired(tmp_path: Path) -> None:
    with _open(tmp_path) as store:
        store.write([make_transcript("r", "a", i) for i in range(3)])
        store.write([make_transcript("r", "b", i) for i in range(3)])
    # a crash mid-write: a half-written temp file, and a whole turns shard whose commit never came
    turns1 = (tmp_path / "turns-00000001.parquet").read_bytes()
    (tmp_path / f".turns-00000003.parquet.tmp-{os.getpid()}").write_bytes(turns1[: len(turns1) // 2])
    shutil.copy(tmp_path / "turns-00000002.parquet", tmp_path / "turns-00000003.parquet")
    (tmp_path / ".run.json.tmp-1").write_text("{")

    assert _check_intact(tmp_path, 3) == {(p, i) for p in "ab" for i in range(3)}
    with _open(tmp_path) as store:  # opening for writing repairs
        names = sorted(p.name for p in tmp_path.iterdir())
        assert not [n for n in names if ".tmp-" in n] and "turns-00000003.parquet" not in names
        store.write([make_transcript("r", "c", i) for i in range(3)])
        assert store.repair() == []
    assert len(_check_intact(tmp_path, 3)) == 9


@pytest.mark.parametrize("kill_before", ["turns", "debates"])
def test_sigkill_at_each_commit_step(tmp_path: Path, kill_before: str) -> None:
    """The child kills itself just before renaming its 2nd shard's turns (or debates) file."""
    child = _child(
        tmp_path,
        f"""
        import parley.store.files as files
        real_replace, seen = os.replace, []
        def replace(src, dst):
            if Path(dst).name.startswith({kill_before!r}):
                seen.append(dst)
                if len(seen) == 2:
                    os.kill(os.getpid(), signal.SIGKILL)
            real_replace(src, dst)
        files.os.replace = replace
        for k in range(3):
            store.write([make_transcript("r", "p", 5 * k + i) for i in range(5)])
        """,
    )
    child.communicate(timeout=120)
    assert child.returncode == -signal.SIGKILL
    debris = [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or p.name == "turns-00000002.parquet"]
    assert debris  # the kill really left an uncommitted file behind
    assert _check_intact(tmp_path, 5) == {("p", i) for i in range(5)}
    with _open(tmp_path) as store:
        assert store.completed_keys() == {("p", i) for i in range(5)}
        store.write([make_transcript("r", "p", i) for i in range(5, 10)])
    assert len(_check_intact(tmp_path, 5)) == 10


def test_sigkill_while_writing_in_a_loop(tmp_path: Path) -> None:
    """A writer killed at an arbitrary moment: the store is readable and holds only whole batches."""
    for attempt in range(2):
        child = _child(
            tmp_path,
            f"""
            done = store.completed_keys()
            k = 0
            while True:
                batch = [make_transcript("r", "loop{attempt}", 40 * k + i) for i in range(40)]
                store.write(batch)
                k += 1
                print(k, flush=True)
            """,
        )
        assert child.stdout is not None
        for _ in range(3 + attempt):  # let it commit a few shards, then kill it wherever it is
            assert child.stdout.readline()
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
        keys = _check_intact(tmp_path, 40)
        assert len([k for k in keys if k[0] == f"loop{attempt}"]) >= 40 * (3 + attempt)
    with _open(tmp_path) as store:
        assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
        assert store.count()[0] == len(keys)


def test_second_writer_fails_clearly_and_lock_dies_with_holder(tmp_path: Path) -> None:
    _open(tmp_path).close()
    child = _child(tmp_path, 'print("locked", flush=True)\nsys.stdin = None\nsignal.pause()\n')
    assert child.stdout is not None and child.stdout.readline().strip() == "locked"
    try:
        with pytest.raises(StoreLockedError) as info:
            _open(tmp_path)
        assert f"pid {child.pid}" in str(info.value) and str(tmp_path) in str(info.value)
        assert TrajectoryStore.read(tmp_path).count() == (0, 0)  # readers need no lock
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
    with _open(tmp_path) as store:  # the kernel released the dead holder's lock
        store.write([make_transcript("r", "p", 0)])
    with _open(tmp_path) as store:  # close() released ours
        assert store.count() == (1, 4)
