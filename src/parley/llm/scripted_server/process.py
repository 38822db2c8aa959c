"""Run the scripted server in a child process (benchmarks: no GIL shared with the client).

``python -m parley.llm.scripted_server --script '<json>'`` serves until stdin closes or it is
terminated, printing ``PORT <n>`` once listening. :class:`ScriptedServerProcess` wraps that and reads
the call records over the admin endpoint.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from types import TracebackType

import httpx

from parley.llm.scripted_server.script import CallRecord, ServerScript
from parley.llm.scripted_server.server import ScriptedServer


class ScriptedServerProcess:
    """The scripted server in a subprocess; the script must use a string ``reply``."""

    def __init__(self, script: ServerScript | None = None, *, startup_timeout_s: float = 60.0) -> None:
        self.script = script or ServerScript()
        self._startup_timeout_s = startup_timeout_s
        self._proc: subprocess.Popen[str] | None = None
        self._port: int | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL of the child server."""
        if self._port is None:
            raise RuntimeError("ScriptedServerProcess: not started")
        return f"http://127.0.0.1:{self._port}/v1"

    def start(self) -> ScriptedServerProcess:
        """Start the child and wait until it prints its port."""
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "parley.llm.scripted_server", "--script", self.script.to_json()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line: list[str] = []
        reader = threading.Thread(
            target=lambda: line.append(
                self._proc.stdout.readline()  # type: ignore[union-attr]
            ),
            daemon=True,
        )
        reader.start()
        reader.join(self._startup_timeout_s)
        if not line or not line[0].startswith("PORT "):
            self.stop()
            raise RuntimeError(f"ScriptedServerProcess: child did not report a port (got {line!r})")
        self._port = int(line[0].split()[1])
        return self

    def calls(self) -> list[CallRecord]:
        """Every call the child received so far."""
        response = httpx.get(f"http://127.0.0.1:{self._port}/_scripted/calls", timeout=30)
        response.raise_for_status()
        return [CallRecord(**c) for c in response.json()]

    def reset(self) -> None:
        """Forget the child's call records."""
        httpx.post(f"http://127.0.0.1:{self._port}/_scripted/reset", timeout=30).raise_for_status()

    def stop(self) -> None:
        """Close the child's stdin (it exits) and wait; kill it if it does not. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> ScriptedServerProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Serve a script until stdin reaches end of file."""
    parser = argparse.ArgumentParser(prog="python -m parley.llm.scripted_server", description=__doc__)
    parser.add_argument("--script", default="{}", help="ServerScript as JSON (default: echo, no faults)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    args = parser.parse_args(argv)
    script = ServerScript.from_json(args.script) if args.script != "{}" else ServerScript()
    with ScriptedServer(script, port=args.port) as server:
        sys.stdout.write(f"PORT {server.port}\n")
        sys.stdout.flush()
        sys.stdin.read()  # returns when the parent closes our stdin or exits
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
