"""Pages over local outputs: Comparison (paired evaluations), Generation stores, CooperBench analyses."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from parley.viewer import local, render
from parley.viewer.catalog import EvalRun
from parley.viewer.sources import catalog


def _eval_name(e: EvalRun) -> str:
    owner = e.arm or ("warm start" if e.experiment else e.path.parent.name)
    return f"{owner} / {e.label}"


def comparison(root: str) -> None:
    st.header("Comparison")
    evals = catalog(root).evals
    if len(evals) < 2:
        st.warning(f"Comparison needs two evaluations (summary.json + results.jsonl) under {root}; found {len(evals)}.")
        return
    names = [_eval_name(e) for e in evals]
    left, right = st.columns(2)
    a_name = left.selectbox("arm or protocol A", names, index=0, key="cmp_a")
    b_name = right.selectbox("arm or protocol B", names, index=1, key="cmp_b")
    a, b = evals[names.index(a_name)], evals[names.index(b_name)]
    ra, rb = local.eval_results(a.path), local.eval_results(b.path)
    shared = sorted(set(ra) & set(rb))
    if not shared:
        st.warning("These two evaluations share no problem; pick two runs on the same problems.")
        return
    rows = []
    for pid in shared:
        ca, cb = bool(ra[pid]["correct"][0]), bool(rb[pid]["correct"][0])
        rows.append({"problem": pid, "A correct": ca, "B correct": cb, "A answer": (ra[pid]["answers"] or [None])[0],
                     "B answer": (rb[pid]["answers"] or [None])[0], "disagree": ca != cb})
    only_a = sum(r["A correct"] and not r["B correct"] for r in rows)
    only_b = sum(r["B correct"] and not r["A correct"] for r in rows)
    st.markdown(f"{len(shared)} shared problems · A {sum(r['A correct'] for r in rows)} correct · "
                f"B {sum(r['B correct'] for r in rows)} correct · only A right {only_a} · only B right {only_b}")
    st.dataframe(rows, hide_index=True)
    disagreements = [r["problem"] for r in rows if r["disagree"]]
    st.markdown(f"**disagreements** ({len(disagreements)})")
    if disagreements:
        st.table([r for r in rows if r["disagree"]][:50])
    pick = st.selectbox("open both transcripts of problem", disagreements or shared, key="cmp_problem")
    left, right = st.columns(2)
    for column, run, title in ((left, a, a_name), (right, b, b_name)):
        with column:
            st.markdown(f"**{render.safe_label(title)}**")
            store = run.path / "store"
            if not (store / "run.json").is_file():
                st.info(f"no trajectory store beside {run.path}")
                continue
            for view in local.store_transcript(store, str(pick)):
                render.debate(view, key=f"cmp-{title}-{view.debate_id}")


def generation_stores(root: str) -> None:
    st.header("Generation stores")
    stores = catalog(root).stores
    if not stores:
        st.warning(f"No `parley generate` store (run.json + summary.json) under {root}.")
        return
    labels = [s.label for s in stores]
    store = stores[labels.index(st.selectbox("store", labels, key="gen_store"))]
    summary = json.loads((store.path / "summary.json").read_text())
    cols = st.columns(4)
    for col, key in zip(cols, ("completed", "accuracy", "completion_tokens", "wall_s"), strict=True):
        value = summary.get(key)
        col.metric(key, "n/a" if value is None else (f"{value:.1%}" if key == "accuracy" else f"{value:,}"))
    with st.expander("summary.json"):
        st.json(summary)
    _, total = local.store_debates(store.path, offset=0, limit=0)
    offset, limit = render.pager(total, key="gen_page", per_page=20)
    rows, _ = local.store_debates(store.path, offset=offset, limit=limit)
    st.dataframe(rows, hide_index=True)
    if rows:
        options = [f"{r['problem_id']} #{r['sample_index']}" for r in rows]
        chosen = rows[options.index(st.selectbox("transcript", options, key="gen_debate"))]
        for view in local.store_transcript(store.path, chosen["problem_id"], chosen["debate_id"]):
            render.debate(view, key=f"gen-{view.debate_id}")


def cooperbench(root: str) -> None:
    st.header("CooperBench analyses")
    analyses = catalog(root).cooperbench
    if not analyses:
        st.warning(f"No `parley cooperbench analyze` output (metrics.json + findings.json) under {root}.")
        return
    labels = [a.label for a in analyses]
    analysis = analyses[labels.index(st.selectbox("analysis", labels, key="cb_analysis"))]
    metrics = json.loads((analysis.path / "metrics.json").read_text())
    inputs = metrics.get("input", {})
    st.markdown(f"{inputs.get('n_usable', '?')} of {inputs.get('n_records', '?')} records usable")
    auc = metrics.get("auc", {})
    if isinstance(auc, dict):
        st.table([{"setting": k, "AUC": "n/a" if v is None else v} for k, v in auc.items()])
    figures = sorted(Path(analysis.path).glob("*.png"))
    for i in range(0, len(figures), 2):
        cols = st.columns(2)
        for col, fig in zip(cols, figures[i:i + 2], strict=False):
            col.image(str(fig), caption=fig.stem)
    findings = json.loads((analysis.path / "findings.json").read_text())
    flat = [{"record": rid, **{k: v for k, v in f.items() if isinstance(v, str | int | float | bool) or v is None}}
            for rid, items in findings.items() for f in items]
    st.markdown(f"**findings** ({len(flat)})")
    offset, limit = render.pager(len(flat), key="cb_page", per_page=50)
    st.dataframe(flat[offset:offset + limit], hide_index=True)
    if (analysis.path / "report.md").is_file():
        with st.expander("report.md"):
            st.text((analysis.path / "report.md").read_text())
