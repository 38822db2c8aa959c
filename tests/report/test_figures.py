"""Figures: text that would be cut is caught, missing values are n/a (not zero bars), colours are stable,
SVG output is deterministic, and the small-multiples legend sits outside every panel."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from parley.report import (
    Estimate,
    FigureLayoutError,
    Palette,
    Panel,
    Series,
    bar_chart,
    curve_grid,
    interval_chart,
    interval_grid,
    new_figure,
    render,
    text_overflow,
)


def test_text_cut_by_the_canvas_is_reported() -> None:
    fig = Figure(figsize=(3, 3))  # no constrained layout: a long title runs off the canvas
    ax = fig.subplots()
    ax.set_title("warm start: debate vs single vs compute-matched self-consistency")
    assert text_overflow(fig) == ["warm start: debate vs single vs compute-matched self-consistency"]
    with pytest.raises(FigureLayoutError, match="compute-matched"):
        render(fig, "cut", "A caption.")
    ok = new_figure(3, 2)
    ok.subplots().set_title("short")
    assert text_overflow(ok) == []


def test_texts_running_into_each_other_are_reported() -> None:
    fig = new_figure(4, 3)
    ax = fig.subplots()
    ax.text(0.5, 0.5, "first label", ha="center")
    ax.text(0.52, 0.5, "second label", ha="center")
    assert text_overflow(fig) == ["'first label' overlaps 'second label'"]


def test_missing_values_are_labelled_not_drawn_as_zero() -> None:
    palette = Palette(["solo", "coop"])
    fig = bar_chart(["auc", "rate"], {"solo": [Estimate("solo", 0.4, 0.3, 0.5), None],
                                      "coop": [Estimate("coop", None), Estimate("coop", 0.2, 0.1, 0.3)]},
                    palette, ylabel="%")
    ax = fig.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 2  # two values exist; the two missing ones get no bar at all
    assert [t.get_text() for t in ax.texts].count("n/a") == 2
    render(fig, "bars", "caption")
    chart = interval_chart([Estimate("a", 0.3, 0.2, 0.4), Estimate("b", None, note="not run")], palette,
                           xlabel="%")
    assert "not run" in [t.get_text() for t in chart.axes[0].texts]
    render(chart, "intervals", "caption")


def test_interval_grid_shares_rows_and_draws_seed_points() -> None:
    palette = Palette(["warm start", "identity"], reference=["warm start"])
    rows = [Estimate("warm start", 0.4, 0.3, 0.5), Estimate("identity", 0.6, 0.5, 0.7, points=(0.55, 0.65))]
    fig = interval_grid([("Solver: first attempt right (%)", rows, True), ("Rounds per debate", [
        Estimate("warm start", 1.4, 1.3, 1.5), Estimate("identity", None)], False)], palette)
    first, second = fig.axes
    assert [t.get_text() for t in first.get_yticklabels()] == ["warm start", "identity"]
    assert [t.get_text() for t in second.get_yticklabels()] == ["", ""]  # row names once per grid row
    assert "n/a" in [t.get_text() for t in second.texts]
    hollow = [line for line in first.get_lines() if line.get_markerfacecolor() == "none"]
    assert len(hollow) == 1 and list(hollow[0].get_xdata()) == pytest.approx([55.0, 65.0])
    render(fig, "roles", "caption")


def test_palette_is_stable_and_reference_is_grey() -> None:
    a = Palette(["warm start", "identity", "coma"], reference=["warm start"])
    b = Palette(["warm start", "identity", "coma"], reference=["warm start"])
    assert a["identity"] == b["identity"] != a["coma"]
    a.alias("identity (seed 1)", "identity")
    assert a["identity (seed 1)"] == a["identity"]
    assert a["warm start"] == "#6b6b6b"


def test_curve_grid_legend_outside_panels_and_svg_deterministic() -> None:
    s1 = Series("identity", [0, 1, 2], [0.1, 0.2, 0.3], [0.05, 0.1, 0.2], [0.2, 0.3, 0.4], seeds=2)
    s2 = Series("coma", [0, 1, 2], [0.2, 0.2, 0.1], [None] * 3, [None] * 3)
    panels = [Panel("Outcome reward", [s1, s2]),
              Panel("A panel title long enough that it has to be wrapped to fit its panel", [s1]), Panel("KL", [s2])]
    palette = Palette(["identity", "coma"])
    fig = curve_grid(panels, palette)
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()
    for ax in fig.axes:
        assert not legend.overlaps(ax.get_window_extent())
    assert "\n" in fig.axes[1].get_title(loc="left")
    first = render(fig, "curves", "caption").svg
    assert render(curve_grid(panels, palette), "curves", "caption").svg == first
    assert "<svg" in first
    with pytest.raises(ValueError, match="no series"):
        curve_grid([Panel("empty", [])], palette)
