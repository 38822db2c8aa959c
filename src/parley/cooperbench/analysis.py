"""Compute every CooperBench metric from loaded records (arXiv 2601.13295, Sec. 4-6).

:func:`analyze` returns one JSON-ready dict (written as ``metrics.json``); figures and the report are
drawn only from it. Definitions (also in ``docs/cooperbench.md``):

* success, difficulty, buckets, AUC and retention: see :mod:`parley.cooperbench.difficulty`.
* **comm vs no-comm**: success and merge-conflict rates of ``coop-comm`` vs ``coop-nocomm``, compared
  with an exact McNemar test on the same pairs (paired by model, pair and seed).
* **merge outcomes**: per coop setting, clean merges, real conflicts and evaluation errors counted
  apart; ``conflict_rate`` = conflicts / merges attempted (clean + conflict), ``eval_error_rate`` =
  evaluation errors / all records.
* **communication overhead** (paper Sec. 5.1): messages sent / total agent steps, per coop-comm record.
* **speech acts**: shares of primary acts over all messages (:mod:`parley.cooperbench.speech_acts`).
* **plan:question ratio**: pooled plans / questions; per record with add-half smoothing
  ``(plans + 0.5) / (questions + 0.5)``, compared between conflicting and clean merges (Mann-Whitney).
* **first-turn planning**: every agent that speaks has a plan in its first message. Its conflict rate,
  and those of file mentions and line mentions, against records without (Fisher exact).
* **failure modes**: prevalence = detected / records the classifier ran on, over *failed* coop
  records (the paper analyses failed traces). Classifiers that did not run are listed with reasons.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from parley.cooperbench.difficulty import pair_difficulty, retention, success_curve
from parley.cooperbench.speech_acts import SPEECH_ACTS, act_counts, classify_acts, mentions_file, mentions_line
from parley.cooperbench.stats import fisher_exact_2x2, mann_whitney, mcnemar_exact, proportion
from parley.cooperbench.taxonomy import CODES, GROUPS
from parley.cooperbench.types import COOP_SETTINGS, SETTINGS, Finding, LoadResult, RunRecord


def _merge_counts(records: Sequence[RunRecord]) -> dict[str, Any]:
    counts = Counter(r.outcome for r in records)
    attempted = counts["clean"] + counts["conflict"]
    return {
        "n": len(records),
        "clean": counts["clean"],
        "conflict": counts["conflict"],
        "eval_error": counts["eval_error"],
        "unknown": counts["unknown"],
        "conflict_rate": proportion(counts["conflict"], attempted).as_dict(),
        "eval_error_rate": proportion(counts["eval_error"], len(records)).as_dict(),
    }


def _paired(records: Sequence[RunRecord], attr: str) -> dict[str, Any]:
    by_key: dict[tuple[Any, ...], dict[str, RunRecord]] = defaultdict(dict)
    for r in records:
        if r.setting in COOP_SETTINGS:
            by_key[(r.model, r.pair_key, r.seed)][r.setting] = r
    pairs = []
    for both in by_key.values():
        if len(both) == 2:
            a, b = both["coop-comm"], both["coop-nocomm"]
            if attr == "success":
                pairs.append((a.success, b.success))
            elif a.outcome in ("clean", "conflict") and b.outcome in ("clean", "conflict"):
                pairs.append((a.outcome == "conflict", b.outcome == "conflict"))
    test = mcnemar_exact(pairs)
    return {"pairs": len(pairs), **test.as_dict(), "a": "coop-comm", "b": "coop-nocomm"}


def _first_turn_plan(r: RunRecord) -> bool:
    firsts: dict[str, str] = {}
    for m in r.messages:
        firsts.setdefault(m.sender, m.text)
    return bool(firsts) and all("plan" in classify_acts(t) for t in firsts.values())


def _feature_vs_conflict(records: Sequence[RunRecord], has: Any) -> dict[str, Any]:
    yes = [r for r in records if has(r)]
    no = [r for r in records if not has(r)]
    cy = sum(r.outcome == "conflict" for r in yes)
    cn = sum(r.outcome == "conflict" for r in no)
    test = fisher_exact_2x2(((cy, len(yes) - cy), (cn, len(no) - cn)))
    return {
        "with": proportion(cy, len(yes)).as_dict(),
        "without": proportion(cn, len(no)).as_dict(),
        "test": test.as_dict(),
    }


def communication_metrics(records: Sequence[RunRecord]) -> dict[str, Any]:
    """Overhead, speech acts and their association with merge outcome, over coop-comm records."""
    comm = [r for r in records if r.setting == "coop-comm" and r.usable]
    talked = [r for r in comm if r.messages]
    overhead = [len(r.messages) / r.total_steps for r in talked if r.total_steps]
    counts = act_counts(m.text for r in talked for m in r.messages)
    total = sum(counts.values())
    merged = [r for r in talked if r.outcome in ("clean", "conflict")]

    def ratio(r: RunRecord) -> float:
        c = act_counts(m.text for m in r.messages)
        return (c["plan"] + 0.5) / (c["question"] + 0.5)

    conflict_ratios = [ratio(r) for r in merged if r.outcome == "conflict"]
    clean_ratios = [ratio(r) for r in merged if r.outcome == "clean"]
    return {
        "n_coop_comm": len(comm),
        "n_with_messages": len(talked),
        "n_without_messages": len(comm) - len(talked),
        "messages_per_record": statistics.fmean(len(r.messages) for r in talked) if talked else None,
        "overhead": {
            "definition": "messages sent / total agent steps",
            "n": len(overhead),
            "mean": statistics.fmean(overhead) if overhead else None,
            "median": statistics.median(overhead) if overhead else None,
            "max": max(overhead) if overhead else None,
        },
        "speech_acts": {
            "counts": dict(counts),
            "shares": {a: (counts[a] / total if total else None) for a in SPEECH_ACTS},
            "n_messages": total,
        },
        "plan_question_ratio": {
            "pooled": counts["plan"] / counts["question"] if counts["question"] else None,
            "conflict_median": statistics.median(conflict_ratios) if conflict_ratios else None,
            "clean_median": statistics.median(clean_ratios) if clean_ratios else None,
            "test": mann_whitney(conflict_ratios, clean_ratios).as_dict(),
        },
        "first_turn_planning": _feature_vs_conflict(merged, _first_turn_plan),
        "file_mentions": _feature_vs_conflict(merged, lambda r: any(mentions_file(m.text) for m in r.messages)),
        "line_mentions": _feature_vs_conflict(merged, lambda r: any(mentions_line(m.text) for m in r.messages)),
    }


def failure_mode_metrics(records: Sequence[RunRecord], findings: Mapping[str, Sequence[Finding]]) -> dict[str, Any]:
    """Prevalence of each classifier over failed coop records, plus the taxonomy code counts."""
    failed = {r.record_id for r in records if r.setting in COOP_SETTINGS and r.usable and not r.success}
    per: dict[str, dict[str, Any]] = {}
    codes: Counter[str] = Counter()
    groups: Counter[str] = Counter()
    looked_comm = 0
    for rid, items in findings.items():
        if rid not in failed:
            continue
        for f in items:
            entry = per.setdefault(
                f.classifier, {"detected": 0, "not_detected": 0, "not_run": 0, "not_run_reasons": Counter()}
            )
            entry[f.status] += 1
            if f.status == "not_run":
                entry["not_run_reasons"][f.reason] += 1
            if f.classifier == "communication_errors" and f.status != "not_run":
                looked_comm += 1
                codes.update(f.labels)
                groups.update(g for g, cs in GROUPS.items() if any(c in f.labels for c in cs))
    out: dict[str, Any] = {"n_failed_coop_records": len(failed), "classifiers": {}}
    for name, e in sorted(per.items()):
        looked = e["detected"] + e["not_detected"]
        out["classifiers"][name] = {
            "detected": e["detected"],
            "ran_on": looked,
            "not_run": e["not_run"],
            "not_run_reasons": dict(e["not_run_reasons"]),
            "prevalence": proportion(e["detected"], looked).as_dict(),
        }
    out["taxonomy"] = {
        "records_inspected": looked_comm,
        "codes": {c: proportion(codes[c], looked_comm).as_dict() for c in CODES},
        "groups": {g: proportion(groups[g], looked_comm).as_dict() for g in GROUPS},
    }
    return out


def per_repo_metrics(records: Sequence[RunRecord]) -> dict[str, Any]:
    """Per repository and setting: records, success and conflict rates."""
    out: dict[str, Any] = {}
    for repo in sorted({r.repo for r in records}):
        rows: dict[str, Any] = {}
        for setting in SETTINGS:
            sel = [r for r in records if r.repo == repo and r.setting == setting and r.usable]
            if not sel:
                continue
            merge = _merge_counts(sel)
            rows[setting] = {
                "n": len(sel),
                "success": proportion(sum(r.success for r in sel), len(sel)).as_dict(),
                "conflict_rate": merge["conflict_rate"] if setting != "solo" else None,
                "eval_errors": merge["eval_error"],
            }
        out[repo] = rows
    return out


def analyze(loaded: LoadResult, findings: Mapping[str, Sequence[Finding]] | None = None) -> dict[str, Any]:
    """All metrics of one input, ready for ``metrics.json``."""
    records = loaded.records
    usable = loaded.usable
    flags: Counter[str] = Counter(f.code for r in records for f in r.flags)
    diff = pair_difficulty(records)
    curves = {s: success_curve(records, s, diff) for s in SETTINGS}
    solo_auc = curves["solo"].auc
    per_model: dict[str, Any] = {}
    for model in sorted({r.model for r in usable}):
        sel = [r for r in records if r.model == model]
        mc = {s: success_curve(sel, s, diff).auc for s in SETTINGS}
        per_model[model] = {
            "auc": mc,
            "retention_coop_comm": retention(mc["coop-comm"], mc["solo"]),
        }
    metrics: dict[str, Any] = {
        "input": {
            "layout": loaded.layout,
            "n_records": len(records),
            "n_usable": len(usable),
            "records_per_setting": dict(Counter(r.setting for r in usable)),
            "models": sorted({r.model for r in usable}),
            "flags": dict(flags),
            "flagged_records": [
                {"record": r.record_id, "source": r.source, "flags": [f.model_dump() for f in r.flags]}
                for r in records
                if r.flags
            ][:200],
            "problems": loaded.problems,
        },
        "difficulty": {
            "method": diff.method,
            "n_pairs": len(diff.by_pair),
            "values": dict(Counter(round(v, 4) for v in diff.by_pair.values())),
            "pairs_without_solo": len({r.pair_key for r in usable} - set(diff.by_pair)),
        },
        "curves": {s: c.as_dict() for s, c in curves.items()},
        "auc": {s: c.auc for s, c in curves.items()},
        "retention": {s: retention(curves[s].auc, solo_auc) for s in COOP_SETTINGS},
        "per_model": per_model,
        "success": {
            s: proportion(
                sum(r.success for r in usable if r.setting == s), sum(r.setting == s for r in usable)
            ).as_dict()
            for s in SETTINGS
        },
        "merge": {s: _merge_counts([r for r in usable if r.setting == s]) for s in COOP_SETTINGS},
        "comm_vs_nocomm": {"success": _paired(usable, "success"), "conflict": _paired(usable, "conflict")},
        "communication": communication_metrics(usable),
        "per_repo": per_repo_metrics(usable),
    }
    if findings is not None:
        metrics["failure_modes"] = failure_mode_metrics(usable, findings)
    return metrics
