"""A real unified-diff parser and Python function spans, for the work-overlap classifier.

CooperBench's most common failure symptom is *work overlap* (arXiv 2601.13295, Sec. 6, Fig. 7): both
agents edit the same code. To see it at function level we parse each agent's patch into files and hunks
(old/new line ranges, added/removed lines) and map the changed base lines onto the functions that
contain them. For Python the spans come from :mod:`ast` on the base file when it is available, so an
edit *inside* an existing function counts for that function; otherwise from git's hunk-header function
context (``@@ ... @@ def name(``) and ``def``/``class`` lines inside the hunk.

Bad input never raises: :func:`parse_patch` returns a :class:`ParsedPatch` whose ``problems`` list says
what was wrong (binary hunks, malformed hunk headers, counts that do not match).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")
_DEF_RE = re.compile(r"^\s*(?:async\s+def|def|class|func|fn|function)\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)")


@dataclass
class Hunk:
    """One ``@@`` hunk: base lines ``old_start..old_start+old_len-1`` become the new ones."""

    old_start: int
    old_len: int
    new_start: int
    new_len: int
    section: str = ""
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed_old_lines: list[int] = field(default_factory=list)

    @property
    def old_range(self) -> tuple[int, int]:
        """Inclusive base-line range the hunk touches (an insertion touches the line it follows)."""
        return (self.old_start, self.old_start + max(self.old_len, 1) - 1)


@dataclass
class FileDiff:
    """Changes to one file; ``path`` is the new path (the old one for deletions)."""

    path: str
    old_path: str | None
    new_path: str | None
    hunks: list[Hunk] = field(default_factory=list)
    binary: bool = False

    @property
    def added_lines(self) -> list[str]:
        return [line for h in self.hunks for line in h.added]


@dataclass
class ParsedPatch:
    """A parsed patch and what was wrong with it (empty ``problems`` means well formed)."""

    files: list[FileDiff] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def paths(self) -> set[str]:
        return {f.path for f in self.files}


def _strip_prefix(path: str) -> str | None:
    path = path.strip().split("\t")[0]
    if path == "/dev/null":
        return None
    if path.startswith('"') and path.endswith('"'):
        path = path[1:-1]
    return path[2:] if path[:2] in ("a/", "b/") else path


def parse_patch(text: str) -> ParsedPatch:
    """Parse a unified diff (git or plain); CRLF line ends and unicode are accepted as is."""
    out = ParsedPatch()
    if not text.strip():
        out.problems.append("empty patch")
        return out
    lines = text.replace("\r\n", "\n").split("\n")
    current: FileDiff | None = None
    hunk: Hunk | None = None
    old_line = 0
    old_left = new_left = 0
    pending_old: str | None = None
    for n, line in enumerate(lines, start=1):
        if hunk is not None and (old_left > 0 or new_left > 0):
            tag = line[:1]
            if tag == " " or (line == "" and n < len(lines)):
                old_left -= 1
                new_left -= 1
                old_line += 1
                continue
            if tag == "-":
                hunk.removed.append(line[1:])
                hunk.changed_old_lines.append(old_line)
                old_left -= 1
                old_line += 1
                continue
            if tag == "+":
                hunk.added.append(line[1:])
                hunk.changed_old_lines.append(max(old_line - 1, hunk.old_start))
                new_left -= 1
                continue
            if tag == "\\":
                continue
            out.problems.append(f"line {n}: hunk ended early ({old_left} old / {new_left} new lines missing)")
            hunk = None
        if line.startswith("diff --git "):
            current = None
            hunk = None
            match = re.match(r"diff --git (\S+) (\S+)", line)
            if match:
                a, b = _strip_prefix(match.group(1)), _strip_prefix(match.group(2))
                current = FileDiff(path=b or a or "?", old_path=a, new_path=b)
                out.files.append(current)
        elif line.startswith("--- "):
            pending_old = line[4:]
        elif line.startswith("+++ ") and pending_old is not None:
            a, b = _strip_prefix(pending_old), _strip_prefix(line[4:])
            pending_old = None
            path = b or a or "?"
            if current is None or current.path != path or current.hunks:
                current = FileDiff(path=path, old_path=a, new_path=b)
                out.files.append(current)
            else:
                current.old_path, current.new_path = a, b
        elif line.startswith("@@"):
            match = _HUNK_RE.match(line)
            if match is None or current is None:
                out.problems.append(f"line {n}: malformed hunk header {line[:60]!r}")
                hunk = None
                continue
            o_start, o_len, n_start, n_len, section = match.groups()
            hunk = Hunk(
                old_start=int(o_start),
                old_len=int(o_len) if o_len is not None else 1,
                new_start=int(n_start),
                new_len=int(n_len) if n_len is not None else 1,
                section=section.strip(),
            )
            current.hunks.append(hunk)
            old_line, old_left, new_left = hunk.old_start, hunk.old_len, hunk.new_len
        elif line.startswith(("GIT binary patch", "Binary files ")):
            if current is not None:
                current.binary = True
            out.problems.append(f"line {n}: binary change in {current.path if current else '?'} (not inspected)")
        elif line.strip() and current is None and not line.startswith(("From ", "index ", "Subject")):
            continue
    if hunk is not None and (old_left > 0 or new_left > 0):
        out.problems.append(f"last hunk truncated ({old_left} old / {new_left} new lines missing)")
    if not out.files:
        out.problems.append("no file headers found: not a unified diff")
    elif not any(f.hunks or f.binary for f in out.files) and not any(
        f.old_path is None or f.new_path is None for f in out.files
    ):
        out.problems.append("file headers without any hunk")
    return out


@dataclass(frozen=True)
class Span:
    """A function or class with its qualified name and inclusive line range (decorators included)."""

    name: str
    start: int
    end: int


def python_function_spans(source: str) -> list[Span]:
    """Every function and class in ``source`` with its line span; ``[]`` if it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    spans: list[Span] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                name = f"{prefix}{child.name}"
                spans.append(Span(name, start, child.end_lineno or child.lineno))
                visit(child, name + ".")

    visit(tree, "")
    return spans


def innermost(spans: list[Span], line: int) -> Span | None:
    """The smallest span containing ``line``."""
    best: Span | None = None
    for s in spans:
        if s.start <= line <= s.end and (best is None or s.end - s.start < best.end - best.start):
            best = s
    return best


def touched_functions(diff: FileDiff, base_source: str | None = None) -> set[str]:
    """Functions/classes a file diff edits.

    With ``base_source`` of a ``.py`` file, every changed base line maps to its innermost function
    span (edits inside a function body count). Otherwise the hunk header's function context and any
    ``def``/``class``/``func`` lines added or removed are used.
    """
    names: set[str] = set()
    spans = python_function_spans(base_source) if base_source is not None and diff.path.endswith(".py") else []
    for hunk in diff.hunks:
        if spans:
            for line in hunk.changed_old_lines or [hunk.old_start]:
                span = innermost(spans, line)
                if span is not None:
                    names.add(span.name)
        else:
            match = _DEF_RE.match(hunk.section)
            if match:
                names.add(match.group(1))
        for text in hunk.added + hunk.removed:
            match = _DEF_RE.match(text)
            if match:
                names.add(match.group(1))
    return names


def ranges_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether two inclusive line ranges share a line."""
    return a[0] <= b[1] and b[0] <= a[1]
