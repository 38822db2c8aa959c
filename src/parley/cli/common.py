"""Helpers shared by CLI modules: the error boundary, config loading, console output.

Help: every command group renders its docstrings as Markdown (:func:`command_group`), so paragraphs
reflow to the terminal width, ``code`` renders as code and indented example commands stay on one line;
:class:`ParleyGroup` also drops the type label typer prints beside every flag (``<bool>``).

The error boundary (:class:`ParleyGroup`, the root command's class) prints a
:class:`parley.errors.UserError` as one ``error: ...`` line and exits with its ``exit_code``; every
other exception propagates with its traceback, because it is a bug to report, not bad input to fix.
Commands therefore do not catch parley's errors themselves; they only ``fail()`` for problems found by
the command line itself (an option out of range, a file that cannot be written).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any, Final, NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

from parley.config import ParleyConfig, load_config
from parley.errors import UserError
from parley.redact import redact

console = Console(stderr=True, soft_wrap=True)
stdout = Console(soft_wrap=True)

SetOption = typer.Option(
    None, "--set", metavar="FIELD=VALUE", help="Override any field: --set section.field=value (repeatable)."
)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error for the user and exit with ``code`` (no traceback for expected errors)."""
    console.print(f"[bold red]error:[/] {redact(message)}", markup=True, highlight=False)
    raise typer.Exit(code)


HELP_MARKUP: Final = "markdown"


def command_group(help: str) -> typer.Typer:
    """A command group (``parley <group> ...``) with parley's help conventions."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=HELP_MARKUP)


def _drop_flag_labels(command: Any) -> None:
    """Give every flag of ``command`` and its subcommands an empty metavar, so help shows no ``<bool>``."""
    for param in getattr(command, "params", []):
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    original = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = original(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    for child in getattr(command, "commands", {}).values():
        _drop_flag_labels(child)


class ParleyGroup(TyperGroup):
    """The root command group: renders :class:`UserError` as a message, lets everything else through."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _drop_flag_labels(self)

    def invoke(self, ctx: Any) -> Any:  # a click Context (typer's bundled click)
        try:
            return super().invoke(ctx)
        except UserError as exc:
            fail(str(exc), exc.exit_code)


def load_or_fail(config: Path | None, overrides: list[str] | None) -> ParleyConfig:
    """Load a :class:`ParleyConfig` (a :class:`ConfigError` reaches the user as a clean message)."""
    return load_config(config, overrides or [])


def open_output(path: Path, option: str = "--out") -> IO[str]:
    """Open ``path`` for writing text, or fail naming the option when it is a directory or cannot be written."""
    if path.is_dir():
        fail(f"{option} {path}: is a directory; pass the path of the file to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", encoding="utf-8")
    except OSError as exc:
        fail(f"{option} {path}: cannot write there ({exc.strerror or exc}); pick a writable location")


def writable_dir(path: Path, option: str = "--out") -> Path:
    """Create ``path`` as a directory, or fail naming the option when it is a file or cannot be written."""
    if path.exists() and not path.is_dir():
        fail(f"{option} {path}: is a file, not a directory; pass a directory path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{option} {path}: cannot create the directory ({exc.strerror or exc}); pick a writable location")
    probe = path / f".parley-write-test-{id(path)}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        fail(f"{option} {path}: cannot write there ({exc.strerror or exc}); pick a writable location")
    return path
