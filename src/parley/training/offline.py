"""Offline RL from an existing trajectory store (``train.offline_store``; issue 4 item 7).

Instead of sampling rollouts, each step reads debates that ``parley generate`` (``hf`` backend, so
turns carry exact token ids and sampling log-probs) already wrote, and then runs the same pipeline as
online training: per-role signals through the reward registry, reward shaping, AT-GRPO-grouped
advantages, and :func:`parley.training.optimise.optimise` (token-level PPO-clip; the stored sampling
log-probs are the behaviour policy's, so the PPO ratio is a clipped importance weight from the first
epoch on: off-policy PPO, as in offline/"stale" GRPO variants).

Streaming, bounded memory (:class:`OfflineStepStream`): transcripts are read lazily with
``TrajectoryStore.read(dir).iter_transcripts()`` in commit order. A *group* is up to ``group_size``
transcripts of the same problem; a *step* is ``problems_per_step`` groups. Incomplete groups wait in a
pending buffer capped at ``max_pending`` transcripts; when the cap is hit the oldest pending group is
emitted as it is (a smaller group: group estimators give size-1 groups A = 0 and count them), and at
the end of a pass every pending group is emitted. Memory is therefore bounded by one step plus the
buffer plus the store reader's row batches, whatever the store's size (100k+ turns). When the store
is exhausted before ``train.steps``, the stream starts another pass over it.

Rewards: the stored ``transcript.reward`` is G when present (what ``parley generate`` scored); a
transcript without one is re-scored through the reward registry (counted in ``offline/rescored``).
Local signals (for ``mixing``, ``potential``, ``margin``/``quality`` and the dynamics metrics) are
computed from the transcript and the gold answers of the dataset the store was generated from (its
``run.json`` config), falling back to the transcript's own ``gold_answer``. ``selection:
majority_label`` replaces gold answers with each group's majority answer, as online.

Not available offline: ``difference`` and ``coma`` need counterfactual rollouts from the *current*
policy, which a fixed store cannot provide; they fail with :class:`OfflineModeError`. Offline training
runs in one process (data-parallel launch is for online training).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from parley.config import config_hash
from parley.config.models import DatasetConfig
from parley.data import load_problems
from parley.data.loaders import DatasetError
from parley.data.problem import Problem
from parley.debate.parsing import normalize_for_vote
from parley.debate.types import Transcript
from parley.errors import UserError
from parley.rewards.selection import majority_label
from parley.rewards.shaping import ShapingBatch, shape
from parley.rewards.signals import DebateSignals, debate_signals
from parley.store import TrajectoryStore
from parley.store.manifest import load_manifest
from parley.tracking import LocalTracker
from parley.tracking.dynamics import debate_dynamics_metrics
from parley.training.advantages import AdvantageConfig, compute_advantages, with_advantages
from parley.training.checkpoint import checkpoint_dirs, load_checkpoint, save_checkpoint
from parley.training.config import TrainRunConfig, protocol_roles
from parley.training.optimise import optimise
from parley.training.policies import PolicySet
from parley.training.rollouts import AnswerScorer
from parley.training.samples import TrainingSample, samples_from_transcripts

if TYPE_CHECKING:
    from parley.training.trainer import ProgressFn, TrainResult

logger = logging.getLogger(__name__)

COUNTERFACTUAL_STRATEGIES = ("difference", "coma")


class OfflineModeError(UserError, ValueError):
    """The store or config cannot be trained offline (counterfactual shaping, wrong protocol, ...)."""


class OfflineStepStream:
    """Lazy steps of grouped transcripts from a trajectory store (see the module docstring).

    Args:
        root: the store directory.
        group_size: most transcripts of one problem per group (``train.group_size``).
        problems_per_step: groups per step (``train.problems_per_step``).
        max_pending: most transcripts held in incomplete groups (default ``8 * problems_per_step *
            group_size``, at least 64).
        skip_groups: groups to skip first (resume: the data position of the checkpoint).
        read_batch_size: debates per Arrow batch read from the store.

    Attributes (observability; tests check laziness with them): ``transcripts_read``,
    ``groups_emitted`` (including skipped), ``passes`` (completed passes over the store),
    ``peak_pending`` (most transcripts ever waiting in incomplete groups).
    """

    def __init__(self, root: Path, *, group_size: int, problems_per_step: int, max_pending: int | None = None,
                 skip_groups: int = 0, read_batch_size: int = 64) -> None:
        if group_size < 1 or problems_per_step < 1:
            raise ValueError(f"group_size={group_size}, problems_per_step={problems_per_step}: must be >= 1")
        self.store = TrajectoryStore.read(root)
        self.root = root
        self.group_size = group_size
        self.problems_per_step = problems_per_step
        self.max_pending = max_pending if max_pending is not None else max(64, 8 * problems_per_step * group_size)
        if self.max_pending < group_size:
            raise ValueError(f"max_pending={self.max_pending} must be >= group_size={group_size}")
        self.skip_groups = skip_groups
        self.read_batch_size = read_batch_size
        self.transcripts_read = 0
        self.groups_emitted = 0
        self.passes = 0
        self.peak_pending = 0

    def _groups_one_pass(self) -> Iterator[list[Transcript]]:
        pending: dict[str, list[Transcript]] = {}
        n_pending = 0
        for transcript in self.store.iter_transcripts(batch_size=self.read_batch_size):
            self.transcripts_read += 1
            group = pending.setdefault(transcript.problem_id, [])
            group.append(transcript)
            n_pending += 1
            self.peak_pending = max(self.peak_pending, n_pending)
            if len(group) == self.group_size:
                del pending[transcript.problem_id]
                n_pending -= len(group)
                yield group
            elif n_pending >= self.max_pending:
                oldest = next(iter(pending))  # dicts keep insertion order: the longest-waiting problem
                group = pending.pop(oldest)
                n_pending -= len(group)
                yield group
        yield from pending.values()

    def groups(self) -> Iterator[list[Transcript]]:
        """Groups forever (pass after pass), after skipping ``skip_groups``."""
        index = 0
        while True:
            emitted_this_pass = 0
            for group in self._groups_one_pass():
                emitted_this_pass += 1
                index += 1
                if index <= self.skip_groups:
                    continue
                self.groups_emitted = index
                yield group
            if emitted_this_pass == 0:
                raise OfflineModeError(f"train.offline_store: {self.root} holds no transcripts")
            self.passes += 1

    def steps(self) -> Iterator[list[list[Transcript]]]:
        """Steps of ``problems_per_step`` groups, forever (the caller stops after ``train.steps``)."""
        step: list[list[Transcript]] = []
        for group in self.groups():
            step.append(group)
            if len(step) == self.problems_per_step:
                yield step
                step = []


def check_offline_config(cfg: TrainRunConfig) -> None:
    """Reject what offline mode cannot do, naming the field."""
    name = cfg.train.shaping.name
    if name in COUNTERFACTUAL_STRATEGIES:
        raise OfflineModeError(
            f"train.shaping.name={name!r} needs counterfactual rollouts from the current policy, which offline "
            f"mode (train.offline_store={cfg.train.offline_store}) cannot run; use identity, mixing, potential, "
            "margin or quality offline, or unset train.offline_store to train online")
    store = cfg.train.offline_store
    if store is None or not Path(store).is_dir():
        raise OfflineModeError(f"train.offline_store={store}: not a trajectory store directory")


def store_problems(root: Path, fallback: DatasetConfig) -> dict[str, Problem]:
    """Gold answers for re-scoring: the dataset in the store's ``run.json`` config, else ``fallback``."""
    dataset: dict[str, Any] | None = load_manifest(root).config.get("dataset")
    cfg = DatasetConfig.model_validate(dataset) if dataset else fallback
    try:
        return {p.id: p for p in load_problems(cfg)}
    except DatasetError as exc:
        logger.warning("offline: cannot load the store's dataset (%s); using each transcript's gold_answer", exc)
        return {}


