"""``parley verify``: score answers from JSONL files with parley's verifiers.

``parley verify math INPUT.jsonl [--out OUT.jsonl]``: each input line is
``{"gold": str, "pred": str | null, "id"?: str, ...}``; each output line is the input plus
``{"correct": bool, "pred_extracted": str | null, "error": str | null, "status": str}``.
Results go to stdout unless ``--out``; a summary goes to stderr. Exit 0 when the file was
processed; exit 2 for a malformed line (named by file and line) unless ``--skip-bad-lines``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import typer

from parley.cli.common import command_group, console, fail, open_output
from parley.cli.verify_code import code_command, nothing_scored
from parley.errors import UserError

app = command_group("Score answers with parley's verifiers.")

_CHUNK = 512


class BadLineError(UserError, ValueError):
    """A JSONL line that cannot be scored; the message names the file and line."""


def _parse_line(path: Path, number: int, raw: bytes) -> dict[str, Any]:
    # surrogateescape keeps undecodable bytes, so a non-UTF-8 *prediction* becomes a per-line
    # error result instead of failing the whole file.
    text = raw.decode("utf-8", errors="surrogateescape")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadLineError(f"{path}:{number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(record, dict):
        raise BadLineError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
    if not isinstance(record.get("gold"), str):
        raise BadLineError(f"{path}:{number}: field 'gold' must be a string")
    if "pred" not in record or not (record["pred"] is None or isinstance(record["pred"], str)):
        raise BadLineError(f"{path}:{number}: field 'pred' must be a string or null")
    if "id" in record and not isinstance(record["id"], str | int):
        raise BadLineError(f"{path}:{number}: field 'id' must be a string")
    return record


def read_records(path: Path, skip_bad_lines: bool, skipped: list[str]) -> Iterator[dict[str, Any]]:
    """Yield the records of ``path``; bad lines raise :class:`BadLineError` or are listed in ``skipped``."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield _parse_line(path, number, raw.rstrip(b"\r\n"))
            except BadLineError as exc:
                if not skip_bad_lines:
                    raise
                skipped.append(str(exc))


def _chunks(records: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@app.command("math")
def math_command(
    input_path: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL with gold and pred."),
    out: Path = typer.Option(None, "--out", "-o", help="Write results here instead of stdout."),
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines", help="Skip malformed lines, report them."),
    timeout_s: float = typer.Option(10.0, "--timeout", help="Hard limit per comparison, seconds."),
    workers: int = typer.Option(0, "--workers", help="Worker processes (0: one per CPU core)."),
) -> None:
    """Check each prediction against its gold answer with math-verify.

    Each input line is a JSON object `{"gold": "1/2", "pred": "The answer is 0.5"}` (`pred` may be
    null; `id` and other fields are kept). Each output line is the input plus `correct`,
    `pred_extracted`, `error` and `status`. Example (format in docs/evaluation.md):

        parley verify math examples/pairs.jsonl --out verdicts.jsonl
    """
    from parley.rewards.math import MathVerifier, MathVerifierConfig
    from parley.rewards.pool import VerifierPool

    if timeout_s <= 0:
        fail("--timeout must be > 0")
    skipped: list[str] = []
    statuses: Counter[str] = Counter()
    n_correct = 0
    sink: IO[str] = open_output(out) if out else sys.stdout
    try:
        with VerifierPool(workers or None) as pool:
            verifier = MathVerifier(pool, MathVerifierConfig(timeout_s=timeout_s))
            for chunk in _chunks(read_records(input_path, skip_bad_lines, skipped), _CHUNK):
                results = verifier.verify_many([(r["gold"], r["pred"]) for r in chunk])
                for record, result in zip(chunk, results, strict=True):
                    statuses[result.status] += 1
                    n_correct += bool(result.correct)
                    record.update(
                        correct=bool(result.correct),
                        pred_extracted=result.extracted,
                        error=result.error,
                        status=result.status,
                    )
                    # ensure_ascii keeps lone surrogates (undecodable input bytes) representable.
                    sink.write(json.dumps(record, ensure_ascii=True) + "\n")
                sink.flush()
            memo_hits = verifier.memo.hits
    except BadLineError as exc:
        fail(f"{exc} (use --skip-bad-lines to skip such lines)")
    finally:
        if out:
            sink.close()
    total = sum(statuses.values())
    if not total:
        nothing_scored(input_path, skipped, '{"gold": "1/2", "pred": "0.5"}')
    accuracy = n_correct / total if total else 0.0
    by_status = ", ".join(f"{k}={v}" for k, v in sorted(statuses.items())) or "none"
    console.print(
        f"scored {total} lines: {n_correct} correct ({accuracy:.1%}); status: {by_status}; "
        f"memo hits: {memo_hits}",
        markup=False,
        highlight=False,
    )
    if skipped:
        console.print(f"skipped {len(skipped)} malformed line(s):", markup=False, highlight=False)
        for message in skipped[:20]:
            console.print(f"  {message}", markup=False, highlight=False)
        if len(skipped) > 20:
            console.print(f"  ... and {len(skipped) - 20} more", markup=False, highlight=False)


app.command("code")(code_command)
