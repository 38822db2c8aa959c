"""Rollouts on Ray: ``parley generate --executor ray`` fans (problem, sample) keys out to Ray actors.

The store semantics are those of :func:`parley.generation.run_generation`, with the same single
writer: this process (the Ray driver) holds the trajectory store, hands chunks of pending keys to
``workers`` actors (each builds the agents once, e.g. an API client or a served model, and runs its
chunk's debates with ``generation.concurrency`` at a time), then scores and commits what comes back.
Every (problem, sample) is committed exactly once:

- at most once: a key already committed (now or by an earlier run) is never handed out again, and a
  result for a key committed meanwhile is dropped (the store refuses duplicates too);
- at least once: a chunk whose actor died (killed, OOM, node lost) goes back to the queue and the
  actor is replaced, up to ``max_worker_failures`` times; after that the run stops with an error
  and a rerun resumes from the committed keys, like a local run after ``kill -9``.

Ray has to reach parley's code: the ``parley`` package is shipped as the job's ``py_modules``; the
cluster's Python environment provides the dependencies. ``address`` is a Ray cluster address as
``ray.init`` takes it (``HOST:6379``, ``ray://HOST:10001`` or ``auto``), not the job server's URL.
Local models (``hf``) load once per actor; API models read their keys from the workers' environment
or secrets file, never from this process.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from parley.config import ParleyConfig, config_hash
from parley.data import load_problems
from parley.data.files import FileLoadReport
from parley.data.problem import Problem
from parley.debate.types import Transcript
from parley.errors import WorkFailedError
from parley.generation.job import GenerationResult, _write_json_atomic
from parley.generation.runner import ProgressCallback, Scorer, apply_scores, sampling_from_config
from parley.generation.summary import GenerationStats

logger = logging.getLogger(__name__)


class RayGenerationError(WorkFailedError, RuntimeError):
    """Ray-distributed generation could not finish; what was committed stays, a rerun resumes."""


class DebateWorker:
    """A Ray actor body: the agents of one config, running chunks of (problem, sample) debates."""

    def __init__(self, cfg_data: dict[str, Any], run_id: str, digest: str) -> None:
        from parley.debate.prompts import PromptSet
        from parley.generation.agents import build_agents

        self.cfg = ParleyConfig.model_validate(cfg_data)
        self.run_id, self.digest = run_id, digest
        self.agents = build_agents(self.cfg)
        self.prompts = PromptSet(self.cfg.protocol.prompts_dir)

    def pid(self) -> int:
        """This actor's process id (tests kill it by pid)."""
        import os

        return os.getpid()

    async def run(self, items: list[tuple[dict[str, Any], int]]) -> list[dict[str, Any]]:
        """Debate every (problem, sample) of the chunk; transcripts as JSON-ready mappings.

        (An async actor: Ray runs its methods on one event loop that lives as long as the actor.)"""
        return await self._run([(Problem.model_validate(p), s) for p, s in items])

    async def _run(self, items: list[tuple[Problem, int]]) -> list[dict[str, Any]]:
        from parley.debate.engine import run_protocol
        from parley.store.ids import make_debate_id

        cfg = self.cfg
        sampling = sampling_from_config(cfg)
        gate = asyncio.Semaphore(max(1, cfg.generation.concurrency))

        async def one(problem: Problem, sample: int) -> dict[str, Any]:
            async with gate:
                transcript = await run_protocol(
                    problem, protocol=cfg.protocol, agents=self.agents, prompts=self.prompts,
                    sampling=replace(sampling), run_id=self.run_id,
                    debate_id=make_debate_id(self.run_id, problem.id, sample), config_hash=self.digest,
                    sample_index=sample, base_seed=cfg.generation.seed, timeout_s=cfg.generation.problem_timeout_s)
            return transcript.model_dump(mode="json")

        return list(await asyncio.gather(*(one(p, s) for p, s in items)))


def _runtime_env(cfg: ParleyConfig) -> dict[str, Any]:
    package = Path(__file__).resolve().parents[1]  # the parley package directory
    return {"py_modules": [str(package)],
            "env_vars": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}}


