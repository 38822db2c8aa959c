"""Pages over tracked runs: Overview, Learning curves, Step browser (every source)."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from typing import Any

import streamlit as st

from parley.viewer import local, render
from parley.viewer.model import RunRef
from parley.viewer.sources import LocalRuns, RunSource, catalog


def _pick_run(runs: list[RunRef], *, key: str) -> RunRef:
    """A run picker; ``?run=<text>`` in the URL preselects the first run whose label contains it."""
    labels = [f"{r.group} / {r.name}" for r in runs]
    wanted = st.query_params.get("run")
    index = next((i for i, label in enumerate(labels) if wanted and wanted in label), 0)
    choice = st.selectbox("run", labels, index=index, key=key)
    return runs[labels.index(choice)]


def overview(source: RunSource) -> None:
    st.header("Overview")
    if isinstance(source, LocalRuns):
        _local_overview(source.root)
        return
    runs = source.runs()
    if not runs:
        st.warning("The source holds no parley runs.")
        return
    groups: dict[str, list[RunRef]] = defaultdict(list)
    for r in runs:
        groups[r.group].append(r)
    for group, members in groups.items():
        st.subheader(f"group {render.safe_label(group)}")
        st.table([{"run": r.name, "kind": r.kind, "id": r.key} for r in members])


def _local_overview(root: str) -> None:
    cat = catalog(root)
    if cat.empty:
        st.warning(f"No parley outputs (experiments, training runs, evaluations, stores) under {root}.")
        return
    for exp in cat.experiments:
        view = local.read_experiment(exp)
        st.subheader(f"experiment {render.safe_label(view.name)} · {render.safe_label(view.status)}")
        labels = f" · labels: {', '.join(view.labels)}" if view.labels else ""
        st.caption(f"{exp.experiment_id} in {exp.path}{labels}")
        st.markdown("**arms**")
        st.table(view.arms)
        if view.seeds:
            with st.expander("seeds per stage"):
                st.json(view.seeds)
        st.markdown("**stages**")
        st.table([{"stage": s.stage, "kind": s.kind, "arm": s.arm, "status": s.status, "attempts": s.attempts,
                   "progress": s.progress, "error": s.error} for s in view.stages])
        if view.headline:
            st.markdown(f"**headline** (paired vs {render.safe_label(view.headline.get('reference', ''))})")
            st.table([_flat(r) for r in view.headline.get("rows", [])])
        if view.findings is not None:
            st.markdown("**findings**")
            if isinstance(view.findings, str):
                st.text(view.findings)
            else:
                st.json(view.findings)
        if view.report_md is not None:
            with st.expander("report.md"):
                st.text(view.report_md.read_text())
    loose_runs = [{"run": r.label, "path": str(r.path)} for r in cat.train_runs if r.experiment is None]
    others = [("training runs", loose_runs),
              ("evaluations", [{"label": e.label, "protocol": e.protocol, "path": str(e.path)} for e in cat.evals
                               if e.experiment is None]),
              ("generation stores", [{"store": s.label, "run_id": s.run_id} for s in cat.stores]),
              ("CooperBench analyses", [{"analysis": c.label} for c in cat.cooperbench])]
    for title, rows in others:
        if rows:
            st.subheader(title)
            st.table(rows)


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """One level of nesting as dotted columns (``vs_warm_start.diff``), lists joined: a table cell each."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": (", ".join(map(str, v)) if isinstance(v, list) else v)
                        for k, v in value.items() if not isinstance(v, dict)})
        else:
            out[key] = ", ".join(map(str, value)) if isinstance(value, list) else value
    return out


def _band(records_per_seed: list[list[dict[str, Any]]], metric: str) -> dict[int, tuple[float, float, float]]:
    by_step: dict[int, list[float]] = defaultdict(list)
    for records in records_per_seed:
        for r in records:
            if metric in r and r[metric] == r[metric]:  # NaN-free
                by_step[int(r["step"])].append(float(r[metric]))
    return {s: (statistics.fmean(v), min(v), max(v)) for s, v in sorted(by_step.items())}


