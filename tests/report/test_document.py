"""The report document: one self-contained HTML file, a Markdown twin, CSVs of raw values, figure files."""

from __future__ import annotations

import base64
import csv
from pathlib import Path

import pytest

from parley.report import (
    Column,
    Definitions,
    Estimate,
    FigureArtefact,
    Palette,
    Paragraph,
    Report,
    Section,
    SideBySide,
    Table,
    interval_chart,
    render,
)


def _report() -> Report:
    palette = Palette(["a", "b"])
    figure = render(interval_chart([Estimate("a", 0.3, 0.2, 0.4), Estimate("b", 0.5, 0.4, 0.6)], palette,
                                   xlabel="accuracy (%)"), "acc", "Accuracy of a and b with 95% intervals.")
    table = Table("acc", [Column("Arm", "arm", align="left"), Column("Accuracy", "accuracy")],
                  [{"arm": "a", "accuracy": 0.3}, {"arm": "b <script>", "accuracy": 0.5}], caption="Two arms.")
    return Report("A <report>", [
        Section("Findings", [Paragraph("**b** beats a.\n\nSecond paragraph."),
                             Paragraph("A degenerate baseline.", kind="warning")]),
        Section("Comparison", [SideBySide(table, figure), Definitions([("n", "problems")])]),
        Section("More", []),
    ], subtitle="what ran")


def test_write_self_contained_html_markdown_csv_and_figures(tmp_path: Path) -> None:
    paths = _report().write(tmp_path)
    html = paths["html"].read_text()
    assert "<title>A &lt;report&gt;</title>" in html and "b &lt;script&gt;" in html  # escaped
    assert "<strong>b</strong> beats a." in html and "<p class='flag'>A degenerate baseline.</p>" in html
    assert "<div class='pair'>" in html and "<nav>" in html and "href='#comparison'" in html
    svg = paths["figure:acc"].read_bytes()
    assert f"data:image/svg+xml;base64,{base64.b64encode(svg).decode()}" in html
    assert "src='figures/" not in html and "http" not in html.split("<body>")[1]  # nothing fetched
    md = paths["md"].read_text()
    assert "![Accuracy of a and b with 95% intervals.](figures/acc.svg)" in md
    assert "> **Flag:** A degenerate baseline." in md
    with paths["csv:acc"].open() as fh:
        assert [r["accuracy"] for r in csv.DictReader(fh)] == ["0.3", "0.5"]


def test_duplicate_ids_and_existing_figure_files(tmp_path: Path) -> None:
    table = Table("t", [Column("A", "a")], [{"a": 1}])
    with pytest.raises(ValueError, match="table ids used twice"):
        Report("r", [Section("s", [table, table])]).write(tmp_path)
    png = tmp_path / "given.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    art = FigureArtefact.from_file(png, "A given figure.")
    paths = Report("r", [Section("s", [art])]).write(tmp_path / "out")
    assert paths["figure:given"] == png and not (tmp_path / "out" / "figures").exists()
    assert "](" + str(png.resolve()) + ")" in paths["md"].read_text()
    with pytest.raises(ValueError, match=r"embed \.svg or \.png"):
        FigureArtefact.from_file(tmp_path / "out" / "report.md", "x")
