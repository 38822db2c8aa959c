"""Advantage estimators over grouped samples (docs/algorithms.md section 4).

Groups are AT-GRPO groups (same problem, same role, same turn position; see
:mod:`parley.training.samples`). With r the shaped reward:

- ``grpo`` (Shao et al. 2024, DeepSeekMath): A = (r - mean_g) / (std_g + 1e-6), std with Bessel's
  correction (ddof=1, as TRL and verl compute it); ``scale="none"`` is Dr.GRPO (Liu et al. 2025,
  "Understanding R1-Zero-Like Training"): A = r - mean_g.
- ``rloo`` (Ahmadian et al. 2024, "Back to Basics"): A_i = r_i - mean_{j != i} r_j.
- ``reinforce_pp`` (Hu 2025, REINFORCE++): A = (r - mean_batch) / (std_batch + 1e-6) over the whole
  batch (ddof=1), no grouping.

Groups of size 1 or with zero variance give A = 0 under the group estimators; they are counted
(``zero_variance_group_fraction``), never faked or crashed on. G >= 2 is required for group
estimators: :func:`validate_group_size` / :class:`AdvantageConfig` reject configs that violate it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from parley.config.models import GROUP_ESTIMATORS, AdvantageScale, Estimator, validate_group_size
from parley.training.samples import TrainingSample

__all__ = ["GROUP_ESTIMATORS", "AdvantageConfig", "AdvantageResult", "AdvantageStats", "Estimator",
           "SelectionGroupError", "compute_advantages", "grpo_advantages", "reinforce_pp_advantages",
           "rloo_advantages", "validate_group_size", "with_advantages"]

EPS = 1e-6
_ZERO_VAR_TOL = 1e-12


class SelectionGroupError(ValueError):
    """Best-of-n survivors were passed to a group-relative estimator."""


@dataclass
class AdvantageStats:
    """Group bookkeeping of one estimator call.

    ``degenerate_groups`` = groups of size 1 plus groups whose rewards are all equal; their
    share of all groups is ``zero_variance_group_fraction``. ``group_sizes`` maps size -> count.
    """

    num_groups: int
    singleton_groups: int
    zero_variance_groups: int
    group_sizes: dict[int, int]
    mean: float
    std: float

    @property
    def degenerate_groups(self) -> int:
        return self.singleton_groups + self.zero_variance_groups

    @property
    def zero_variance_group_fraction(self) -> float:
        return self.degenerate_groups / self.num_groups if self.num_groups else 0.0


@dataclass
class AdvantageResult:
    """Advantages in input order, overall stats and per-role stats (role = group id's 2nd field)."""

    advantages: list[float]
    stats: AdvantageStats
    per_role: dict[str, AdvantageStats] = field(default_factory=dict)


def _groups(group_ids: Sequence[Hashable]) -> dict[Hashable, list[int]]:
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, gid in enumerate(group_ids):
        groups[gid].append(i)
    return groups


def _stats(rewards: np.ndarray, groups: dict[Hashable, list[int]], advantages: np.ndarray) -> AdvantageStats:
    singles = zero = 0
    for members in groups.values():
        if len(members) == 1:
            singles += 1
        elif np.ptp(rewards[members]) <= _ZERO_VAR_TOL:
            zero += 1
    sizes = Counter(len(m) for m in groups.values())
    return AdvantageStats(
        num_groups=len(groups), singleton_groups=singles, zero_variance_groups=zero,
        group_sizes=dict(sorted(sizes.items())),
        mean=float(advantages.mean()) if advantages.size else 0.0,
        std=float(advantages.std()) if advantages.size else 0.0,
    )


def _check(rewards: Sequence[float], group_ids: Sequence[Hashable]) -> np.ndarray:
    if len(rewards) != len(group_ids):
        raise ValueError(f"{len(rewards)} rewards but {len(group_ids)} group ids")
    r = np.asarray(rewards, dtype=np.float64)
    if not np.all(np.isfinite(r)):
        raise ValueError("rewards contain NaN or inf")
    return r


def grpo_advantages(rewards: Sequence[float], group_ids: Sequence[Hashable], *,
                    scale: AdvantageScale = "std") -> AdvantageResult:
    """GRPO (``scale="std"``) or Dr.GRPO (``scale="none"``) advantages within groups."""
    r = _check(rewards, group_ids)
    groups = _groups(group_ids)
    adv = np.zeros_like(r)
    for members in groups.values():
        g = r[members]
        if len(members) < 2 or np.ptp(g) <= _ZERO_VAR_TOL:
            continue
        centred = g - g.mean()
        adv[members] = centred / (g.std(ddof=1) + EPS) if scale == "std" else centred
    return AdvantageResult(adv.tolist(), _stats(r, groups, adv))


def rloo_advantages(rewards: Sequence[float], group_ids: Sequence[Hashable]) -> AdvantageResult:
    """RLOO: each sample's reward minus the mean of the other samples of its group."""
    r = _check(rewards, group_ids)
    groups = _groups(group_ids)
    adv = np.zeros_like(r)
    for members in groups.values():
        g = r[members]
        if len(members) < 2 or np.ptp(g) <= _ZERO_VAR_TOL:
            continue
        n = len(members)
        adv[members] = g - (g.sum() - g) / (n - 1)
    return AdvantageResult(adv.tolist(), _stats(r, groups, adv))


def reinforce_pp_advantages(rewards: Sequence[float], group_ids: Sequence[Hashable]) -> AdvantageResult:
    """REINFORCE++: batch-mean baseline, batch-std normalisation; groups only feed the stats."""
    r = _check(rewards, group_ids)
    groups = _groups(group_ids)
    adv = np.zeros_like(r)
    if r.size >= 2 and np.ptp(r) > _ZERO_VAR_TOL:
        adv = (r - r.mean()) / (r.std(ddof=1) + EPS)
    return AdvantageResult(adv.tolist(), _stats(r, groups, adv))


class AdvantageConfig(BaseModel):
    """Which estimator, its options, and the rollouts per problem (``group_size``, G)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    estimator: Estimator = "grpo"
    scale: AdvantageScale = Field(default="std", description="grpo: 'none' gives Dr.GRPO.")
    group_size: int = Field(default=4, ge=1, description="Rollouts per problem (G).")

    @model_validator(mode="after")
    def _group_size(self) -> AdvantageConfig:
        validate_group_size(self.estimator, self.group_size)
        return self


def compute_advantages(samples: Sequence[TrainingSample], config: AdvantageConfig) -> AdvantageResult:
    """Advantages of ``samples`` (by their group ids and shaped rewards), with per-role stats.

    Raises:
        SelectionGroupError: a group estimator received best-of-n survivors.
    """
    if config.estimator in GROUP_ESTIMATORS and any(s.selected for s in samples):
        bad = next(s for s in samples if s.selected)
        raise SelectionGroupError(
            f"estimator {config.estimator!r}: sample of debate {bad.debate_id!r} is a best-of-n survivor; "
            f"survivors are not a group of policy samples (use them for rejection-sampling fine-tuning)")
    rewards = [s.shaped_reward for s in samples]
    gids = [s.group_id for s in samples]
    if config.estimator == "grpo":
        result = grpo_advantages(rewards, gids, scale=config.scale)
    elif config.estimator == "rloo":
        result = rloo_advantages(rewards, gids)
    else:
        result = reinforce_pp_advantages(rewards, gids)
    adv = np.asarray(result.advantages)
    r = np.asarray(rewards, dtype=np.float64)
    for role in sorted({s.role for s in samples}):
        idx = [i for i, s in enumerate(samples) if s.role == role]
        result.per_role[role] = _stats(r[idx], _groups([gids[i] for i in idx]), adv[idx])
    return result


def with_advantages(samples: Sequence[TrainingSample], result: AdvantageResult) -> list[TrainingSample]:
    """Copies of ``samples`` with ``advantage`` set from ``result``."""
    if len(samples) != len(result.advantages):
        raise ValueError(f"{len(samples)} samples but {len(result.advantages)} advantages")
    return [replace(s, advantage=a) for s, a in zip(samples, result.advantages, strict=True)]
