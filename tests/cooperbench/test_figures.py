"""Missing values in the CooperBench figures are drawn as "n/a", never as zero bars (issue 12 polish)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from parley.cooperbench.analysis import analyze
from parley.cooperbench.figures import NA, draw_figures, write_figures
from parley.cooperbench.loaders import load_runs
from tests.cooperbench.conftest import RECORDS


def _na_texts(ax: Any) -> int:
    return sum(t.get_text() == NA for t in ax.texts)


def _visible_bars(ax: Any) -> list[Any]:
    return [p for p in ax.patches if p.get_visible() and type(p).__name__ == "Rectangle"]


def test_none_auc_and_rates_over_zero_records_are_drawn_as_na() -> None:
    metrics = analyze(load_runs(RECORDS))
    complete = draw_figures(metrics)
    models = list(metrics["per_model"])
    full_bars = len(_visible_bars(complete["auc_vs_paper"].axes[0]))
    assert _na_texts(complete["auc_vs_paper"].axes[0]) == 0

    missing = copy.deepcopy(metrics)
    missing["per_model"][models[0]]["auc"]["coop-comm"] = None  # e.g. no coop-comm record of this model
    planning = missing["communication"]["first_turn_planning"]["with"]
    planning.update(n=0, rate=None, low=None, high=None)  # a conflict rate over zero records
    repo = next(iter(missing["per_repo"]))
    missing["per_repo"][repo]["coop-comm"]["conflict_rate"] = {"rate": None, "low": None, "high": None, "n": 0}
    figures = draw_figures(missing)

    auc = figures["auc_vs_paper"].axes[0]
    assert _na_texts(auc) == 1 and len(_visible_bars(auc)) == full_bars - 1
    for name, axis in (("communication", 1), ("per_repo", 0)):  # one more "n/a" than in the complete data
        assert _na_texts(figures[name].axes[axis]) == _na_texts(complete[name].axes[axis]) + 1, name


def test_figures_are_written_as_png_and_pdf(tmp_path: Path) -> None:
    written = write_figures(analyze(load_runs(RECORDS)), tmp_path)
    assert written and all(p.exists() and p.stat().st_size > 0 for p in written)
    assert {p.suffix for p in written} == {".png", ".pdf"}
