"""The demo's findings, computed from its stage outputs: ``findings.json`` and the findings paragraph.

Inputs are the per-problem results the stages stored (``results.jsonl`` and ``roles.jsonl`` of every
evaluation, ``metrics.jsonl`` of every training run); nothing is typed in. :func:`compute_findings`
returns the dict written to ``findings.json``::

    {"warm_start": {"debate_accuracy": S, "single_accuracy": S, "verifier_balanced_accuracy": S,
                    "per_role": {...}},
     "baselines": {"self_consistency": {"k": int, "temperature": float, "accuracy": S,
                                        "samples_identical_share": f},
                   "debate_vs_single": D, "debate_vs_self_consistency": D},
     "arms": {NAME: {"seeds": [int, ...], "debate_accuracy": S, "single_accuracy": S,
                     "vs_warm_start": D, "vs_identity": D | None, "single_vs_warm_start": D,
                     "debate_vs_single": D, "per_role": {metric: S}, "per_seed": {...}}},
     "best_arm": NAME, "held_out": {"n": int, ...}, "flags": [str, ...], "paragraph": str}

with S = ``{"value", "ci_low", "ci_high", "n"}`` and D = ``{"diff", "ci_low", "ci_high", "p", "n", ...}``
(:mod:`parley.evaluation.seeds`: two-level bootstrap over seeds and problems, p-values from the same
bootstrap, or a sign-flip test when both sides have one seed; the warm start and the baselines are one
"seed"). Arms are named by their shaping strategy; their seeds pool. Per-role metrics pool every seed's
debates (:mod:`parley.evaluation.roles`).

Flags mark comparisons that must not be read as findings: a self-consistency baseline whose k samples
agree on more than :data:`SC_IDENTICAL_FLAG` of the problems (the vote adds nothing), a verifier that
gives one verdict on more than :data:`ONE_VERDICT_FLAG` of its checks (its verdict then says little about
the attempt: always PASS makes debate a single answer, always FAIL a forced revision),
self-consistency whose tokens per problem differ from the debate's by more than
:data:`TOKEN_MATCH_FLAG`, an arm evaluated on different problems from the warm start, a single seed per arm.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley.evaluation.results import EvalResult, load_eval
from parley.evaluation.roles import RoleRow, role_stats
from parley.evaluation.seeds import seeded_accuracy, seeded_difference

SC_IDENTICAL_FLAG = 0.8
ONE_VERDICT_FLAG = 0.95
TOKEN_MATCH_FLAG = 0.25
"""Self-consistency whose tokens per problem differ from the debate's by more than this share is flagged."""
ROLE_METRICS = ("solver_first_accuracy", "verifier_balanced_accuracy", "verifier_accuracy", "verifier_pass_rate",
                "judge_accuracy", "flip_wrong_to_right", "flip_right_to_wrong", "rounds_used")


@dataclass(frozen=True)
class ArmRun:
    """One trained arm x seed: its strategy name, seed and the directories of its evaluations."""

    name: str
    seed: int
    debate: Path
    single: Path


