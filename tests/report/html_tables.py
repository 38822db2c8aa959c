"""Read the cells of the report's tables back from its HTML (stdlib parser), by table id."""

from __future__ import annotations

from html.parser import HTMLParser


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[tuple[str, str | None]]]] = {}
        self._table: str | None = None
        self._row: list[tuple[str, str | None]] | None = None
        self._cell: list[str] | None = None
        self._title: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "div" and (a.get("id") or "").startswith("table-"):
            self._table = str(a["id"])[len("table-"):]
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell, self._title = [], a.get("title")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(("".join(self._cell).replace("\u00a0", " ").strip(), self._title))
            self._cell = None
        elif tag == "tr" and self._table is not None and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def read_tables(html: str) -> dict[str, list[dict[str, tuple[str, str | None]]]]:
    """Table id -> rows as {header: (cell text, tooltip)}; the n-th repeat of a heading is ``heading#n``."""
    parser = _Tables()
    parser.feed(html)
    out = {}
    for table_id, rows in parser.tables.items():
        header: list[str] = []
        for text, _ in rows[0]:  # a repeated heading (two "p" columns) becomes "p#2"
            header.append(text if text not in header else f"{text}#{header.count(text) + 1}")
        out[table_id] = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    return out
