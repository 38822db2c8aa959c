"""Multi-agent RL over debates: ``parley train CONFIG`` (docs/algorithms.md sections 3-9).

The whole loop, top to bottom (one function, :func:`train`):

1. open the run directory (:class:`~parley.training.run.TrainRun`: identity, ``--resume``, logs);
2. build the policies (:class:`~parley.training.policies.PolicySet`: shared or per role, LoRA optional,
   frozen roles, references, on the group's device) and the rollout source: fresh debates of the
   current policies with the counterfactuals the shaping strategy needs
   (:class:`~parley.training.sources.OnlineRollouts`), or steps streamed from a trajectory store
   (``train.offline_store``, :class:`~parley.training.offline.OfflineRollouts`);
3. restore the newest checkpoint (weights, optimisers, RNG, data position) when resuming;
4. evaluate the warm start on the held-out problems (step 0);
5. each step: ``batch = source.next_batch(step)``; ``train_step(batch)`` shapes rewards, builds samples,
   computes advantages and runs PPO-clip (:mod:`parley.training.step`); held-out evaluation when due;
   metrics and the annotated debates are logged; a checkpoint when due;
6. save the final policies.

Launched with several processes (``accelerate launch``/``torchrun``) the same loop runs data-parallel
(:mod:`parley.training.distributed`): each rank generates its shard of the step's debates, the batch is
gathered, each rank optimises its shard of the samples with globally weighted losses and all-reduced
gradients, and only rank 0 logs, evaluates and checkpoints. A single process runs in the one-rank
stand-in :class:`~parley.training.distributed.SingleProcess`, so there is no second code path.

Deliberate simplifications: rollouts and optimisation alternate (no asynchronous off-policy
generation); with ``epochs: 1`` the PPO ratio is 1 and the update is the on-policy policy gradient
(Schulman et al. 2017; the general clipped form is kept so several epochs work).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import torch

from parley.data import load_problems
from parley.debate import protocol_roles
from parley.training.config import TrainRunConfig
from parley.training.distributed import data_parallel_from_env
from parley.training.heldout import HeldOutEvaluator, held_out
from parley.training.policies import PolicySet
from parley.training.rollouts import AnswerScorer
from parley.training.run import RUN_FILE, TrainingError, TrainResult, TrainRun
from parley.training.sources import OnlineRollouts, RolloutSource
from parley.training.step import train_step

logger = logging.getLogger(__name__)

__all__ = ["RUN_FILE", "ProgressFn", "TrainResult", "TrainingError", "frozen_heap", "resolve_base_model", "train"]

ProgressFn = Callable[[int, dict[str, float]], None]
"""Called after the warm-start evaluation (step 0) and after every step with that step's metrics."""


def resolve_base_model(cfg: TrainRunConfig) -> Path:
    """``model.name`` through the model catalog (``tiny``, ``smollm2``, ``hf:ORG/NAME``, a checkpoint dir)."""
    from parley.llm.catalog import ModelNotAvailableError, resolve_model

    try:
        return resolve_model(cfg.model.name)
    except ModelNotAvailableError as exc:
        raise TrainingError(f"model.name: {exc}") from exc


