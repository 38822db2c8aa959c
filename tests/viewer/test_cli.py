"""`parley view` refuses bad input with one clear line and exit code 2 (no Streamlit traceback)."""

from __future__ import annotations

import socket
from pathlib import Path

from typer.testing import CliRunner

from parley.cli.app import app


def test_missing_directory_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["view", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "nope: no such directory" in result.output


def test_busy_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = CliRunner().invoke(app, ["view", str(tmp_path), "--port", str(port)])
    assert result.exit_code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.output
