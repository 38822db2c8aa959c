"""Errors at the command line (issue 11 point 3; issue 12 points 5 and 6).

A :class:`parley.errors.UserError` is printed as one ``error:`` line with its exit status (2 for bad
input, 1 when the work did not happen); any other exception keeps its traceback. A command whose work
did not happen exits non-zero; bad paths and values get a message naming the input and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from parley.cli.app import app
from parley.config import ConfigError

runner = CliRunner()
FIXTURES = Path(__file__).resolve().parents[1] / "cooperbench" / "fixtures"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "generate_svj_tiny.yaml"


def _clean_error(result: object, code: int, *fragments: str) -> str:
    output = str(getattr(result, "output", ""))
    assert getattr(result, "exit_code", None) == code, output
    assert "Traceback" not in output, output
    assert "error:" in output, output
    for fragment in fragments:
        assert fragment in output, f"{fragment!r} not in {output!r}"
    return output


# -- the boundary ---------------------------------------------------------------------------------
def _probe_app(exc: BaseException) -> typer.Typer:
    from parley.cli.common import ParleyGroup

    probe = typer.Typer(cls=ParleyGroup)

    @probe.command("boom")
    def boom() -> None:
        raise exc

    @probe.command("other")
    def other() -> None:
        """A second command, so ``boom`` stays a subcommand."""

    return probe


def test_user_errors_are_messages_and_everything_else_keeps_its_traceback() -> None:
    from parley.errors import ParleyError, WorkFailedError

    bad_input = runner.invoke(_probe_app(ConfigError("model.name: unknown; use tiny")), ["boom"])
    _clean_error(bad_input, 2, "model.name: unknown; use tiny")
    not_done = runner.invoke(_probe_app(WorkFailedError("endpoint down")), ["boom"])
    _clean_error(not_done, 1, "endpoint down")
    bug = runner.invoke(_probe_app(ValueError("list index confusion")), ["boom"])
    assert isinstance(bug.exception, ValueError)  # propagates: CliRunner keeps it, the script prints it
    internal = runner.invoke(_probe_app(ParleyError("invariant broken")), ["boom"])
    assert isinstance(internal.exception, ParleyError) and "error:" not in internal.output


def test_the_domain_errors_sit_on_the_right_branch() -> None:
    from parley.cooperbench.errors import CooperBenchInputError
    from parley.data import DatasetError
    from parley.errors import ParleyError, UserError
    from parley.evaluation import EvaluationError
    from parley.experiments import ExperimentError, SpecError
    from parley.llm.errors import EndpointUnreachableError, LLMError, MissingAPIKeyError
    from parley.rewards.shaping.base import ShapingError, UnknownShapingStrategyError
    from parley.sandbox import SandboxError
    from parley.store import StoreError
    from parley.training.trainer import TrainingError

    for cls in (ConfigError, SpecError, DatasetError, StoreError, EvaluationError, ExperimentError, TrainingError,
                CooperBenchInputError, UnknownShapingStrategyError, MissingAPIKeyError):
        assert issubclass(cls, UserError) and cls.exit_code == 2, cls
    for cls in (LLMError, EndpointUnreachableError, SandboxError):
        assert issubclass(cls, UserError) and cls.exit_code == 1, cls
    assert issubclass(ShapingError, ParleyError) and not issubclass(ShapingError, UserError)  # a wiring bug
    assert issubclass(ConfigError, ValueError) and issubclass(LLMError, RuntimeError)  # old bases kept


# -- point 6: messages instead of tracebacks ----------------------------------------------------
@pytest.mark.parametrize("command", [["config", "show"], ["generate"], ["train"], ["eval", "run", "--label", "a",
                                                                                    "--out", "OUT"]])
def test_a_directory_given_as_the_config(command: list[str], tmp_path: Path) -> None:
    args = [a.replace("OUT", str(tmp_path / "out")) for a in command]
    result = runner.invoke(app, [*args, str(tmp_path)])
    _clean_error(result, 2, f"{tmp_path}: is a directory; pass a YAML config file")


def test_set_errors_are_blamed_on_the_set_option_not_the_file() -> None:
    result = runner.invoke(app, ["config", "show", str(EXAMPLE), "--set", "protocol.max_rounds=abc"])
    output = _clean_error(result, 2, "--set protocol.max_rounds=abc: protocol.max_rounds:")
    assert f"{EXAMPLE}:" not in output
    typo = runner.invoke(app, ["config", "show", str(EXAMPLE), "--set", "generation.temprature=0.5"])
    _clean_error(typo, 2, "--set generation.temprature=0.5: generation.temprature: unknown field; allowed fields "
                          "here: ")
    in_file = runner.invoke(app, ["config", "show", str(EXAMPLE), "--set", "protocol.name=svj"])
    assert in_file.exit_code == 0, in_file.output


def test_a_misspelt_stage_field_lists_the_stage_fields(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\nstages:\n  - {id: a, kind: tiny_prepare, paramz: {}, outputs: [problems.jsonl]}\n")
    result = runner.invoke(app, ["experiment", "run", str(spec), "--dry-run"])
    _clean_error(result, 2, "stages.0.paramz: unknown field; allowed fields here: id, kind, needs, outputs")


@pytest.mark.parametrize("where", ["file", "below_a_file"])
def test_experiment_root_that_is_a_file_or_below_one(where: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\nstages:\n  - {id: a, kind: tiny_prepare, outputs: [problems.jsonl]}\n")
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    root = blocker if where == "file" else blocker / "sub"
    result = runner.invoke(app, ["experiment", "run", str(spec), "--root", str(root)])
    _clean_error(result, 2, "--root")


def test_out_that_is_a_file(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("a file")
    records = Path(__file__).resolve().parents[2] / "data" / "cooperbench" / "runs_command_a_lite.json"
    analyze = runner.invoke(app, ["cooperbench", "analyze", str(records), "--out", str(taken), "--no-figures"])
    _clean_error(analyze, 2, f"--out {taken}: is a file, not a directory")
    evaluation = runner.invoke(app, ["eval", "run", str(EXAMPLE), "--label", "a", "--out", str(taken)])
    _clean_error(evaluation, 2, f"--out {taken}: is a file, not a directory")
    pairs = Path(__file__).resolve().parents[2] / "examples" / "pairs.jsonl"
    verdicts = runner.invoke(app, ["verify", "math", str(pairs), "--out", str(tmp_path)])
    _clean_error(verdicts, 2, f"--out {tmp_path}: is a directory; pass the path of the file to write")


# -- point 5: exit codes that tell the truth ----------------------------------------------------------
def test_empty_config_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing but a comment\n")
    result = runner.invoke(app, ["config", "show", str(empty)])
    _clean_error(result, 2, f"{empty}: the config file is empty")


@pytest.mark.parametrize("kind", ["math", "code"])
def test_verify_on_an_empty_jsonl_file_is_an_error(kind: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    result = runner.invoke(app, ["verify", kind, str(empty)])
    _clean_error(result, 2, f"{empty}: no line to score (it is empty)")
    skipped = tmp_path / "bad.jsonl"
    skipped.write_text("not json\n")
    result = runner.invoke(app, ["verify", kind, str(skipped), "--skip-bad-lines"])
    _clean_error(result, 2, "all 1 line(s) were malformed and skipped")


def test_empty_jsonl_dataset_is_an_error_before_any_model_loads(tmp_path: Path) -> None:
    empty = tmp_path / "problems.jsonl"
    empty.write_text("")
    result = runner.invoke(app, ["generate", "--set", f"dataset.name={empty}", "--set",
                                 f"output.dir={tmp_path / 'out'}"])
    _clean_error(result, 2, "no problems loaded")
    assert not (tmp_path / "out").exists()


def test_cooperbench_analyze_on_an_empty_directory_exits_1_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    result = runner.invoke(app, ["cooperbench", "analyze", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])
    _clean_error(result, 1, "no usable CooperBench record")
    assert not (tmp_path / "out").exists()


def test_cooperbench_eval_exits_1_when_every_task_is_missing(tmp_path: Path) -> None:
    (tmp_path / "dataset").mkdir()
    result = runner.invoke(app, ["cooperbench", "eval", str(FIXTURES / "logs"), "--dataset", str(tmp_path / "dataset"),
                                 "--out", str(tmp_path / "out"), "--runner", "local"])
    _clean_error(result, 1, "no record was evaluated", "missing from --dataset")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert set(summary["counts"]) == {"task_missing"}


def test_sandbox_run_exit_status_follows_the_program(tmp_path: Path) -> None:
    slow = tmp_path / "slow.py"
    slow.write_text("import time\ntime.sleep(30)\n")
    timed_out = runner.invoke(app, ["sandbox", "run", str(slow), "--timeout", "1"])
    assert timed_out.exit_code == 124, timed_out.output
    assert json.loads(timed_out.stdout)["status"] == "timeout"
    failing = tmp_path / "fail.py"
    failing.write_text("import sys\nsys.exit(3)\n")
    failed = runner.invoke(app, ["sandbox", "run", str(failing)])
    assert failed.exit_code == 1 and json.loads(failed.stdout)["exit_code"] == 3, failed.output


def test_model_build_random_rejects_heads_that_do_not_divide_the_width(tmp_path: Path) -> None:
    result = runner.invoke(app, ["model", "build-random", str(tmp_path / "m"), "--hidden-size", "30",
                                 "--num-heads", "4"])
    _clean_error(result, 2, "--hidden-size 30 must be divisible by --num-heads 4")

