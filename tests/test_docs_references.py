"""The Python names the docs mention exist: every ```from parley... import``` line and every
backticked dotted ``parley.x.y`` path in README.md and docs/*.md resolves (a renamed module or
function fails here instead of in a reader's shell)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_DOTTED = re.compile(r"`(parley(?:\.\w+)+)(?:\(|`)")
_IMPORT = re.compile(r"^\s*from (parley[\w.]*) import ([\w, ]+)$", re.M)


def resolves(path: str) -> bool:
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for part in parts[i:]:
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
        return True
    return False


def references() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        found += [(doc.name, m) for m in sorted(set(_DOTTED.findall(text)))]
        for module, names in _IMPORT.findall(text):
            found += [(doc.name, f"{module}.{n.strip()}") for n in names.split(",") if n.strip()]
    return found


@pytest.mark.parametrize(("doc", "path"), references())
def test_documented_name_exists(doc: str, path: str) -> None:
    assert resolves(path), f"{doc} mentions {path}, which does not import"


def test_the_docs_mention_names_at_all() -> None:
    assert len(references()) > 20
