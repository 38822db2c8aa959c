"""``parley trajectories``: look inside a trajectory store (show, export, stats)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import pyarrow.compute as pc
import typer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from parley.cli.common import command_group, console, fail, stdout
from parley.debate.types import Transcript, Turn
from parley.store import StoreError, TrajectoryStore

app = command_group("Inspect stored debate transcripts.")

DirArg = typer.Argument(..., help="Trajectory store directory (holds run.json).")


def _read(root: Path) -> TrajectoryStore:
    try:
        return TrajectoryStore.read(root)
    except StoreError as exc:
        fail(str(exc))


@contextmanager
def _store_errors() -> Iterator[None]:
    """Turn store errors raised while streaming into a clean CLI error."""
    try:
        yield
    except StoreError as exc:
        fail(str(exc))


def _fmt(value: object) -> str:
    return "—" if value is None else str(value)


def _header(t: Transcript) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    correct = {True: Text("yes", "green"), False: Text("no", "red"), None: Text("unscored", "dim")}[t.correct]
    rows: list[tuple[str, str | Text]] = [
        ("problem", f"{t.problem_id} (sample {t.sample_index})"),
        ("debate", t.debate_id),
        ("protocol", f"{t.protocol} · domain {t.domain}"),
        ("question", Text(t.question)),
        ("gold answer", Text(_fmt(t.gold_answer))),
        ("final answer", Text(_fmt(t.final_answer))),
        ("confidence", _fmt(t.final_confidence)),
        ("correct", correct),
        ("termination", t.termination_reason),
        ("rounds used", str(t.rounds_used)),
        ("tokens", f"{t.prompt_tokens} prompt / {t.completion_tokens} completion"),
    ]
    if t.reward is not None or t.reward_error:
        rows.append(("reward", _fmt(t.reward) + (f" ({t.reward_error})" if t.reward_error else "")))
    if t.error:
        rows.append(("error", Text(t.error, "bold red")))
    for key, value in rows:
        grid.add_row(key, value)
    return grid


def _turn_panel(turn: Turn) -> Panel:
    parsed = turn.parsed
    fields = [
        f"{name}={value}"
        for name, value in (
            ("answer", parsed.answer),
            ("verdict", parsed.verdict),
            ("confidence", parsed.confidence),
        )
        if value is not None
    ]
    body: list[Text] = [Text(turn.text or "(empty)", style="" if turn.text else "dim")]
    if turn.reask is not None:  # the follow-up exchange for the fields the reply lacked
        body.append(Text(f"re-ask ({', '.join(turn.reask.missing)}): {turn.reask.prompt}", style="magenta"))
        body.append(Text(f"reply: {turn.reask.text or '(empty)'}  [{turn.reask.completion_tokens} tokens, "
                         f"{turn.reask.finish_reason}]", style="magenta"))
        if turn.reask.error:
            body.append(Text(f"re-ask error: {turn.reask.error}", style="bold red"))
    if fields:
        body.append(Text("parsed: " + ", ".join(fields), style="cyan"))
    if parsed.critique:
        body.append(Text("critique: " + parsed.critique, style="cyan"))
    if not parsed.ok:
        body.append(Text(f"parse error: {parsed.error or 'expected fields missing'}", style="bold red"))
    if turn.error:
        body.append(Text(f"error: {turn.error}", style="bold red"))
    title = f"turn {turn.index} · {turn.role}"
    if turn.agent_id != turn.role:
        title += f" ({turn.agent_id})"
    subtitle = f"round {turn.round} · {turn.completion_tokens} tokens · {turn.finish_reason}"
    border = "red" if (turn.error or not parsed.ok) else "blue"
    return Panel(Group(*body), title=title, subtitle=subtitle, title_align="left", border_style=border)


@app.command("show")
def show(
    root: Path = DirArg,
    problem: str = typer.Option(None, "--problem", help="Only transcripts of this problem id."),
    limit: int = typer.Option(5, "--limit", min=1, help="Show at most this many transcripts."),
) -> None:
    """Render transcripts readably: a header per debate, then every turn."""
    store = _read(root)
    shown = 0
    with _store_errors():
        for transcript in store.iter_transcripts(problem_id=problem, batch_size=max(limit, 1)):
            # soft_wrap=False: the shared console soft-wraps, which would crop long turns inside panels.
            stdout.print(Panel(_header(transcript), title=f"debate {shown + 1}", border_style="bold"),
                         soft_wrap=False)
            for turn in transcript.turns:
                stdout.print(_turn_panel(turn), soft_wrap=False)
            shown += 1
            if shown >= limit:
                break
    if shown == 0:
        fail(f"no transcripts{f' for problem {problem!r}' if problem else ''} in {root}", code=1)


def _write_jsonl(store: TrajectoryStore, out: TextIO, problem: str | None) -> int:
    # json.dumps, not model_dump_json: pydantic writes -inf log-probs as null, which cannot be read back.
    n = 0
    for transcript in store.iter_transcripts(problem_id=problem):
        out.write(json.dumps(transcript.model_dump(), ensure_ascii=False))
        out.write("\n")
        n += 1
    return n


@app.command("export")
def export(
    root: Path = DirArg,
    fmt: str = typer.Option("jsonl", "--format", help="Output format (jsonl: one transcript per line)."),
    out: Path = typer.Option(None, "--out", help="Output file (default: standard output)."),
    problem: str = typer.Option(None, "--problem", help="Only transcripts of this problem id."),
) -> None:
    """Stream every transcript out as JSON lines (constant memory).

    Non-finite floats (a -inf log-prob) are written as ``-Infinity``/``NaN``, as Python's json module
    and pydantic read them, rather than silently turned into null.
    """
    if fmt != "jsonl":
        fail(f"unknown --format {fmt!r}; supported: jsonl")
    store = _read(root)
    with _store_errors():
        if out is None:
            n = _write_jsonl(store, sys.stdout, problem)
            sys.stdout.flush()
        else:
            try:
                with out.open("w", encoding="utf-8") as handle:
                    n = _write_jsonl(store, handle, problem)
            except OSError as exc:
                fail(f"cannot write {out}: {exc.strerror or exc}")
    console.print(f"exported {n} transcripts from {root}" + (f" to {out}" if out else ""), highlight=False)


@app.command("stats")
def stats(root: Path = DirArg) -> None:
    """Counts, termination reasons, accuracy, rounds and token totals of a store."""
    store = _read(root)
    terms: Counter[str] = Counter()
    protocols: Counter[str] = Counter()
    scored = correct = rounds = debates = 0
    roles: Counter[str] = Counter()
    parse_fail: Counter[str] = Counter()
    prompt = completion = 0
    with _store_errors():
        cols = ["termination_reason", "protocol", "correct", "rounds_used"]
        for batch in store.iter_debate_batches(columns=cols):
            debates += batch.num_rows
            terms.update(batch["termination_reason"].to_pylist())
            protocols.update(batch["protocol"].to_pylist())
            scored += batch.num_rows - batch["correct"].null_count
            correct += int(pc.sum(pc.cast(batch["correct"], "int64")).as_py() or 0)
            rounds += int(pc.sum(batch["rounds_used"]).as_py() or 0)
        cols = ["role", "parsed_ok", "prompt_tokens", "completion_tokens"]
        for batch in store.iter_turn_batches(columns=cols):
            batch_roles = batch["role"].to_pylist()
            roles.update(batch_roles)
            parse_fail.update(r for r, ok in zip(batch_roles, batch["parsed_ok"].to_pylist(), strict=True) if not ok)
            prompt += int(pc.sum(batch["prompt_tokens"]).as_py() or 0)
            completion += int(pc.sum(batch["completion_tokens"]).as_py() or 0)

    summary = Table(title=f"trajectory store {root}", show_header=False)
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("run", f"{store.run_id} (config {store.config_hash})")
    summary.add_row("debates", str(debates))
    summary.add_row("turns", str(sum(roles.values())))
    summary.add_row("protocols", ", ".join(f"{k} {v}" for k, v in protocols.most_common()) or "—")
    accuracy = f"{correct}/{scored} = {correct / scored:.3f}" if scored else "no scored debates"
    summary.add_row("accuracy", f"{accuracy} ({debates - scored} unscored)")
    summary.add_row("mean rounds", f"{rounds / debates:.2f}" if debates else "—")
    summary.add_row("tokens", f"{prompt} prompt / {completion} completion")
    stdout.print(summary)

    reasons = Table(title="termination reasons")
    reasons.add_column("reason")
    reasons.add_column("debates", justify="right")
    for reason, n in terms.most_common():
        reasons.add_row(reason, str(n))
    stdout.print(reasons)

    per_role = Table(title="turns per role")
    per_role.add_column("role")
    per_role.add_column("turns", justify="right")
    per_role.add_column("parse failures", justify="right")
    for role, n in sorted(roles.items()):
        per_role.add_row(role, str(n), str(parse_fail[role]))
    stdout.print(per_role)
