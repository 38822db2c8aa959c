"""``parley verify code``: run code completions against their tests in the sandbox.

Each input line is ``{"task_id": "HumanEval/N", "completion": str}`` (the problem is looked up in the
bundled HumanEval) or a full problem record with a ``completion`` (HumanEval fields ``prompt``,
``entry_point``, ``test``; or stdin/stdout ``tests``). Each output line is the input plus
``{"passed": bool, "status": str, "error": str | null, "score": float}``. Results go to stdout unless
``--out``; a summary goes to stderr. A malformed line stops the run naming file and line (exit 2)
unless ``--skip-bad-lines``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NoReturn

import typer

from parley.cli.common import console, fail, open_output
from parley.errors import UserError

_CHUNK = 256


class BadCodeLineError(UserError, ValueError):
    """A JSONL line that cannot be scored; the message names the file and line."""


def _parse(path: Path, number: int, raw: bytes) -> dict[str, Any]:
    from parley.rewards.code import CodeProblemError, resolve_record

    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadCodeLineError(f"{path}:{number}: not valid UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise BadCodeLineError(f"{path}:{number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise BadCodeLineError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
    if "completion" not in record or not (record["completion"] is None or isinstance(record["completion"], str)):
        raise BadCodeLineError(f"{path}:{number}: field 'completion' must be a string or null")
    try:
        resolve_record(record)
    except CodeProblemError as exc:
        raise BadCodeLineError(f"{path}:{number}: {exc}") from None
    return record


def _records(path: Path, skip_bad_lines: bool, skipped: list[str]) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield _parse(path, number, raw.rstrip(b"\r\n"))
            except BadCodeLineError as exc:
                if not skip_bad_lines:
                    raise
                skipped.append(str(exc))


def _chunks(records: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def nothing_scored(path: Path, skipped: list[str], example: str) -> NoReturn:
    """Fail (exit 2): the input held no line to score."""
    why = f"all {len(skipped)} line(s) were malformed and skipped" if skipped else "it is empty"
    fail(f"{path}: no line to score ({why}); expected one JSON object per line, e.g. {example}")


def code_command(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL with completions."),
    out: Path = typer.Option(None, "--out", "-o", help="Write results here instead of stdout."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines", help="Skip malformed lines, report them."),
    timeout_s: float = typer.Option(10.0, "--timeout", help="Wall-clock limit per program, seconds."),
    workers: int = typer.Option(2, "--workers", help="Warm sandbox workers."),
    memory_mb: int = typer.Option(1024, "--memory-mb", help="Memory limit per program."),
    isolation: str = typer.Option("bwrap", "--isolation", help="bwrap, or none (unsafe, explicit)."),
) -> None:
    """Run each completion against its tests in the sandbox.

    Each input line is `{"task_id": "HumanEval/0", "completion": "..."}` (the problem comes from the
    bundled HumanEval), a HumanEval record with `prompt`, `entry_point`, `test` and `completion`, or a
    stdin/stdout record with `tests: [{"input": ..., "output": ...}]` and `completion`. Each output line
    is the input plus `passed`, `status`, `error` and `score`. Example (format in docs/evaluation.md):

        parley verify code examples/completions.jsonl
    """
    from pydantic import ValidationError

    from parley.rewards.code import score_batch
    from parley.sandbox import SandboxConfig, SandboxError, SandboxPool

    if workers < 1:
        fail("--workers must be at least 1")
    try:
        config = SandboxConfig(
            isolation=isolation,  # type: ignore[arg-type]
            timeout_s=timeout_s,
            cpu_time_s=max(1, int(timeout_s + 1)),
            memory_mb=memory_mb,
        )
    except ValidationError as exc:
        fail("invalid option: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
    skipped: list[str] = []
    statuses: Counter[str] = Counter()
    n_passed = 0
    sink: IO[str] = open_output(out) if out else sys.stdout
    layers: str = config.isolation
    try:
        with SandboxPool(config, size=workers) as pool:
            layers = pool.isolation
            for chunk in _chunks(_records(input_path, skip_bad_lines, skipped)):
                results = score_batch([(r, r["completion"] or "") for r in chunk], pool)
                for record, result in zip(chunk, results, strict=True):
                    statuses[result.status] += 1
                    n_passed += result.passed
                    record.update(passed=result.passed, status=result.status, error=result.error,
                                  score=result.score)
                    sink.write(json.dumps(record) + "\n")
                sink.flush()
    except BadCodeLineError as exc:
        fail(f"{exc} (use --skip-bad-lines to skip such lines)")
    except SandboxError as exc:
        fail(str(exc))
    finally:
        if out:
            sink.close()
    total = sum(statuses.values())
    if not total:
        nothing_scored(input_path, skipped, '{"task_id": "HumanEval/0", "completion": "    return ..."}')
    by_status = ", ".join(f"{k}={v}" for k, v in sorted(statuses.items())) or "none"
    rate = n_passed / total if total else 0.0
    console.print(f"scored {total} lines: {n_passed} passed ({rate:.1%}); status: {by_status}; "
                  f"isolation: {layers}", markup=False, highlight=False)
    for message in skipped[:20]:
        console.print(f"  skipped {message}", markup=False, highlight=False)
