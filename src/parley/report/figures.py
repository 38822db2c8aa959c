"""Figures for reports: drawn with matplotlib's object API (no pyplot state), checked, embedded as SVG.

Rules every figure here follows:

- The figure's title is an HTML caption outside the image (:class:`FigureArtefact`), a sentence that
  says what the figure shows and how to read its bands; inside the image there are only short panel
  titles, axis labels, tick labels and legends.
- Before it is saved, :func:`text_overflow` measures every text and legend with the renderer; a text
  that would be cut by the canvas or by its clip box, or that runs into another text, raises
  :class:`FigureLayoutError` (long panel titles are wrapped first, so this is a bug, never a silent crop).
- Missing values (``None``: an empty group, an undefined AUC) are drawn as an ``n/a`` label, never as a
  zero bar (the chart types are in :mod:`parley.report.charts`).
- Arms keep one colour across every figure of a report (:class:`Palette`); legends sit outside the
  plotting area.

Figures are written as SVG (vector: crisp on screen, clean in print) with deterministic ids, and
embedded into the HTML as ``data:`` URIs so the report is one self-contained file.
"""

from __future__ import annotations

import base64
import html
import io
import math
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.ticker import Formatter

# Okabe & Ito (2008) colour-blind-safe qualitative palette, then matplotlib's tab10 for more arms.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
EXTRA = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
REFERENCE_COLOUR = "#6b6b6b"
WIDE_IN = 9.6  # a full-width figure (about 920 px at 96 dpi)
HALF_IN = 4.6  # a figure beside a table (about 440 px: shown near its natural size)


class FigureLayoutError(ValueError):
    """A text of a figure does not fit its canvas (it would be cut off)."""


class Palette:
    """One colour per name, stable across a report's figures: the order of ``names`` decides.

    ``reference`` names (e.g. ``warm start``) are drawn in grey.
    """

    def __init__(self, names: Iterable[str], reference: Iterable[str] = ()) -> None:
        self.reference = set(reference)
        colours = [*OKABE_ITO, *EXTRA]
        self._map: dict[str, str] = {}
        i = 0
        for name in names:
            if name in self._map:
                continue
            if name in self.reference:
                self._map[name] = REFERENCE_COLOUR
            else:
                self._map[name] = colours[i % len(colours)]
                i += 1

    def alias(self, label: str, name: str) -> None:
        """Draw ``label`` (e.g. ``identity (seed 1)``) in the colour of ``name``."""
        self._map[label] = self[name]

    def __getitem__(self, name: str) -> str:
        if name not in self._map:
            self._map[name] = REFERENCE_COLOUR if name in self.reference else EXTRA[len(self._map) % len(EXTRA)]
        return self._map[name]


@dataclass(frozen=True)
class FigureArtefact:
    """A rendered figure: its bytes (SVG or PNG), the caption sentence (its title) and alt text.

    ``source`` is set for a figure that already exists as a file (e.g. a PNG another module wrote); it
    is embedded as it is and not written again.
    """

    id: str
    data: bytes
    mime: str
    caption: str
    alt: str
    width_in: float | None = None
    source: Path | None = None

    @classmethod
    def from_file(cls, path: str | Path, caption: str, *, alt: str | None = None,
                  figure_id: str | None = None, width_in: float | None = None) -> FigureArtefact:
        """Embed an existing ``.svg`` or ``.png`` file.

        Raises:
            FileNotFoundError: the file does not exist.
            ValueError: it is neither SVG nor PNG.
        """
        file = Path(path)
        mime = {".svg": "image/svg+xml", ".png": "image/png"}.get(file.suffix.lower())
        if mime is None:
            raise ValueError(f"{file}: embed .svg or .png figures, not {file.suffix or 'files without a suffix'}")
        data = file.read_bytes()
        if width_in is None and mime == "image/png":
            width_in = _png_width_in(data)
        return cls(figure_id or file.stem, data, mime, caption, alt or caption, width_in, file)

    @property
    def svg(self) -> str:
        return self.data.decode("utf-8")

    @property
    def extension(self) -> str:
        return "svg" if self.mime == "image/svg+xml" else "png"

    def data_uri(self) -> str:
        return f"data:{self.mime};base64," + base64.b64encode(self.data).decode("ascii")

    def to_html(self) -> str:
        width = f" style='--fig-width:{self.width_in * 96:.0f}px'" if self.width_in else ""
        return (f"<figure id='figure-{self.id}'{width}>"
                f"<img alt='{html.escape(self.alt, quote=True)}' src='{self.data_uri()}'>"
                f"<figcaption>{html.escape(self.caption)}</figcaption></figure>")

    def write(self, directory: str | Path) -> Path:
        """Write the figure as ``directory/<id>.<ext>`` (a figure from a file stays where it is)."""
        if self.source is not None:
            return self.source
        path = Path(directory) / f"{self.id}.{self.extension}"
        path.write_bytes(self.data)
        return path


