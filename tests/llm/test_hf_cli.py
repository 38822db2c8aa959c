"""`parley model build-random` and `parley model tiny-path` through the real CLI app."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoModelForCausalLM
from typer.testing import CliRunner

from parley.cli.app import app
from parley.llm.tiny import RECIPE_FILE


def test_build_random_writes_a_loadable_model(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "m"
    result = runner.invoke(app, ["model", "build-random", str(out), "--seed", "3", "--hidden-size", "64"])
    assert result.exit_code == 0, result.output
    assert str(out) in result.stdout
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.hidden_size == 64 and model.config.intermediate_size == 256
    assert (out / RECIPE_FILE).is_file()

    again = runner.invoke(app, ["model", "build-random", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    forced = runner.invoke(app, ["model", "build-random", str(out), "--force", "--hidden-size", "32"])
    assert forced.exit_code == 0
    assert AutoModelForCausalLM.from_pretrained(out).config.hidden_size == 32


def test_tiny_path_builds_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_CACHE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["model", "tiny-path", "--random"])
    assert result.exit_code == 0, result.output
    path = Path(result.stdout.strip())
    assert path.parent == tmp_path / "tiny" and (path / "config.json").is_file()
