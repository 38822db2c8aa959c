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

The store's sampling temperature (its ``run.json`` config) must equal ``train.temperature`` and be
positive: the PPO ratio compares the stored log-probs with ones recomputed at ``train.temperature``.

:class:`OfflineRollouts` is the :class:`~parley.training.sources.RolloutSource` the training loop
(:func:`parley.training.trainer.train`) uses when ``train.offline_store`` is set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from parley.config.models import DatasetConfig
from parley.data import load_problems
from parley.data.loaders import DatasetError
from parley.data.problem import Problem
from parley.debate.parsing import normalize_for_vote
from parley.debate.types import Transcript
from parley.rewards.selection import majority_label
from parley.rewards.signals import DebateSignals, debate_signals
from parley.store import TrajectoryStore
from parley.store.manifest import load_manifest
from parley.training.config import TrainRunConfig
from parley.training.policies import PolicySet
from parley.training.rollouts import AnswerScorer
from parley.training.sources import StepBatch, counterfactual_inputs

logger = logging.getLogger(__name__)


class OfflineModeError(ValueError):
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
    if counterfactual_inputs(cfg.train.shaping):
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
                                                    domain=t.domain)
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


def _bind_policies(transcripts: Sequence[Transcript], policies: PolicySet, vocab: int, store: Path) -> None:
    """Point each turn at the training policy of its role and check its ids fit the model."""
    for t in transcripts:
        for turn in t.turns:
            pid = policies.role_to_policy.get(turn.role)
            if pid is None:
                raise OfflineModeError(f"{store}: debate {t.debate_id!r} has role {turn.role!r}, not a role of the "
                                       f"configured protocol ({', '.join(policies.role_to_policy)})")
            turn.policy_id = pid
            ids = [*(turn.context_token_ids or []), *(turn.token_ids or [])]
            if ids and max(ids) >= vocab:
                raise OfflineModeError(f"{store}: debate {t.debate_id!r} has token id {max(ids)} but the model's "
                                       f"vocabulary has {vocab} entries; train with the model (tokenizer) that "
                                       "generated the store")


def check_store_temperature(root: Path, train_temperature: float) -> None:
    """Refuse a store whose sampling temperature differs from ``train.temperature`` (or was greedy).

    The PPO ratio compares the stored sampling log-probs with log-probs recomputed at
    ``train.temperature``; at a different temperature the two distributions differ from the first
    epoch on (measured: clip fraction 0.10 at equal weights), and greedy stores record
    temperature-1 log-probs of tokens that were never sampled.
    """
    generation = load_manifest(root).config.get("generation") or {}
    stored = generation.get("temperature")
    if stored is None:
        raise OfflineModeError(f"train.offline_store={root}: its run.json records no generation.temperature, so the "
                               "sampling log-probs cannot be matched; regenerate it with parley generate")
    if float(stored) <= 0:
        raise OfflineModeError(f"train.offline_store={root} was sampled greedily (generation.temperature=0): its "
                               "tokens were not drawn from the policy, so it cannot be trained on with PPO; "
                               "generate it with a temperature > 0")
    if abs(float(stored) - train_temperature) > 1e-9:
        raise OfflineModeError(f"train.offline_store={root} was sampled at generation.temperature={stored} but "
                               f"train.temperature={train_temperature}; set train.temperature={stored} so the PPO "
                               "ratio compares the same distribution")


class OfflineRollouts:
    """A :class:`~parley.training.sources.RolloutSource` over a trajectory store (see the module docstring)."""

    def __init__(self, cfg: TrainRunConfig, policies: PolicySet, registry: Any) -> None:
        check_offline_config(cfg)
        self.cfg = cfg
        self.store_dir = Path(cfg.train.offline_store)  # type: ignore[arg-type]
        check_store_temperature(self.store_dir, cfg.train.temperature)
        self.policies = policies
        self.registry = registry
        self.vocab = policies.vocab_size()
        self.problems = store_problems(self.store_dir, cfg.dataset)
        self.skip = 0
        self._stream: OfflineStepStream | None = None
        self._steps: Iterator[list[list[Transcript]]] | None = None

    def state(self) -> dict[str, Any]:
        return {"groups_consumed": self._stream.groups_emitted if self._stream is not None else self.skip}

    def restore(self, state: dict[str, Any]) -> None:
        self.skip = int(state["groups_consumed"])

    def next_batch(self, step: int) -> StepBatch:
        if self._steps is None:
            self._stream = OfflineStepStream(self.store_dir, group_size=self.cfg.train.group_size,
                                             problems_per_step=self.cfg.train.problems_per_step,
                                             skip_groups=self.skip)
            self._steps = self._stream.steps()
        stream = self._stream
        assert stream is not None
        t0 = time.perf_counter()
        groups = next(self._steps)
        transcripts = [t for g in groups for t in g]
        for t in transcripts:
            if t.protocol != self.cfg.protocol.name:
                raise OfflineModeError(f"{self.store_dir}: debate {t.debate_id!r} ran protocol {t.protocol!r} but "
                                       f"protocol.name={self.cfg.protocol.name!r}; set protocol.name to match")
        _bind_policies(transcripts, self.policies, self.vocab, self.store_dir)
        t1 = time.perf_counter()
        scorer = AnswerScorer(self.registry, self.problems)  # a fresh memo per step keeps memory bounded
        signals, outcomes, extra = offline_signals(transcripts, scorer, self.cfg.train.selection)
        t2 = time.perf_counter()
        metrics = dict(extra) | {
            "time/load_s": t1 - t0, "time/verification_s": t2 - t1,
            "offline/transcripts_read": float(stream.transcripts_read), "offline/passes": float(stream.passes),
            "offline/groups": float(len(groups)), "offline/peak_pending": float(stream.peak_pending)}
        return StepBatch(transcripts, signals, outcomes, [True] * len(transcripts), metrics=metrics)
