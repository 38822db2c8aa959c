"""The live view of ``parley demo``: one line per shared stage and one per arm, fitting 80 columns.

Per-arm stages (train, evaluate) of one arm share a row (``identity s0 | step 12/40 r=0.55 | pending``),
so ten arms take ten rows, and an ETA is extrapolated from the weighted share of work done so far.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.table import Table

from parley.experiments.state import StageRecord

#: Share of the demo's wall time each stage kind takes (used for the ETA). Measured on the default demo
#: from a fresh cache (2026-12-01, 2 cores, 766 s): prepare 135 s; baseline 50 s, train 997 s and
#: evaluate 187 s of stage time, two stages at a time; report 10 s.
WEIGHTS = {"tiny_prepare": 0.18, "baseline": 0.03, "train": 0.65, "evaluate": 0.13, "demo_report": 0.01}
_STYLE = {"succeeded": "green", "failed": "red", "running": "cyan", "cancelled": "yellow"}


def arm_label(arm_id: str) -> str:
    """``shaping=coma#1a2b3c,seed=1`` -> ``coma s1``."""
    values = dict(part.split("=", 1) for part in arm_id.split(",") if "=" in part)
    name = re.sub(r"#.*$", "", values.get("shaping", arm_id))
    seed = values.get("seed")
    return f"{name} s{seed}" if seed is not None else name


def _cell(s: StageRecord | None, width: int) -> str:
    if s is None:
        return ""
    if s.status == "succeeded":
        return "[green]done[/]"
    if s.status == "running":
        text = re.sub(r"\s+", " ", s.progress or "running")
        text = text.replace("reward ", "r=")
        return f"[cyan]{text[:width]}[/]"
    style = _STYLE.get(s.status, "")
    return f"[{style}]{s.status}[/]" if style else s.status


def done_fraction(stages: Sequence[StageRecord]) -> float:
    """Weighted share of the work done (per-arm kinds split their weight over their arms)."""
    per_kind: dict[str, int] = {}
    for s in stages:
        per_kind[s.kind] = per_kind.get(s.kind, 0) + 1
    total = done = 0.0
    for s in stages:
        w = WEIGHTS.get(s.kind, 0.05) / per_kind[s.kind]
        total += w
        if s.status == "succeeded":
            done += w
        elif s.status == "running" and s.progress_fraction is not None:
            done += w * max(0.0, min(1.0, s.progress_fraction))
    return done / total if total else 0.0


def clock(seconds: float) -> str:
    """``m:ss`` (minutes truncated, not rounded: 12:50 is not "13:50")."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def eta_text(stages: Sequence[StageRecord], elapsed_s: float) -> str:
    f = done_fraction(stages)
    if f < 0.03 or f >= 1:
        return ""
    left = elapsed_s * (1 - f) / f
    return f"ETA ~{left / 60:.0f} min" if left >= 90 else f"ETA ~{left:.0f} s"


def demo_table(stages: Sequence[StageRecord], elapsed_s: float, title: str = "parley demo") -> Table:
    """The live table (see the module docstring)."""
    table = Table(title=f"{title}  {clock(elapsed_s)} elapsed  {eta_text(stages, elapsed_s)}",
                  title_justify="left", box=None, pad_edge=False, show_edge=False)
    table.add_column("stage", no_wrap=True, min_width=14)
    table.add_column("train", no_wrap=True, max_width=34)
    table.add_column("evaluate", no_wrap=True, max_width=24)
    arms: dict[str, dict[str, StageRecord]] = {}
    for s in stages:
        if s.arm_id is not None:
            arms.setdefault(s.arm_id, {})[s.base_id] = s
    shown_arms = False
    for s in stages:
        if s.arm_id is None:
            if s.kind == "demo_report" and not shown_arms:
                shown_arms = True
                _arm_rows(table, arms)
            table.add_row(s.base_id, _cell(s, 34), "")
        elif not shown_arms and s.base_id == "train":
            shown_arms = True
            _arm_rows(table, arms)
    if not shown_arms:
        _arm_rows(table, arms)
    return table


def _arm_rows(table: Table, arms: dict[str, dict[str, StageRecord]]) -> None:
    for arm_id, by_base in arms.items():
        table.add_row(arm_label(arm_id), _cell(by_base.get("train"), 34), _cell(by_base.get("evaluate"), 24))
