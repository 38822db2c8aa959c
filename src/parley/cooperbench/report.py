"""The report of a CooperBench analysis, built from ``metrics.json`` only with :mod:`parley.report`.

``report.html`` (self-contained: the figures of :mod:`parley.cooperbench.figures` embedded), ``report.md``
and one CSV per table. Computed results and the paper's published values
(:mod:`parley.cooperbench.paper_reference`) appear in separate, labelled sections; classifiers that did
not run are listed with their reason instead of being reported as zero; an empty group is ``n/a``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from parley.cooperbench import paper_reference
from parley.report import Cell, Column, Definitions, FigureArtefact, Paragraph, Report, Section, Table, numbers

# What each figure of parley.cooperbench.figures shows (its caption), by file stem.
CAPTIONS = {
    "curves": "Success rate by task difficulty for each setting; dots are buckets with records, bands their 95% "
              "Wilson intervals, and the legend gives each setting's area under the curve (AUC).",
    "auc_vs_paper": "AUC per model and setting as computed here (left) beside the values the paper publishes "
                    "(right, not computed here).",
    "merge_outcomes": "Merge outcomes per cooperative setting: clean merges, merge conflicts and evaluation errors "
                      "are counted apart; the title gives the paired McNemar test of conflicts, comm vs no-comm.",
    "communication": "Speech acts in coop-comm messages (left), merge-conflict rate with and without each planning "
                     "feature with 95% Wilson intervals (middle), and the paper's first-turn planning figures (right).",
    "failure_modes": "Prevalence of each failure symptom among failed cooperative records, for the classifiers that "
                     "ran (left), beside the paper's published prevalence (right, not computed here).",
    "per_repo": "Merge-conflict rate per repository and cooperative setting.",
}


def _flat(key: str, p: Mapping[str, Any] | None) -> dict[str, Any]:
    """A rate block as flat raw columns: ``key`` (the rate), ``key_low``, ``key_high``, ``key_successes``,
    ``key_n`` (all ``None`` for a group that does not exist)."""
    p = p or {}
    return {key: p.get("rate"), f"{key}_low": p.get("low"), f"{key}_high": p.get("high"),
            f"{key}_successes": p.get("successes"), f"{key}_n": p.get("n")}


def _rate(key: str) -> Any:
    """A formatter: ``38.5% [29.4, 48.5]`` with ``successes of n`` in the tooltip (an empty group: n/a)."""
    def cell(r: Mapping[str, Any]) -> Cell:
        return Cell(numbers.percent_interval(r[key], r[f"{key}_low"], r[f"{key}_high"]),
                    tooltip=f"{r[f'{key}_successes']} of {r[f'{key}_n']}; 95% Wilson interval")
    return cell


def _test(t: Mapping[str, Any]) -> str:
    if t.get("p_value") is None:
        return f"{t['test'].replace('_', ' ')} not computed ({t['detail'].get('reason', 'n/a')})"
    return f"{t['test'].replace('_', ' ')} p = {numbers.p_value(t['p_value'])}"


def _success_section(m: Mapping[str, Any], figures: Mapping[str, FigureArtefact]) -> Section:
    rows = [{"setting": s, **_flat("success", m["success"][s]), "auc": curve["auc"], "retention": m["retention"].get(s),
             "filled_buckets": len(curve["filled_buckets"])} for s, curve in m["curves"].items()]
    table = Table("success", [
        Column("Setting", "setting", align="left"),
        Column("Success [95% CI]", "success", format=_rate("success")),
        Column("AUC", "auc", format=lambda r: numbers.significant(r["auc"], 3)),
        Column("Retention vs solo", "retention", format=lambda r: numbers.significant(r["retention"], 3),
               missing="\u2014"),
        Column("Buckets filled by rule", "filled_buckets", format=lambda r: str(r["filled_buckets"]),
               tooltip="difficulty buckets without records, filled by interpolation (see the AUC rule in "
                       "docs/cooperbench.md)"),
    ], rows, caption=f"Success and area under the success-difficulty curve; difficulty: {m['difficulty']['method']} "
                     f"over {m['difficulty']['n_pairs']} task pairs.")
    buckets = m["curves"]["solo"]["buckets"]
    bucket_rows = [{"setting": s, **{k: v for b in curve["buckets"] for k, v in _flat(f"b{b['bucket']}", b).items()}}
                   for s, curve in m["curves"].items()]

    def bucket(i: int) -> Column:
        def cell(r: Mapping[str, Any]) -> Cell:
            n = r[f"b{i}_n"]
            return Cell(f"{r[f'b{i}_successes']}/{n}" if n else "\u2014",
                        tooltip=f"success {numbers.percent(r[f'b{i}'])}" if n else None)
        return Column(f"{buckets[i]['d_low']:.1f}\u2013{buckets[i]['d_high']:.1f}", f"b{i}_n", format=cell)

    per_bucket = Table("success_by_difficulty", [Column("Setting", "setting", align="left"),
                                                 *(bucket(i) for i in range(len(buckets)))],
                       bucket_rows,
                       caption="Successes / records per difficulty bucket (\u2014: no records).")
    blocks: list[Any] = [table, per_bucket]
    blocks += [figures[k] for k in ("curves", "auc_vs_paper") if k in figures]
    return Section("Success and difficulty (computed)", blocks, id="success")


def _merge_section(m: Mapping[str, Any], figures: Mapping[str, FigureArtefact]) -> Section:
    rows = [{"setting": s, **{k: v[k] for k in ("clean", "conflict", "eval_error")},
             **_flat("conflict_rate", v["conflict_rate"]), **_flat("eval_error_rate", v["eval_error_rate"])}
            for s, v in m["merge"].items()]
    table = Table("merge", [
        Column("Setting", "setting", align="left"),
        Column("Clean", "clean", format=lambda r: numbers.count(r["clean"])),
        Column("Conflict", "conflict", format=lambda r: numbers.count(r["conflict"])),
        Column("Eval error", "eval_error", format=lambda r: numbers.count(r["eval_error"])),
        Column("Conflict rate of merges attempted [95% CI]", "conflict_rate", format=_rate("conflict_rate")),
        Column("Eval-error rate [95% CI]", "eval_error_rate", format=_rate("eval_error_rate")),
    ], rows, caption="Merge outcomes; conflicts and evaluation errors are kept apart.")
    cvn = m["comm_vs_nocomm"]
    text = (f"Comm vs no-comm, paired over {cvn['success']['pairs']} task pairs: success {_test(cvn['success'])} "
            f"({cvn['success']['detail']['discordant']} discordant pairs); merge conflict over "
            f"{cvn['conflict']['pairs']} pairs with both merges attempted: {_test(cvn['conflict'])} "
            f"({cvn['conflict']['detail']['a_only']} conflicts only with communication, "
            f"{cvn['conflict']['detail']['b_only']} only without).")
    blocks: list[Any] = [table, Paragraph(text)] + ([figures["merge_outcomes"]] if "merge_outcomes" in figures else [])
    return Section("Merge outcomes (computed)", blocks, id="merge")


def _communication_section(m: Mapping[str, Any], figures: Mapping[str, FigureArtefact]) -> Section:
    c = m["communication"]
    ov, acts, pq = c["overhead"], c["speech_acts"], c["plan_question_ratio"]
    items = [
        ("Records with messages", f"{numbers.count(c['n_with_messages'])} of {numbers.count(c['n_coop_comm'])}; "
                                  f"{numbers.number(c['messages_per_record'])} messages per record on average"),
        ("Overhead", f"{ov['definition']}: mean {numbers.number(ov['mean'])}, median {numbers.number(ov['median'])}, "
                     f"max {numbers.number(ov['max'])}"),
        ("Speech acts", ", ".join(f"{k} {numbers.percent(v)}" for k, v in acts["shares"].items())
         + f" of {numbers.count(acts['n_messages'])} messages"),
        ("Plan : question", f"pooled {numbers.number(pq['pooled'])}; per-record median "
                            f"{numbers.number(pq['conflict_median'])} with a conflict vs "
                            f"{numbers.number(pq['clean_median'])} clean ({_test(pq['test'])})"),
    ]
    rows = [{"feature": key.replace("_", " "), **_flat("with", c[key]["with"]), **_flat("without", c[key]["without"]),
             "test": _test(c[key]["test"]), "p_value": c[key]["test"].get("p_value")}
            for key in ("first_turn_planning", "file_mentions", "line_mentions")]
    table = Table("communication", [
        Column("Feature", "feature", align="left"),
        Column("Conflict rate with [95% CI]", "with", format=_rate("with")),
        Column("without [95% CI]", "without", format=_rate("without")),
        Column("Test", "test", align="left"),
    ], rows, caption="Merge-conflict rate of coop-comm records with and without each planning feature.")
    blocks: list[Any] = [Definitions(items), table] + ([figures["communication"]] if "communication" in figures else [])
    return Section("Communication (computed, coop-comm)", blocks, id="communication")


def _failure_section(m: Mapping[str, Any], figures: Mapping[str, FigureArtefact],
                     not_run: Mapping[str, str]) -> Section:
    fm = m.get("failure_modes")
    blocks: list[Any] = []
    if fm:
        rows = [{"classifier": name.replace("_", " "), **_flat("prevalence", v["prevalence"] if v["ran_on"] else None),
                 "ran_on": v["ran_on"],
                 "not_run": "; ".join(f"{n}\u00d7 {r}" for r, n in v["not_run_reasons"].items())}
                for name, v in fm["classifiers"].items()]
        blocks.append(Table("failure_modes", [
            Column("Classifier", "classifier", align="left"),
            Column("Prevalence [95% CI]", "prevalence", format=_rate("prevalence"), missing="not run"),
            Column("Ran on", "ran_on", format=lambda r: numbers.count(r["ran_on"])),
            Column("Not run (reason)", "not_run", align="left", missing="\u2014"),
        ], rows, caption=f"Failure symptoms over the {numbers.count(fm['n_failed_coop_records'])} failed cooperative "
                         "records; a classifier that did not run shows its reason, never a zero."))
        tx = fm["taxonomy"]
        tax = [{"code": k, **_flat("share", v)} for k, v in {**tx["codes"], **tx["groups"]}.items()]
        blocks.append(Table("taxonomy", [Column("Code", "code", align="left"),
                                         Column("Share [95% CI]", "share", format=_rate("share"))],
                            tax, caption=f"Communication-error taxonomy over {tx['records_inspected']} records with "
                                         "messages."))
    for group, reason in not_run.items():
        blocks.append(Paragraph(f"**{group}: not run.** {reason}", kind="warning"))
    if "failure_modes" in figures:
        blocks.append(figures["failure_modes"])
    return Section("Failure modes (computed, over failed coop records)", blocks, id="failures")


def _per_repo_section(m: Mapping[str, Any], figures: Mapping[str, FigureArtefact]) -> Section:
    rows = [{"repo": repo, "setting": s, "n": row["n"], **_flat("success", row["success"]),
             **_flat("conflict_rate", row["conflict_rate"])}
            for repo, by_setting in m["per_repo"].items() for s, row in by_setting.items()]
    table = Table("per_repo", [
        Column("Repository", "repo", align="left"), Column("Setting", "setting", align="left"),
        Column("Records", "n", format=lambda r: numbers.count(r["n"])),
        Column("Success [95% CI]", "success", format=_rate("success")),
        Column("Conflict rate [95% CI]", "conflict_rate", format=_rate("conflict_rate"), missing="\u2014"),
    ], rows, caption="Per repository and setting (\u2014: no merge in the solo setting).")
    blocks: list[Any] = [table] + ([figures["per_repo"]] if "per_repo" in figures else [])
    return Section("Per repository (computed)", blocks, id="repos")


def _paper_section() -> Section:
    ref = paper_reference.as_dict()
    items = [("Pooled", f"solo AUC {ref['pooled']['solo_auc']}, coop AUC {ref['pooled']['coop_auc']}, "
                        f"retention {ref['pooled']['retention']}")]
    items += [(model, f"solo {v['solo_auc']}, coop {v['coop_auc']}, retention {v['retention']}")
              for model, v in ref["per_model"].items()]
    planning = ref["first_turn_planning_conflict"]
    items += [("Communication overhead", f"up to about {numbers.percent(ref['comm_overhead_max_share'], 0)} of steps"),
              ("First-turn planning conflict", f"{numbers.percent(planning['with'])} with, "
                                               f"{numbers.percent(planning['without'])} without"),
              ("Failure symptom prevalence", ", ".join(f"{k.replace('_', ' ')} {v}%"
                                                       for k, v in ref["failure_prevalence_pct"].items()))]
    return Section("Paper reference (not computed here)", [Paragraph(f"Source: {ref['source']}."), Definitions(items)],
                   id="paper")


def build_report(metrics: Mapping[str, Any], figures: Sequence[str | Path] = (),
                 not_run: Mapping[str, str] | None = None) -> Report:
    """The report of ``metrics``; ``figures`` are the PNG/SVG files of :func:`write_figures` to embed
    (other files, e.g. PDFs, are skipped); ``not_run`` maps skipped classifier groups to the reason."""
    arts = {Path(f).stem: FigureArtefact.from_file(f, CAPTIONS.get(Path(f).stem, Path(f).stem.replace("_", " ")),
                                                   width_in=None)
            for f in figures if Path(f).suffix.lower() in (".png", ".svg")}
    inp = metrics["input"]
    flags = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in inp["flags"].items()) or "none"
    subtitle = (f"Input: {inp['layout'].replace('_', ' ')}, {numbers.count(inp['n_records'])} records "
                f"({numbers.count(inp['n_usable'])} usable); models: {', '.join(inp['models']) or 'none'}; "
                + "; ".join(f"{s}: {n}" for s, n in inp["records_per_setting"].items()) + f". Flags: {flags}.")
    sections = [_success_section(metrics, arts), _merge_section(metrics, arts), _communication_section(metrics, arts),
                _failure_section(metrics, arts, not_run or {}), _per_repo_section(metrics, arts), _paper_section()]
    if inp["flagged_records"]:
        rows = [{"record": item["record"], "flags": "; ".join(f"{f['code']}: {f['reason']}" for f in item["flags"])}
                for item in inp["flagged_records"][:30]]
        sections.append(Section("Flagged records (first 30)", [Table("flagged", [
            Column("Record", "record", align="left"), Column("Flags", "flags", align="left")], rows)], id="flagged"))
    return Report("CooperBench analysis", sections, subtitle=subtitle)


def render_report(metrics: Mapping[str, Any], figures: Sequence[str | Path] = (),
                  not_run: Mapping[str, str] | None = None) -> str:
    """The Markdown report of ``metrics`` (figures linked by their file names)."""
    report = build_report(metrics, figures, not_run)
    return report.to_markdown({f.id: Path(f.source).name for f in report.figures() if f.source is not None})


def write_report(metrics: Mapping[str, Any], out_dir: str | Path, figures: Sequence[str | Path] = (),
                 not_run: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Write ``report.html`` (figures embedded), ``report.md`` and one CSV per table into ``out_dir``."""
    return build_report(metrics, figures, not_run).write(out_dir)
