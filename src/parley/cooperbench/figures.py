"""Figures of a CooperBench analysis, drawn only from ``metrics.json`` (arXiv 2601.13295, Figs. 4-7).

Every number, tick label, legend entry and title is computed from the metrics dict (or from the
clearly-labelled paper reference in :mod:`parley.cooperbench.paper_reference`, always in its own panel).
No result text is typed by hand. Each figure is written as PNG and PDF; the functions return the paths.
matplotlib is imported inside :func:`draw_figures` so importing this module stays cheap.

A value that could not be computed (a ``None`` AUC, a rate over zero records) is drawn as the text
"n/a" where its bar would be, never as a zero-height bar that reads as a measured 0.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from parley.cooperbench import paper_reference

NA = "n/a"


def _label(key: str) -> str:
    """Readable text from a metric key (``coop_nocomm`` -> ``coop nocomm``)."""
    return key.replace("_", " ")


def _save(fig: Any, out: Path, stem: str) -> list[Path]:
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    fig.tight_layout()
    for p in paths:
        fig.savefig(p, dpi=150)
    return paths


def _bars(ax: Any, positions: Sequence[float], values: Sequence[float | None], width: float = 0.8, *,
          horizontal: bool = False, **kwargs: Any) -> Any:
    """Bars for ``values``; a ``None`` gets no bar but the text "n/a" at its place (on the value axis' 0)."""
    heights = [0.0 if v is None else float(v) for v in values]
    bars = (ax.barh(positions, heights, width, **kwargs) if horizontal
            else ax.bar(positions, heights, width, **kwargs))
    for pos, value, bar in zip(positions, values, bars, strict=True):
        if value is not None:
            continue
        bar.set_visible(False)
        if horizontal:
            ax.text(0.01, pos, NA, transform=ax.get_yaxis_transform(), va="center", ha="left", fontsize=7,
                    color="dimgray")
        else:
            ax.text(pos, 0.01, NA, transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=7,
                    color="dimgray", rotation=90)
    return bars


def _value_labels(ax: Any, bars: Any, values: Sequence[float | None], fmt: str) -> None:
    ax.bar_label(bars, labels=["" if v is None else format(v, fmt) for v in values], fontsize=7)


def draw_figures(metrics: dict[str, Any]) -> dict[str, Any]:
    """Every figure for ``metrics`` as matplotlib figures, by name (figures with no data are left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures: dict[str, Any] = {}
    for draw in (_curves, _auc_vs_paper, _merge_outcomes, _communication, _failure_modes, _per_repo):
        fig = draw(metrics, plt)
        if fig is not None:
            figures[draw.__name__.lstrip("_")] = fig
    return figures


def write_figures(metrics: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write all figures for ``metrics`` into ``out_dir`` as PNG and PDF; returns the written files."""
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, fig in draw_figures(metrics).items():
        written += _save(fig, out, name)
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
        vals = [metrics["per_model"][m]["auc"][s] for m in names]
        _bars(ours, [j + i * width for j in range(len(names))], vals, width, label=s)
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
    bars = _bars(acts, range(len(shares)), list(shares.values()))
    acts.set_xticks(range(len(shares)), list(shares))
    _value_labels(acts, bars, list(shares.values()), ".2f")
    acts.set_ylabel(_label("share_of_messages"))
    ov = comm["overhead"]
    acts.set_title(f"n={comm['speech_acts']['n_messages']}; {ov['definition']}: mean {ov['mean']:.3f}", fontsize=8)
    feats = ["first_turn_planning", "file_mentions", "line_mentions"]
    xs: list[str] = []
    rates: list[float | None] = []
    errs: list[list[float]] = [[], []]
    for f in feats:
        for side in ("with", "without"):
            p = comm[f][side]
            xs.append(f"{_label(f)}\n{side} (n={p['n']})")
            r = p["rate"] if p["n"] else None
            rates.append(r)
            errs[0].append(0.0 if r is None else r - (p["low"] if p["low"] is not None else r))
            errs[1].append(0.0 if r is None else (p["high"] if p["high"] is not None else r) - r)
    _bars(conf, range(len(xs)), rates)
    known = [i for i, r in enumerate(rates) if r is not None]
    if known:  # error bars only where there is a rate
        conf.errorbar(known, [rates[i] for i in known], yerr=[[errs[0][i] for i in known], [errs[1][i] for i in known]],
                      fmt="none", capsize=3, ecolor="black")
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
        rates = [ran[k]["prevalence"]["rate"] for k in names]
        vals = [None if r is None else 100 * r for r in rates]
        bars = _bars(ours, range(len(names)), vals, horizontal=True)
        ours.set_yticks(range(len(names)), [f"{_label(k)} (n={ran[k]['ran_on']})" for k in names])
        _value_labels(ours, bars, vals, ".1f")
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
        vals = [(metrics["per_repo"][r].get(s, {}).get("conflict_rate") or {}).get("rate") for r in repos]
        _bars(ax, [j + i * width for j in range(len(repos))], vals, width, label=f"{s} {_label('conflict_rate')}")
    ax.set_xticks([j + width / 2 for j in range(len(repos))], repos, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(_label("conflict_rate"))
    ax.legend(fontsize=8)
    return fig
