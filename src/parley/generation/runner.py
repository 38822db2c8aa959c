"""Batch generation: run a protocol over a dataset with bounded concurrency, persist, resume.

``generate`` drives ``concurrency`` worker coroutines over the pending (problem, sample) keys; model
backends provide the parallelism (async HTTP for remote models, micro-batched forward passes for
``hf``). Finished transcripts are scored through the reward registry (the same code path training and
evaluation use) and written to the trajectory store in atomic shards every ``generation.flush_every``
transcripts. Rerunning the same command after a crash reads the committed keys and continues, so every
(problem, sample) ends up in the store exactly once; in-flight work at the time of a crash is simply
redone. Debate ids are deterministic in (run, problem, sample), so a redone debate keeps its id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Protocol

from parley.config.models import ParleyConfig
from parley.data.problem import Problem
from parley.debate.context import AgentPool
from parley.debate.engine import run_protocol
from parley.debate.prompts import PromptSet
from parley.debate.types import Transcript
from parley.generation.summary import GenerationStats
from parley.llm.types import SamplingParams

logger = logging.getLogger(__name__)


class TranscriptSink(Protocol):
    """Where finished transcripts go (the trajectory store implements this)."""

    run_id: str
    config_hash: str

    def write(self, transcripts: Sequence[Transcript]) -> None: ...

    def completed_keys(self) -> set[tuple[str, int]]: ...


class Scorer(Protocol):
    """Scores final answers (the reward registry implements this)."""

    def has_verifier(self, domain: str) -> bool: ...

    def score_batch(self, items: Sequence[tuple[Problem, str | None]]) -> Sequence[object]: ...


ProgressCallback = Callable[[GenerationStats, Transcript | None], None]


def sampling_from_config(cfg: ParleyConfig, stop: tuple[str, ...] = ()) -> SamplingParams:
    g = cfg.generation
    return SamplingParams(temperature=g.temperature, top_p=g.top_p, max_new_tokens=g.max_new_tokens,
                          stop=stop, seed=g.seed)


def apply_scores(transcripts: Sequence[Transcript], problems: dict[str, Problem], scorer: Scorer | None
                 ) -> None:
    """Fill ``correct``/``reward``/``reward_error`` on each transcript from the scorer's verdicts."""
    if scorer is None:
        return
    items = [(problems[t.problem_id], t.final_answer) for t in transcripts]
    wanted = [i for i, (p, _) in enumerate(items) if scorer.has_verifier(p.domain)]
    if not wanted:
        return
    results = scorer.score_batch([items[i] for i in wanted])
    for i, result in zip(wanted, results, strict=True):
        t = transcripts[i]
        t.correct = getattr(result, "correct", None)
        score = getattr(result, "score", None)
        t.reward = float(score) if score is not None else None
        status = getattr(result, "status", "ok")
        error = getattr(result, "error", None)
        if error and status not in ("ok", "no_answer"):
            t.reward_error = f"{status}: {error}"


async def generate(
    cfg: ParleyConfig,
    problems: Sequence[Problem],
    *,
    agents: AgentPool,
    sink: TranscriptSink,
    config_hash: str,
    scorer: Scorer | None = None,
    prompts: PromptSet | None = None,
    progress: ProgressCallback | None = None,
    stop: tuple[str, ...] = (),
) -> GenerationStats:
    """Run ``cfg.protocol`` over every (problem, sample) not yet in ``sink``; return the stats."""
    prompts = prompts or PromptSet(cfg.protocol.prompts_dir)
    sampling = sampling_from_config(cfg, stop)
    samples = cfg.generation.samples_per_problem
    by_id = {p.id: p for p in problems}
    done = sink.completed_keys()
    keys = [(p, s) for p in problems for s in range(samples)]
    pending = [(p, s) for p, s in keys if (p.id, s) not in done]
    stats = GenerationStats(total=len(keys), already_done=len(keys) - len(pending),
                            verifier_available=scorer is not None and any(
                                scorer.has_verifier(p.domain) for p in problems[:50]))
    if progress:
        progress(stats, None)
    queue: asyncio.Queue[tuple[Problem, int]] = asyncio.Queue()
    for item in pending:
        queue.put_nowait(item)
    buffer: list[Transcript] = []
    flush_lock = asyncio.Lock()
    flush_every = cfg.generation.flush_every
    # Scoring and writing run in threads while the workers keep debating (a cold verifier pool takes
    # seconds to start; waiting for it would stall every worker). A worker waits only when this many
    # finished transcripts queue up behind a slow flush, which bounds memory.
    backlog_cap = 4 * max(flush_every, cfg.generation.concurrency)
    flush_task: asyncio.Task[None] | None = None

    async def flush(force: bool = False) -> None:
        async with flush_lock:
            while buffer and (force or len(buffer) >= flush_every):
                batch = list(buffer)
                buffer.clear()
                await asyncio.to_thread(apply_scores, batch, by_id, scorer)
                await asyncio.to_thread(sink.write, batch)
                for t in batch:
                    stats.add(t)
                    if progress:
                        progress(stats, t)

    async def schedule_flush() -> None:
        nonlocal flush_task
        if flush_task is not None and flush_task.done():
            task, flush_task = flush_task, None
            task.result()  # a failed score/write ends the run here, with its own exception
        if flush_task is None and len(buffer) >= flush_every:
            flush_task = asyncio.create_task(flush())
        if flush_task is not None and len(buffer) >= backlog_cap:
            await asyncio.shield(flush_task)

    async def worker() -> None:
        from parley.store.ids import make_debate_id

        while True:
            try:
                problem, sample = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            transcript = await run_protocol(
                problem, protocol=cfg.protocol, agents=agents, prompts=prompts,
                sampling=replace(sampling), run_id=sink.run_id,
                debate_id=make_debate_id(sink.run_id, problem.id, sample), config_hash=config_hash,
                sample_index=sample, base_seed=cfg.generation.seed,
                timeout_s=cfg.generation.problem_timeout_s,
            )
            buffer.append(transcript)
            await schedule_flush()

    workers = [asyncio.create_task(worker()) for _ in range(min(cfg.generation.concurrency, len(pending)) or 1)]
    try:
        await asyncio.gather(*workers)
        if flush_task is not None:
            await flush_task
        await flush(force=True)
    except BaseException:
        # A failure that ends the run (an unreachable endpoint, Ctrl-C, a crash in a worker) must not
        # lose the debates already finished: stop the workers, then commit what is buffered.
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await _save_finished(flush, flush_task, len(buffer))
        raise
    finally:
        if flush_task is not None and not flush_task.done():
            # Never leave a shard half-handed to a writer thread while the caller closes the store.
            await asyncio.wait({flush_task})
    stats.wall_s = stats.elapsed_s
    return stats


async def _save_finished(flush: Callable[[bool], Awaitable[None]], flush_task: asyncio.Task[None] | None,
                         buffered: int) -> None:
    """Commit the buffered transcripts of a run that is ending with an exception (which the caller re-raises)."""
    if flush_task is not None:
        await asyncio.wait({flush_task})
        if not flush_task.cancelled() and flush_task.exception() is not None:
            return  # the writer itself failed: that exception is the one the caller reports
    try:
        await flush(True)
    except Exception:
        logger.exception("could not save %d finished debate(s) while stopping; they will run again on resume",
                         buffered)
