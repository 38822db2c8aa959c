"""``parley config``: inspect resolved configuration."""

from __future__ import annotations

from pathlib import Path

import typer

from parley.cli.common import SetOption, command_group, load_or_fail, stdout
from parley.config import config_hash
from parley.config.loading import dump_yaml

app = command_group("Inspect configuration.")


@app.command("show")
def show(
    config: Path = typer.Argument(None, help="YAML config file (defaults apply when omitted)."),
    overrides: list[str] = SetOption,
) -> None:
    """Print the resolved config (file + --set overrides + defaults) and its hash."""
    cfg = load_or_fail(config, overrides)
    stdout.print(dump_yaml(cfg), end="", markup=False, highlight=False)
    stdout.print(f"# config_hash: {config_hash(cfg)}", markup=False, highlight=False)
