"""``parley view [DIR]``: the viewer (Streamlit) over a runs or experiment directory."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from parley.cli.common import fail, stdout


def view_cmd(
    directory: Path = typer.Argument(Path("runs/demo"), metavar="DIR",
                                     help="Runs or experiment directory (default: the demo's)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(8501, "--port", min=1, max=65535, help="TCP port."),
) -> None:
    """Serve the viewer over DIR at http://HOST:PORT (pages: Overview, Learning curves, Step browser,
    Comparison, Generation stores, CooperBench). Prints the URL once it answers; Ctrl-C stops it.
    """
    from parley.viewer.server import ViewerError, start

    try:
        viewer = start(directory, host=host, port=port)
    except ViewerError as exc:
        fail(str(exc))
    stdout.print(f"parley viewer on {viewer.url} (directory {directory}; Ctrl-C to stop)", highlight=False)
    stdout.file.flush()

    def on_term(signum: int, frame: object) -> None:  # SIGTERM stops Streamlit too, not just this process
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        code = viewer.wait()
    except KeyboardInterrupt:
        viewer.stop()
        return
    if code != 0:
        fail(f"the viewer stopped with exit code {code}", code=1)
