"""The ``parley`` console script: registers each command group's Typer app."""

from __future__ import annotations

import typer

from parley import __version__
from parley.cli import config_cmd, demo, eval_cmd, generate, model_cmd, sandbox_cmd, view
from parley.cli import cooperbench as cooperbench_cmd
from parley.cli import experiment as experiment_cmd
from parley.cli import serve as serve_cmd
from parley.cli import train as train_cmd
from parley.cli import trajectories as trajectories_cmd
from parley.cli import verify as verify_cmd
from parley.cli.common import HELP_MARKUP, ParleyGroup
from parley.log import configure_logging

app = typer.Typer(
    name="parley",
    cls=ParleyGroup,
    rich_markup_mode=HELP_MARKUP,
    help="Train and evaluate language models that work in teams.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"parley {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
    log_json: bool = typer.Option(False, "--log-json", help="Emit logs as JSON lines on stderr."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show version."),
) -> None:
    """parley: multi-agent debate, verifiable rewards, and per-role RL training."""
    configure_logging(log_level, json_format=log_json)


# Command groups. Each lives in its own module under parley.cli; add one line per group here.
app.add_typer(config_cmd.app, name="config")
app.add_typer(sandbox_cmd.app, name="sandbox")
app.add_typer(verify_cmd.app, name="verify")
app.add_typer(trajectories_cmd.app, name="trajectories")
app.add_typer(cooperbench_cmd.app, name="cooperbench")
app.add_typer(experiment_cmd.app, name="experiment")
app.add_typer(eval_cmd.app, name="eval")
app.command("generate")(generate.generate_cmd)
app.add_typer(model_cmd.app, name="model")
app.command("serve")(serve_cmd.serve_cmd)
app.command("train")(train_cmd.train_cmd)
app.command("demo")(demo.demo_cmd)
app.command("view")(view.view_cmd)


def main() -> None:
    """Entry point of the ``parley`` console script."""
    app()


if __name__ == "__main__":
    main()