def offline_signals(transcripts: Sequence[Transcript], scorer: AnswerScorer, selection: str
                    ) -> tuple[list[DebateSignals], list[float], dict[str, float]]:
    """Per-debate signals and G (the stored reward when present) of one offline step."""
    for t in transcripts:
        if t.problem_id not in scorer.problems:
            scorer.problems[t.problem_id] = Problem(id=t.problem_id, question=t.question, answer=t.gold_answer,
                                                    domain=t.domain)  # type: ignore[arg-type]
    extra: dict[str, float] = {}
    if selection == "majority_label":
        labels = majority_label(transcripts)
        extra["selection/majority_agreement"] = float(labels.mean_agreement)

        def oracle_for(t: Transcript) -> Any:
            label = labels.labels.get(t.problem_id)
            return lambda a: a is not None and label is not None and normalize_for_vote(a) == normalize_for_vote(
                label)
    else:
        scorer.score_all([(t.problem_id, a) for t in transcripts
                          for a in (t.final_answer, *(turn.parsed.answer for turn in t.turns))])

        def oracle_for(t: Transcript) -> Any:
            return lambda a: scorer.correct(t.problem_id, a)

    signals, outcomes, rescored = [], [], 0
    for t in transcripts:
        sig = debate_signals(t, oracle_for(t))
        if selection != "majority_label" and t.reward is not None:
            sig = replace(sig, outcome=float(t.reward))
        else:
            rescored += int(selection != "majority_label")
        signals.append(sig)
        outcomes.append(sig.outcome)
    extra["offline/rescored"] = float(rescored)
    return signals, outcomes, extra


