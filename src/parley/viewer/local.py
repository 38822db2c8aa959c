"""Local directories as a viewer source: experiments, training runs, evaluations, stores, CooperBench.

Reads are lazy and bounded: a training step's debates are read from ``<run>/rollouts/`` (a trajectory
store, see ``docs/viewer.md``) by streaming the debates table's narrow columns and loading only the
transcripts of the chosen step; without a rollout store, the per-step sample table
(``tables/debates.jsonl``) is shown instead. The Streamlit layer caches these calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley.tracking import read_metrics, read_table
from parley.viewer.catalog import Catalog, ExperimentDir, scan
from parley.viewer.model import DebateView, RunRef, TurnView, debates_from_rows, seed_of

ROLLOUTS_DIR = "rollouts"


@dataclass
class StageRow:
    stage: str
    kind: str
    arm: str
    status: str
    attempts: int
    progress: str
    error: str
    dir: Path


@dataclass
class ExperimentView:
    experiment_id: str
    name: str
    status: str
    labels: list[str]
    path: Path
    arms: list[dict[str, Any]]
    seeds: dict[str, Any]
    stages: list[StageRow]
    headline: dict[str, Any] | None
    findings: Any
    report_md: Path | None


def read_experiment(exp: ExperimentDir) -> ExperimentView:
    """Status, stages, arms, seeds, the headline table and findings of one experiment."""
    from parley.experiments.state import ExperimentStore

    store = ExperimentStore(exp.root / "experiments.db")
    try:
        record = store.get_experiment(exp.experiment_id)
        stages = store.stages(exp.experiment_id)
    finally:
        store.close()
    manifest = json.loads((exp.path / "manifest.json").read_text())
    rows = [StageRow(s.stage_id, s.kind, seed_of(s.arm_id)[0] if s.arm_id else "", s.status, s.attempts,
                     s.progress or "", s.error or "", Path(s.dir)) for s in stages]
    headline = findings = report_md = None
    for row in rows:
        if (row.dir / "headline.json").is_file():
            headline = json.loads((row.dir / "headline.json").read_text())
        for name in ("findings.json", "findings.md"):
            if (row.dir / name).is_file():
                text = (row.dir / name).read_text()
                findings = json.loads(text) if name.endswith(".json") else text
        if (row.dir / "report.md").is_file():
            report_md = row.dir / "report.md"
    arms = [{"arm": seed_of(a["id"])[0], "seed": seed_of(a["id"])[1], "id": a["id"],
             "values": json.dumps(a.get("values", {}), sort_keys=True)} for a in manifest.get("arms", [])]
    return ExperimentView(exp.experiment_id, record.name if record else manifest.get("name", ""),
                          record.status if record else "unknown", list(record.labels) if record else [],
                          exp.path, arms, manifest.get("seeds", {}), rows, headline, findings, report_md)


def train_run_refs(catalog: Catalog) -> list[RunRef]:
    """Every training run, grouped by experiment (arm and seed from the stage's arm id)."""
    arms: dict[Path, tuple[str, str, str]] = {}
    for exp in catalog.experiments:
        try:
            view = read_experiment(exp)
        except (OSError, json.JSONDecodeError):
            continue
        ids = {a["arm"]: a for a in view.arms}
        for st in view.stages:
            if st.arm:
                seed = ids.get(st.arm, {}).get("seed", "")
                arms[st.dir.resolve()] = (exp.experiment_id, st.arm, seed)
    refs = []
    for run in catalog.train_runs:
        found = arms.get(run.path.resolve()) or arms.get(run.path.parent.resolve())
        group, arm, seed = found if found else ("(no experiment)", run.label, "")
        refs.append(RunRef(str(run.path), run.label if not found else f"{arm}{f' seed {seed}' if seed else ''}",
                           group, arm, seed))
    return refs


def local_metrics(run: RunRef) -> list[dict[str, Any]]:
    return read_metrics(run.key)


def local_steps(run: RunRef) -> list[int]:
    """Training steps whose debates can be shown (from the rollout store, else the sample table)."""
    path = Path(run.key)
    if (path / ROLLOUTS_DIR / "run.json").is_file():
        return sorted({int(m["step"]) for m in _rollout_meta(path) if "step" in m})
    return sorted({int(r["step"]) for r in read_table(path, "debates")})


def _rollout_meta(path: Path) -> Iterator[dict[str, Any]]:
    from parley.store import TrajectoryStore

    with TrajectoryStore.read(path / ROLLOUTS_DIR) as store:
        for batch in store.iter_debate_batches(columns=["debate_id", "problem_id", "metadata"]):
            for debate_id, problem_id, meta in zip(*(batch.column(i).to_pylist() for i in range(3)), strict=True):
                training = (json.loads(meta) if meta else {}).get("training", {})
                yield {**training, "debate_id": debate_id, "problem_id": problem_id}


def local_step_debates(run: RunRef, step: int) -> list[DebateView]:
    """The debates of one training step, with per-turn shaped reward, advantage and counterfactuals."""
    path = Path(run.key)
    if not (path / ROLLOUTS_DIR / "run.json").is_file():
        return debates_from_rows([r for r in read_table(path, "debates") if int(r["step"]) == step])
    from parley.store import TrajectoryStore

    wanted = {m["debate_id"]: m["problem_id"] for m in _rollout_meta(path) if m.get("step") == step}
    out = []
    with TrajectoryStore.read(path / ROLLOUTS_DIR) as store:
        for problem_id in sorted(set(wanted.values())):
            for t in store.iter_transcripts(problem_id=problem_id):
                if t.debate_id in wanted:
                    out.append(debate_view(t))
    return out


def debate_view(t: Any) -> DebateView:
    """A stored :class:`~parley.debate.types.Transcript` as a :class:`DebateView`."""
    training = t.metadata.get("training", {}) if isinstance(t.metadata, dict) else {}
    per_turn = {int(x["index"]): x for x in training.get("turns", [])}
    turns = []
    for turn in t.turns:
        rec = per_turn.get(turn.index, {})
        reask = (None if turn.reask is None else
                 f"re-ask ({', '.join(turn.reask.missing)}): {turn.reask.prompt}\nreply: {turn.reask.text}")
        turns.append(TurnView(turn.index, turn.role, turn.text, turn.parsed.answer, turn.parsed.verdict,
                              rec.get("local"), rec.get("shaped_reward"), rec.get("advantage"), rec.get("trained"),
                              reask))
    outcome = training.get("outcome", t.reward)
    return DebateView(t.debate_id, t.problem_id, turns, t.question, t.gold_answer, t.final_answer,
                      None if outcome is None else float(outcome), training.get("kept"), t.termination_reason,
                      dict(training.get("counterfactuals", {})))


def store_debates(store_dir: Path, *, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """One page of a trajectory store's debates (narrow columns only) and the total count."""
    from parley.store import TrajectoryStore

    columns = ["debate_id", "problem_id", "sample_index", "protocol", "final_answer", "gold_answer", "correct",
               "termination_reason", "rounds_used"]
    rows: list[dict[str, Any]] = []
    total = 0
    with TrajectoryStore.read(store_dir) as store:
        for batch in store.iter_debate_batches(columns=columns):
            n = batch.num_rows
            lo, hi = max(offset - total, 0), min(offset + limit - total, n)
            if lo < hi:
                rows.extend(batch.slice(lo, hi - lo).to_pylist())
            total += n
    return rows, total


def store_transcript(store_dir: Path, problem_id: str, debate_id: str | None = None) -> list[DebateView]:
    """The stored transcripts of one problem (or just ``debate_id``)."""
    from parley.store import TrajectoryStore

    with TrajectoryStore.read(store_dir) as store:
        return [debate_view(t) for t in store.iter_transcripts(problem_id=problem_id)
                if debate_id is None or t.debate_id == debate_id]


def eval_results(path: Path) -> dict[str, dict[str, Any]]:
    """``problem_id -> result row`` of an evaluation's ``results.jsonl``."""
    out = {}
    for line in (path / "results.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            out[str(row["problem_id"])] = row
    return out


def load_catalog(root: str | Path) -> Catalog:
    return scan(root)


__all__ = ["ExperimentView", "StageRow", "TurnView", "debate_view", "eval_results", "load_catalog",
           "local_metrics", "local_step_debates", "local_steps", "read_experiment", "store_debates",
           "store_transcript", "train_run_refs"]
