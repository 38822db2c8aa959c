"""``parley cooperbench``: evaluate CooperBench patches, classify failures, analyse runs (arXiv 2601.13295)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer

from parley.cli.common import SetOption, command_group, console, fail, load_or_fail, stdout, writable_dir

app = command_group("CooperBench: patch evaluation, failure classifiers, analysis and figures.")

ModelConfigOption = typer.Option(
    None, "--model-config", help="YAML config whose `model` section selects the LLM judge (optional)."
)


def _load(runs: Path) -> Any:
    """The records of RUNS; a path that holds no usable record is an error (nothing to analyse)."""
    from parley.cooperbench.errors import NothingToAnalyseError
    from parley.cooperbench.loaders import load_runs

    loaded = load_runs(runs)
    if not loaded.usable:
        problems = "; ".join(str(p) for p in loaded.problems[:3]) or "no record found"
        raise NothingToAnalyseError(
            f"{runs}: no usable CooperBench record ({len(loaded.records)} read; {problems}); pass a records "
            ".json file (format in docs/cooperbench.md, e.g. data/cooperbench/runs_command_a_lite.json) or an "
            "upstream logs directory <run>/<solo|coop>/<repo>/<task>/<pair>/")
    return loaded


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
    except (LLMError, ImportError) as exc:
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
    from parley.cooperbench.report import write_report

    loaded = _load(runs)
    writable_dir(out)
    model, reason = _judge_model(model_config, overrides)
    findings = asyncio.run(_classify(loaded.records, model, reason, concurrency))
    metrics = analyze(loaded, findings)
    metrics["paper_reference"] = paper_reference.as_dict()
    metrics["llm_judges"] = {"ran": model is not None, "reason_not_run": reason or None}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str), encoding="utf-8")
    (out / "findings.json").write_text(json.dumps(_findings_json(findings), indent=1), encoding="utf-8")
    written: list[Path] = []
    if not no_figures:
        from parley.cooperbench.figures import write_figures

        written = write_figures(metrics, out)
    not_run = {"LLM-judge classifiers": reason} if model is None else {}
    write_report(metrics, out, written, not_run)
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
    if out.is_dir():
        fail(f"--out {out}: is a directory; pass the path of the findings .json file to write")
    writable_dir(out.parent, "--out's directory")
    model, reason = _judge_model(model_config, overrides)
    findings = asyncio.run(_classify(loaded.records, model, reason, concurrency))
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


@app.command("eval")
def eval_cmd(
    logs: Path = typer.Argument(..., help="Upstream logs directory (`<run>/<solo|coop>/<repo>/<task>/<pair>/`)."),
    dataset: Path = typer.Option(..., "--dataset", help="Dataset root holding `<repo>/task<id>/` directories."),
    out: Path = typer.Option(..., "--out", help="Directory for `<pair path>/eval.json` and `summary.json`."),
    repo: Path = typer.Option(None, "--repo", help="Git repository with the base commit (default `<task>/repo`)."),
    base_commit: str = typer.Option(
        None, "--base-commit", help="Base commit (default `<task>/base_commit` or `setup.sh`)."
    ),
    runner: str = typer.Option("sandbox", "--runner", help="sandbox (default), docker, or local (NO isolation)."),
    docker_image: str = typer.Option(None, "--docker-image", help="Image for --runner docker."),
    timeout_s: float = typer.Option(600.0, "--timeout", min=1, help="Per-feature test timeout in seconds."),
) -> None:
    """Apply each agent's patch at the base commit, three-way merge, and run both features' tests."""
    from collections import Counter

    from parley.cooperbench.dataset import find_task, load_task
    from parley.cooperbench.errors import CooperBenchInputError, NothingToAnalyseError
    from parley.cooperbench.evaluation import evaluate_pair
    from parley.cooperbench.loaders import load_logs_dir
    from parley.cooperbench.runners import make_runner

    test_runner = make_runner(runner, docker_image=docker_image)
    loaded = load_logs_dir(logs)
    if not loaded.records:
        raise NothingToAnalyseError(f"{logs}: no run records found (expected <run>/<solo|coop>/<repo>/<task>/<pair>/"
                                    "directories holding the agents' patches)")
    writable_dir(out)
    if test_runner.isolation == "none":
        console.print("warning: --runner local runs model-written tests WITHOUT isolation", markup=False)
    summary: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    for rec in loaded.records:
        try:
            task = load_task(find_task(dataset, rec.repo, rec.task_id), repo_path=repo, base_commit=base_commit)
        except CooperBenchInputError as exc:
            rows.append({"record": rec.record_id, "error": str(exc)})
            summary["task_missing"] += 1
            continue
        patches = [(a.agent_id, a.patch) for a in rec.agents]
        outcome = evaluate_pair(task, rec.features, patches, rec.setting, test_runner, timeout_s=timeout_s)
        target = out / Path(rec.source).resolve().relative_to(logs.resolve()) / "eval.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(outcome.to_eval_json(), indent=1), encoding="utf-8")
        key = "eval_error" if outcome.error and outcome.merge_status == "error" else outcome.merge_status
        summary[key] += 1
        summary["both_passed"] += int(outcome.both_passed)
        rows.append(
            {
                "record": rec.record_id,
                "merge": outcome.merge_status,
                "both_passed": outcome.both_passed,
                "error": outcome.error,
            }
        )
    (out / "summary.json").write_text(
        json.dumps({"counts": dict(summary), "records": rows}, indent=1), encoding="utf-8"
    )
    stdout.print(f"evaluated {len(rows)} records with runner={test_runner.isolation}: {dict(summary)}", markup=False)
    if summary["task_missing"] == len(rows):
        example = rows[0]["error"]
        fail(f"no record was evaluated: the task of every one of the {len(rows)} records is missing from --dataset "
             f"{dataset} (e.g. {example}); pass the dataset root holding <repo>/task<id>/ directories", code=1)
