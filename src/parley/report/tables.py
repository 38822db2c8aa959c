"""Tables for people, with the raw rows kept for machines.

A :class:`Table` holds raw rows (dicts of full-precision values, what goes into the CSV) and
:class:`Column` s that say how a row becomes a cell for a reader (text, tooltip, footnote). Columns
that carry no information for this run are left out of the rendered table automatically:

- a column whose cells are all missing (``None`` / NaN), e.g. paired columns of a one-arm table;
- a column marked ``zero_is_uninformative`` whose values are all zero or missing, e.g. the dollar
  cost of a run on local models;
- a column with a ``constant_note`` whose rows (two or more) all hold the same value: the note, with
  ``{value}`` replaced by that cell's text, says it once under the table (e.g. "Every arm trained
  for 32 steps.").

Each dropped column may leave a note (``omitted_note``) so the reader knows why it is absent; the
CSV always has every raw key.
"""

from __future__ import annotations

import csv
import html
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from parley.report.numbers import MISSING

Align = Literal["left", "right", "center"]


@dataclass(frozen=True)
class Cell:
    """One rendered cell: its text, an optional tooltip (``title``) and an optional footnote."""

    text: str
    tooltip: str | None = None
    footnote: str | None = None
    emphasis: bool = False


Formatter = Callable[[Mapping[str, Any]], "Cell | str"]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclass(frozen=True)
class Column:
    """How to show one column.

    Args:
        header: the column heading a reader sees.
        key: the raw key whose values decide whether the column carries information (and the default
            text when ``format`` is not given).
        format: row -> :class:`Cell` or text; defaults to ``str(row[key])``.
        align: ``right`` for numbers (the default), ``left`` for names.
        zero_is_uninformative: drop the column when every value of ``key`` is 0 or missing.
        omitted_note: the note shown under the table when the column is dropped.
        tooltip: a header tooltip (what the column means).
        missing: the text of a cell whose ``key`` is missing, or row -> that text (e.g. ``reference`` on
            the reference's own row, ``—`` on the others).
        constant_note: drop the column when all rows share one value and show this note instead
            (``{value}``: the shared cell's text).
    """

    header: str
    key: str
    format: Formatter | None = None
    align: Align = "right"
    zero_is_uninformative: bool = False
    omitted_note: str | None = None
    tooltip: str | None = None
    missing: str | Callable[[Mapping[str, Any]], str] = MISSING
    constant_note: str | None = None

    def constant(self, rows: Sequence[Mapping[str, Any]]) -> bool:
        """Whether a ``constant_note`` column holds one value in every row that has one (two or more)."""
        values = [row.get(self.key) for row in rows if not _is_missing(row.get(self.key))]
        return self.constant_note is not None and len(values) > 1 and all(v == values[0] for v in values)

    def informative(self, rows: Sequence[Mapping[str, Any]]) -> bool:
        values = [row.get(self.key) for row in rows]
        present = [v for v in values if not _is_missing(v)]
        if not present or self.constant(rows):
            return False
        return not (self.zero_is_uninformative and all(isinstance(v, int | float) and v == 0 for v in present))

    def cell(self, row: Mapping[str, Any]) -> Cell:
        if _is_missing(row.get(self.key)):
            return Cell(self.missing(row) if callable(self.missing) else self.missing)
        out = self.format(row) if self.format else str(row.get(self.key))
        return out if isinstance(out, Cell) else Cell(out)