def _roles(directory: Path) -> list[RoleRow]:
    path = directory / "roles.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; the evaluation did not record per-role results")
    return [RoleRow.from_dict(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def _outcomes(results: Sequence[EvalResult], ids: Sequence[str]) -> list[list[bool]]:
    table = []
    for r in results:
        by = r.outcomes()
        missing = [i for i in ids if i not in by]
        if missing:
            raise ValueError(f"{r.directory}: {len(missing)} held-out problems missing (e.g. {missing[0]})")
        table.append([by[i] for i in ids])
    return table


def _stat(stat: Mapping[str, Any]) -> dict[str, Any]:
    return {k: stat[k] for k in ("value", "ci_low", "ci_high", "n")}


def _per_role(rows: Sequence[RoleRow]) -> dict[str, dict[str, Any]]:
    stats = role_stats(rows)
    return {k: stats[k].as_dict() for k in ROLE_METRICS if k in stats}


def compute_findings(*, baseline_dir: Path, arms: Sequence[ArmRun], sc_k: int, sc_temperature: float,
                     held_out: Mapping[str, Any] | None = None, reference: str = "identity") -> dict[str, Any]:
    """The findings dict (see the module docstring) from the stored evaluation outputs."""
    warm_debate = load_eval(baseline_dir / "svj")
    warm_single = load_eval(baseline_dir / "single")
    warm_sc = load_eval(baseline_dir / "self_consistency")
    ids = sorted(warm_debate.outcomes())
    flags: list[str] = []
    wd, ws, wsc = (_outcomes([r], ids) for r in (warm_debate, warm_single, warm_sc))
    warm_rows = _roles(baseline_dir / "svj")
    warm_roles = _per_role(warm_rows)
    warm: dict[str, Any] = {"debate_accuracy": _stat(seeded_accuracy(wd)),
                            "single_accuracy": _stat(seeded_accuracy(ws)), "per_role": warm_roles}
    if "verifier_balanced_accuracy" in warm_roles:
        warm["verifier_balanced_accuracy"] = warm_roles["verifier_balanced_accuracy"]
    identical = float(warm_sc.summary.get("samples_identical_share", 0.0))
    sc_tokens, debate_tokens = (float(r.summary.get("tokens", {}).get("completion_per_sample") or 0.0)
                                for r in (warm_sc, warm_debate))
    baselines: dict[str, Any] = {
        "self_consistency": {"k": sc_k, "temperature": sc_temperature, "accuracy": _stat(seeded_accuracy(wsc)),
                             "samples_identical_share": identical, "tokens_per_problem": sc_tokens,
                             "debate_tokens_per_problem": debate_tokens},
        "debate_vs_single": seeded_difference(wd, ws),
        "debate_vs_self_consistency": seeded_difference(wd, wsc)}
    if identical > SC_IDENTICAL_FLAG:
        flags.append(f"self-consistency: all {sc_k} samples gave the same answer on {identical:.0%} of the problems "
                     f"(temperature {sc_temperature}); the vote adds little, so debate vs self-consistency is not a "
                     "compute-matched comparison")
    if debate_tokens > 0 and abs(sc_tokens / debate_tokens - 1) > TOKEN_MATCH_FLAG:
        flags.append(f"self-consistency used {sc_tokens:.0f} completion tokens per problem against the debate's "
                     f"{debate_tokens:.0f}; debate vs self-consistency is not a compute-matched comparison")
    _verifier_flag("warm start", role_stats(warm_rows), flags)
    by_name: dict[str, list[ArmRun]] = {}
    for run in arms:
        by_name.setdefault(run.name, []).append(run)
    out_arms: dict[str, Any] = {}
    tables: dict[str, tuple[list[list[bool]], list[list[bool]]]] = {}
    for name, runs in sorted(by_name.items()):
        runs = sorted(runs, key=lambda r: r.seed)
        debate = [load_eval(r.debate) for r in runs]
        single = [load_eval(r.single) for r in runs]
        td, ts = _outcomes(debate, ids), _outcomes(single, ids)
        tables[name] = (td, ts)
        rows = [row for r in runs for row in _roles(r.debate)]
        per_seed = {str(r.seed): {"debate_accuracy": d.accuracy, "single_accuracy": s.accuracy}
                    for r, d, s in zip(runs, debate, single, strict=True)}
        out_arms[name] = {"seeds": [r.seed for r in runs], "debate_accuracy": _stat(seeded_accuracy(td)),
                          "single_accuracy": _stat(seeded_accuracy(ts)), "vs_warm_start": seeded_difference(td, wd),
                          "single_vs_warm_start": seeded_difference(ts, ws),
                          "debate_vs_single": seeded_difference(td, ts),
                          "per_role": _per_role(rows), "per_seed": per_seed}
        _verifier_flag(name, role_stats(rows), flags)
        if len(runs) < 2:
            flags.append(f"{name}: one seed only; its interval ignores seed-to-seed variation")
    for name, arm in out_arms.items():
        arm["vs_identity"] = (seeded_difference(tables[name][0], tables[reference][0])
                              if reference in tables and name != reference else None)
    best = max(out_arms, key=lambda n: out_arms[n]["debate_accuracy"]["value"]) if out_arms else None
    findings: dict[str, Any] = {"warm_start": warm, "baselines": baselines, "arms": out_arms, "best_arm": best,
                                "reference": reference, "held_out": dict(held_out or {"n": len(ids)}),
                                "flags": flags}
    findings["paragraph"] = findings_paragraph(findings)
    return findings


def _verifier_flag(who: str, stats: Mapping[str, Any], flags: list[str]) -> None:
    share = stats.get("verifier_majority_verdict_share")
    if share is not None and share.value > ONE_VERDICT_FLAG:
        passes = stats["verifier_pass_rate"].value
        verdict = "PASS" if passes >= 0.5 else "FAIL"
        effect = ("its debates are close to a single answer" if verdict == "PASS"
                  else "every debate goes on to the solver's revision, whatever the attempt")
        flags.append(f"{who}: the verifier said {verdict} on {share.value:.0%} of its checks, so its verdict carries "
                     f"little information about the attempt ({effect}); debate-vs-single differences there are not "
                     "evidence about checking")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _acc(s: Mapping[str, Any]) -> str:
    return f"{_pct(s['value'])} [{100 * s['ci_low']:.1f}, {100 * s['ci_high']:.1f}]"


def _p(p: float) -> str:
    return f"p={p:.2g}" if p >= 0.001 else "p<0.001"


def _diff(d: Mapping[str, Any]) -> str:
    return f"{100 * d['diff']:+.1f} points [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}], {_p(d['p'])}"


def significant(d: Mapping[str, Any] | None) -> bool:
    """The 95% interval of a difference excludes 0."""
    return d is not None and (d["ci_low"] > 0 or d["ci_high"] < 0)


def findings_paragraph(f: Mapping[str, Any]) -> str:
    """A short paragraph stating what the numbers show (every clause is derived from ``f``)."""
    warm = f["warm_start"]
    base = f["baselines"]
    sc = base["self_consistency"]
    n = f["held_out"].get("n")
    parts = [f"On {n} held-out problems the warm-start team is right {_acc(warm['debate_accuracy'])} of the time "
             f"with debate (svj), against {_acc(warm['single_accuracy'])} for a single agent and "
             f"{_acc(sc['accuracy'])} for compute-matched self-consistency (k={sc['k']}, T={sc['temperature']:g})."]
    if "verifier_balanced_accuracy" in warm:
        parts.append(f"Its verifier's balanced accuracy is {warm['verifier_balanced_accuracy']['value']:.2f} "
                     f"[{warm['verifier_balanced_accuracy']['ci_low']:.2f}, "
                     f"{warm['verifier_balanced_accuracy']['ci_high']:.2f}].")
    arms = f["arms"]
    if arms:
        beat = [name for name, a in arms.items() if significant(a["vs_warm_start"]) and a["vs_warm_start"]["diff"] > 0]
        worse = [name for name, a in arms.items() if significant(a["vs_warm_start"]) and a["vs_warm_start"]["diff"] < 0]
        seeds = sorted({len(a["seeds"]) for a in arms.values()})
        seed_text = f"{seeds[0]} seeds" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]} seeds"
        if beat:
            parts.append("After RL (" + seed_text + " per arm), " + "; ".join(
                f"{name} beats the warm start on debate accuracy ({_acc(arms[name]['debate_accuracy'])}, "
                f"{_diff(arms[name]['vs_warm_start'])})" for name in beat) + ".")
        else:
            parts.append(f"After RL ({seed_text} per arm) no arm beats the warm start on debate accuracy with a 95% "
                         "interval excluding 0.")
        if worse:
            parts.append("Worse than the warm start: " + ", ".join(
                f"{name} ({_diff(arms[name]['vs_warm_start'])})" for name in worse) + ".")
        ref = f.get("reference")
        differ = [name for name, a in arms.items() if significant(a.get("vs_identity"))]
        if ref in arms:
            if differ:
                parts.append(f"Against {ref}: " + "; ".join(
                    f"{name} {_diff(arms[name]['vs_identity'])}" for name in differ) + ".")
            else:
                parts.append(f"No strategy differs from {ref} on debate accuracy with a 95% interval excluding 0.")
            role_bits = []
            for name, a in arms.items():
                if name == ref:
                    continue
                for metric in ("verifier_balanced_accuracy", "solver_first_accuracy"):
                    mine, theirs = a["per_role"].get(metric), arms[ref]["per_role"].get(metric)
                    if mine and theirs and (mine["ci_low"] > theirs["ci_high"] or mine["ci_high"] < theirs["ci_low"]):
                        role_bits.append(f"{name}'s {metric.replace('_', ' ')} is {mine['value']:.2f} against "
                                         f"{theirs['value']:.2f} for {ref}")
            if role_bits:
                parts.append("On the roles, with non-overlapping intervals: " + "; ".join(role_bits) + ".")
    dvs, dvsc = base["debate_vs_single"], base["debate_vs_self_consistency"]
    verdict = []
    for label, d in (("single", dvs), ("self-consistency", dvsc)):
        if significant(d):
            verdict.append(f"{'beat' if d['diff'] > 0 else 'lost to'} {label} ({_diff(d)})")
        else:
            verdict.append(f"did not differ from {label} ({_diff(d)})")
    parts.append("At the warm start debate " + " and ".join(verdict) + ".")
    best = f.get("best_arm")
    if best:
        d = arms[best]["debate_vs_single"]
        parts.append(f"For the best arm ({best}) debate vs its own single agent: {_diff(d)}.")
    if f["flags"]:
        parts.append(f"{len(f['flags'])} flag(s) below mark comparisons that are not evidence.")
    return " ".join(parts)