def _bind_policies(samples: list[TrainingSample], policies: PolicySet, vocab: int, store: Path) -> None:
    """Point each sample at the training policy of its role and check its ids fit the model."""
    for s in samples:
        pid = policies.role_to_policy.get(s.role)
        if pid is None:
            raise OfflineModeError(f"{store}: debate {s.debate_id!r} has role {s.role!r}, not a role of the "
                                   f"configured protocol ({', '.join(policies.role_to_policy)})")
        s.policy_id = pid
        top = max([*s.context_ids, *s.completion_ids])
        if top >= vocab:
            raise OfflineModeError(f"{store}: debate {s.debate_id!r} has token id {top} but the model's vocabulary "
                                   f"has {vocab} entries; train with the model (tokenizer) that generated the store")


def train_offline(cfg: TrainRunConfig, *, resume: bool = False, progress: ProgressFn | None = None,
                  registry: Any | None = None) -> TrainResult:
    """Train from ``cfg.train.offline_store`` for ``cfg.train.steps`` steps; returns a ``TrainResult``."""
    from parley.training.trainer import RUN_FILE, TrainingError, TrainResult, _step_metrics, resolve_base_model

    check_offline_config(cfg)
    store_dir = Path(cfg.train.offline_store)  # type: ignore[arg-type]
    run_dir = Path(cfg.output.dir)
    digest = config_hash(cfg)
    run_file = run_dir / RUN_FILE
    if run_file.exists():
        info = json.loads(run_file.read_text())
        if not resume:
            raise TrainingError(f"{run_dir} already holds a training run ({info['run_id']}); pass --resume to "
                                "continue it or choose a new output.dir")
        if info["config_hash"] != digest:
            raise TrainingError(f"{run_dir}: config hash {digest} differs from the run's {info['config_hash']}")
        run_id = info["run_id"]
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        run_id = f"train-offline-{digest[:8]}-{os.urandom(4).hex()}"
        run_file.write_text(json.dumps({"run_id": run_id, "config_hash": digest, "offline_store": str(store_dir),
                                        "config": cfg.model_dump(mode="json")}, indent=2))
    torch.manual_seed(cfg.train.seed)
    base_dir = resolve_base_model(cfg)
    roles = protocol_roles(cfg.protocol)
    policies = PolicySet.build(base_dir, roles, cfg.train, batch_size=cfg.model.batch_size,
                               num_threads=cfg.model.num_threads)
    tokenizer = policies.tokenizer
    pad_id = int(tokenizer.pad_token_id or 0)
    vocab = int(next(iter(policies.policies.values())).model.get_input_embeddings().weight.shape[0])
    start_step, skip = 1, 0
    existing = checkpoint_dirs(run_dir)
    if resume and existing:
        state = load_checkpoint(existing[-1], policies)
        start_step, skip = int(state["step"]) + 1, int(state["data"]["groups_consumed"])
    stream = OfflineStepStream(store_dir, group_size=cfg.train.group_size,
                               problems_per_step=cfg.train.problems_per_step, skip_groups=skip)
    own_registry = registry is None
    if registry is None:
        from parley.rewards.registry import default_registry

        registry = default_registry()
    problems = store_problems(store_dir, cfg.dataset)
    tracker = LocalTracker(run_dir, resume_step=start_step - 1 if resume else None)
    tracker.log_params({"config": cfg.model_dump(mode="json"), "config_hash": digest, "run_id": run_id,
                        "base_model": str(base_dir), "offline_store": str(store_dir)})
    probe: torch.Tensor | None = None
    try:
        steps = stream.steps()
        for step in range(start_step, cfg.train.steps + 1):
            t0 = time.perf_counter()
            groups = next(steps)
            transcripts = [t for g in groups for t in g]
            for t in transcripts:
                if t.protocol != cfg.protocol.name:
                    raise OfflineModeError(f"{store_dir}: debate {t.debate_id!r} ran protocol {t.protocol!r} but "
                                           f"protocol.name={cfg.protocol.name!r}; set protocol.name to match")
            t1 = time.perf_counter()
            scorer = AnswerScorer(registry, problems)  # a fresh memo per step keeps memory bounded
            signals, outcomes, extra = offline_signals(transcripts, scorer, cfg.train.selection)
            t2 = time.perf_counter()
            shaped = shape(cfg.train.shaping, ShapingBatch(transcripts, signals))
            samples = samples_from_transcripts(transcripts, shaped.rewards, None, outcomes=outcomes)
            _bind_policies(samples, policies, vocab, store_dir)
            trainable = policies.trainable_roles()
            samples = [s for s in samples if s.role in trainable]
            adv = compute_advantages(samples, AdvantageConfig(estimator=cfg.train.estimator, scale=cfg.train.scale,
                                                              group_size=cfg.train.group_size))
            samples = with_advantages(samples, adv)
            t3 = time.perf_counter()
            metrics: dict[str, float] = dict(extra)
            metrics |= {f"shaping/{k}": float(v) for k, v in shaped.diagnostics.items()}
            metrics |= optimise(policies, samples, cfg.train, pad_id)
            t4 = time.perf_counter()
            metrics |= _step_metrics(transcripts, signals, samples, adv)
            metrics |= debate_dynamics_metrics(transcripts, signals)
            metrics |= {"reward/mean": sum(outcomes) / max(len(outcomes), 1),
                        "time/load_s": t1 - t0, "time/verification_s": t2 - t1, "time/optimisation_s": t4 - t3,
                        "time/step_s": t4 - t0, "offline/transcripts_read": float(stream.transcripts_read),
                        "offline/passes": float(stream.passes), "offline/groups": float(len(groups)),
                        "offline/peak_pending": float(stream.peak_pending),
                        "perf/trainer_tokens_per_s": sum(len(s.completion_ids) + len(s.context_ids) for s in samples
                                                         ) / max(t4 - t3, 1e-9)}
            tracker.log_metrics(step, metrics)
            if step % cfg.train.checkpoint_every == 0 or step == cfg.train.steps:
                if probe is None:
                    probe = torch.tensor([tokenizer.apply_chat_template(
                        [{"role": "user", "content": transcripts[0].question}], add_generation_prompt=True,
                        tokenize=True, return_dict=False)])
                save_checkpoint(run_dir, policies, step=step, data_state={"groups_consumed": stream.groups_emitted},
                                meta={"run_id": run_id, "config_hash": digest, "offline_store": str(store_dir)},
                                probe=probe, keep=cfg.train.keep_checkpoints)
            if progress:
                progress(step, metrics)
        final = policies.save_pretrained(run_dir / "final")
        return TrainResult(run_dir, cfg.train.steps, final, {})
    finally:
        tracker.close()
        if own_registry:
            registry.close()
