"""``report.md`` for a CooperBench analysis, rendered from ``metrics.json`` only.

Computed results and the paper's published values (:mod:`parley.cooperbench.paper_reference`) appear
in separate, labelled sections; classifiers that did not run are listed with their reason instead of
being reported as zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from parley.cooperbench import paper_reference


def _pct(p: dict[str, Any] | None) -> str:
    if not p or p.get("rate") is None:
        return "n/a (no records)"
    return f"{100 * p['rate']:.1f}% [{100 * p['low']:.1f}, {100 * p['high']:.1f}] ({p['successes']}/{p['n']})"


def _num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _p(test: dict[str, Any]) -> str:
    p = test.get("p_value")
    return f"{test['test']} p={p:.3g}" if p is not None else f"{test['test']}: {test['detail'].get('reason', 'n/a')}"


def render_report(metrics: dict[str, Any], figures: Sequence[str] = (), not_run: dict[str, str] | None = None) -> str:
    """Markdown report of ``metrics``; ``not_run`` maps skipped classifier groups to the reason."""
    inp = metrics["input"]
    lines = [
        "# CooperBench analysis",
        "",
        f"Input: {inp['layout']}, {inp['n_records']} records ({inp['n_usable']} usable), "
        f"models: {', '.join(inp['models']) or 'none'}; per setting: {inp['records_per_setting']}.",
        f"Flags: {inp['flags'] or 'none'}. Input problems: {len(inp['problems'])}.",
        "",
        "## Success and difficulty (computed)",
        "",
        f"Difficulty: {metrics['difficulty']['method']}; {metrics['difficulty']['n_pairs']} pairs; "
        f"values {metrics['difficulty']['values']}.",
        "",
        "| setting | success (95% Wilson) | AUC | retention vs solo | buckets filled by the empty-bucket rule |",
        "|---|---|---|---|---|",
    ]
    for s, curve in metrics["curves"].items():
        ret = metrics["retention"].get(s)
        lines.append(
            f"| {s} | {_pct(metrics['success'][s])} | {_num(curve['auc'])} | "
            f"{_num(ret) if s != 'solo' else '-'} | {curve['filled_buckets']} |"
        )
    lines += ["", "Per bucket (records, success):", ""]
    lines.append(
        "| setting | "
        + " | ".join(f"{b['d_low']:.1f}-{b['d_high']:.1f}" for b in metrics["curves"]["solo"]["buckets"])
        + " |"
    )
    lines.append("|---" * (1 + len(metrics["curves"]["solo"]["buckets"])) + "|")
    for s, curve in metrics["curves"].items():
        cells = [f"{b['successes']}/{b['n']}" if b["n"] else "-" for b in curve["buckets"]]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines += ["", "## Merge outcomes (computed; conflicts and evaluation errors kept apart)", ""]
    lines += ["| setting | clean | conflict | eval error | conflict rate (of merges attempted) | eval-error rate |"]
    lines += ["|---|---|---|---|---|---|"]
    for s, m in metrics["merge"].items():
        lines.append(
            f"| {s} | {m['clean']} | {m['conflict']} | {m['eval_error']} | {_pct(m['conflict_rate'])} | "
            f"{_pct(m['eval_error_rate'])} |"
        )
    cvn = metrics["comm_vs_nocomm"]
    lines += [
        "",
        f"Comm vs no-comm, paired over {cvn['success']['pairs']} pairs: success {_p(cvn['success'])} "
        f"(discordant {cvn['success']['detail']['discordant']}); merge conflict over "
        f"{cvn['conflict']['pairs']} pairs with both merges attempted: {_p(cvn['conflict'])} "
        f"(comm-only conflicts {cvn['conflict']['detail']['a_only']}, "
        f"no-comm-only {cvn['conflict']['detail']['b_only']}).",
        "",
        "## Communication (computed, coop-comm)",
        "",
    ]
    c = metrics["communication"]
    ov = c["overhead"]
    lines += [
        f"- Records with messages: {c['n_with_messages']} of {c['n_coop_comm']}; mean messages per record "
        f"{_num(c['messages_per_record'], 2)}.",
        f"- Overhead ({ov['definition']}): mean {_num(ov['mean'])}, median {_num(ov['median'])}, "
        f"max {_num(ov['max'])}.",
        "- Speech-act shares: "
        + ", ".join(f"{k} {_num(v)}" for k, v in c["speech_acts"]["shares"].items())
        + f" (n={c['speech_acts']['n_messages']} messages).",
        f"- Plan:question ratio pooled {_num(c['plan_question_ratio']['pooled'], 2)}; per record median "
        f"{_num(c['plan_question_ratio']['conflict_median'], 2)} (conflict) vs "
        f"{_num(c['plan_question_ratio']['clean_median'], 2)} (clean), {_p(c['plan_question_ratio']['test'])}.",
    ]
    for key in ("first_turn_planning", "file_mentions", "line_mentions"):
        lines.append(
            f"- Conflict rate with {key.replace('_', ' ')}: {_pct(c[key]['with'])}; without: "
            f"{_pct(c[key]['without'])}; {_p(c[key]['test'])}."
        )
    fm = metrics.get("failure_modes")
    lines += ["", "## Failure modes (computed, over failed coop records)", ""]
    if fm:
        lines += ["| classifier | prevalence | ran on | not run (reason) |", "|---|---|---|---|"]
        for name, v in fm["classifiers"].items():
            reasons = "; ".join(f"{n}x {r}" for r, n in v["not_run_reasons"].items()) or "-"
            lines.append(
                f"| {name} | {_pct(v['prevalence']) if v['ran_on'] else 'not run'} | {v['ran_on']} | {reasons} |"
            )
        tx = fm["taxonomy"]
        lines += ["", f"Communication-error taxonomy over {tx['records_inspected']} records with messages:", ""]
        lines += [f"- {k}: {_pct(v)}" for k, v in {**tx["codes"], **tx["groups"]}.items()]
    for group, reason in (not_run or {}).items():
        lines.append(f"- **{group}: not run**: {reason}")
    lines += [
        "",
        "## Per repository (computed)",
        "",
        "| repo | setting | n | success | conflict rate |",
        "|---|---|---|---|---|",
    ]
    for repo, rows in metrics["per_repo"].items():
        for s, row in rows.items():
            lines.append(f"| {repo} | {s} | {row['n']} | {_pct(row['success'])} | {_pct(row['conflict_rate'])} |")
    ref = paper_reference.as_dict()
    lines += [
        "",
        "## Paper reference (not computed here)",
        "",
        f"Source: {ref['source']}.",
        "",
        f"- Pooled: solo AUC {ref['pooled']['solo_auc']}, coop AUC {ref['pooled']['coop_auc']}, "
        f"retention {ref['pooled']['retention']}.",
    ]
    lines += [
        f"- {m}: solo {v['solo_auc']}, coop {v['coop_auc']}, retention {v['retention']}"
        for m, v in ref["per_model"].items()
    ]
    lines += [
        f"- Communication overhead up to about {100 * ref['comm_overhead_max_share']:.0f}% of steps.",
        f"- First-turn planning conflict rate: {100 * ref['first_turn_planning_conflict']['with']:.1f}% with, "
        f"{100 * ref['first_turn_planning_conflict']['without']:.1f}% without.",
        "- Failure symptom prevalence (%): "
        + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in ref["failure_prevalence_pct"].items()),
    ]
    if figures:
        lines += ["", "## Figures", ""] + [f"- `{f}`" for f in figures]
    if inp["flagged_records"]:
        lines += ["", "## Flagged records (first 30)", ""]
        for item in inp["flagged_records"][:30]:
            lines.append(f"- {item['record']}: " + "; ".join(f"{f['code']}: {f['reason']}" for f in item["flags"]))
    return "\n".join(lines) + "\n"
