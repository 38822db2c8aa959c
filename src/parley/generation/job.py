"""``run_generation``: everything ``parley generate`` does, as one Python call."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parley.config import ParleyConfig, config_hash
from parley.data import load_problems
from parley.data.files import FileLoadReport
from parley.debate.context import AgentPool
from parley.generation.agents import build_agents
from parley.generation.runner import ProgressCallback, Scorer, generate
from parley.generation.summary import GenerationStats, summarize_store

if TYPE_CHECKING:
    from parley.store import TrajectoryStore

logger = logging.getLogger(__name__)

#: Keys of ``summary`` that describe this invocation only (the rest describe the whole store).
_THIS_RUN_KEYS = ("completed", "turns", "prompt_tokens", "completion_tokens", "cost_usd", "errors", "wall_s",
                  "problems_per_hour", "completion_tokens_per_s")


class GenerationInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped the run after every finished debate was saved; rerun to resume.

    A :class:`KeyboardInterrupt`, so code that lets Ctrl-C through keeps doing so; ``saved`` is the
    number of debates in the store, ``total`` the number the run asks for.
    """

    def __init__(self, output_dir: Path, saved: int, total: int) -> None:
        super().__init__(f"interrupted: {saved} of {total} debates saved in {output_dir}; "
                         "rerun the same command to resume")
        self.output_dir = output_dir
        self.saved = saved
        self.total = total


@dataclass
class GenerationResult:
    """What a generation run did; ``summary`` is also written to ``<output.dir>/summary.json``.

    ``stats`` counts this invocation; ``store_stats`` every debate in the store (after a resume or a
    ``--retry-errors`` rerun these differ). ``summary`` reports the store, with this invocation's own
    figures under ``this_run``.
    """

    stats: GenerationStats
    output_dir: Path
    run_id: str
    config_hash: str
    skipped_lines: int
    store_stats: GenerationStats | None = None
    retried: int = 0

    @property
    def errored(self) -> int:
        """Debates in the store that ended because a model call failed."""
        return (self.store_stats or self.stats).errored

    @property
    def summary(self) -> dict[str, Any]:
        run = self.stats.as_dict()
        store = self.store_stats.as_dict() if self.store_stats is not None else dict(run)
        whole = {key: value for key, value in store.items() if key not in ("completed", "total", "already_done")}
        return {"run_id": self.run_id, "config_hash": self.config_hash, "skipped_lines": self.skipped_lines,
                **whole, "total": self.stats.total, "stored": store["completed"],
                "already_done": self.stats.already_done, "completed": self.stats.completed,
                "retried": self.retried, "errored": self.errored,
                "verifier_available": self.stats.verifier_available,
                "wall_s": run["wall_s"], "problems_per_hour": run["problems_per_hour"],
                "completion_tokens_per_s": run["completion_tokens_per_s"],
                "this_run": {key: run[key] for key in _THIS_RUN_KEYS} | {"retried": self.retried}}


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _track(cfg: ParleyConfig, result: GenerationResult) -> None:
    from parley.tracking import create_tracker

    s = result.summary
    values = {"completed": s["completed"], "total": s["total"], "turns": s["turns"],
              "prompt_tokens": s["prompt_tokens"], "completion_tokens": s["completion_tokens"],
              "errors": sum(s["errors"].values()), "wall_s": s["wall_s"], "accuracy": s["accuracy"],
              "cost_usd": s["cost_usd"]}
    with create_tracker(cfg, result.output_dir, run_name=result.run_id, resume_step=-1, job_type="generate") as t:
        t.log_params({"config": cfg.model_dump(mode="json"), "run_id": result.run_id,
                      "config_hash": result.config_hash})
        t.log_metrics(0, {f"generation/{k}": float(v) for k, v in values.items() if v is not None})
        t.log_artifact(result.output_dir / "summary.json")


def run_generation(
    cfg: ParleyConfig,
    *,
    progress: ProgressCallback | None = None,
    agents: AgentPool | None = None,
    scorer: Scorer | None = None,
    score: bool = True,
    track: bool = True,
    retry_errors: bool = False,
) -> GenerationResult:
    """Run (or resume) ``cfg.protocol`` over ``cfg.dataset`` into ``cfg.output.dir``.

    Args:
        cfg: the resolved config.
        progress: called after every committed transcript (and once at the start).
        agents: use these agents instead of building them from ``cfg`` (e.g. models already loaded).
        scorer: reward registry to score final answers; the default registry when ``None`` and ``score``.
        score: set False to skip scoring entirely.
        track: log the run's summary through ``cfg.tracking`` (``generation/*`` in docs/metrics.md).
        retry_errors: first remove the debates that ended with ``error`` (a model call failed) from the
            store, so they run again; every (problem, sample) stays in the store exactly once.

    Raises:
        DatasetError: the dataset is unknown, malformed or holds no problem (raised by ``load_problems``).
        StoreError: ``output.dir`` cannot hold the store (a file, another config, locked, ...).
        EndpointUnreachableError: a model endpoint refused the connection, does not resolve or failed
            TLS; debates finished before that are saved.
        GenerationInterrupted: Ctrl-C; debates finished before it are saved.
    """
    from parley.store import TrajectoryStore

    report = FileLoadReport()
    problems = load_problems(cfg.dataset, report=report)
    digest = config_hash(cfg)
    own_scorer = None
    if scorer is None and score:
        from parley.rewards.registry import default_registry

        own_scorer = default_registry()
        scorer = own_scorer
    own_agents = agents is None
    pool = agents or build_agents(cfg)
    store = TrajectoryStore.open(cfg.output.dir, config_hash=digest, config=cfg.model_dump(mode="json"))
    retried = 0
    if retry_errors:
        errored = _errored_keys(store)
        retried = len(store.remove(errored))
        if retried:
            logger.info("%s: running %d errored debate(s) again (--retry-errors)", cfg.output.dir, retried)

    async def _main() -> GenerationStats:
        try:
            return await generate(cfg, problems, agents=pool, sink=store, config_hash=digest,
                                  scorer=scorer, progress=progress)
        finally:
            if own_agents:
                for model in pool.models():
                    await model.aclose()

    try:
        try:
            stats = asyncio.run(_main())
        except KeyboardInterrupt:
            saved, _turns = store.count()
            raise GenerationInterrupted(Path(cfg.output.dir), saved,
                                        len(problems) * cfg.generation.samples_per_problem) from None
        result = GenerationResult(stats, Path(cfg.output.dir), store.run_id, digest, len(report.skipped),
                                  store_stats=summarize_store(store), retried=retried)
        _write_json_atomic(Path(cfg.output.dir) / "summary.json", result.summary)
        if track:
            _track(cfg, result)
        return result
    finally:
        store.close()
        if own_scorer is not None:
            own_scorer.close()


def _errored_keys(store: TrajectoryStore) -> set[tuple[str, int]]:
    keys: set[tuple[str, int]] = set()
    for batch in store.iter_debate_batches(columns=["problem_id", "sample_index", "termination_reason"]):
        rows = zip(batch.column("problem_id").to_pylist(), batch.column("sample_index").to_pylist(),
                   batch.column("termination_reason").to_pylist(), strict=True)
        keys.update((pid, sample) for pid, sample, reason in rows if reason == "error")
    return keys
