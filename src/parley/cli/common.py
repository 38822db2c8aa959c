"""Helpers shared by CLI modules: config loading with friendly errors, console output."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from parley.config import ConfigError, ParleyConfig, load_config
from parley.redact import redact

console = Console(stderr=True, soft_wrap=True)
stdout = Console(soft_wrap=True)

SetOption = typer.Option(
    None, "--set", help="Override any field: --set section.field=value (repeatable)."
)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error for the user and exit with ``code`` (no traceback for expected errors)."""
    console.print(f"[bold red]error:[/] {redact(message)}", markup=True, highlight=False)
    raise typer.Exit(code)


def load_or_fail(config: Path | None, overrides: list[str] | None) -> ParleyConfig:
    """Load a :class:`ParleyConfig`, turning a :class:`ConfigError` into a clean exit."""
    try:
        return load_config(config, overrides or [])
    except ConfigError as exc:
        fail(str(exc))