def train(cfg: TrainRunConfig, *, resume: bool = False, progress: ProgressFn | None = None,
          registry: Any | None = None) -> TrainResult:
    """Run (or, with ``resume``, continue) RL training as configured; returns where the results are."""
    group = data_parallel_from_env(cfg.model.device)
    offline = cfg.train.offline_store is not None
    run = TrainRun.open(cfg, resume=resume, group=group, prefix="train-offline" if offline else "train",
                        record={"offline_store": str(cfg.train.offline_store)} if offline else None)
    torch.manual_seed(cfg.train.seed)
    with ExitStack() as stack:
        stack.callback(run.close)
        if registry is None:
            from parley.rewards.registry import default_registry

            registry = default_registry()
            stack.callback(registry.close)
        base_dir = resolve_base_model(cfg)
        policies = PolicySet.build(base_dir, protocol_roles(cfg.protocol), cfg.train, batch_size=cfg.model.batch_size,
                                   num_threads=cfg.model.num_threads, device=group.device)
        stack.callback(lambda: asyncio.run(policies.aclose()))
        tokenizer = policies.tokenizer
        pad_id = int(tokenizer.pad_token_id or 0)
        agents = policies.agent_pool()
        source: RolloutSource
        evaluator: HeldOutEvaluator | None = None
        if offline:
            from parley.training.offline import OfflineRollouts

            source = OfflineRollouts(cfg, policies, registry)
            probe_text = "Probe."
        else:
            problems = load_problems(cfg.dataset)
            eval_problems, overlap = held_out(cfg, problems)
            scorer = AnswerScorer(registry, {p.id: p for p in [*problems, *eval_problems]})
            scorer.check([*problems, *eval_problems], need_gold=cfg.train.selection != "majority_label")
            reference = policies.reference_pool() if cfg.train.counterfactual.null == "reference" else None
            source = OnlineRollouts(cfg, problems, agents=agents, reference=reference, scorer=scorer,
                                    run_id=run.run_id, digest=run.digest, group=group)
            evaluator = HeldOutEvaluator(cfg, eval_problems, overlap, agents, scorer, run.run_dir, run.run_id)
            probe_text = problems[0].question
        probe = torch.tensor([tokenizer.apply_chat_template(
            [{"role": "user", "content": probe_text}], add_generation_prompt=True, tokenize=True, return_dict=False)])
        data_state = run.restore(policies)
        if data_state is not None:
            source.restore(data_state)
        run.open_logs({"base_model": str(base_dir)})
        if evaluator is not None and run.start_step == 1 and group.is_main and evaluator.due(0):
            initial = evaluator.run(0)
            run.log(0, initial)
            if progress:
                progress(0, initial)
        stack.enter_context(frozen_heap())
        for step in range(run.start_step, cfg.train.steps + 1):
            t0 = time.perf_counter()
            batch = source.next_batch(step)
            result = train_step(batch, policies, cfg.train, group, pad_id)
            metrics = result.metrics
            metrics["time/step_s"] = time.perf_counter() - t0
            _throughput(metrics, batch.transcripts)
            if not group.is_main:
                continue  # rank 0 alone evaluates, logs and checkpoints
            if evaluator is not None and evaluator.due(step):
                metrics |= evaluator.run(step)
            for t in result.annotated:
                t.metadata["training"]["step"] = step
            run.log(step, metrics, result.annotated)
            if run.checkpoint_due(step):
                run.checkpoint(step, policies, source.state(), probe)
            if progress:
                progress(step, metrics)
        return run.finish(policies, evaluator.accuracy if evaluator is not None else {})
    raise AssertionError("unreachable")  # pragma: no cover  (ExitStack does not swallow exceptions)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Collect once, then keep every object alive now out of the cyclic garbage collector's full passes.

    By the training loop the process holds ~500,000 GC-tracked objects (torch, transformers, the
    tokenizer, the dataset), almost all alive until it exits. CPython's full (generation-2) collection
    walks all of them: in probe runs of the trainer on ``benchmarks/rl_step_split.py``'s config
    (2026-12-02, one core) one took 0.17-0.21 s, most of a 0.21-0.25 s step, two steps into the loop
    (the set-up's survivors trip its threshold; docs/performance.md, sixth round). :func:`gc.freeze`
    moves them to the permanent generation, so the loop's collections walk only what the loop made.
    The collection before it frees the set-up's garbage (a frozen garbage cycle would stay until
    :func:`gc.unfreeze`); the heap is unfrozen on the way out, so a caller's process is left as it was.
    Reference counting, which frees almost everything, is untouched: only cycles among frozen objects
    wait.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _throughput(metrics: dict[str, float], transcripts: list[Any]) -> None:
    """``perf/*`` metrics of a step (rates over its generation and optimisation times)."""
    generation = metrics.get("time/generation_s")
    if generation:
        metrics["perf/rollouts_per_s"] = len(transcripts) / max(generation, 1e-9)
        metrics["perf/gen_tokens_per_s"] = sum(t.completion_tokens for t in transcripts) / max(generation, 1e-9)
