"""Start the viewer: ``streamlit run`` of :mod:`parley.viewer.app` on a host and port, health-checked.

:func:`start` returns a :class:`ViewerProcess` once Streamlit answers its health endpoint (so the URL
it reports works); :func:`serve` is the blocking form ``parley view`` uses. The port is checked first:
a busy port is a :class:`ViewerError` naming it, not a Streamlit traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from parley.errors import WorkFailedError

APP_PATH = Path(__file__).with_name("app.py")


class ViewerError(WorkFailedError, RuntimeError):
    """The viewer cannot start (extra missing, directory missing, port busy, server did not come up)."""


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class ViewerProcess:
    """A running viewer; ``stop()`` ends it."""

    proc: subprocess.Popen[bytes]
    url: str

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def wait(self) -> int:
        return self.proc.wait()


def start(directory: str | Path, *, host: str = "127.0.0.1", port: int = 8501, timeout_s: float = 90.0,
          log: Path | None = None) -> ViewerProcess:
    """Start the viewer over ``directory`` and return once it answers on ``http://host:port``."""
    try:
        import streamlit  # noqa: F401  (checked here so the message names the extra)
    except ImportError as exc:
        raise ViewerError("the viewer needs the 'viewer' extra: pip install -c constraints.txt -e '.[viewer]'") from exc
    path = Path(directory)
    if not path.is_dir():
        raise ViewerError(f"{directory}: no such directory (give a runs or experiment directory, e.g. runs/demo "
                          "after `parley demo`)")
    if not port_free(host, port):
        raise ViewerError(f"port {port} on {host} is already in use; pick another with --port N")
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP_PATH), "--server.address", host,
           "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--global.developmentMode", "false",
           "--client.toolbarMode", "viewer"]
    env = {**os.environ, "PARLEY_VIEW_DIR": str(path.resolve())}
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115  (owned by the child's lifetime)
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    url = f"http://{host}:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ViewerError(f"streamlit exited with code {proc.returncode} before serving {url}"
                              + (f"; see {log}" if log else ""))
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return ViewerProcess(proc, url)
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    ViewerProcess(proc, url).stop()
    raise ViewerError(f"the viewer did not answer on {url} within {timeout_s:.0f} s")


def serve(directory: str | Path, *, host: str = "127.0.0.1", port: int = 8501) -> ViewerProcess:
    """Start the viewer (see :func:`start`); the caller waits on the returned process."""
    return start(directory, host=host, port=port)
