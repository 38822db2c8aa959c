"""The SmolLM2 evaluation table: single, svj, mad and compute-matched self-consistency on two datasets.

For each dataset (held-out reasoning-gym ``basic_arithmetic``, and ``gsm_symbolic``, GSM8K-style word
problems generated offline), evaluates with :func:`parley.evaluation.evaluate` on the same problems:

- ``single`` greedy (temperature 0, the usual baseline), and ``single_sampled`` at ``--temperature``;
- ``svj`` and ``mad`` at ``--temperature`` (mad needs sampling: greedy agents with the same prompt
  would all say the same thing), and ``svj_greedy`` (svj at temperature 0, beside greedy ``single``);
- ``self_consistency`` at ``--temperature`` with ``k = round(svj generated tokens per problem /
  single_sampled generated tokens per problem)`` (:func:`parley.evaluation.matched_self_consistency_k`),
  i.e. svj's generation budget (matched against a *sampled* answer, as ``parley demo`` does: sampled
  answers are longer than greedy ones, so matching against the greedy length overspends);

and prints one table per dataset: accuracy with its 95% Wilson interval, tokens per problem, and the
paired difference against ``single`` (bootstrap 95% CI, exact McNemar). Then the parse rate per role
over every turn of every arm (``benchmarks/parse_rates.py``). One model instance serves every arm.

The config is ``examples/eval_smollm2.yaml`` (instruct prompt set). The weights are SmolLM2's Q4_1
GGUF dequantised to float32. Arms resume from their stores when rerun with the same ``--out``.

    .venv/bin/python benchmarks/smollm2_eval.py [--n 40] [--gsm-n 30] [--threads 1] [--out runs/smollm2-eval]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from parley.config import load_config
from parley.debate.context import Agent, AgentPool
from parley.evaluation import EvalResult, evaluate, matched_self_consistency_k
from parley.evaluation.report import accuracy_table
from parley.llm.catalog import ModelNotAvailableError, model_notes, resolve_model
from parley.llm.hf import HFChatModel

sys.path.insert(0, str(Path(__file__).parent))
from parse_rates import parse_rates, read_stores, render

CONFIG = Path(__file__).resolve().parents[1] / "examples" / "eval_smollm2.yaml"
DATASETS = {
    "arithmetic": ["dataset.name=reasoning_gym:basic_arithmetic"],
    "gsm_symbolic": ["dataset.name=reasoning_gym:gsm_symbolic", "dataset.options={}", "dataset.size=200"],
}


def run_dataset(name: str, n: int, args: argparse.Namespace, agents: AgentPool) -> dict[str, EvalResult]:
    base = [*DATASETS[name], f"dataset.limit={n}", f"generation.max_new_tokens={args.max_new_tokens}",
            f"model.name={args.model}"]
    out = args.out / name
    results: dict[str, EvalResult] = {}

    def arm(label: str, extra: list[str]) -> EvalResult:
        cfg = load_config(CONFIG, [*base, *extra])
        t0 = time.perf_counter()
        result = evaluate(cfg, label=label, out_dir=out, agents=agents)
        print(f"[{name}] {label}: {result.summary['accuracy']:.3f} on {result.summary['n']} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        return result

    results["single"] = arm("single", ["protocol.name=single", "generation.temperature=0"])
    temp = f"generation.temperature={args.temperature}"
    # One sampled answer per problem: a sample at T > 0 is longer than the greedy answer (SmolLM2 runs on to
    # the token limit more often), so self-consistency's k is matched against it, not against the greedy one.
    results["single_sampled"] = arm("single_sampled", ["protocol.name=single", temp])
    results["svj"] = arm("svj", ["protocol.name=svj", temp])
    results["mad"] = arm("mad", ["protocol.name=mad", temp])
    # svj at the single baseline's temperature too: debate vs one answer without the temperature's own effect.
    results["svj_greedy"] = arm("svj_greedy", ["protocol.name=svj", "generation.temperature=0"])
    k = matched_self_consistency_k(results["svj"].summary["tokens"]["completion_per_sample"],
                                   results["single_sampled"].summary["tokens"]["completion_per_sample"])
    results[f"sc_k{k}"] = arm(f"sc_k{k}", ["protocol.name=self_consistency", f"protocol.num_samples={k}", temp])
    return results


def budgets(results: dict[str, EvalResult]) -> list[str]:
    """Generated tokens per problem of each arm, and self-consistency's against svj's (what k matched)."""
    per = {label: r.summary["tokens"]["completion_per_sample"] for label, r in results.items()}
    line = "- generated tokens per problem: " + ", ".join(f"{label} {v:.0f}" for label, v in per.items())
    sc = [label for label in per if label.startswith("sc_k")]
    if sc and "svj" in per and per["svj"] > 0:
        line += f" (self-consistency / svj = {per[sc[0]] / per['svj']:.2f})"
    return [line]


def table(name: str, rows: list[dict[str, Any]]) -> list[str]:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1%}"

    lines = [f"### {name}", "", "| arm | n | accuracy [95% Wilson] | tokens/problem | vs single [95% bootstrap] | "
             "McNemar b/c, p |", "|---|---|---|---|---|---|"]
    for r in rows:
        diff = ("-" if r["diff_vs_ref"] is None else
                f"{r['diff_vs_ref']:+.1%} [{r['diff_ci_low']:+.1%}, {r['diff_ci_high']:+.1%}]")
        mc = "-" if r["mcnemar_b"] is None else f"{r['mcnemar_b']}/{r['mcnemar_c']}, {r['mcnemar_p']:.3f}"
        lines.append(f"| {r['arm']} | {r['n']} | {pct(r['accuracy'])} [{pct(r['ci_low'])}, {pct(r['ci_high'])}] | "
                     f"{r['tokens_per_problem']:.0f} | {diff} | {mc} |")
    return lines


def report_only(args: argparse.Namespace) -> int:
    """The tables of the arms already evaluated under ``--out`` (arms without a summary are left out)."""
    from parley.evaluation import load_eval

    lines: list[str] = []
    stores: list[Path] = []
    for name in DATASETS:
        arms = {d.name: load_eval(d) for d in sorted((args.out / name).glob("*")) if (d / "summary.json").is_file()}
        if "single" not in arms:
            continue
        ordered = {"single": arms.pop("single"), **arms}
        lines += [*table(name, accuracy_table(ordered, "single")), ""]
        lines += [f"- {label}: terminations {json.dumps(r.summary['terminations'])}, tokens per sample "
                  f"{r.summary['tokens']['per_sample']:.0f}" for label, r in ordered.items()]
        lines += [*budgets(ordered), ""]
        stores += [d / "store" for d in sorted((args.out / name).glob("*")) if (d / "store").is_dir()]
    rates = parse_rates(read_stores(stores), examples=3)
    lines += ["### parse rate per role (every turn in the stores, finished arms or not)", "", *render(rates), ""]
    for role in sorted(rates):
        failures = rates[role]["failures"]
        assert isinstance(failures, list)
        lines += [f"- failure, {role}: {text}" for text in failures]
    print("\n".join(lines))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--n", type=int, default=40, help="arithmetic problems")
    ap.add_argument("--gsm-n", type=int, default=30, help="gsm_symbolic problems")
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--out", type=Path, default=Path("runs/smollm2-eval"))
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: print the table of the arms already complete under --out")
    args = ap.parse_args()
    if args.report_only:
        return report_only(args)
    try:
        model_dir = resolve_model(args.model)
    except ModelNotAvailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    model = HFChatModel.from_pretrained(model_dir, device=args.device, dtype="auto", batch_size=args.batch_size,
                                        name=args.model, num_threads=args.threads or None)
    agents = AgentPool(Agent(model, "shared"))
    t0 = time.perf_counter()
    lines = [f"smollm2_eval: {args.model} ({model_notes(args.model) or model_dir}), started {started}, "
             f"temperature {args.temperature} (single greedy), max_new_tokens {args.max_new_tokens}", ""]
    stores: list[Path] = []
    summary: dict[str, Any] = {}
    for name, n in (("arithmetic", args.n), ("gsm_symbolic", args.gsm_n)):
        if n <= 0:
            continue
        results = run_dataset(name, n, args, agents)
        rows = accuracy_table(results, "single")
        summary[name] = rows
        lines += [*table(name, rows), ""]
        lines += [f"- {label}: terminations {json.dumps(r.summary['terminations'])}, tokens per sample "
                  f"{r.summary['tokens']['per_sample']:.0f}" for label, r in results.items()]
        lines += [*budgets(results), ""]
        stores += [r.directory / "store" for r in results.values()]
    lines += ["### parse rate per role (every turn of every arm)", "", *render(parse_rates(read_stores(stores))), ""]
    rates = parse_rates(read_stores(stores), examples=3)
    for role in sorted(rates):
        failures = rates[role]["failures"]
        assert isinstance(failures, list)
        lines += [f"- failure, {role}: {text}" for text in failures]
    lines.append(f"\nwall time {time.perf_counter() - t0:.0f} s")
    print("\n".join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    (args.out / "table.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
