"""Parse rate per role on real model output: primary rules, fallbacks, and after a structured re-ask.

Reads trajectory stores (e.g. the ones ``benchmarks/smollm2_eval.py`` writes) and, for every turn,
re-parses its text with the role's parser twice: primary rules only (``fallbacks=False``, what parley
parsed before the fallbacks existed) and the full parser; a turn that carries a structured re-ask
(``protocol.reask``) is also counted after merging the re-ask's reply (what the protocol used).
Prints, per role: turns, parse rate of each, turns re-asked, and up to ``--examples`` failures (after
the re-ask when there was one; the texts shortened).

    .venv/bin/python benchmarks/parse_rates.py STORE_DIR [STORE_DIR ...] [--examples 3]

``--generate N`` first runs, with one model instance, ``single``, ``svj`` and ``mad`` on ``N`` held-out
problems of ``examples/eval_smollm2.yaml`` twice, with ``protocol.reask=0`` and ``1`` (same problems,
same seeds), into ``--out``, then prints one table per setting:

    .venv/bin/python benchmarks/parse_rates.py --generate 6 --max-new-tokens 64 --out runs/parse-rates
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

from parley.debate.parsing import expected_fields, merge_reask, parse_judge, parse_reask, parse_solver, parse_verifier
from parley.debate.types import ParsedTurn, Transcript
from parley.store import TrajectoryStore

Parser = Callable[..., ParsedTurn]
CONFIG = Path(__file__).resolve().parents[1] / "examples" / "eval_smollm2.yaml"


def parser_for(role: str) -> Parser:
    if role == "verifier":
        return parse_verifier
    if role == "judge":
        return parse_judge
    return parse_solver  # solver, agent_<k>


def role_group(role: str) -> str:
    return "agent" if role.startswith("agent_") else role


def parse_rates(transcripts: Iterable[Transcript], examples: int = 3) -> dict[str, dict[str, object]]:
    """role -> {turns, primary_ok, full_ok, reasked, after_ok, failures: [text...]} over turns with text."""
    out: dict[str, dict[str, object]] = defaultdict(lambda: {"turns": 0, "primary_ok": 0, "full_ok": 0,
                                                              "reasked": 0, "after_ok": 0, "failures": []})
    for t in transcripts:
        for turn in t.turns:
            if turn.error is not None:
                continue
            parse = parser_for(turn.role)
            row = out[f"{role_group(turn.role)} ({t.protocol})"]
            primary = parse(turn.text, fallbacks=False)
            full = parse(turn.text)
            after = full
            if turn.reask is not None:
                after = merge_reask(full, parse_reask(turn.reask.text, turn.reask.missing), expected_fields(parse))
            for key, ok in (("turns", True), ("primary_ok", primary.ok), ("full_ok", full.ok),
                            ("reasked", turn.reask is not None), ("after_ok", after.ok)):
                row[key] = int(row[key]) + int(ok)  # type: ignore[call-overload]
            failures = row["failures"]
            assert isinstance(failures, list)
            if not after.ok and len(failures) < examples:
                asked = f" -> re-ask {turn.reask.text.strip()[:80]!r}" if turn.reask is not None else ""
                failures.append(f"[{after.error}] {turn.text.strip()[:200]!r}{asked}")
    return dict(out)


def read_stores(paths: Iterable[Path]) -> list[Transcript]:
    transcripts: list[Transcript] = []
    for path in paths:
        with TrajectoryStore.read(path) as store:
            transcripts.extend(store.iter_transcripts())
    return transcripts


def render(rates: dict[str, dict[str, object]]) -> list[str]:
    lines = ["| role (protocol) | turns | parsed, primary rules | parsed, with fallbacks | re-asked | "
             "parsed, after re-ask |", "|---|---|---|---|---|---|"]

    def cell(k: int, n: int) -> str:
        return f"{k / max(n, 1):.1%} ({k})"

    for role in sorted(rates):
        r = rates[role]
        n, p, f, q, a = (int(r[k]) for k in ("turns", "primary_ok", "full_ok", "reasked", "after_ok"))  # type: ignore[call-overload]
        lines.append(f"| {role} | {n} | {cell(p, n)} | {cell(f, n)} | {q} | {cell(a, n)} |")
    return lines


def failure_lines(rates: dict[str, dict[str, object]]) -> list[str]:
    lines = []
    for role in sorted(rates):
        failures = rates[role]["failures"]
        assert isinstance(failures, list)
        lines += [f"  failure, {role}: {text}" for text in failures]
    return lines


def generate(args: argparse.Namespace) -> dict[int, list[Path]]:
    """Run single/svj/mad with reask 0 and 1 on the same problems; the store directories per setting."""
    from parley.config import load_config
    from parley.debate.context import Agent, AgentPool
    from parley.evaluation import evaluate
    from parley.llm.catalog import resolve_model
    from parley.llm.hf import HFChatModel

    model = HFChatModel.from_pretrained(resolve_model(args.model), device=args.device, dtype="auto",
                                        batch_size=32, name=args.model, num_threads=args.threads)
    agents = AgentPool(Agent(model, "shared"))
    stores: dict[int, list[Path]] = {0: [], 1: []}
    for reask in (0, 1):
        for protocol, extra in (("single", ["generation.temperature=0"]), ("svj", []), ("mad", [])):
            cfg = load_config(CONFIG, [f"dataset.limit={args.generate}", f"model.name={args.model}",
                                       f"generation.max_new_tokens={args.max_new_tokens}",
                                       f"protocol.name={protocol}", f"protocol.reask={reask}", *extra])
            t0 = time.perf_counter()
            result = evaluate(cfg, label=f"{protocol}-reask{reask}", out_dir=args.out, agents=agents)
            print(f"{protocol} reask={reask}: accuracy {result.summary['accuracy']:.3f} on {result.summary['n']}, "
                  f"tokens per sample {result.summary['tokens']['per_sample']:.0f} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
            stores[reask].append(result.directory / "store")
    return stores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stores", nargs="*", type=Path)
    ap.add_argument("--examples", type=int, default=3)
    ap.add_argument("--generate", type=int, default=0, metavar="N", help="first run N problems (see above)")
    ap.add_argument("--out", type=Path, default=Path("runs/parse-rates"))
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    if args.generate:
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        for reask, paths in generate(args).items():
            rates = parse_rates(read_stores(paths), examples=args.examples)
            print(f"\nprotocol.reask={reask} ({args.generate} problems, started {started}, max_new_tokens "
                  f"{args.max_new_tokens}):")
            print("\n".join([*render(rates), *failure_lines(rates)]))
        return 0
    if not args.stores:
        print("error: give store directories, or --generate N", file=sys.stderr)
        return 2
    rates = parse_rates(read_stores(args.stores), examples=args.examples)
    print("\n".join([*render(rates), *failure_lines(rates)]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
