"""Tables: uninformative columns dropped (with their note), tooltips and footnotes, raw CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from parley.report import Cell, Column, Table, numbers


def _table() -> Table:
    rows = [
        {"arm": "warm start", "accuracy": 0.2367, "diff": None, "cost": 0.0, "unused": None},
        {"arm": "identity", "accuracy": 0.3, "diff": 0.0633, "cost": 0.0, "unused": None},
    ]
    return Table("arms", [
        Column("Arm", "arm", align="left"),
        Column("Accuracy", "accuracy", format=lambda r: Cell(numbers.percent(r["accuracy"]), tooltip="12 of 40")),
        Column("Diff", "diff", format=lambda r: Cell(numbers.points(r["diff"]), footnote="paired bootstrap"),
               missing="reference"),
        Column("Cost", "cost", zero_is_uninformative=True, omitted_note="Cost left out: local model."),
        Column("Unused", "unused"),
    ], rows, caption="Two arms.")


def test_uninformative_columns_are_dropped_with_their_note() -> None:
    table = _table()
    assert [c.header for c in table.visible()] == ["Arm", "Accuracy", "Diff"]
    assert table.all_notes() == ["Cost left out: local model."]
    html = table.to_html()
    assert "Cost" not in html.split("<ul")[0] and "Unused" not in html
    assert "Cost left out: local model." in html
    assert "<td class='right'>reference</td>" in html
    assert "title='12 of 40'" in html
    assert "+6.3\u2009[1]" in html and "[1] paired bootstrap" in html


def test_nonzero_cost_is_kept() -> None:
    table = _table()
    table.rows[1]["cost"] = 0.25  # type: ignore[index]
    assert "Cost" in [c.header for c in table.visible()]
    assert table.all_notes() == []


def test_intervals_do_not_break_inside_brackets() -> None:
    table = Table("t", [Column("A", "a")], [{"a": "23.7% [19.2, 28.8]"}])
    assert "23.7% [19.2,\u00a028.8]" in table.to_html()


def test_markdown_and_raw_csv(tmp_path: Path) -> None:
    table = _table()
    md = table.to_markdown()
    assert "| Arm | Accuracy | Diff |" in md and "|:---|---:|---:|" in md
    assert "| identity | 30.0% | +6.3\u2009[1] |" in md
    path = table.write_csv(tmp_path / "arms.csv")
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0].keys() == {"arm", "accuracy", "diff", "cost", "unused"}  # every raw key, dropped ones too
    assert float(rows[0]["accuracy"]) == 0.2367 and rows[0]["diff"] == ""
    assert rows[1]["diff"] == repr(0.0633)


def test_table_id_names_a_file() -> None:
    with pytest.raises(ValueError, match="table id"):
        Table("../x", [Column("A", "a")], [])


def test_a_constant_column_becomes_a_note() -> None:
    columns = [Column("Arm", "arm", align="left"),
               Column("Steps", "steps", format=lambda r: numbers.count(r["steps"]),
                      constant_note="Every arm trained for {value} steps.")]
    table = Table("cost", columns, [{"arm": "a", "steps": 3200}, {"arm": "b", "steps": 3200}])
    assert [c.header for c in table.visible()] == ["Arm"]
    assert table.all_notes() == ["Every arm trained for 3,200 steps."]
    varied = Table("cost", columns, [{"arm": "a", "steps": 32}, {"arm": "b", "steps": 16}])
    assert [c.header for c in varied.visible()] == ["Arm", "Steps"] and varied.all_notes() == []
    single = Table("cost", columns, [{"arm": "a", "steps": 32}])
    assert [c.header for c in single.visible()] == ["Arm", "Steps"]  # one row: nothing to factor out
    with_reference = Table("arms", columns, [{"arm": "warm start", "steps": None}, {"arm": "a", "steps": 2},
                                             {"arm": "b", "steps": 2}])
    assert with_reference.all_notes() == ["Every arm trained for 2 steps."]  # rows without a value do not count
