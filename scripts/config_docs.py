"""Write docs/configuration.md's field tables from the pydantic field descriptions (one source of truth).

    .venv/bin/python scripts/config_docs.py            # rewrite the tables in place
    .venv/bin/python scripts/config_docs.py --check    # exit 1 when the doc's tables are stale
    .venv/bin/python scripts/config_docs.py --missing  # list fields that have no description

Each table sits between ``<!-- BEGIN GENERATED <key> -->`` and ``<!-- END GENERATED <key> -->``; the
prose around the markers is written by hand and left alone. Columns: the field, its default, what is
allowed (from the type: literal values, numeric bounds, the names a registry knows) and its meaning
(the field's ``description``). To change a table, change the model in ``src/parley`` and rerun.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "configuration.md"
_BLOCK = re.compile(r"(<!-- BEGIN GENERATED (?P<key>[\w.<>-]+) -->\n)(?P<body>.*?)(<!-- END GENERATED (?P=key) -->)",
                    re.S)


def sections() -> dict[str, type[BaseModel]]:
    """Table key -> the model whose fields the table lists (config sections, then the train section)."""
    from parley.config import models as m
    from parley.rewards.shaping import STRATEGIES
    from parley.training import config as t

    out: dict[str, type[BaseModel]] = {
        "model": m.ModelConfig, "protocol": m.ProtocolConfig, "dataset": m.DatasetConfig,
        "generation": m.GenerationConfig, "output": m.OutputConfig, "logging": m.LoggingConfig,
        "train": t.TrainConfig, "train.counterfactual": t.CounterfactualConfig, "train.policy": t.PolicyConfig,
        "train.policy.roles.<role>": t.RolePolicyConfig, "train.policy.lora": t.LoRAConfig, "train.eval": t.EvalConfig,
    }
    for entry in STRATEGIES.entries():
        out[f"train.shaping.{entry.name}"] = entry.meta("config_cls")
    return out


def _code(value: str) -> str:
    return f"`{value}`"


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        name = getattr(value, "name", None)
        return _code(str(name)) if isinstance(name, str) else "(section)"
    if isinstance(value, Path):
        return _code(str(value))
    return _code(json.dumps(value, default=str))


def _registry_of(metadata: list[Any]) -> Any:
    for item in metadata:
        registry = getattr(getattr(item, "func", None), "registry", None)
        if registry is not None:
            return registry
    return None


def _allowed_for(annotation: Any, metadata: list[Any]) -> list[str]:
    """What values the type admits, in words."""
    parts: list[str] = []
    registry = _registry_of(metadata)
    if registry is not None:
        parts.append(f"a registered {registry.kind}: " + ", ".join(_code(n) for n in registry.names()))
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = typing.get_args(annotation)
        return _allowed_for(base, [*metadata, *extra])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        inner = [p for a in args for p in _allowed_for(a, metadata)]
        if len(args) == len(typing.get_args(annotation)):
            return [*parts, *inner]
        return [*parts, f"{'; '.join(inner)} or `null`" if inner else "`null`"]
    if origin is typing.Literal:
        parts.append(", ".join(_code(str(v)) for v in typing.get_args(annotation)))
    elif origin in (list, tuple):
        args = typing.get_args(annotation)
        inner = _allowed_for(args[0], []) if args else []
        parts.append("a list" + (f" of {'; '.join(inner)}" if inner else ""))
    elif origin is dict:
        parts.append("a mapping")
    elif annotation is bool:
        parts.append("`true`, `false`")
    elif annotation is Path:
        parts.append("a path")
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel) and registry is None:
        parts.append("a section (below)")
    for item in metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            bound = getattr(item, attr, None)
            if bound is not None and isinstance(item, annotated_types.BaseMetadata):
                parts.append(f"{sign} {bound}")
    return parts


def _allowed(field: FieldInfo) -> str:
    if field.annotation is not None and _is_shaping(field):
        from parley.rewards.shaping import STRATEGIES

        return "a registered shaping strategy: " + ", ".join(_code(n) for n in STRATEGIES.names()) + " (below)"
    return "; ".join(_allowed_for(field.annotation, list(field.metadata)))


def _is_shaping(field: FieldInfo) -> bool:
    from parley.rewards.shaping import ShapingStrategyConfig

    return isinstance(field.annotation, type) and issubclass(field.annotation, ShapingStrategyConfig)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(model: type[BaseModel]) -> str:
    """The markdown table of ``model``'s fields."""
    rows = ["| Field | Default | Allowed | Meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        shown = field.alias or name
        rows.append(f"| `{shown}` | {_cell(_default(field))} | {_cell(_allowed(field))} | "
                    f"{_cell(field.description or '')} |")
    return "\n".join(rows) + "\n"


def missing() -> Iterator[str]:
    """``key.field`` for every field without a description."""
    for key, model in sections().items():
        for name, field in model.model_fields.items():
            if not field.description:
                yield f"{key}.{name}"


def render(text: str, tables: dict[str, str]) -> str:
    """``text`` with every generated block replaced; unknown keys are an error."""
    seen: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        key = match.group("key")
        if key not in tables:
            raise SystemExit(f"{DOC.name}: generated block {key!r} names no config section; known: {sorted(tables)}")
        seen.add(key)
        return match.group(1) + tables[key] + match.group(4)

    out = _BLOCK.sub(replace, text)
    absent = sorted(set(tables) - seen)
    if absent:
        raise SystemExit(f"{DOC.name}: no generated block for {absent}; add <!-- BEGIN GENERATED <key> --> "
                         "<!-- END GENERATED <key> --> pairs where they belong")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the doc's tables are not current")
    parser.add_argument("--missing", action="store_true", help="list fields without a description")
    args = parser.parse_args(argv)
    if args.missing:
        names = list(missing())
        print("\n".join(names) if names else "every field has a description")
        return 0
    tables = {key: table(model) for key, model in sections().items()}
    current = DOC.read_text(encoding="utf-8")
    fresh = render(current, tables)
    if args.check:
        if fresh != current:
            print(f"{DOC.relative_to(REPO)} is stale: run .venv/bin/python scripts/config_docs.py", file=sys.stderr)
            return 1
        return 0
    if fresh != current:
        DOC.write_text(fresh, encoding="utf-8")
        print(f"wrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
