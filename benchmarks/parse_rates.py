"""Parse rate per role on real model output, with and without parley's fallback parsing rules.

Reads trajectory stores (e.g. the ones ``benchmarks/smollm2_eval.py`` writes) and, for every turn,
re-parses its text with the role's parser twice: primary rules only (``fallbacks=False``, what parley
parsed before the fallbacks existed) and the full parser. Prints, per role: turns, parse rate of each,
and up to ``--examples`` failures of the full parser (the turn text, shortened).

    .venv/bin/python benchmarks/parse_rates.py STORE_DIR [STORE_DIR ...] [--examples 3]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

from parley.debate.parsing import parse_judge, parse_solver, parse_verifier
from parley.debate.types import ParsedTurn, Transcript
from parley.store import TrajectoryStore

Parser = Callable[..., ParsedTurn]


def parser_for(role: str) -> Parser:
    if role == "verifier":
        return parse_verifier
    if role == "judge":
        return parse_judge
    return parse_solver  # solver, agent_<k>


def role_group(role: str) -> str:
    return "agent" if role.startswith("agent_") else role


def parse_rates(transcripts: Iterable[Transcript], examples: int = 3) -> dict[str, dict[str, object]]:
    """role -> {turns, primary_ok, full_ok, failures: [text...]} over every turn with text."""
    out: dict[str, dict[str, object]] = defaultdict(lambda: {"turns": 0, "primary_ok": 0, "full_ok": 0,
                                                              "failures": []})
    for t in transcripts:
        for turn in t.turns:
            if turn.error is not None:
                continue
            parse = parser_for(turn.role)
            row = out[f"{role_group(turn.role)} ({t.protocol})"]
            row["turns"] = int(row["turns"]) + 1  # type: ignore[call-overload]
            primary = parse(turn.text, fallbacks=False)
            full = parse(turn.text)
            row["primary_ok"] = int(row["primary_ok"]) + int(primary.ok)  # type: ignore[call-overload]
            row["full_ok"] = int(row["full_ok"]) + int(full.ok)  # type: ignore[call-overload]
            failures = row["failures"]
            assert isinstance(failures, list)
            if not full.ok and len(failures) < examples:
                failures.append(f"[{full.error}] {turn.text.strip()[:240]!r}")
    return dict(out)


def read_stores(paths: Iterable[Path]) -> list[Transcript]:
    transcripts: list[Transcript] = []
    for path in paths:
        with TrajectoryStore.read(path) as store:
            transcripts.extend(store.iter_transcripts())
    return transcripts


def render(rates: dict[str, dict[str, object]]) -> list[str]:
    lines = ["| role (protocol) | turns | parsed, primary rules | parsed, with fallbacks |", "|---|---|---|---|"]
    for role in sorted(rates):
        r = rates[role]
        n = int(r["turns"])  # type: ignore[call-overload]
        p, f = int(r["primary_ok"]), int(r["full_ok"])  # type: ignore[call-overload]
        lines.append(f"| {role} | {n} | {p / max(n, 1):.1%} ({p}) | {f / max(n, 1):.1%} ({f}) |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stores", nargs="+", type=Path)
    ap.add_argument("--examples", type=int, default=3)
    args = ap.parse_args()
    rates = parse_rates(read_stores(args.stores), examples=args.examples)
    print("\n".join(render(rates)))
    for role in sorted(rates):
        failures = rates[role]["failures"]
        assert isinstance(failures, list)
        for text in failures:
            print(f"  failure, {role}: {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
