"""Measure which parley packages import which, from the source, and keep docs/architecture.md's table true.

    .venv/bin/python scripts/architecture.py            # rewrite the import table in docs/architecture.md
    .venv/bin/python scripts/architecture.py --check    # exit 1 when the doc's table is stale
    .venv/bin/python scripts/architecture.py --print    # print the table

Every ``import parley.X`` / ``from parley.X import ...`` (and relative import) in ``src/parley`` counts,
wherever it stands: at module level ("at import"), inside a function ("lazy", loaded on first use) or
under ``if TYPE_CHECKING:`` ("types only", never at run time). A package's unit is its first path
component below ``src/parley`` (``debate``, ``llm``, the module ``registry.py``...); ``parley`` itself is
the public API facade (``src/parley/__init__.py``). Module paths named in strings (``"parley.debate.
protocols.svj"``: built-ins a registry declares by module, imported by name on first lookup) are
listed apart. The layer of a package is 0 when it imports nothing of parley, else one more than the
highest layer it imports (at import or lazily; for the ``parley`` facade also by name, since loading
those is its job); a cycle between packages is an error.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "parley"
DOC = REPO / "docs" / "architecture.md"
ROOT = "parley"
BEGIN = "<!-- BEGIN GENERATED imports (scripts/architecture.py; do not edit by hand) -->"
END = "<!-- END GENERATED imports -->"
_MODULE_STRING = re.compile(r"^parley(\.\w+)+$")


@dataclass
class Edges:
    """What one package imports, by kind."""

    eager: set[str] = field(default_factory=set)
    lazy: set[str] = field(default_factory=set)
    types_only: set[str] = field(default_factory=set)
    by_name: set[str] = field(default_factory=set)


def unit_of(module: str) -> str:
    """``parley.debate.engine`` -> ``debate``; ``parley`` -> ``parley``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        return [".".join([*base, node.module] if node.module else base)]
    return [node.module] if node.module else []


def _is_module(text: str) -> bool:
    """Whether ``text`` is the dotted path of a module of parley's source."""
    if not _MODULE_STRING.match(text):
        return False
    path = SRC.parent / text.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _walk(tree: ast.AST, module: str, is_package: bool, edges: Edges) -> None:
    def visit(node: ast.AST, lazy: bool, types_only: bool) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target in _targets(node, module, is_package):
                if target == ROOT or target.startswith(ROOT + "."):
                    kind = edges.types_only if types_only else edges.lazy if lazy else edges.eager
                    kind.add(unit_of(target))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_module(node.value):
            edges.by_name.add(unit_of(node.value))
        for child in ast.iter_child_nodes(node):
            child_lazy = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            child_types = types_only or (isinstance(node, ast.If) and _is_type_checking(node) and child in node.body)
            visit(child, child_lazy, child_types)

    visit(tree, False, False)


def measure() -> dict[str, Edges]:
    """Package -> what it imports (other packages only)."""
    graph: dict[str, Edges] = defaultdict(Edges)
    for path in sorted(SRC.rglob("*.py")):
        module = _module_name(path)
        unit = unit_of(module)
        edges = graph[unit]
        _walk(ast.parse(path.read_text(encoding="utf-8"), str(path)), module, path.name == "__init__.py", edges)
    for edges in graph.values():
        for kind in (edges.eager, edges.lazy, edges.types_only, edges.by_name):
            kind.difference_update({u for u in kind if graph.get(u) is edges})
    for unit, edges in graph.items():
        edges.lazy -= edges.eager
        edges.types_only -= edges.eager | edges.lazy
        edges.by_name -= edges.eager | edges.lazy
        for kind in (edges.eager, edges.lazy, edges.types_only, edges.by_name):
            kind.discard(unit)
    return dict(graph)


def layers(graph: dict[str, Edges]) -> dict[str, int]:
    """Layer per package (see the module docstring). Raises SystemExit on a cycle."""
    out: dict[str, int] = {}
    visiting: list[str] = []

    def layer(unit: str) -> int:
        if unit in out:
            return out[unit]
        if unit in visiting:
            cycle = [*visiting[visiting.index(unit):], unit]
            raise SystemExit(f"import cycle between packages: {' -> '.join(cycle)}")
        visiting.append(unit)
        deps = graph[unit].eager | graph[unit].lazy
        if unit == ROOT:  # the facade exists to load those by name: it sits above them
            deps = deps | graph[unit].by_name
        out[unit] = 1 + max((layer(d) for d in deps), default=-1)
        visiting.pop()
        return out[unit]

    for unit in graph:
        layer(unit)
    return out


def table(graph: dict[str, Edges]) -> str:
    """The markdown import table, highest layer first."""
    level = layers(graph)
    order = sorted(graph, key=lambda u: (-level[u], u))

    def names(units: set[str]) -> str:
        return ", ".join(f"`{u}`" for u in sorted(units, key=lambda u: (-level.get(u, 0), u))) or "-"

    rows = ["| Layer | Package | Imports at import time | Imports inside functions (lazy) | Types only | "
            "Modules named in strings (imported by name) |", "|---|---|---|---|---|---|"]
    for unit in order:
        e = graph[unit]
        shown = "`parley` (API facade)" if unit == ROOT else f"`{unit}`"
        rows.append(f"| {level[unit]} | {shown} | {names(e.eager)} | {names(e.lazy)} | {names(e.types_only)} | "
                    f"{names(e.by_name)} |")
    return "\n".join(rows) + "\n"


def render(text: str, generated: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{DOC.name}: no generated import table; put the lines\n{BEGIN}\n{END}\nwhere it belongs")
    return text[: start + len(BEGIN)] + "\n" + generated + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the doc's table is not current")
    parser.add_argument("--print", action="store_true", help="print the table and exit")
    args = parser.parse_args(argv)
    generated = table(measure())
    if args.print:
        print(generated, end="")
        return 0
    current = DOC.read_text(encoding="utf-8")
    fresh = render(current, generated)
    if args.check:
        if fresh != current:
            print(f"{DOC.relative_to(REPO)}: the import table is stale; run .venv/bin/python scripts/architecture.py",
                  file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        DOC.write_text(fresh, encoding="utf-8")
        print(f"wrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
