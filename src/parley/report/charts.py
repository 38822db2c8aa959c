"""Chart types for reports: dot-and-interval rows, small multiples of them, grouped bars.

All follow :mod:`parley.report.figures`: missing values are labelled (``n/a`` or a note such as
``not run``), never drawn as zero; colours come from a :class:`~parley.report.figures.Palette`;
legends sit outside the plotting area; the caller passes the figure to
:func:`~parley.report.figures.render`, which checks that no text is cut.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from parley.report.figures import HALF_IN, REFERENCE_COLOUR, WIDE_IN, Palette, TickLabels, new_figure, panel_grid, wrap


def mark_missing(ax: Axes, x: float, y: float, *, horizontal: bool = False, text: str = "n/a") -> None:
    """Write ``n/a`` where a missing value's bar or point would be (never a zero bar): at data ``x`` on
    the baseline of a vertical bar chart, or at the left edge of the axes in row ``y`` of a horizontal one."""
    if horizontal:
        ax.annotate(text, (0.0, y), xycoords=("axes fraction", "data"), ha="left", va="center", fontsize=8,
                    color=REFERENCE_COLOUR, xytext=(3, 0), textcoords="offset points", annotation_clip=False)
    else:
        ax.annotate(text, (x, y), ha="center", va="bottom", fontsize=8, color=REFERENCE_COLOUR, xytext=(0, 2),
                    textcoords="offset points", annotation_clip=False)


@dataclass(frozen=True)
class Estimate:
    """One value with its interval for a chart row; a ``None`` value is drawn as ``note`` (default
    ``n/a``), e.g. ``not run``. ``points`` are individual values (e.g. one per seed) drawn as open
    circles beside the estimate."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    note: str = ""
    points: tuple[float, ...] = ()


def draw_intervals(ax: Axes, estimates: Sequence[Estimate], palette: Palette, *, scale: float = 100.0,
                   labels: bool = True) -> None:
    """Rows of dot-and-interval estimates on ``ax`` (top row first); ``labels`` writes the row names."""
    ys = list(range(len(estimates)))[::-1]
    for y, est in zip(ys, estimates, strict=True):
        colour = palette[est.label]
        if est.value is None:
            mark_missing(ax, 0.0, y, horizontal=True, text=est.note or "n/a")
            continue
        if est.low is not None and est.high is not None:
            ax.plot([est.low * scale, est.high * scale], [y, y], color=colour, linewidth=2.2, solid_capstyle="butt")
        if est.points:
            ax.plot([v * scale for v in est.points], [y - 0.22] * len(est.points), "o", markersize=4,
                    markerfacecolor="none", markeredgecolor=colour, markeredgewidth=1)
        ax.plot([est.value * scale], [y], "o", color=colour, markersize=6)
    ax.set_yticks(ys, [e.label for e in estimates] if labels else [""] * len(ys))
    ax.set_ylim(-0.6, len(estimates) - 0.4)
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def interval_chart(estimates: Sequence[Estimate], palette: Palette, *, xlabel: str, percent: bool = True,
                   reference: float | None = None, reference_label: str = "", width_in: float = HALF_IN,
                   xlim: tuple[float, float] | None = None) -> Figure:
    """One row per estimate: a dot at the value and a line over its interval (top row first).

    ``reference`` draws a dashed vertical line (e.g. the warm start's accuracy) labelled in the legend.
    Values are proportions shown as percentages when ``percent``.
    """
    scale = 100.0 if percent else 1.0
    fig = new_figure(width_in, 0.9 + 0.42 * max(len(estimates), 1))
    ax = fig.subplots()
    draw_intervals(ax, estimates, palette, scale=scale)
    if reference is not None:
        ax.axvline(reference * scale, color=REFERENCE_COLOUR, linestyle="--", linewidth=1, label=reference_label)
        fig.legend(loc="outside lower center", frameon=False, fontsize=8)
    if xlim is not None:
        ax.set_xlim(xlim[0] * scale, xlim[1] * scale)
    ax.set_xlabel(xlabel)
    return fig


def interval_grid(panels: Sequence[tuple[str, Sequence[Estimate], bool]], palette: Palette, *, columns: int = 3,
                  width_in: float = WIDE_IN) -> Figure:
    """Small multiples of interval charts: one panel per ``(title, estimates, percent)``, the same rows
    in every panel (row names on the first panel of each grid row only)."""
    rows = max((len(e) for _, e, _ in panels), default=1)
    fig, axes = panel_grid(len(panels), columns=columns, width_in=width_in, panel_height_in=0.55 + 0.3 * rows)
    cols = min(columns, len(panels))
    for i, (ax, (title, estimates, percent)) in enumerate(zip(axes, panels, strict=True)):
        draw_intervals(ax, estimates, palette, scale=100.0 if percent else 1.0, labels=i % cols == 0)
        ax.set_title(wrap(title, width_in / cols, 10), fontsize=10, loc="left")
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_formatter(TickLabels())
    return fig


def bar_chart(groups: Sequence[str], series: Mapping[str, Sequence[Estimate | None]], palette: Palette, *,
              ylabel: str, percent: bool = True, width_in: float = HALF_IN, height_in: float = 3.4,
              value_labels: bool = True, ylim: tuple[float, float] | None = None) -> Figure:
    """Grouped vertical bars: ``series`` name -> one estimate per group (``None`` or a ``None`` value: n/a).

    Intervals are drawn as error bars; with several series the legend sits below the plot.
    """
    scale = 100.0 if percent else 1.0
    fig = new_figure(width_in, height_in)
    ax = fig.subplots()
    n = max(len(series), 1)
    width = 0.8 / n
    top = 0.0
    for i, (name, values) in enumerate(series.items()):
        if len(values) != len(groups):
            raise ValueError(f"series {name!r}: {len(values)} values for {len(groups)} groups")
        for j, est in enumerate(values):
            x = j + (i - (n - 1) / 2) * width
            if est is None or est.value is None:
                mark_missing(ax, x, 0.0, text=est.note if est is not None and est.note else "n/a")
                continue
            v = est.value * scale
            err = None
            if est.low is not None and est.high is not None:
                err = [[v - est.low * scale], [est.high * scale - v]]
                top = max(top, est.high * scale)
            top = max(top, v)
            ax.bar([x], [v], width * 0.92, yerr=err, capsize=3, color=palette[name],
                   label=name if j == 0 else None, error_kw={"linewidth": 1, "ecolor": "#333333"})
            if value_labels:
                ax.annotate(f"{v:.1f}" if percent else f"{v:.3g}",
                            (x, est.high * scale if est.high is not None else v), ha="center", va="bottom",
                            fontsize=7, xytext=(0, 2), textcoords="offset points", annotation_clip=False)
    ax.set_xticks(range(len(groups)), [wrap(g, width_in / max(len(groups), 1), 9) for g in groups], fontsize=9)
    ax.set_ylim(*(ylim if ylim is not None else (0, max(top * 1.18, 1e-9) if top else 1.0)))
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    if len(series) > 1:
        fig.legend(loc="outside lower center", ncols=min(len(series), 4), frameon=False, fontsize=8)
    return fig