@dataclass
class Table:
    """A table: an id (its CSV is ``<id>.csv``), columns, raw rows, a caption sentence and notes."""

    id: str
    columns: Sequence[Column]
    rows: Sequence[Mapping[str, Any]]
    caption: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.id.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"table id {self.id!r}: use letters, digits, '-' and '_' (it names the CSV file)")

    def visible(self) -> list[Column]:
        """The columns that carry information for these rows (always at least the first)."""
        shown = [c for c in self.columns if c.informative(self.rows)]
        return shown or list(self.columns[:1])

    def all_notes(self) -> list[str]:
        """The table's notes, then one note per dropped column that has an ``omitted_note``."""
        shown = {id(c) for c in self.visible()}
        dropped = []
        for c in self.columns:
            if id(c) in shown:
                continue
            if c.constant(self.rows):
                first = next(r for r in self.rows if not _is_missing(r.get(c.key)))
                dropped.append(c.constant_note.format(value=c.cell(first).text))  # type: ignore[union-attr]
            elif c.omitted_note:
                dropped.append(c.omitted_note)
        return [*self.notes, *dropped]

    def grid(self) -> tuple[list[Column], list[list[Cell]], list[str]]:
        """Visible columns, rendered cells and the footnotes (numbered in order of appearance)."""
        columns = self.visible()
        footnotes: list[str] = []
        cells = []
        for row in self.rows:
            line = []
            for column in columns:
                cell = column.cell(row)
                if cell.footnote:
                    if cell.footnote not in footnotes:
                        footnotes.append(cell.footnote)
                    mark = footnotes.index(cell.footnote) + 1
                    cell = Cell(f"{cell.text}\u2009[{mark}]", cell.tooltip, cell.footnote, cell.emphasis)
                line.append(cell)
            cells.append(line)
        return columns, cells, footnotes

    def to_html(self) -> str:
        columns, cells, footnotes = self.grid()
        head = "".join(
            f"<th class='{c.align}'{_title(c.tooltip)} scope='col'>{html.escape(c.header)}</th>" for c in columns)
        body = []
        for line in cells:
            tds = []
            for column, cell in zip(columns, line, strict=True):
                text = html.escape(_keep_intervals(cell.text))
                if cell.emphasis:
                    text = f"<strong>{text}</strong>"
                tds.append(f"<td class='{column.align}'{_title(cell.tooltip)}>{text}</td>")
            body.append("<tr>" + "".join(tds) + "</tr>")
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        notes = [f"<li>[{i}] {html.escape(n)}</li>" for i, n in enumerate(footnotes, 1)]
        notes += [f"<li>{html.escape(n)}</li>" for n in self.all_notes()]
        foot = f"<ul class='notes'>{''.join(notes)}</ul>" if notes else ""
        return (f"<div class='table' id='table-{self.id}'><table>{caption}<thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table>{foot}</div>")

    def to_markdown(self) -> str:
        columns, cells, footnotes = self.grid()

        def esc(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        align = {"left": ":---", "right": "---:", "center": ":---:"}
        lines = [f"*{esc(self.caption)}*", ""] if self.caption else []
        lines += ["| " + " | ".join(esc(c.header) for c in columns) + " |",
                  "|" + "|".join(align[c.align] for c in columns) + "|"]
        lines += ["| " + " | ".join(esc(cell.text) for cell in line) + " |" for line in cells]
        notes = [f"[{i}] {n}" for i, n in enumerate(footnotes, 1)] + self.all_notes()
        if notes:
            lines += [""] + [f"- {n}" for n in notes]
        return "\n".join(lines)

    def write_csv(self, path: str | Path) -> Path:
        """Every raw key of every row at full precision (``repr`` of floats; missing values empty)."""
        keys: list[str] = []
        for row in self.rows:
            keys.extend(k for k in row if k not in keys)
        out = Path(path)
        with out.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(keys)
            for row in self.rows:
                writer.writerow([_raw(row.get(k)) for k in keys])
        return out


def _keep_intervals(text: str) -> str:
    """No line break inside ``[low, high]`` (a narrow column wraps before the interval instead)."""
    return re.sub(r"\[[^\]]*\]", lambda m: m.group(0).replace(" ", "\u00a0"), text)


def _raw(value: Any) -> str:
    if _is_missing(value):
        return ""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return ";".join(_raw(v) for v in value)
    return str(value)


def _title(text: str | None) -> str:
    return f" title='{html.escape(text, quote=True)}'" if text else ""
