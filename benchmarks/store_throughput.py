"""Trajectory store throughput: write then stream-read N turn records; peak RSS of the reader.

Writes ``--records`` turns (``--turns`` per debate, realistic small texts, ~30 token ids and log-probs
per turn) in shards of ``--debates-per-shard`` debates, timing only :meth:`TrajectoryStore.write`.
Then two child processes that only read stream the store back, (a) as Arrow turn batches with every
column and (b) as rebuilt :class:`Transcript` objects, and report records/s and their peak RSS
(the child's VmHWM, cross-checked by a psutil sampling thread). Target: peak RSS <= 300 MB.

    python benchmarks/store_throughput.py                # 1,000,000 turns (250k debates x 4)
    python benchmarks/store_throughput.py --records 100000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from parley.debate.types import ParsedTurn, Transcript, Turn
from parley.store import TrajectoryStore, make_debate_id

RSS_TARGET_MB = 300.0
CONFIG_HASH = "bench0123456789ab"
_WORDS = [
    "the",
    "answer",
    "is",
    "so",
    "we",
    "add",
    "then",
    "subtract",
    "both",
    "sides",
    "check",
    "verify",
    "step",
    "carefully",
    "result",
]


class _Pool:
    """Pre-drawn texts, token ids and log-probs, so generating a million turns stays cheap."""

    def __init__(self, rng: random.Random, size: int = 4096) -> None:
        self.sentences = [" ".join(rng.choice(_WORDS) for _ in range(30)) + f" {i}." for i in range(size)]
        self.token_ids = [[rng.randrange(50_000) for _ in range(rng.randint(24, 36))] for _ in range(size)]
        self.logprobs = [[float(np.float32(-rng.random() * 3)) for _ in ids] for ids in self.token_ids]
        self.size = size


def _transcript(run_id: str, idx: int, turns: int, pool: _Pool) -> Transcript:
    problem_id = f"gsm8k-{idx // 4}"
    sample = idx % 4
    question = f"Problem {idx}: {pool.sentences[idx % pool.size]}"
    turn_list = []
    for t in range(turns):
        role = ("solver", "verifier")[t % 2]
        k = (idx * 7 + t * 13) % pool.size
        turn_list.append(
            Turn(
                index=t,
                role=role,
                agent_id=role,
                policy_id="shared",
                round=t // 2,
                context=[
                    {"role": "system", "content": f"You are the {role}. Think step by step."},
                    {"role": "user", "content": question},
                ],
                text=f"{pool.sentences[k]} ({idx}/{t})",
                token_ids=pool.token_ids[k],
                logprobs=pool.logprobs[k],
                parsed=ParsedTurn(answer=str(k % 100)) if role == "solver" else ParsedTurn(verdict="fail"),
                prompt_tokens=60 + 40 * t,
                completion_tokens=len(pool.token_ids[k]),
                started_at=1.7e9 + idx,
                duration_s=0.2,
            )
        )
    return Transcript(
        run_id=run_id,
        debate_id=make_debate_id(run_id, problem_id, sample),
        problem_id=problem_id,
        sample_index=sample,
        config_hash=CONFIG_HASH,
        protocol="svj",
        question=question,
        gold_answer=str(idx % 100),
        turns=turn_list,
        final_answer=str(idx % 97),
        termination_reason="max_rounds",
        rounds_used=turns // 2,
        correct=idx % 3 == 0,
        reward=float(idx % 3 == 0),
        metadata={"seed": idx},
    )


def write_store(root: Path, records: int, turns: int, per_shard: int) -> tuple[int, float]:
    """Write ``records`` turns; return (turns written, seconds spent inside write())."""
    pool = _Pool(random.Random(0))
    debates = records // turns
    spent = 0.0
    with TrajectoryStore.open(root, run_id="bench", config_hash=CONFIG_HASH, config={"bench": True}) as store:
        for start in range(0, debates, per_shard):
            batch = [_transcript("bench", i, turns, pool) for i in range(start, min(start + per_shard, debates))]
            t0 = time.perf_counter()
            store.write(batch)
            spent += time.perf_counter() - t0
        n_debates, n_turns = store.count()
    assert n_debates == debates, (n_debates, debates)
    return n_turns, spent


def _vm_hwm_mb() -> float:
    """Peak RSS of this process image. Not ru_maxrss: Linux carries that across fork+exec, so a child
    would report its parent's peak; VmHWM belongs to the post-exec address space only."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux: best effort


def read_child(root: Path, mode: str) -> None:
    """Child process: stream the store and print JSON {records, seconds, rss_mb, sampled_mb}."""
    proc = psutil.Process()
    peak = [proc.memory_info().rss]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], proc.memory_info().rss)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    store = TrajectoryStore.read(root)
    t0 = time.perf_counter()
    records = 0
    if mode == "turns":
        for batch in store.iter_turn_batches():
            records += batch.num_rows
    else:
        for transcript in store.iter_transcripts():
            records += len(transcript.turns)
    seconds = time.perf_counter() - t0
    stop.set()
    thread.join()
    maxrss_mb = _vm_hwm_mb()
    print(json.dumps({"records": records, "seconds": seconds, "rss_mb": maxrss_mb, "sampled_mb": peak[0] / 2**20}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000, help="turn records to write")
    parser.add_argument("--turns", type=int, default=4, help="turns per debate")
    parser.add_argument("--debates-per-shard", type=int, default=2000, help="debates per write() call")
    parser.add_argument("--dir", type=Path, default=None, help="store directory (default: a temp dir)")
    parser.add_argument("--read-child", choices=["turns", "transcripts"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_child:
        read_child(args.dir, args.read_child)
        return

    tmp = Path(tempfile.mkdtemp(prefix="parley-store-bench-"))
    root = args.dir or tmp / "store"
    try:
        n_turns, write_s = write_store(root, args.records, args.turns, args.debates_per_shard)
        size_mb = sum(p.stat().st_size for p in root.glob("*.parquet")) / 2**20
        shards = len(list(root.glob("debates-*.parquet")))
        print(f"store: {n_turns:,} turn records, {n_turns // args.turns:,} debates, {shards} shards, {size_mb:.1f} MB")
        print(f"write: {n_turns / write_s:,.0f} turn records/s ({write_s:.1f} s inside write())")
        for mode in ("turns", "transcripts"):
            out = subprocess.run(
                [sys.executable, __file__, "--dir", str(root), "--read-child", mode],
                check=True,
                capture_output=True,
                text=True,
            )
            res = json.loads(out.stdout.strip().splitlines()[-1])
            assert res["records"] == n_turns, (res, n_turns)
            peak = max(res["rss_mb"], res["sampled_mb"])
            verdict = "OK" if peak <= RSS_TARGET_MB else "OVER TARGET"
            label = "Arrow turn batches" if mode == "turns" else "Transcript objects"
            print(
                f"read ({label}): {res['records'] / res['seconds']:,.0f} turn records/s "
                f"({res['seconds']:.1f} s); peak RSS {peak:.0f} MB vs target <= {RSS_TARGET_MB:.0f} MB: {verdict}"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
