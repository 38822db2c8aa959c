"""``parley cooperbench``: evaluate CooperBench patches, classify failures, analyse runs (arXiv 2601.13295)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer

from parley.cli.common import SetOption, console, fail, load_or_fail, stdout

app = typer.Typer(help="CooperBench: patch evaluation, failure classifiers, analysis and figures.", no_args_is_help=True)

ModelConfigOption = typer.Option(
    None, "--model-config", help="YAML config whose `model` section selects the LLM judge (optional)."
)


def _load(runs: Path) -> Any:
    from parley.cooperbench.loaders import load_runs

    try:
        return load_runs(runs)
    except ValueError as exc:
        fail(str(exc))


def _judge_model(model_config: Path | None, overrides: list[str] | None) -> tuple[Any, str]:
    """The judge model, or ``None`` and the reason LLM classifiers will not run."""
    configured = model_config is not None or any(o.startswith("model.") for o in overrides or [])
    if not configured:
        return None, "no model configured (pass --model-config FILE or --set model.backend=... --set model.name=...)"
    from parley.llm.errors import LLMError
    from parley.llm.factory import create_model

    cfg = load_or_fail(model_config, overrides)
    try:
        return create_model(cfg.model), ""
    except (LLMError, ValueError, ImportError) as exc:
        fail(f"model {cfg.model.backend}/{cfg.model.name}: cannot create the judge model: {exc}")


async def _classify(records: Any, model: Any, reason: str, concurrency: int) -> Any:
    from parley.cooperbench.classify import run_all

    try:
        return await run_all(records, model, reason, concurrency=concurrency)
    finally:
        if model is not None:
            await model.aclose()


def _findings_json(findings: dict[str, Any]) -> dict[str, Any]:
    return {rid: [f.model_dump() for f in items] for rid, items in findings.items()}


@app.command("analyze")
def analyze_cmd(
    runs: Path = typer.Argument(..., help="A records .json file or an upstream logs directory."),
    out: Path = typer.Option(..., "--out", help="Directory for metrics.json, figures and report.md."),
    model_config: Path = ModelConfigOption,
    overrides: list[str] = SetOption,
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="LLM judge calls in flight."),
    no_figures: bool = typer.Option(False, "--no-figures", help="Skip the PNG/PDF figures."),
) -> None:
    """Compute metrics, figures and a report for RUNS (offline unless a judge model is configured)."""
    from parley.cooperbench import paper_reference
    from parley.cooperbench.analysis import analyze
    from parley.cooperbench.report import render_report

    loaded = _load(runs)
    model, reason = _judge_model(model_config, overrides)
    findings = asyncio.run(_classify(loaded.records, model, reason, concurrency))
    metrics = analyze(loaded, findings)
    metrics["paper_reference"] = paper_reference.as_dict()
    metrics["llm_judges"] = {"ran": model is not None, "reason_not_run": reason or None}
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str), encoding="utf-8")
    (out / "findings.json").write_text(json.dumps(_findings_json(findings), indent=1), encoding="utf-8")
    written: list[Path] = []
    if not no_figures:
        from parley.cooperbench.figures import write_figures

        written = write_figures(metrics, out)
    not_run = {"LLM-judge classifiers": reason} if model is None else {}
    report = render_report(metrics, [p.name for p in written], not_run)
    (out / "report.md").write_text(report, encoding="utf-8")
    auc = metrics["auc"]
    stdout.print(
        f"{metrics['input']['n_usable']}/{metrics['input']['n_records']} records; AUC solo={auc['solo']}, "
        f"coop-comm={auc['coop-comm']}, coop-nocomm={auc['coop-nocomm']}; wrote {out}/metrics.json, report.md "
        f"and {len(written)} figure files",
        markup=False,
        highlight=False,
    )
    if reason:
        console.print(f"LLM-judge classifiers not run: {reason}", markup=False, highlight=False)


@app.command("classify")
def classify_cmd(
    runs: Path = typer.Argument(..., help="A records .json file or an upstream logs directory."),
    out: Path = typer.Option(..., "--out", help="Where to write findings JSON."),
    model_config: Path = ModelConfigOption,
    overrides: list[str] = SetOption,
    concurrency: int = typer.Option(8, "--concurrency", min=1, help="LLM judge calls in flight."),
) -> None:
    """Run the heuristic, taxonomy and (when a model is configured) LLM-judge classifiers."""
    from collections import Counter

    loaded = _load(runs)
    model, reason = _judge_model(model_config, overrides)
    findings = asyncio.run(_classify(loaded.records, model, reason, concurrency))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(_findings_json(findings), indent=1), encoding="utf-8")
    counts: Counter[tuple[str, str]] = Counter((f.classifier, f.status) for items in findings.values() for f in items)
    for name in sorted({c for c, _ in counts}):
        stdout.print(
            f"{name}: detected {counts[(name, 'detected')]}, not detected {counts[(name, 'not_detected')]}, "
            f"not run {counts[(name, 'not_run')]}",
            markup=False,
            highlight=False,
        )
    if reason:
        console.print(f"LLM-judge classifiers not run: {reason}", markup=False, highlight=False)
