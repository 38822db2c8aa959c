"""Bad input to ``parley generate``: every mistake a user can make fails early with a message naming it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from parley.cli.app import app
from parley.llm.scripted_server import ScriptedServer, ServerScript
from tests.generation.support import committed_keys_exactly_once, debate_reply, remote_overrides

runner = CliRunner()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer(ServerScript(reply=debate_reply)) as srv:
        yield srv


def _write_config(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("yaml_text", "needles"),
    [
        ("generation:\n  concurency: 4\n", ["generation.concurency", "unknown field", "concurrency"]),
        ("protocol:\n  max_rounds: lots\n", ["protocol.max_rounds", "integer"]),
        ("protocol:\n  name: debate\n",
         ["protocol.name", "unknown protocol 'debate'", "known: mad, self_consistency, single, svj"]),
        ("model:\n  backend: vllm\n", ["model.backend", "unknown model backend 'vllm'", "known: hf, litellm, openai"]),
        ("modle:\n  name: x\n", ["modle", "unknown field", "model"]),
        ("models:\n  critic:\n    name: x\n", ["models.critic", "solver, verifier, judge"]),
        ("- just\n- a list\n", ["top level must be a mapping"]),
        ("generation: [unclosed\n", ["not valid YAML"]),
    ],
)
def test_malformed_config_names_the_field(tmp_path: Path, yaml_text: str, needles: list[str]) -> None:
    config = _write_config(tmp_path / "bad.yaml", yaml_text)
    result = runner.invoke(app, ["generate", str(config)])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and str(config.name) in result.output
    for needle in needles:
        assert needle in result.output, needle
    assert not (tmp_path / "runs").exists()


def test_bad_set_override_names_the_field(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--set", "generation.temperature=-1"])
    assert result.exit_code == 2 and "generation.temperature" in result.output
    result = runner.invoke(app, ["generate", "--set", "generation"])
    assert result.exit_code == 2 and "section.field=value" in result.output


def test_unknown_dataset_lists_the_known_ones(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--set", "dataset.name=imagenet",
                                 "--set", f"output.dir={tmp_path / 'out'}"])
    assert result.exit_code == 2
    for needle in ("dataset.name", "imagenet", "reasoning_gym:<generator>", "champ", "humaneval", "hf:gsm8k",
                   ".jsonl"):
        assert needle in result.output, needle
    assert not (tmp_path / "out").exists()


def test_unknown_reasoning_gym_generator_is_named(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--set", "dataset.name=reasoning_gym:no_such_generator",
                                 "--set", f"output.dir={tmp_path / 'out'}"])
    assert result.exit_code == 2 and "no_such_generator" in result.output


def _dataset_with_a_bad_line(path: Path) -> Path:
    lines = [json.dumps({"id": "a", "question": "Calculate 1 + 2.", "answer": "3"}),
             '{"id": "b", "question": "Calculate 2 + 2.", "answer": ',  # truncated line 2
             "",
             json.dumps({"id": "c", "question": "Calculate 3 + 4.", "answer": "7"}),
             json.dumps(["not", "an", "object"])]  # line 5
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_malformed_dataset_line_names_file_and_line(server: ScriptedServer, tmp_path: Path) -> None:
    dataset = _dataset_with_a_bad_line(tmp_path / "problems.jsonl")
    out_dir = tmp_path / "out"
    result = runner.invoke(app, ["generate", *remote_overrides(server.base_url, out_dir,
                                                               **{"dataset.name": str(dataset)})])
    assert result.exit_code == 2
    assert "problems.jsonl:2" in result.output and "--skip-bad-lines" in result.output
    assert server.calls() == []


def test_skip_bad_lines_skips_and_reports(server: ScriptedServer, tmp_path: Path) -> None:
    dataset = _dataset_with_a_bad_line(tmp_path / "problems.jsonl")
    out_dir = tmp_path / "out"
    result = runner.invoke(app, ["generate", "--skip-bad-lines",
                                 *remote_overrides(server.base_url, out_dir, **{"dataset.name": str(dataset)})])
    assert result.exit_code == 0, result.output
    assert sorted(committed_keys_exactly_once(out_dir)) == [("a", 0), ("c", 0)]
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["skipped_lines"] == 2 and summary["completed"] == 2 and summary["accuracy"] == 1.0


def test_hf_model_directory_that_does_not_exist(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--set", f"model.name={tmp_path / 'no-model'}",
                                 "--set", "dataset.limit=1", "--set", f"output.dir={tmp_path / 'out'}"])
    assert result.exit_code == 2 and "model.name" in result.output and "no-model" in result.output
