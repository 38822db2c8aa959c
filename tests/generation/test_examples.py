"""The example configs in ``examples/generate_*.yaml`` load and run (on a few problems)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from parley.cli.app import app
from parley.config import ParleyConfig, load_config
from parley.llm.scripted_server import ScriptedServer, ServerScript
from tests.generation.support import committed_keys_exactly_once, debate_reply
from tests.tiny_model_support import tiny_model_dir

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


@pytest.mark.parametrize("name", ["generate_svj_tiny.yaml", "generate_openai.yaml"])
def test_example_config_loads(name: str) -> None:
    cfg: ParleyConfig = load_config(EXAMPLES / name)
    assert cfg.protocol.name == "svj"
    result = runner.invoke(app, ["config", "show", str(EXAMPLES / name)])
    assert result.exit_code == 0, result.output


def test_openai_example_runs_against_a_local_endpoint(tmp_path: Path) -> None:
    with ScriptedServer(ServerScript(reply=debate_reply)) as server:
        result = runner.invoke(app, ["generate", str(EXAMPLES / "generate_openai.yaml"),
                                     "--set", f"model.api_base={server.base_url}", "--set", "dataset.limit=4",
                                     "--set", f"output.dir={tmp_path / 'out'}"])
    assert result.exit_code == 0, result.output
    assert len(committed_keys_exactly_once(tmp_path / "out")) == 4
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["errors"] == {} and summary["terminations"] == {"verifier_pass": 4}


def test_tiny_example_runs(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    model_dir = tiny_model_dir(tmp_path_factory)  # the random-init tiny model: no SFT build in tests
    result = runner.invoke(app, ["generate", str(EXAMPLES / "generate_svj_tiny.yaml"),
                                 "--set", f"model.name={model_dir}", "--set", "dataset.limit=4",
                                 "--set", "generation.max_new_tokens=16", "--set", f"output.dir={tmp_path / 'out'}"])
    assert result.exit_code == 0, result.output
    assert len(committed_keys_exactly_once(tmp_path / "out")) == 4