def curves(source: RunSource) -> None:
    st.header("Learning curves")
    runs = [r for r in source.runs() if r.kind == "train"]
    if not runs:
        st.warning("No training runs with metrics in this source.")
        return
    arms: dict[str, list[RunRef]] = defaultdict(list)
    for r in runs:
        arms[f"{r.group} / {r.arm}"].append(r)  # seeds of one arm share a key: drawn as a band
    records = {r.key: source.metrics(r) for r in runs}
    names = sorted({k for recs in records.values() for rec in recs for k in rec if k != "step"})
    if not names:
        st.warning("These runs logged no metrics yet.")
        return
    chosen_arms = st.multiselect("arms", list(arms), default=list(arms), key="curve_arms")
    compare = st.checkbox("shaped vs raw reward", key="curve_shaped")
    if compare:
        roles = sorted({n.split("/", 1)[1] for n in names if n.startswith("shaped_reward/")})
        if not roles:
            st.info("No shaped_reward/<role> metric was logged.")
            return
        role = st.selectbox("role", roles, index=roles.index("solver") if "solver" in roles else 0, key="curve_role")
        metrics = [f"reward/{role}", f"shaped_reward/{role}"]
    else:
        default = names.index("reward/mean") if "reward/mean" in names else 0
        metrics = [st.selectbox("metric", names, index=default, key="curve_metric")]
    rows, finals = [], []
    one_group = len({a.rsplit(" / ", 1)[0] for a in chosen_arms}) == 1  # then the legend shows arm names only
    for arm in chosen_arms:
        seeds = [records[r.key] for r in arms[arm]]
        name = arm.rsplit(" / ", 1)[1] if one_group else arm
        for metric in metrics:
            band = _band(seeds, metric)
            series = name if len(metrics) == 1 else f"{name} · {metric}"
            rows += [{"step": s, "mean": m, "low": lo, "high": hi, "series": series} for s, (m, lo, hi) in band.items()]
            if band:
                last = max(band)
                finals.append({"arm": arm, "metric": metric, "seeds": len(seeds), "last step": last,
                               "mean": band[last][0], "min": band[last][1], "max": band[last][2]})
    if not rows:
        st.info(f"No values of {', '.join(metrics)} for the chosen arms.")
        return
    render.curve_chart(rows, title=" vs ".join(metrics))
    st.table(finals)


def step_browser(source: RunSource) -> None:
    st.header("Step browser")
    runs = [r for r in source.runs() if r.kind == "train"]
    if not runs:
        st.warning("No training runs in this source.")
        return
    run = _pick_run(runs, key="step_run")
    steps = source.steps(run)
    if not steps:
        st.info("This run has no per-step debates (no rollout store and no debate table was logged).")
        return
    step = st.select_slider("step", options=steps, value=steps[-1], key="step_step") if len(steps) > 1 else steps[0]
    debates = source.step_debates(run, int(step))
    groups: dict[str, list[Any]] = defaultdict(list)
    for d in debates:
        groups[d.problem_id].append(d)
    st.caption(f"step {step}: {len(debates)} debates in {len(groups)} groups (one GRPO group per problem)")
    offset, limit = render.pager(len(groups), key="step_page", per_page=4)
    for problem_id in sorted(groups)[offset:offset + limit]:
        members = sorted(groups[problem_id], key=lambda d: (d.outcome if d.outcome is not None else -1e9))
        st.subheader(f"group {render.safe_label(problem_id)} · {len(members)} rollouts")
        if len(members) >= 2:
            best, worst = members[-1], members[0]
            left, right = st.columns(2)
            with left:
                st.markdown("**best rollout**")
                render.debate(best, key=f"best-{best.debate_id}")
            with right:
                st.markdown("**worst rollout**")
                render.debate(worst, key=f"worst-{worst.debate_id}")
            rest = members[1:-1]
        else:
            rest = members
        for d in rest:
            with st.expander(f"rollout {d.debate_id.rsplit(':', 1)[-1]} · G = {render.fmt(d.outcome)}"):
                render.debate(d, key=d.debate_id)
    with st.expander("raw rows"):
        st.code(json.dumps([{"debate_id": d.debate_id, "outcome": d.outcome, "turns": len(d.turns)} for d in debates],
                           indent=1), language="json")
