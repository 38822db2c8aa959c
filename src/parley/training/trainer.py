"""Online multi-agent RL over debates: ``parley train CONFIG`` (ALGORITHMS.md sections 3-9).

One step, top to bottom:

1. take ``problems_per_step`` problems and run ``group_size`` debates on each with the current
   policies (:mod:`parley.training.rollouts`); turns keep exact token ids and sampling log-probs;
2. score final answers and every proposed answer through the reward registry -> outcome G and the
   per-role local signals;
3. for ``difference``/``coma``, run the counterfactual rollouts they need (budgeted by
   ``counterfactual.fraction``; debates without counterfactuals are left out of the step, never given a
   fallback reward);
4. shape rewards per turn (:mod:`parley.rewards.shaping`), build one training sample per trainable
   turn, and compute advantages with agent- and turn-wise groups (AT-GRPO grouping);
5. ``epochs`` of token-level PPO-clip with optional k3 KL to a frozen reference
   (:mod:`parley.training.optimise`);
6. log metrics (``docs/metrics.md``), evaluate on held-out problems when due, checkpoint.

Launched with several processes (``accelerate launch``/``torchrun``), the same loop runs data-parallel
(:mod:`parley.training.distributed`): each rank generates a shard of the step's debates, the batch is
all-gathered, each rank optimises a shard of the samples with globally weighted losses and all-reduced
gradients, and only rank 0 logs, evaluates and checkpoints. With ``train.offline_store`` set, the
rollouts come from an existing trajectory store instead (:mod:`parley.training.offline`).

Deliberate simplifications: rollouts and optimisation alternate (no asynchronous off-policy
generation); with ``epochs: 1`` the PPO ratio is 1 and the update is the on-policy policy gradient
(Schulman et al. 2017; the general clipped form is kept so several epochs work).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from parley.config import config_hash
from parley.data import load_problems
from parley.data.problem import Problem
from parley.debate.context import AgentPool, derive_seed
from parley.debate.engine import run_protocol
from parley.debate.prompts import PromptSet
from parley.debate.types import Transcript
from parley.errors import UserError
from parley.llm.types import SamplingParams
from parley.rewards.shaping import ShapingBatch, shape
from parley.tracking import LocalTracker
from parley.tracking.dynamics import debate_dynamics_metrics
from parley.training.advantages import AdvantageConfig, compute_advantages, with_advantages
from parley.training.checkpoint import checkpoint_dirs, load_checkpoint, save_checkpoint
from parley.training.config import TrainRunConfig, protocol_roles
from parley.training.counterfactuals import coma_baselines, difference_counterfactuals, protocol_run_fn
from parley.training.data import ProblemSampler
from parley.training.distributed import data_parallel_from_env, gather_counterfactuals, gather_rollouts
from parley.training.optimise import optimise
from parley.training.policies import PolicySet
from parley.training.rollouts import AnswerScorer, RolloutBatch, collect_rollouts, sampling_params, step_seed
from parley.training.samples import samples_from_transcripts

logger = logging.getLogger(__name__)
RUN_FILE = "train_run.json"


class TrainingError(UserError, RuntimeError):
    """The run cannot start or continue (existing run without --resume, config changed, ...)."""


@dataclass
class TrainResult:
    run_dir: Path
    final_step: int
    final_models: dict[str, Path]
    eval_accuracy: dict[str, dict[int, float]] = field(default_factory=dict)


ProgressFn = Callable[[int, dict[str, float]], None]


def resolve_base_model(cfg: TrainRunConfig) -> Path:
    """``tiny`` -> the warm-started embedded model (built and cached on first use); else a local dir."""
    if cfg.model.name == "tiny":
        from parley.tiny.sft import ensure_tiny_sft_model

        return ensure_tiny_sft_model()
    path = Path(cfg.model.name).expanduser()
    if not (path / "config.json").is_file():
        raise TrainingError(f"model.name: {cfg.model.name!r} is not a local Hugging Face checkpoint directory")
    return path


def held_out(cfg: TrainRunConfig, train: Sequence[Problem]) -> tuple[list[Problem], float]:
    """Evaluation problems (not training problems) and the fraction whose question text occurs in training.

    With ``train.eval.disjoint_questions`` those overlapping problems are dropped (the fraction is then
    the share that was dropped).
    """
    if cfg.train.eval.dataset is None:
        return [], 0.0
    seen = {p.question for p in train}
    train_ids = {p.id for p in train}
    problems = [p for p in load_problems(cfg.train.eval.dataset) if p.id not in train_ids]
    overlap = sum(p.question in seen for p in problems) / max(len(problems), 1)
    if cfg.train.eval.disjoint_questions:
        problems = [p for p in problems if p.question not in seen]
    if not problems:
        raise TrainingError("train.eval.dataset: no evaluation problem left after removing training problems")
    return problems, overlap


async def evaluate_policies(problems: Sequence[Problem], agents: AgentPool, cfg: TrainRunConfig,
                            scorer: AnswerScorer, protocol_name: str, run_id: str) -> list[dict[str, Any]]:
    """Per-problem results of ``protocol_name`` on ``problems`` with the current policies."""
    protocol = cfg.protocol.model_copy(update={"name": protocol_name})
    params = SamplingParams(temperature=cfg.train.eval.temperature, top_p=1.0,
                            max_new_tokens=cfg.generation.max_new_tokens)
    seed = derive_seed(cfg.train.seed, "eval")
    transcripts = await asyncio.gather(*[
        run_protocol(p, protocol=protocol, agents=agents, prompts=PromptSet(cfg.protocol.prompts_dir),
                     sampling=params, run_id=run_id, debate_id=f"{run_id}:eval:{protocol_name}:{p.id}",
                     config_hash="eval", base_seed=seed, timeout_s=cfg.generation.problem_timeout_s)
        for p in problems])
    await asyncio.to_thread(scorer.score_all, [(t.problem_id, t.final_answer) for t in transcripts])
    return [{"problem_id": t.problem_id, "protocol": protocol_name, "final_answer": t.final_answer,
             "correct": scorer.correct(t.problem_id, t.final_answer), "termination_reason": t.termination_reason,
             "completion_tokens": t.completion_tokens} for t in transcripts]


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, path)


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def _std(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    m = _mean(values)
    return float((sum((v - m) ** 2 for v in values) / (len(values) - 1)) ** 0.5)


async def _counterfactuals(batch: RolloutBatch, cfg: TrainRunConfig, agents: AgentPool, scorer: AnswerScorer,
                           step: int, run_id: str, digest: str, reference: AgentPool | None) -> Any:
    shaping = cfg.train.shaping
    run_fn = protocol_run_fn(protocol=cfg.protocol, agents=agents, prompts=PromptSet(cfg.protocol.prompts_dir),
                             sampling=sampling_params(cfg), scorer=scorer.outcome, base_seed=step_seed(cfg, step),
                             run_id=run_id, config_hash=digest, timeout_s=cfg.generation.problem_timeout_s)
    cf = cfg.train.counterfactual
    shaping_roles: tuple[str, ...] | None = getattr(shaping, "roles", None)
    roles = list(shaping_roles) if shaping_roles else None
    seed = derive_seed(cfg.train.seed, "counterfactual", step)
    if shaping.name == "difference":
        return await difference_counterfactuals(batch.transcripts, batch.problems, run_fn=run_fn, roles=roles, k=cf.k,
                                                null=cf.null, reference=reference, fraction=cf.fraction, seed=seed,
                                                max_concurrency=64)
    return await coma_baselines(batch.transcripts, batch.problems, run_fn=run_fn, roles=roles, m=cf.m,
                                fraction=cf.fraction, seed=seed, max_concurrency=64)


def _reference_pool(policies: PolicySet) -> AgentPool | None:
    from parley.debate.context import Agent
    from parley.llm.hf import HFChatModel

    agents = {}
    for role, pid in policies.role_to_policy.items():
        policy = policies.policies[pid]
        if policy.reference is None:
            return None
        agents[role] = Agent(HFChatModel(policy.reference, policy.sampler.tokenizer, name=f"reference:{pid}"),
                             f"reference:{pid}")
    return AgentPool(next(iter(agents.values())), agents)


def train(cfg: TrainRunConfig, *, resume: bool = False, progress: ProgressFn | None = None,
          registry: Any | None = None) -> TrainResult:
    """Run (or, with ``resume``, continue) online RL as configured; returns where the results are."""
    if cfg.train.offline_store is not None:
        from parley.training.offline import train_offline

        return train_offline(cfg, resume=resume, progress=progress, registry=registry)
    run_dir = Path(cfg.output.dir)
    digest = config_hash(cfg)
    existing = checkpoint_dirs(run_dir)
    run_file = run_dir / RUN_FILE
    dp = data_parallel_from_env()
    main = dp is None or dp.is_main
    run_exists = run_file.exists()
    if dp is not None:
        dp.barrier()  # every rank has looked before rank 0 writes the run file
    if run_exists:
        info = json.loads(run_file.read_text())
        if not resume:
            raise TrainingError(f"{run_dir} already holds a training run ({info['run_id']}); pass --resume to "
                                "continue it or choose a new output.dir")
        if info["config_hash"] != digest:
            raise TrainingError(f"{run_dir}: config hash {digest} differs from the run's {info['config_hash']}; "
                                "resume with the same config or use a new output.dir")
        run_id = info["run_id"]
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        run_id = f"train-{digest[:8]}-{os.urandom(4).hex()}"
        if main:
            run_file.write_text(json.dumps({"run_id": run_id, "config_hash": digest,
                                            "config": cfg.model_dump(mode="json")}, indent=2))
    if dp is not None:
        run_id = dp.broadcast_object(run_id)
    torch.manual_seed(cfg.train.seed)
    problems = load_problems(cfg.dataset)
    eval_problems, overlap = held_out(cfg, problems)
    sampler = ProblemSampler(problems, cfg.train.seed)
    base_dir = resolve_base_model(cfg)
    roles = protocol_roles(cfg.protocol)
    policies = PolicySet.build(base_dir, roles, cfg.train, batch_size=cfg.model.batch_size,
                               num_threads=cfg.model.num_threads)
    if dp is not None:
        for policy in policies.policies.values():
            policy.model.to(dp.device)
            if policy.reference is not None:
                policy.reference.to(dp.device)
    tokenizer = policies.tokenizer
    pad_id = int(tokenizer.pad_token_id or 0)
    probe = torch.tensor([tokenizer.apply_chat_template(
        [{"role": "user", "content": problems[0].question}], add_generation_prompt=True, tokenize=True,
        return_dict=False)])
    start_step = 1
    if resume and existing:
        state = load_checkpoint(existing[-1], policies)
        sampler.restore(state["data"])
        start_step = int(state["step"]) + 1
        logger.info("resumed", extra={"checkpoint": str(existing[-1]), "step": start_step})
    tracker = LocalTracker(run_dir, resume_step=start_step - 1 if resume else None) if main else None
    if tracker is not None:
        tracker.log_params({"config": cfg.model_dump(mode="json"), "config_hash": digest, "run_id": run_id,
                            "base_model": str(base_dir)})
    own_registry = registry is None
    if registry is None:
        from parley.rewards.registry import default_registry

        registry = default_registry()
    scorer = AnswerScorer(registry, {p.id: p for p in [*problems, *eval_problems]})
    prompts = PromptSet(cfg.protocol.prompts_dir)
    agents = policies.agent_pool()
    reference = _reference_pool(policies) if cfg.train.counterfactual.null == "reference" else None
    eval_acc: dict[str, dict[int, float]] = {}

    def run_eval(step: int) -> dict[str, float]:
        out: dict[str, float] = {}
        for name in cfg.train.eval.protocols:
            rows = asyncio.run(evaluate_policies(eval_problems, agents, cfg, scorer, name, run_id))
            _write_jsonl(run_dir / "eval" / f"step-{step:06d}" / f"{name}.jsonl", rows)
            acc = _mean([float(r["correct"]) for r in rows])
            eval_acc.setdefault(name, {})[step] = acc
            out[f"eval/accuracy/{name}"] = acc
            out[f"eval/n/{name}"] = float(len(rows))
            out["eval/question_overlap"] = overlap
        return out

    try:
        if start_step == 1 and eval_problems and main:
            initial = run_eval(0)
            if progress:
                progress(0, initial)
        for step in range(start_step, cfg.train.steps + 1):
            t_step = time.perf_counter()
            step_problems = sampler.next(cfg.train.problems_per_step)
            batch = asyncio.run(collect_rollouts(dp.shard(step_problems) if dp else step_problems, agents=agents,
                                                 cfg=cfg, scorer=scorer, step=step, run_id=run_id, config_hash=digest,
                                                 prompts=prompts))
            local_batch = batch
            if dp is not None:
                batch = gather_rollouts(dp, batch)
            metrics = dict(batch.timing) | batch.extra_metrics
            transcripts, signals, outcomes = batch.transcripts, batch.signals, batch.outcomes
            cf_outcomes: dict[tuple[str, str], float] = {}
            baselines: dict[tuple[str, int], float] = {}
            if cfg.train.shaping.name in ("difference", "coma"):
                t_cf = time.perf_counter()
                result = asyncio.run(_counterfactuals(local_batch, cfg, agents, scorer, step, run_id, digest,
                                                      reference))
                if dp is not None:
                    result = gather_counterfactuals(dp, result)
                keep = set(result.debate_ids)
                idx = [i for i, t in enumerate(transcripts) if t.debate_id in keep]
                transcripts = [transcripts[i] for i in idx]
                signals = [signals[i] for i in idx]
                outcomes = [outcomes[i] for i in idx]
                cf_outcomes, baselines = result.outcomes, result.baselines
                metrics |= result.cost.as_metrics()
                metrics["time/counterfactual_s"] = time.perf_counter() - t_cf
            shaped = shape(cfg.train.shaping, ShapingBatch(transcripts, signals, counterfactual_outcomes=cf_outcomes,
                                                           baselines=baselines))
            metrics |= {f"shaping/{k}": float(v) for k, v in shaped.diagnostics.items()}
            samples = samples_from_transcripts(transcripts, shaped.rewards, None, outcomes=outcomes)
            trainable = policies.trainable_roles()
            samples = [s for s in samples if s.role in trainable]
            adv = compute_advantages(samples, AdvantageConfig(estimator=cfg.train.estimator, scale=cfg.train.scale,
                                                              group_size=cfg.train.group_size))
            samples = with_advantages(samples, adv)
            t_opt = time.perf_counter()
            metrics |= optimise(policies, dp.shard(samples) if dp else samples, cfg.train, pad_id, dp=dp)
            metrics["time/optimisation_s"] = time.perf_counter() - t_opt
            metrics |= _step_metrics(transcripts, signals, samples, adv)
            metrics["reward/mean"] = _mean(batch.outcomes)
            step_s = time.perf_counter() - t_step
            gen_tokens = sum(t.completion_tokens for t in batch.transcripts)
            metrics["perf/rollouts_per_s"] = len(batch.transcripts) / max(metrics["time/generation_s"], 1e-9)
            metrics["perf/gen_tokens_per_s"] = gen_tokens / max(metrics["time/generation_s"], 1e-9)
            metrics["perf/trainer_tokens_per_s"] = sum(len(s.completion_ids) + len(s.context_ids) for s in samples
                                                       ) / max(metrics["time/optimisation_s"], 1e-9)
            metrics["time/step_s"] = step_s
            metrics |= debate_dynamics_metrics(transcripts, signals)
            if not main:
                continue  # rank 0 alone evaluates, logs and checkpoints
            if eval_problems and cfg.train.eval.every and step % cfg.train.eval.every == 0 and step != cfg.train.steps:
                metrics |= run_eval(step)
            if step == cfg.train.steps and eval_problems:
                metrics |= run_eval(step)
            assert tracker is not None
            tracker.log_metrics(step, metrics)
            if step % cfg.train.checkpoint_every == 0 or step == cfg.train.steps:
                save_checkpoint(run_dir, policies, step=step, data_state=sampler.state(),
                                meta={"run_id": run_id, "config_hash": digest}, probe=probe,
                                keep=cfg.train.keep_checkpoints)
            if progress:
                progress(step, metrics)
        final = policies.save_pretrained(run_dir / "final") if main else {}
        if dp is not None:
            dp.barrier()
        return TrainResult(run_dir, cfg.train.steps, final, eval_acc)
    finally:
        if tracker is not None:
            tracker.close()
        asyncio.run(policies.aclose())
        if own_registry:
            registry.close()


def _step_metrics(transcripts: Sequence[Transcript], signals: Sequence[Any], samples: Sequence[Any],
                  adv: Any) -> dict[str, float]:
    """Per-role reward, shaped reward, advantage and token metrics (names in docs/metrics.md)."""
    out: dict[str, float] = {}
    roles = sorted({s.role for s in samples})
    for role in roles:
        rs = [s for s in samples if s.role == role]
        out[f"reward/{role}"] = _mean([s.raw_reward for s in rs])
        out[f"shaped_reward/{role}"] = _mean([s.shaped_reward for s in rs])
        out[f"advantage_mean/{role}"] = _mean([s.advantage for s in rs])
        out[f"advantage_std/{role}"] = _std([s.advantage for s in rs])
        out[f"generated_tokens/{role}"] = float(sum(len(s.completion_ids) for s in rs))
        stats = adv.per_role.get(role)
        if stats is not None:
            out[f"zero_variance_group_fraction/{role}"] = float(stats.zero_variance_group_fraction)
    out["samples"] = float(len(samples))
    return out
