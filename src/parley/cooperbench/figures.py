"""Figures of a CooperBench analysis, drawn only from ``metrics.json`` (arXiv 2601.13295, Figs. 4-7).

Every number, tick label, legend entry and title is computed from the metrics dict (or from the
clearly-labelled paper reference in :mod:`parley.cooperbench.paper_reference`, always in its own panel).
No result text is typed by hand. Each figure is written as PNG and PDF; the functions return the paths.
matplotlib is imported inside :func:`write_figures` so importing this module stays cheap.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from parley.cooperbench import paper_reference


def _label(key: str) -> str:
    """Readable text from a metric key (``coop_nocomm`` -> ``coop nocomm``)."""
    return key.replace("_", " ")


def _save(fig: Any, out: Path, stem: str) -> list[Path]:
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    fig.tight_layout()
    for p in paths:
        fig.savefig(p, dpi=150)
    return paths


def write_figures(metrics: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write all figures for ``metrics`` into ``out_dir``; returns the written files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for draw in (_curves, _auc_vs_paper, _merge_outcomes, _communication, _failure_modes, _per_repo):
        fig = draw(metrics, plt)
        if fig is not None:
            written += _save(fig, out, draw.__name__.lstrip("_"))
            plt.close(fig)
    return written


def _curves(metrics: dict[str, Any], plt: Any) -> Any:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for setting, curve in metrics["curves"].items():
        pts = [b for b in curve["buckets"] if b["n"] > 0]
        if not pts:
            continue
        xs = [(b["d_low"] + b["d_high"]) / 2 for b in pts]
        auc = curve["auc"]
        label = f"{setting} (AUC {auc:.3f}, n={sum(b['n'] for b in pts)})" if auc is not None else setting
        line = ax.plot(xs, [b["rate"] for b in pts], marker="o", label=label)[0]
        ax.fill_between(xs, [b["low"] for b in pts], [b["high"] for b in pts], alpha=0.15, color=line.get_color())
    edges = [b["d_low"] for b in metrics["curves"]["solo"]["buckets"]] + [1.0]
    ax.set_xticks(edges)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel(_label("difficulty"))
    ax.set_ylabel(_label("success_rate"))
    ax.set_title(metrics["difficulty"]["method"], fontsize=7)
    ax.legend(fontsize=8)
    return fig


def _auc_vs_paper(metrics: dict[str, Any], plt: Any) -> Any:
    fig, (ours, paper) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    names = [m for m in metrics["per_model"]]
    settings = list(metrics["curves"])
    width = 0.8 / max(len(settings), 1)
    for i, s in enumerate(settings):
        vals = [metrics["per_model"][m]["auc"][s] or 0.0 for m in names]
        ours.bar([j + i * width for j in range(len(names))], vals, width, label=s)
    ours.set_xticks([j + width * (len(settings) - 1) / 2 for j in range(len(names))], names, fontsize=7)
    ours.set_ylabel(_label("auc"))
    ours.set_title(f"{_label('computed')}: {metrics['input']['layout']}", fontsize=8)
    ours.legend(fontsize=7)
    ref = paper_reference.PER_MODEL
    keys = ["solo_auc", "coop_auc"]
    pw = 0.8 / len(keys)
    for i, k in enumerate(keys):
        paper.bar([j + i * pw for j in range(len(ref))], [v[k] for v in ref.values()], pw, label=_label(k))
    paper.set_xticks([j + pw / 2 for j in range(len(ref))], list(ref), fontsize=7)
    paper.set_title(textwrap.fill(paper_reference.SOURCE, 60), fontsize=6)
    paper.legend(fontsize=7)
    return fig


def _merge_outcomes(metrics: dict[str, Any], plt: Any) -> Any:
    fig, ax = plt.subplots(figsize=(6, 4))
    settings = list(metrics["merge"])
    bottom = [0.0] * len(settings)
    for outcome in ("clean", "conflict", "eval_error", "unknown"):
        vals = [metrics["merge"][s][outcome] for s in settings]
        if not any(vals):
            continue
        bars = ax.bar(settings, vals, bottom=bottom, label=_label(outcome))
        ax.bar_label(bars, labels=[str(v) if v else "" for v in vals], label_type="center", fontsize=8)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_ylabel(_label("records"))
    test = metrics["comm_vs_nocomm"]["conflict"]
    p = test["p_value"]
    ax.set_title(f"{test['test']} ({_label('conflict')}): p={p:.3g}, pairs={test['pairs']}", fontsize=8)
    ax.legend(fontsize=8)
    return fig


def _communication(metrics: dict[str, Any], plt: Any) -> Any:
    comm = metrics["communication"]
    if not comm["speech_acts"]["n_messages"]:
        return None
    fig, (acts, conf, ref) = plt.subplots(1, 3, figsize=(13, 4))
    shares = comm["speech_acts"]["shares"]
    bars = acts.bar(list(shares), [v or 0.0 for v in shares.values()])
    acts.bar_label(bars, fmt="%.2f", fontsize=8)
    acts.set_ylabel(_label("share_of_messages"))
    ov = comm["overhead"]
    acts.set_title(f"n={comm['speech_acts']['n_messages']}; {ov['definition']}: mean {ov['mean']:.3f}", fontsize=8)
    feats = ["first_turn_planning", "file_mentions", "line_mentions"]
    xs: list[str] = []
    rates: list[float] = []
    errs: list[list[float]] = [[], []]
    for f in feats:
        for side in ("with", "without"):
            p = comm[f][side]
            xs.append(f"{_label(f)}\n{side} (n={p['n']})")
            r = p["rate"] or 0.0
            rates.append(r)
            errs[0].append(r - (p["low"] or 0.0))
            errs[1].append((p["high"] or 0.0) - r)
    conf.bar(range(len(xs)), rates, yerr=errs, capsize=3)
    conf.set_xticks(range(len(xs)), xs, fontsize=6, rotation=35, ha="right")
    conf.set_ylabel(_label("conflict_rate"))
    conf.set_title(_label("computed"), fontsize=8)
    ftp = paper_reference.FIRST_TURN_PLANNING_CONFLICT
    ref.bar(list(ftp), list(ftp.values()))
    ref.set_ylabel(_label("first_turn_planning_conflict"))
    ref.set_title(textwrap.fill(paper_reference.SOURCE, 60), fontsize=6)
    return fig


def _failure_modes(metrics: dict[str, Any], plt: Any) -> Any:
    fm = metrics.get("failure_modes")
    ran = {k: v for k, v in (fm or {}).get("classifiers", {}).items() if v["ran_on"] and k != "communication_errors"}
    fig, (ours, paper) = plt.subplots(1, 2, figsize=(12, 4.5))
    if ran:
        names = list(ran)
        vals = [100 * (ran[k]["prevalence"]["rate"] or 0.0) for k in names]
        bars = ours.barh([f"{_label(k)} (n={ran[k]['ran_on']})" for k in names], vals)
        ours.bar_label(bars, fmt="%.1f", fontsize=7)
        ours.set_xlabel(_label("percent_of_failed_coop_records"))
        ours.set_title(_label("computed"), fontsize=8)
    else:
        ours.set_axis_off()
    ref = paper_reference.FAILURE_PREVALENCE_PCT
    bars = paper.barh([_label(k) for k in ref], list(ref.values()))
    paper.bar_label(bars, fmt="%.1f", fontsize=7)
    paper.set_title(textwrap.fill(paper_reference.SOURCE, 60), fontsize=6)
    paper.set_xlabel(_label("percent"))
    return fig


def _per_repo(metrics: dict[str, Any], plt: Any) -> Any:
    repos = list(metrics["per_repo"])
    if not repos:
        return None
    fig, ax = plt.subplots(figsize=(10, 4.5))
    settings = [s for s in metrics["curves"] if s != "solo"]
    width = 0.8 / max(len(settings), 1)
    for i, s in enumerate(settings):
        vals = [(metrics["per_repo"][r].get(s, {}).get("conflict_rate") or {}).get("rate") or 0.0 for r in repos]
        ax.bar([j + i * width for j in range(len(repos))], vals, width, label=f"{s} {_label('conflict_rate')}")
    ax.set_xticks([j + width / 2 for j in range(len(repos))], repos, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(_label("conflict_rate"))
    ax.legend(fontsize=8)
    return fig
