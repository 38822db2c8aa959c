"""``parley generate --executor ray`` on a real local Ray cluster: a worker is SIGKILLed mid-run and every
(problem, sample) still ends up in the store exactly once; a rerun adds nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.config import load_config
from parley.llm.scripted_server import ScriptedServer, ServerScript
from tests.generation.support import committed_keys_exactly_once, debate_reply, remote_overrides, write_sums_dataset
from tests.ray_cluster import RayCluster, cluster_workers

N_PROBLEMS = 24
SAMPLES = 2
BOUND_S = 180


@pytest.fixture
def slow_server() -> Iterator[ScriptedServer]:
    with ScriptedServer(ServerScript(latency_s=0.05, reply=debate_reply)) as server:
        yield server


def _overrides(server: ScriptedServer, dataset: Path, out_dir: Path) -> list[str]:
    args = remote_overrides(server.base_url, out_dir, **{
        "dataset.name": str(dataset), "generation.concurrency": 2, "generation.flush_every": 2,
        "generation.samples_per_problem": SAMPLES, "generation.temperature": 0.0})
    return [a for a in args if a != "--set"]


def test_worker_killed_mid_run_every_key_exactly_once(ray_cluster: RayCluster, slow_server: ScriptedServer,
                                                      tmp_path: Path) -> None:
    from parley.generation.ray_fanout import run_generation_on_ray

    dataset = write_sums_dataset(tmp_path / "sums.jsonl", N_PROBLEMS)
    out_dir = tmp_path / "store"
    cfg = load_config(None, _overrides(slow_server, dataset, out_dir))
    killed: list[int] = []

    def kill_one_worker() -> None:
        deadline = time.monotonic() + BOUND_S
        while time.monotonic() < deadline and not killed:
            if any(out_dir.glob("debates-*.parquet")):  # mid-run: something is committed already
                workers = cluster_workers(ray_cluster.temp_dir, "DebateWorker")
                if workers:
                    workers[0].kill()
                    killed.append(workers[0].pid)
                    return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    killer.start()
    result = run_generation_on_ray(cfg, address=ray_cluster.gcs_address, workers=2, chunk_size=4)
    killer.join(timeout=5)
    assert killed, "no worker was killed (the run ended before the first shard?)"
    keys = committed_keys_exactly_once(out_dir)
    assert sorted(keys) == sorted((f"p{i:03d}", s) for i in range(N_PROBLEMS) for s in range(SAMPLES))
    assert result.stats.completed == N_PROBLEMS * SAMPLES
    assert result.stats.accuracy == 1.0  # real debates, scored

    again = run_generation_on_ray(cfg, address=ray_cluster.gcs_address, workers=2)  # resume: nothing left
    assert again.stats.already_done == N_PROBLEMS * SAMPLES and again.stats.completed == 0
    assert sorted(committed_keys_exactly_once(out_dir)) == sorted(keys)