class TickLabels(Formatter):
    """Tick labels with as few decimals as keep them distinct, and no separate offset or ``1e-9``
    multiplier text (which lands on the panel title): tiny or huge values get their own exponent."""

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        locs = [float(v) for v in values]
        if not locs:
            return []
        big = max(abs(v) for v in locs)
        if big and (big < 1e-3 or big >= 1e6):
            digits = next((d for d in range(6) if len({f"{v:.{d}e}" for v in locs}) == len(locs)), 6)
            return [self._exponent(v, digits) for v in locs]
        digits = next((d for d in range(8) if len({f"{v:.{d}f}" for v in locs}) == len(locs)), 8)
        return [f"{v:,.{digits}f}".replace("-", "\u2212") for v in locs]

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self.format_ticks([x])[0]

    @staticmethod
    def _exponent(v: float, digits: int) -> str:
        if v == 0:
            return "0"
        mantissa, _, exponent = f"{v:.{digits}e}".partition("e")
        return f"{mantissa}e{int(exponent)}".replace("-", "\u2212")


def _png_width_in(data: bytes) -> float | None:
    """A PNG's width in inches from its IHDR and pHYs chunks (``None`` without a physical size)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    width = int.from_bytes(data[16:20], "big")
    at = data.find(b"pHYs", 8, 4096)
    if at < 0 or data[at + 12] != 1:  # unit 1: pixels per metre
        return None
    per_metre = int.from_bytes(data[at + 4:at + 8], "big")
    return width / (per_metre * 0.0254) if per_metre else None


def new_figure(width_in: float = HALF_IN, height_in: float = 3.4) -> Figure:
    """A figure with constrained layout (decorations and outside legends are made room for)."""
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def wrap(text: str, width_in: float, fontsize: float = 10.0) -> str:
    """Wrap ``text`` to lines that fit ``width_in`` inches at ``fontsize`` points (about 0.55 em a char)."""
    chars = max(8, int(width_in * 72 / (0.55 * fontsize)))
    return "\n".join(textwrap.wrap(text, chars)) or text


def _drawn_texts(fig: Figure) -> list[Text | Legend]:
    """The texts matplotlib draws for ``fig``: figure texts and legends, and per axes its titles, axis
    labels, tick labels within the view, texts, annotations and legend."""
    items: list[Text | Legend] = [*fig.texts, *fig.legends]
    for ax in fig.axes:
        # Direct children: the three titles, texts, annotations and the legend; then axis labels and ticks.
        items += [child for child in ax.get_children() if isinstance(child, Text | Legend)]
        items += [ax.xaxis.label, ax.yaxis.label, ax.xaxis.get_offset_text(), ax.yaxis.get_offset_text()]
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            eps = 1e-9 * max(1.0, abs(high - low))
            items += [label for loc, label in zip(axis.get_majorticklocs(), axis.get_majorticklabels(), strict=False)
                      if low - eps <= loc <= high + eps]
    unique: dict[int, Text | Legend] = {id(item): item for item in items}
    return list(unique.values())


def text_overflow(fig: Figure, tolerance_px: float = 1.0) -> list[str]:
    """The texts (and legends) of ``fig`` that the canvas or their clip box would cut, and pairs of texts
    that overlap each other (e.g. a panel title running into the next panel's tick labels), after layout."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    frame = fig.bbox
    cut: list[str] = []

    def outside(box: Any, limit: Any) -> bool:
        return bool(box.x0 < limit.x0 - tolerance_px or box.y0 < limit.y0 - tolerance_px
                    or box.x1 > limit.x1 + tolerance_px or box.y1 > limit.y1 + tolerance_px)

    drawn: list[tuple[str, Any]] = []
    for artist in _drawn_texts(fig):
        if not artist.get_visible():
            continue
        if isinstance(artist, Legend):
            if outside(artist.get_window_extent(renderer), frame):
                cut.append("legend: " + ", ".join(t.get_text() for t in artist.get_texts()))
            continue
        if not artist.get_text().strip():
            continue
        box = artist.get_window_extent(renderer)
        clip = artist.get_clip_box() if artist.get_clip_on() else None
        if outside(box, frame) or (clip is not None and outside(box, clip)):
            cut.append(artist.get_text())
        drawn.append((artist.get_text(), box))
    for i, (text_a, a) in enumerate(drawn):
        for text_b, b in drawn[i + 1:]:
            width = min(a.x1, b.x1) - max(a.x0, b.x0)
            height = min(a.y1, b.y1) - max(a.y0, b.y0)
            if width > tolerance_px and height > tolerance_px:
                cut.append(f"{text_a!r} overlaps {text_b!r}")
    return cut


def render(fig: Figure, figure_id: str, caption: str, alt: str | None = None) -> FigureArtefact:
    """Check that no text is cut, then serialise ``fig`` to deterministic SVG.

    Raises:
        FigureLayoutError: a text or legend would be cut off (names the texts).
    """
    cut = text_overflow(fig)
    if cut:
        raise FigureLayoutError(f"figure {figure_id!r}: text would be cut off: {cut}")
    buffer = io.StringIO()
    with rc_context({"svg.hashsalt": figure_id, "svg.fonttype": "path"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return FigureArtefact(figure_id, buffer.getvalue().encode("utf-8"), "image/svg+xml", caption, alt or caption,
                          float(fig.get_figwidth()))


def panel_grid(n_panels: int, *, columns: int = 3, width_in: float = WIDE_IN,
               panel_height_in: float = 2.3) -> tuple[Figure, list[Axes]]:
    """A small-multiples grid with ``n_panels`` axes (unused cells removed), ``columns`` per row."""
    if n_panels < 1:
        raise ValueError("panel_grid: no panels")
    cols = min(columns, n_panels)
    rows = math.ceil(n_panels / cols)
    fig = new_figure(width_in, 0.7 + panel_height_in * rows)
    axes = list(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n_panels:]:
        ax.remove()
    return fig, axes[:n_panels]
