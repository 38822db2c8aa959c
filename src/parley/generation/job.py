"""``run_generation``: everything ``parley generate`` does, as one Python call."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley.config import ParleyConfig, config_hash
from parley.data import load_problems
from parley.data.files import FileLoadReport
from parley.debate.context import AgentPool
from parley.generation.agents import build_agents
from parley.generation.runner import ProgressCallback, Scorer, generate
from parley.generation.summary import GenerationStats

logger = logging.getLogger(__name__)


@dataclass
class GenerationResult:
    """What a generation run did; ``summary`` is also written to ``<output.dir>/summary.json``."""

    stats: GenerationStats
    output_dir: Path
    run_id: str
    config_hash: str
    skipped_lines: int

    @property
    def summary(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "config_hash": self.config_hash, "skipped_lines": self.skipped_lines,
                **self.stats.as_dict()}


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
) -> GenerationResult:
    """Run (or resume) ``cfg.protocol`` over ``cfg.dataset`` into ``cfg.output.dir``.

    Args:
        cfg: the resolved config.
        progress: called after every committed transcript (and once at the start).
        agents: use these agents instead of building them from ``cfg`` (e.g. models already loaded).
        scorer: reward registry to score final answers; the default registry when ``None`` and ``score``.
        score: set False to skip scoring entirely.
        track: log the run's summary through ``cfg.tracking`` (``generation/*`` in docs/metrics.md).
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

    async def _main() -> GenerationStats:
        try:
            return await generate(cfg, problems, agents=pool, sink=store, config_hash=digest,
                                  scorer=scorer, progress=progress)
        finally:
            if own_agents:
                for model in pool.models():
                    await model.aclose()

    try:
        stats = asyncio.run(_main())
        result = GenerationResult(stats, Path(cfg.output.dir), store.run_id, digest, len(report.skipped))
        _write_json_atomic(Path(cfg.output.dir) / "summary.json", result.summary)
        if track:
            _track(cfg, result)
        return result
    finally:
        store.close()
        if own_scorer is not None:
            own_scorer.close()
