"""The report toolkit: numbers formatted for people, tables that drop columns without information,
checked SVG figures with HTML captions, small-multiples learning curves, and a document writer that
produces one self-contained HTML file (plus Markdown, one CSV of raw values per table, SVG figures).

One toolkit serves every report of parley: the demo report (:mod:`parley.experiments.demo_report`),
``parley eval compare --report`` (:mod:`parley.evaluation.report`) and the CooperBench report
(:mod:`parley.cooperbench.report`). It depends only on matplotlib and the standard library; the
statistics it shows are computed by the caller. See ``docs/report.md``.
"""

from parley.report import numbers
from parley.report.charts import Estimate, bar_chart, draw_intervals, interval_chart, interval_grid, mark_missing
from parley.report.curves import Panel, Series, curve_grid
from parley.report.document import Definitions, Paragraph, Report, Section, SideBySide
from parley.report.figures import (
    HALF_IN,
    WIDE_IN,
    FigureArtefact,
    FigureLayoutError,
    Palette,
    new_figure,
    render,
    text_overflow,
)
from parley.report.tables import Cell, Column, Table

__all__ = [
    "HALF_IN", "WIDE_IN", "Cell", "Column", "Definitions", "Estimate", "FigureArtefact", "FigureLayoutError",
    "Palette", "Panel", "Paragraph", "Report", "Section", "Series", "SideBySide", "Table", "bar_chart",
    "curve_grid", "draw_intervals", "interval_chart", "interval_grid", "mark_missing", "new_figure", "numbers",
    "render", "text_overflow",
]
