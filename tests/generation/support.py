"""Helpers for the generation tests: a protocol-speaking reply function, datasets and CLI runs.

The scripted OpenAI-compatible server answers each role in the protocol's format (solver ``Answer:``,
verifier ``Verdict:``/``Critique:``, judge ``Final answer:``/``Confidence:``), computing the correct
sum for ``Calculate a + b.`` questions, so debates terminate the way real ones do (``verifier_pass``)
and accuracy is a real figure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from parley.store import TrajectoryStore

_EXPRESSION = re.compile(r"Calculate\s+([-+\d\s]+?)\s*[.?]", re.MULTILINE)
_TERM = re.compile(r"[+-]?\d+")

#: Options giving one-digit two-term sums and differences from reasoning-gym's basic_arithmetic.
ARITHMETIC_OPTIONS = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1, "operators": ["+", "-"]}


def arithmetic_answer(text: str) -> str | None:
    """The value of the first ``Calculate <a +/- b ...>.`` expression in ``text`` (integers only)."""
    match = _EXPRESSION.search(text)
    if match is None:
        return None
    expr = re.sub(r"\s+", "", match.group(1)).replace("--", "+").replace("+-", "-").replace("++", "+")
    terms = _TERM.findall(expr)
    return str(sum(int(t) for t in terms)) if terms and "".join(terms) == expr else None


def debate_reply(messages: list[dict[str, Any]]) -> str:
    """The scripted model: answers each debate role in the protocol's format, correctly."""
    system = str(messages[0].get("content", "")) if messages and messages[0].get("role") == "system" else ""
    prompt = str(messages[-1].get("content", "")) if messages else ""
    answer = arithmetic_answer(prompt) or "0"
    if "verifier" in system:
        return "The arithmetic checks out.\nVerdict: PASS\nCritique: ok"
    if "judge" in system:
        return f"Final answer: {answer}\nConfidence: 0.9"
    return f"Adding the terms step by step.\nAnswer: {answer}"


def write_sums_dataset(path: Path, n: int) -> Path:
    """A JSONL file of ``n`` sums ``Calculate i + (100 + i).`` with ids ``p000``...; every question is
    distinct, so a scripted fault can target one problem with ``Fault(match=...)``."""
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            record = {"id": f"p{i:03d}", "question": f"Calculate {i} + {100 + i}.", "answer": str(100 + 2 * i),
                      "domain": "math"}
            handle.write(json.dumps(record) + "\n")
    return path


def remote_overrides(base_url: str, out_dir: Path, **extra: Any) -> list[str]:
    """``--set`` arguments pointing ``parley generate`` at a scripted server with the openai backend."""
    settings: dict[str, Any] = {
        "model.backend": "openai",
        "model.name": "scripted",
        "model.api_base": base_url,
        "model.backoff_base_s": 0.01,
        "model.backoff_max_s": 0.05,
        "model.request_timeout_s": 10,
        "protocol.name": "svj",
        "protocol.max_rounds": 2,
        "generation.max_new_tokens": 32,
        "output.dir": str(out_dir),
    }
    settings.update(extra)
    args: list[str] = []
    for key, value in settings.items():
        args += ["--set", f"{key}={json.dumps(value) if isinstance(value, list | dict) else value}"]
    return args


def parley_command(args: list[str]) -> list[str]:
    """The installed ``parley`` console script (else ``python -m parley.cli.app``) with ``args``."""
    script = Path(sys.executable).with_name("parley")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "parley.cli.app"]
    return [*command, *args]


def parley_subprocess(args: list[str], *, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``parley ARGS`` as a child process (stdout and stderr merged into ``stdout``)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.Popen(parley_command(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=full_env)


def committed_keys_exactly_once(out_dir: Path) -> list[tuple[str, int]]:
    """Every ``(problem_id, sample_index)`` read back from the store, asserting none repeats, both in
    the committed shards' raw rows and in the transcripts the store streams."""
    import pyarrow.parquet as pq

    raw: list[tuple[str, int]] = []
    for shard in sorted(out_dir.glob("debates-*.parquet")):
        table = pq.read_table(shard, columns=["problem_id", "sample_index"])
        raw += list(zip(table.column("problem_id").to_pylist(), table.column("sample_index").to_pylist(),
                        strict=True))
    assert len(raw) == len(set(raw)), f"duplicate rows in committed shards: {len(raw) - len(set(raw))}"
    streamed = [(t.problem_id, t.sample_index) for t in TrajectoryStore.read(out_dir).iter_transcripts()]
    assert len(streamed) == len(set(streamed)), "the store streamed a (problem, sample) twice"
    assert sorted(streamed) == sorted(raw)
    return streamed
