"""Learning curves as small multiples: one panel per metric, one line per arm in the report's colours,
a band over seeds where a step has at least two, and one legend for the grid, below it.

This module only draws: the caller aggregates seeds into :class:`Series` (mean and band per step), so
the statistics stay in :mod:`parley.evaluation.statistics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from parley.report.figures import WIDE_IN, Palette, TickLabels, panel_grid, wrap


@dataclass(frozen=True)
class Series:
    """One arm's curve: x values, the mean over seeds and the band (``None`` where fewer than 2 seeds)."""

    label: str
    xs: Sequence[float]
    means: Sequence[float]
    lows: Sequence[float | None]
    highs: Sequence[float | None]
    seeds: int = 1

    def __post_init__(self) -> None:
        lengths = {len(self.xs), len(self.means), len(self.lows), len(self.highs)}
        if len(lengths) != 1:
            raise ValueError(f"series {self.label!r}: xs, means, lows and highs differ in length")


@dataclass(frozen=True)
class Panel:
    """One small multiple: a short title (the metric, in words), its y label and the arms' series."""

    title: str
    series: Sequence[Series]
    ylabel: str = ""
    ylim: tuple[float, float] | None = None
    hline: float | None = None
    notes: Sequence[str] = field(default_factory=tuple)


def curve_grid(panels: Sequence[Panel], palette: Palette, *, xlabel: str = "training step", columns: int = 3,
               width_in: float = WIDE_IN, panel_height_in: float = 2.3) -> Figure:
    """Draw ``panels`` as a grid (``columns`` per row) with a shared legend below the grid.

    Raises:
        ValueError: no panel, or a panel without any series (an empty panel would hide a missing metric).
    """
    if not panels:
        raise ValueError("curve_grid: no panels")
    for panel in panels:
        if not panel.series:
            raise ValueError(f"curve_grid: panel {panel.title!r} has no series")
    fig, axes = panel_grid(len(panels), columns=columns, width_in=width_in, panel_height_in=panel_height_in)
    cols = min(columns, len(panels))
    labels: dict[str, Line2D] = {}
    xs_all = [x for panel in panels for s in panel.series for x in s.xs]
    for ax, panel in zip(axes, panels, strict=True):
        for s in panel.series:
            colour = palette[s.label]
            # Markers where a curve has too few points to be seen as a line.
            (line,) = ax.plot(s.xs, s.means, color=colour, linewidth=1.6, marker="o" if len(s.xs) < 3 else None,
                              markersize=3)
            labels.setdefault(s.label, line)
            if any(v is not None for v in s.lows):
                lows = [float("nan") if v is None else v for v in s.lows]
                highs = [float("nan") if v is None else v for v in s.highs]
                ax.fill_between(s.xs, lows, highs, color=colour, alpha=0.18, linewidth=0)
        if panel.hline is not None:
            ax.axhline(panel.hline, color="#9aa0a6", linewidth=0.8, linestyle=":")
        ax.set_title(wrap(panel.title, width_in / cols, 10), fontsize=10, loc="left")
        if panel.ylabel:
            ax.set_ylabel(panel.ylabel, fontsize=8)
        if panel.ylim is not None:
            ax.set_ylim(*panel.ylim)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if max(xs_all) > min(xs_all):  # one x range for every panel, as in a shared-x grid
            pad = 0.03 * (max(xs_all) - min(xs_all))
            ax.set_xlim(min(xs_all) - pad, max(xs_all) + pad)
        ax.yaxis.set_major_formatter(TickLabels())
        ax.grid(alpha=0.25)
        ax.spines[["top", "right"]].set_visible(False)
    for i, ax in enumerate(axes):
        if i + cols >= len(axes):  # no panel below this one
            ax.set_xlabel(xlabel, fontsize=8)
    fig.legend(list(labels.values()), list(labels), loc="outside lower center", ncols=min(len(labels), 6),
               frameon=False, fontsize=9)
    return fig
