"""`.env.example` lists every environment variable parley reads (found in the code's syntax tree)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from parley.llm.litellm_backend import PROVIDER_KEY_ENV
from parley.llm.openai_backend import DEFAULT_KEY_ENV
from parley.rewards._worker import _KEEP_ENV

REPO = Path(__file__).resolve().parents[2]
_NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")


def _constants(tree: ast.Module) -> dict[str, str]:
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        value = getattr(node, "value", None)
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            out.update({t.id: value.value for t in targets if isinstance(t, ast.Name)})
    return out


def _is_environ(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ")


def variables_read_by_the_code() -> set[str]:
    """Literal (or module-constant) names passed to os.environ / os.getenv, and typer ``envvar=``."""
    found: set[str] = set()
    trees = [ast.parse(p.read_text(encoding="utf-8")) for p in sorted((REPO / "src" / "parley").rglob("*.py"))]
    constants: dict[str, str] = {}  # module-level string constants of every module (names are imported)
    for tree in trees:
        constants.update(_constants(tree))
    for tree in trees:

        def name_of(arg: ast.expr, constants: dict[str, str] = constants) -> str | None:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                return arg.value
            if isinstance(arg, ast.Name):
                return constants.get(arg.id)
            return None

        for node in ast.walk(tree):
            names: list[str | None] = []
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner, method = node.func.value, node.func.attr
                if (_is_environ(owner) and method in ("get", "setdefault", "pop")) or method == "getenv":
                    names.append(name_of(node.args[0]) if node.args else None)
            if isinstance(node, ast.Subscript) and _is_environ(node.value):
                names.append(name_of(node.slice))
            if isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
                names.append(name_of(node.left))
            if isinstance(node, ast.keyword) and node.arg == "envvar":
                names.append(name_of(node.value))
            found.update(n for n in names if n and _NAME.match(n))
    return found


def listed_in_env_example() -> set[str]:
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def test_every_variable_the_code_reads_is_listed() -> None:
    read = variables_read_by_the_code() | set(PROVIDER_KEY_ENV.values()) | {DEFAULT_KEY_ENV} | set(_KEEP_ENV)
    assert {"PARLEY_CACHE_DIR", "WORLD_SIZE", "PARLEY_EXPERIMENTS_ROOT", "PARLEY_EXPERIMENT_RUNNER_PID"} <= read
    assert read - listed_in_env_example() == set()


def test_nothing_listed_that_the_code_does_not_read() -> None:
    read = variables_read_by_the_code() | set(PROVIDER_KEY_ENV.values()) | {DEFAULT_KEY_ENV} | set(_KEEP_ENV)
    assert listed_in_env_example() - read == set()


def test_env_example_holds_no_values_for_secrets() -> None:
    for line in (REPO / ".env.example").read_text(encoding="utf-8").splitlines():
        if re.match(r"^[A-Z0-9_]*(KEY|TOKEN|SECRET|PASSWORD)=", line):
            assert line.endswith("="), line
