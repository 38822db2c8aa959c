"""docs/architecture.md and docs/configuration.md stay true to the code, and the layers hold.

The import table and the configuration tables are generated (``scripts/architecture.py``,
``scripts/config_docs.py``); these tests fail while a generated part is stale, naming the command
that regenerates it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def script(name: str) -> ModuleType:
    path = REPO / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"parley_script_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_architecture_import_table_is_current() -> None:
    assert script("architecture").main(["--check"]) == 0, "run: .venv/bin/python scripts/architecture.py"


def test_configuration_tables_are_current() -> None:
    assert script("config_docs").main(["--check"]) == 0, "run: .venv/bin/python scripts/config_docs.py"


def test_layers_follow_the_data_flow() -> None:
    arch = script("architecture")
    graph = arch.measure()
    level = arch.layers(graph)  # raises on a cycle between packages
    assert graph["errors"].eager | graph["errors"].lazy == set(), "parley.errors imports nothing of parley"
    assert graph["registry"].eager | graph["registry"].lazy <= {"errors"}
    assert graph["config"].eager | graph["config"].lazy <= {"registry", "errors"}, "config must stay the lowest layer"
    flow = ["data", "debate", "rewards", "training", "experiments"]
    assert [level[u] for u in flow] == sorted({level[u] for u in flow}), {u: level[u] for u in flow}
    assert level["llm"] < level["debate"]
    for low, high in [("llm", "debate"), ("debate", "rewards"), ("rewards", "training"), ("debate", "training")]:
        assert high not in graph[low].eager | graph[low].lazy | graph[low].types_only, f"{low} imports {high}"


def test_import_table_sees_lazy_and_type_only_imports() -> None:
    graph = script("architecture").measure()
    assert "rewards" in graph["generation"].lazy  # generation/job.py imports default_registry in a function
    assert "training" in graph["parley"].types_only and "training" in graph["parley"].by_name
    assert {"debate", "llm"} <= graph["config"].by_name  # the built-in declarations of PROTOCOLS, BACKENDS


def test_architecture_lists_every_benchmark() -> None:
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = [p.name for p in sorted((REPO / "benchmarks").glob("*.py")) if f"`{p.name}`" not in text]
    assert not missing, f"docs/architecture.md does not list benchmarks {missing}"


def test_every_config_field_outside_train_is_described() -> None:
    undescribed = [f for f in script("config_docs").missing()
                   if not f.startswith("train.") or f.startswith("train.shaping.")]
    assert not undescribed, f"fields without a description: {undescribed}"
