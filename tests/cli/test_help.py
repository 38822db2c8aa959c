"""``parley --help`` and ``--help`` of every command and subcommand exit 0 and describe themselves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from parley.cli.app import app

runner = CliRunner()


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    # Groups (click's or the click typer vendors) carry a ``commands`` mapping; commands do not.
    paths = [prefix]
    if isinstance(getattr(command, "commands", None), dict):
        for name in sorted(command.commands):
            paths += _command_paths(command.commands[name], (*prefix, name))
    return paths


ROOT = typer.main.get_command(app)
PATHS = _command_paths(ROOT)


def test_the_tree_holds_the_documented_commands() -> None:
    names = {" ".join(p) for p in PATHS}
    for expected in ("generate", "serve", "config show", "trajectories show", "trajectories export",
                     "model build-random"):
        assert expected in names, expected


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "parley")
def test_help_exits_zero(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_console_script_help_and_version() -> None:
    script = Path(sys.executable).with_name("parley")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "parley.cli.app"]
    result = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "generate" in result.stdout and "trajectories" in result.stdout
    version = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("parley ")


def _command(path: tuple[str, ...]) -> Any:
    command = ROOT
    for name in path:
        command = command.commands[name]
    return command


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "parley")
def test_help_reads_as_prose_at_80_columns(path: tuple[str, ...]) -> None:
    """Issue 12 polish: no raw reST, no type label on flags, no ``<list[str]>``, examples on one line."""
    output = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80).output
    assert "``" not in output, output
    assert "<bool>" not in output and "<list[" not in output, output
    for line in (_command(path).help or "").splitlines():
        if line.strip().startswith("parley "):  # an example command: one line, shown whole
            assert len(line.strip()) <= 76, f"example too wide for an 80-column help: {line.strip()!r}"
            assert line.strip() in output, f"example split or lost: {line.strip()!r}\n{output}"


@pytest.mark.parametrize("path", [p for p in PATHS if not hasattr(_command(p), "commands")],
                         ids=lambda p: " ".join(p))
def test_every_argument_and_option_is_described(path: tuple[str, ...]) -> None:
    undocumented = [param.name for param in _command(path).params if not (getattr(param, "help", None) or "").strip()]
    assert not undocumented, f"parley {' '.join(path)}: no help for {undocumented}"
