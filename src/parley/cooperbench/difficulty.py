"""Difficulty-stratified success curves and their AUC (arXiv 2601.13295, Sec. 4, Fig. 4).

* **Difficulty** of a feature pair: ``d(t) = 1 - mean solo success``. The paper averages over models;
  with several models in the input parley does the same (mean over seeds per model, then over models);
  with one model it can only average over that model's seeds, and says so in ``method``.
* **Buckets**: ten equal-width buckets over [0, 1]; bucket ``b`` holds ``b/10 <= d < (b+1)/10`` and
  ``d = 1`` falls in bucket 9.
* **Per-bucket success**: the share of records (attempts) of a setting in the bucket that succeeded,
  with a 95% Wilson interval.
* **AUC over [0, 1]** (midpoint rule): each bucket contributes its success rate times its width 0.1.
  Empty buckets are filled by linear interpolation between the nearest non-empty buckets on either
  side; leading or trailing empty buckets take the nearest non-empty bucket's rate. The AUC is ``None``
  when every bucket is empty. The filled buckets are listed in the result.
* **Retention** = AUC_coop / AUC_solo (``None`` when AUC_solo is 0 or undefined).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from parley.cooperbench.stats import proportion
from parley.cooperbench.types import RunRecord, Setting

N_BUCKETS = 10
PairKey = tuple[str, int, tuple[int, int]]


@dataclass
class Difficulty:
    """Per-pair difficulty and how it was averaged."""

    by_pair: dict[PairKey, float]
    method: str
    models: list[str]


def pair_difficulty(records: Sequence[RunRecord]) -> Difficulty:
    """``d(t)`` for every pair with at least one usable solo record."""
    per: dict[PairKey, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.setting == "solo" and r.usable:
            per[r.pair_key][r.model].append(r.success)
    models = sorted({m for d in per.values() for m in d})
    if len(models) > 1:
        method = f"1 - mean solo success over {len(models)} models (each model averaged over its seeds)"
    else:
        seeds = sorted({r.seed for r in records if r.setting == "solo" and r.usable})
        method = (
            f"1 - mean solo success over {len(seeds)} seed(s) of one model "
            f"({models[0] if models else 'none'}); the paper averages over models"
        )
    by_pair = {
        key: 1.0 - sum(sum(v) / len(v) for v in by_model.values()) / len(by_model) for key, by_model in per.items()
    }
    return Difficulty(by_pair=by_pair, method=method, models=models)


def bucket_of(d: float) -> int:
    """Bucket index 0..9 of a difficulty in [0, 1]."""
    return min(int(d * N_BUCKETS + 1e-9), N_BUCKETS - 1)


@dataclass
class Curve:
    """Success per difficulty bucket for one setting, with its AUC."""

    setting: str
    buckets: list[dict[str, Any]]
    auc: float | None
    filled_buckets: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def auc_from_rates(rates: Sequence[float | None]) -> tuple[float | None, list[int]]:
    """AUC over [0, 1] from per-bucket rates (``None`` = empty bucket), with the filled buckets."""
    known = [i for i, r in enumerate(rates) if r is not None]
    if not known:
        return None, []
    filled: list[float] = []
    for i, rate in enumerate(rates):
        if rate is not None:
            filled.append(rate)
            continue
        left = max((k for k in known if k < i), default=None)
        right = min((k for k in known if k > i), default=None)
        if left is None and right is not None:
            filled.append(float(rates[right]))  # type: ignore[arg-type]
        elif right is None and left is not None:
            filled.append(float(rates[left]))  # type: ignore[arg-type]
        elif left is not None and right is not None:
            lv, rv = float(rates[left]), float(rates[right])  # type: ignore[arg-type]
            filled.append(lv + (rv - lv) * (i - left) / (right - left))
    width = 1.0 / len(rates)
    return sum(filled) * width, [i for i, r in enumerate(rates) if r is None]


def success_curve(records: Sequence[RunRecord], setting: Setting, difficulty: Difficulty) -> Curve:
    """Per-bucket success of ``setting`` records whose pair has a difficulty."""
    hits = [0] * N_BUCKETS
    totals = [0] * N_BUCKETS
    for r in records:
        if r.setting != setting or not r.usable or r.pair_key not in difficulty.by_pair:
            continue
        b = bucket_of(difficulty.by_pair[r.pair_key])
        totals[b] += 1
        hits[b] += int(r.success)
    buckets = []
    for b in range(N_BUCKETS):
        p = proportion(hits[b], totals[b])
        buckets.append({"bucket": b, "d_low": b / N_BUCKETS, "d_high": (b + 1) / N_BUCKETS, **p.as_dict()})
    auc, filled = auc_from_rates([bk["rate"] for bk in buckets])
    return Curve(setting=setting, buckets=buckets, auc=auc, filled_buckets=filled)


def retention(coop_auc: float | None, solo_auc: float | None) -> float | None:
    """AUC_coop / AUC_solo, ``None`` when undefined."""
    if coop_auc is None or not solo_auc:
        return None
    return coop_auc / solo_auc
