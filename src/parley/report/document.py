"""A report document: sections of paragraphs, tables and figures, written as one self-contained HTML
file, a Markdown twin, one CSV per table (raw values) and the figures as SVG files.

Layout blocks: :class:`Paragraph`, :class:`Table`, :class:`FigureArtefact`, :class:`SideBySide` (a table
and a figure next to each other on a wide screen, stacked on a narrow one or in print) and
:class:`Definitions` (term: explanation lists). Paragraph text is plain text (escaped); ``**bold**``
marks emphasis.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from parley.report.figures import FigureArtefact
from parley.report.style import CSS
from parley.report.tables import Table


@dataclass(frozen=True)
class Paragraph:
    """Plain text; ``**text**`` is shown bold. ``kind="warning"`` renders it as a flag box."""

    text: str
    kind: str = "text"


@dataclass(frozen=True)
class SideBySide:
    """A table (or paragraph) beside a figure on wide screens; stacked below 1000 px and in print."""

    left: Table | Paragraph
    right: FigureArtefact


@dataclass(frozen=True)
class Definitions:
    """A list of ``term: explanation`` pairs (e.g. how to read the columns)."""

    items: Sequence[tuple[str, str]]


Block = Paragraph | Table | FigureArtefact | SideBySide | Definitions


@dataclass
class Section:
    """A titled part of the report (``id`` anchors it; derived from the title when empty)."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    id: str = ""

    def anchor(self) -> str:
        return self.id or re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


@dataclass
class Report:
    """The whole report: a title, a one-line subtitle (what was run, when), sections."""

    title: str
    sections: list[Section]
    subtitle: str = ""

    def tables(self) -> list[Table]:
        found: list[Table] = []
        for section in self.sections:
            for block in section.blocks:
                if isinstance(block, Table):
                    found.append(block)
                elif isinstance(block, SideBySide) and isinstance(block.left, Table):
                    found.append(block.left)
        return found

    def figures(self) -> list[FigureArtefact]:
        found: list[FigureArtefact] = []
        for section in self.sections:
            for block in section.blocks:
                if isinstance(block, FigureArtefact):
                    found.append(block)
                elif isinstance(block, SideBySide):
                    found.append(block.right)
        return found

    def to_html(self) -> str:
        parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
                 "<meta name='viewport' content='width=device-width, initial-scale=1'>",
                 f"<title>{html.escape(self.title)}</title><style>{CSS}</style></head><body><main>",
                 f"<header><h1>{html.escape(self.title)}</h1>"]
        if self.subtitle:
            parts.append(f"<p class='subtitle'>{_inline(self.subtitle)}</p>")
        if len(self.sections) > 2:
            links = "".join(f"<li><a href='#{s.anchor()}'>{html.escape(s.title)}</a></li>" for s in self.sections)
            parts.append(f"<nav><ol>{links}</ol></nav>")
        parts.append("</header>")
        for section in self.sections:
            parts.append(f"<section id='{section.anchor()}'><h2>{html.escape(section.title)}</h2>")
            parts += [_block_html(block) for block in section.blocks]
            parts.append("</section>")
        parts.append("</main></body></html>")
        return "\n".join(parts)

    def to_markdown(self, links: dict[str, str] | None = None) -> str:
        """Markdown: the same text and tables; figures linked (``links``: figure id -> path, default
        ``figures/<id>.<ext>``)."""
        links = {f.id: f"figures/{f.id}.{f.extension}" for f in self.figures()} | (links or {})
        lines = [f"# {self.title}", ""]
        if self.subtitle:
            lines += [self.subtitle, ""]
        for section in self.sections:
            lines += [f"## {section.title}", ""]
            for block in section.blocks:
                lines += [_block_markdown(block, links), ""]
        return "\n".join(lines).rstrip() + "\n"

    def write(self, out_dir: str | Path, *, stem: str = "report") -> dict[str, Path]:
        """Write ``<stem>.html`` (self-contained), ``<stem>.md``, ``<id>.csv`` per table and
        ``figures/<id>.svg`` per figure into ``out_dir``; returns the paths by kind (``html``, ``md``,
        ``csv:<id>``, ``figure:<id>``).

        Raises:
            ValueError: two tables or two figures share an id (their files would overwrite each other).
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for kind, ids in (("table", [t.id for t in self.tables()]), ("figure", [f.id for f in self.figures()])):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"report {self.title!r}: {kind} ids used twice: {duplicates}")
        for table in self.tables():
            paths[f"csv:{table.id}"] = table.write_csv(out / f"{table.id}.csv")
        figure_dir = out / "figures"
        links = {}
        for figure in self.figures():
            if figure.source is None:
                figure_dir.mkdir(exist_ok=True)
            path = paths[f"figure:{figure.id}"] = figure.write(figure_dir)
            try:
                links[figure.id] = path.resolve().relative_to(out.resolve()).as_posix()
            except ValueError:
                links[figure.id] = str(path.resolve())
        paths["html"] = out / f"{stem}.html"
        paths["html"].write_text(self.to_html(), encoding="utf-8")
        paths["md"] = out / f"{stem}.md"
        paths["md"].write_text(self.to_markdown(links), encoding="utf-8")
        return paths


def _inline(text: str) -> str:
    escaped = html.escape(text)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)


def _block_html(block: Block) -> str:
    if isinstance(block, Paragraph):
        cls = " class='flag'" if block.kind == "warning" else ""
        return "".join(f"<p{cls}>{_inline(p)}</p>" for p in block.text.split("\n\n"))
    if isinstance(block, Table):
        return block.to_html()
    if isinstance(block, FigureArtefact):
        return block.to_html()
    if isinstance(block, SideBySide):
        return f"<div class='pair'><div>{_block_html(block.left)}</div><div>{block.right.to_html()}</div></div>"
    items = "".join(f"<dt>{html.escape(t)}</dt><dd>{_inline(d)}</dd>" for t, d in block.items)
    return f"<dl>{items}</dl>"


def _block_markdown(block: Block, links: dict[str, str]) -> str:
    if isinstance(block, Paragraph):
        return ("> **Flag:** " if block.kind == "warning" else "") + block.text
    if isinstance(block, Table):
        return block.to_markdown()
    if isinstance(block, FigureArtefact):
        return f"![{block.alt}]({links[block.id]})\n\n*{block.caption}*"
    if isinstance(block, SideBySide):
        return _block_markdown(block.left, links) + "\n\n" + _block_markdown(block.right, links)
    return "\n".join(f"- **{t}**: {d}" for t, d in block.items)
