"""Live progress bars and log lines (issue 12 polish): no stale bar, no log line printed onto a bar."""

from __future__ import annotations

import io
import logging
import sys

import pytest
from typer.testing import CliRunner

from parley.cli.app import app
from parley.log import configure_logging

runner = CliRunner()


def test_log_lines_follow_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich's live display redirects sys.stderr so other output lands above the bar; the log handler must
    # write to that redirected stream, not to the stream it saw when logging was configured.
    configure_logging("INFO")
    redirected = io.StringIO()
    monkeypatch.setattr(sys, "stderr", redirected)
    logging.getLogger("parley.test").warning("a line above the bar")
    assert "a line above the bar" in redirected.getvalue()


def test_init_tiny_when_cached_says_so_without_a_progress_bar() -> None:
    # --quick: the smaller recipe of `parley demo --quick`, so a cold cache builds it in well under a minute.
    first = runner.invoke(app, ["model", "init-tiny", "--quick", "--eval-problems", "0"])  # builds it if needed
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["model", "init-tiny", "--quick", "--eval-problems", "0"])
    assert again.exit_code == 0, again.output
    assert "already built" in again.output and "(cached; --force rebuilds it)" in again.output
    assert "tiny model SFT" not in again.output and "/200" not in again.output  # no stale 0/200 bar
    assert again.stdout.strip().splitlines()[-1] == first.stdout.strip().splitlines()[-1]  # the same directory
