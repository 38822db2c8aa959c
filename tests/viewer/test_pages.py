"""Every viewer page, rendered headlessly (streamlit AppTest) on real run directories made by the real code."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from parley.tracking import read_table
from tests import run_outputs
from tests.viewer.conftest import texts


def _exp(view_root: Path) -> Path:
    (exp,) = [p for p in (view_root / "demo").iterdir() if (p / "manifest.json").is_file()]
    return exp


def test_overview_lists_experiment_arms_stages_headline(app: Callable[..., Any], view_root: Path) -> None:
    at = app("overview")
    page = texts(at)
    assert "experiment viewer-quick · succeeded" in page
    for arm in run_outputs.ARMS:
        assert arm in at.table[0].value["arm"].tolist()
    stages = at.table[1].value
    assert set(stages["status"]) == {"succeeded"} and "train@shaping=difference" in stages["stage"].tolist()
    headline = json.loads((_exp(view_root) / "stages" / "report" / "headline.json").read_text())
    shown = next(d.value for d in at.table if "ci_low" in d.value.columns)
    assert shown["arm"].tolist() == [r["arm"] for r in headline["rows"]]
    assert "generation stores" in page and "CooperBench analyses" in page


def test_learning_curves_per_arm_and_shaped_vs_raw(app: Callable[..., Any], view_root: Path) -> None:
    at = app("curves")
    assert at.selectbox(key="curve_metric").value == "reward/mean"
    finals = at.table[0].value
    arms = finals[finals["arm"].str.rsplit(" / ", n=1).str[1].isin(run_outputs.ARMS)]
    assert len(arms) == len(run_outputs.ARMS) and set(arms["last step"]) == {2}  # 2 training steps per arm
    at.checkbox(key="curve_shaped").check().run()
    assert not at.exception
    finals = at.table[0].value
    assert set(finals["metric"]) == {"reward/solver", "shaped_reward/solver"}


def test_step_browser_shows_a_steps_debates_turn_by_turn(app: Callable[..., Any], view_root: Path) -> None:
    at = app("steps")
    choices = at.selectbox(key="step_run").options
    arm = next(c for c in choices if c.endswith("/ identity"))
    at.selectbox(key="step_run").set_value(arm).run()
    run_dir = _exp(view_root) / "stages" / "train@shaping=identity" / "run"
    rows = [r for r in read_table(run_dir, "debates") if r["step"] == 2]
    page = texts(at)
    assert "best rollout" in page and "worst rollout" in page
    assert rows[0]["text"] in [t.value for t in at.text]
    assert ":blue-badge[solver]" in page and ":orange-badge[verifier]" in page
    assert "advantage" in page and "shaped" in page


def test_comparison_pairs_two_arms_and_opens_both_transcripts(app: Callable[..., Any], view_root: Path) -> None:
    at = app("comparison")
    at.selectbox(key="cmp_a").set_value("identity / svj")
    at.selectbox(key="cmp_b").set_value("difference / svj").run()
    assert not at.exception
    page = texts(at)
    assert "6 shared problems" in page and "disagreements" in page
    paired = at.dataframe[0].value
    assert len(paired) == 6 and {"A correct", "B correct", "A answer", "B answer"} <= set(paired.columns)
    assert sum(":blue-badge[solver]" in m.value for m in at.markdown) >= 2  # one transcript per side


def test_generation_store_summary_debates_and_transcript(app: Callable[..., Any], view_root: Path) -> None:
    at = app("generation")
    assert at.selectbox(key="gen_store").value == "generate/tiny"
    assert any("stages/baseline/svj/store" in o for o in at.selectbox(key="gen_store").options)  # eval stores too
    summary = json.loads((view_root / "generate" / "tiny" / "summary.json").read_text())
    assert at.metric[0].label == "completed" and at.metric[0].value == f"{summary['completed']:,}"
    debates = at.dataframe[0].value
    assert len(debates) == 8 and set(debates["protocol"]) == {"mad"}
    assert ":green-badge[agent_0]" in texts(at) and ":red-badge[agent_1]" in texts(at) and len(at.text) >= 2


def test_cooperbench_analysis_figures_and_findings(app: Callable[..., Any], view_root: Path) -> None:
    at = app("cooperbench")
    metrics = json.loads((view_root / "cooperbench" / "metrics.json").read_text())
    page = texts(at)
    assert f"{metrics['input']['n_usable']} of {metrics['input']['n_records']} records usable" in page
    assert len(at.get("image")) >= 1
    assert "findings" in page


def test_mlflow_source_shows_the_grouped_arms_curves_and_step_tables(app: Callable[..., Any], view_root: Path) -> None:
    uri = f"sqlite:///{_exp(view_root) / 'mlflow.db'}"
    at = app("overview", PARLEY_VIEW_MLFLOW_URI=uri)
    at.radio(key="source").set_value("MLflow").run()
    assert not at.exception
    page = texts(at)
    assert f"group {_exp(view_root).name}" in page
    runs = "\n".join(d.value.to_csv() for d in at.table)
    assert "train@shaping=identity" in runs and "train@shaping=difference" in runs
    at.radio(key="page").set_value("curves").run()
    assert not at.exception and len(at.table[0].value) >= 2
    at.radio(key="page").set_value("steps").run()
    run = next(o for o in at.selectbox(key="step_run").options if "train@shaping=identity" in o)
    at.selectbox(key="step_run").set_value(run).run()
    run_dir = _exp(view_root) / "stages" / "train@shaping=identity" / "run"
    rows = [r for r in read_table(run_dir, "debates") if r["step"] == 2]
    assert rows[0]["text"] in [t.value for t in at.text]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_sources_show_a_clear_message(app: Callable[..., Any], view_root: Path) -> None:
    port = _closed_port()
    at = app("curves", PARLEY_VIEW_MLFLOW_URI=f"http://127.0.0.1:{port}")
    at.radio(key="source").set_value("MLflow").run()
    assert [e.value for e in at.error] and f"127.0.0.1:{port}" in at.error[0].value
    assert "cannot be reached" in at.error[0].value
    at = app("steps", WANDB_BASE_URL=f"http://127.0.0.1:{port}", WANDB_API_KEY="local-test-" + "0" * 40)
    at.radio(key="source").set_value("W&B").run()
    assert [e.value for e in at.error] and "W&B" in at.error[0].value


def test_a_directory_without_runs_says_so(app: Callable[..., Any], tmp_path: Path) -> None:
    for page in ("overview", "curves", "steps", "comparison", "generation", "cooperbench"):
        at = app(page, root=tmp_path)
        assert at.warning, f"{page}: no message on an empty directory"


def test_step_browser_reads_the_trainers_rollout_store(app: Callable[..., Any], view_root: Path,
                                                        tmp_path: Path) -> None:
    """The rollout-log format of docs/viewer.md (written by the trainer), in a real trajectory store."""
    import shutil

    from parley.store import TrajectoryStore

    run = tmp_path / "run"
    run.mkdir()
    identity = _exp(view_root) / "stages" / "train@shaping=identity" / "run"
    for name in ("train_run.json", "metrics.jsonl"):
        shutil.copy(identity / name, run / name)
    with TrajectoryStore.read(view_root / "generate" / "tiny") as source:
        transcripts = list(source.iter_transcripts())
    problems = sorted({t.problem_id for t in transcripts})
    step_of = {t.debate_id: 1 + problems.index(t.problem_id) % 2 for t in transcripts}  # a group stays in one step
    for i, t in enumerate(transcripts):
        left_out = i == 0
        t.metadata["training"] = {
            "step": step_of[t.debate_id], "outcome": float(t.sample_index), "kept": not left_out,
            "turns": [{"index": turn.index, "role": turn.role, "policy_id": turn.policy_id, "local": 0.5,
                       "shaped_reward": 0.25 * i, "advantage": None if left_out else 0.1 * i, "trained": not left_out}
                      for turn in t.turns],
            "counterfactuals": {"difference": {"agent_0": 0.125}}}
    store = TrajectoryStore.open(run / "rollouts", run_id=transcripts[0].run_id, config_hash=transcripts[0].config_hash,
                                 config={})
    store.write(transcripts)
    store.close()
    at = app("steps", root=tmp_path)
    assert at.select_slider(key="step_step").options == ["1", "2"]
    at.select_slider(key="step_step").set_value(step_of[transcripts[0].debate_id]).run()
    page = texts(at)
    assert "best rollout" in page and "worst rollout" in page
    assert "counterfactuals: difference agent_0: 0.125" in page
    assert "*left out of the update*" in page and "*not trained*" in page and "local 0.500" in page
    shown = [t for t in transcripts if step_of[t.debate_id] == step_of[transcripts[0].debate_id]]
    assert {t.question for t in shown} <= {e.value for e in at.text}
