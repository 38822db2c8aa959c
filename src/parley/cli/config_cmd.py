"""``parley config``: inspect resolved configuration."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml
from pydantic import BaseModel

from parley.cli.common import SetOption, command_group, stdout
from parley.config import ParleyConfig, config_hash, load_config
from parley.config.loading import dump_yaml

app = command_group("Inspect configuration.")


def _has_train_section(config: Path | None, overrides: list[str]) -> bool:
    if any(o.split("=", 1)[0].strip().startswith("train.") for o in overrides):
        return True
    if config is None or not config.is_file():
        return False
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return False  # load_config reports it properly
    return isinstance(data, dict) and "train" in data


@app.command("show")
def show(
    config: Path = typer.Argument(None, help="YAML config file (defaults apply when omitted)."),
    overrides: list[str] = SetOption,
) -> None:
    """Print the resolved config (file + --set overrides + defaults) and its hash.

    A config with a `train:` section is resolved as a training config (what `parley train` reads).
    """
    model: type[BaseModel] = ParleyConfig
    if _has_train_section(config, overrides or []):
        from parley.training.config import TrainRunConfig

        model = TrainRunConfig
    cfg = load_config(config, overrides or [], model=model)
    stdout.print(dump_yaml(cfg), end="", markup=False, highlight=False)
    stdout.print(f"# config_hash: {config_hash(cfg)}", markup=False, highlight=False)