def _loopback_only(address: str) -> None:
    """A cluster on 127.0.0.1 needs ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` before Ray is imported, or
    ``ray.init`` replaces 127.0.0.1 by the machine's external address (and never connects)."""
    import os
    import sys

    host = address.split("://")[-1].rsplit(":", 1)[0]
    if host in ("127.0.0.1", "localhost", "::1") and "ray" not in sys.modules:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def run_generation_on_ray(
    cfg: ParleyConfig,
    *,
    address: str,
    workers: int = 2,
    chunk_size: int | None = None,
    max_worker_failures: int | None = None,
    worker_cpus: float = 1.0,
    progress: ProgressCallback | None = None,
    scorer: Scorer | None = None,
    score: bool = True,
) -> GenerationResult:
    """Run (or resume) ``cfg`` like :func:`~parley.generation.run_generation`, debates on Ray actors.

    Args:
        address: the Ray cluster (``HOST:6379``, ``ray://HOST:10001``, ``auto``).
        workers: actors at once (each takes ``worker_cpus`` CPUs).
        chunk_size: keys per chunk handed to an actor (default: ``2 * generation.concurrency``).
        max_worker_failures: actor deaths tolerated before giving up (default: ``2 * workers``).
    """
    _loopback_only(address)
    import ray
    from ray.exceptions import RayActorError

    from parley.store import TrajectoryStore

    report = FileLoadReport()
    problems = load_problems(cfg.dataset, report=report)
    by_id = {p.id: p for p in problems}
    digest = config_hash(cfg)
    own_scorer = None
    if scorer is None and score:
        from parley.rewards.registry import default_registry

        own_scorer = scorer = default_registry()
    store = TrajectoryStore.open(cfg.output.dir, config_hash=digest, config=cfg.model_dump(mode="json"))
    samples = cfg.generation.samples_per_problem
    done = set(store.completed_keys())
    keys = [(p.id, s) for p in problems for s in range(samples)]
    queue = deque(k for k in keys if k not in done)
    stats = GenerationStats(total=len(keys), already_done=len(keys) - len(queue),
                            verifier_available=scorer is not None and any(
                                scorer.has_verifier(p.domain) for p in problems[:50]))
    if progress:
        progress(stats, None)
    size = chunk_size or max(1, 2 * cfg.generation.concurrency)
    allowed = 2 * workers if max_worker_failures is None else max_worker_failures
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, runtime_env=_runtime_env(cfg), log_to_driver=False)
    actor_cls = ray.remote(num_cpus=worker_cpus, max_restarts=0)(DebateWorker)
    cfg_data = cfg.model_dump(mode="json")
    actors: list[Any] = []
    try:
        actors = [actor_cls.remote(cfg_data, store.run_id, digest) for _ in range(max(1, min(workers, len(queue))))]
        in_flight: dict[Any, tuple[Any, list[tuple[str, int]]]] = {}
        failures = 0

        def hand_out(actor: Any) -> None:
            chunk = [queue.popleft() for _ in range(min(size, len(queue)))]
            if chunk:
                ref = actor.run.remote([(by_id[pid].model_dump(mode="json"), s) for pid, s in chunk])
                in_flight[ref] = (actor, chunk)

        for actor in actors:
            hand_out(actor)
        while in_flight:
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            ref = ready[0]
            actor, chunk = in_flight.pop(ref)
            try:
                rows = ray.get(ref)
            except RayActorError as exc:
                failures += 1
                lost = [k for k in chunk if k not in done]
                logger.warning("ray worker died (%s); %d key(s) go back to the queue (failure %d of %d allowed)",
                               type(exc).__name__, len(lost), failures, allowed)
                if failures > allowed:
                    raise RayGenerationError(
                        f"{failures} Ray workers died (more than the {allowed} allowed); {len(done)} of {len(keys)} "
                        f"keys are committed in {cfg.output.dir}; rerun to resume") from exc
                queue.extendleft(reversed(lost))
                actors.remove(actor)
                actor = actor_cls.remote(cfg_data, store.run_id, digest)
                actors.append(actor)
                hand_out(actor)
                continue
            fresh = (Transcript.model_validate(r) for r in rows)
            batch = [t for t in fresh if (t.problem_id, t.sample_index) not in done]
            apply_scores(batch, by_id, scorer)
            store.write(batch)
            for t in batch:
                done.add((t.problem_id, t.sample_index))
                stats.add(t)
                if progress:
                    progress(stats, t)
            hand_out(actor)
        stats.wall_s = stats.elapsed_s
        result = GenerationResult(stats, Path(cfg.output.dir), store.run_id, digest, len(report.skipped))
        _write_json_atomic(Path(cfg.output.dir) / "summary.json", {**result.summary, "executor": "ray",
                                                                   "ray_worker_failures": failures})
        return result
    finally:
        for actor in actors:
            ray.kill(actor)
        if started_here:
            ray.shutdown()
        store.close()
        if own_scorer is not None:
            own_scorer.close()
