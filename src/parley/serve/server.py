"""Run the app with uvicorn: blocking (``parley serve``) or in a background thread (tests, notebooks).

Both report the bound port after startup, so ``port=0`` (any free port) is race-free.
:func:`bind_socket` takes the port *before* anything slow happens, so ``parley serve`` reports a busy
port at once instead of after loading (or building) the model; :func:`run_server` then serves on it.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from parley.errors import UserError
from parley.serve.limits import ServeLimits
from parley.serve.models import resolve_served_model

logger = logging.getLogger(__name__)


class PortInUseError(UserError, OSError):
    """The address ``parley serve`` should listen on is taken (or cannot be bound)."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0``: any free port).

    Raises :class:`PortInUseError` with the port and the fix when the address is taken, and a
    plain ``OSError`` with the address for other bind failures (unknown host, no permission).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                exc.errno,
                f"port {port} on {host} is already in use (another parley serve or server is listening "
                f"there); stop that process, or choose another port with --port (--port 0 picks a free one)",
            ) from None
        if exc.errno == errno.EACCES:
            raise OSError(exc.errno, f"cannot listen on {host}:{port}: permission denied; use a port >= 1024") from None
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


class _ReportingServer(uvicorn.Server):
    """A uvicorn server that calls ``on_ready(port)`` once its socket is bound."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[int], None] | None = None) -> None:
        super().__init__(config)
        self.on_ready = on_ready
        self.port: int | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.should_exit or not self.servers:
            return
        self.port = int(self.servers[0].sockets[0].getsockname()[1])
        if self.on_ready is not None:
            self.on_ready(self.port)


def load_hf_app(
    model_dir: Path | str,
    *,
    batch_size: int = 32,
    batch_wait_ms: float = 5.0,
    device: str = "cpu",
    dtype: str = "float32",
    served_name: str | None = None,
    num_threads: int | None = None,
    limits: ServeLimits | None = None,
) -> Any:
    """Load a model into an :class:`HFChatModel` and wrap it in the app.

    ``model_dir`` is anything the model catalog resolves (``tiny``, ``smollm2``, ``hf:ORG/NAME``, a
    checkpoint directory). The served id is ``served_name``, else what
    :func:`~parley.serve.models.resolve_served_model` gives (a catalog name is its own id, a directory
    is served under its name).
    """
    from parley.llm.hf import HFChatModel
    from parley.serve.app import create_app

    resolved = resolve_served_model(str(model_dir), served_name)
    path, name = resolved.path, resolved.served_id
    model = HFChatModel.from_pretrained(
        path,
        device=device,
        dtype=dtype,
        batch_size=batch_size,
        batch_wait_ms=batch_wait_ms,
        name=name,
        num_threads=num_threads,
    )
    return create_app(model, served_name=name, limits=limits)


def run_server(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    on_ready: Callable[[int], None] | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve ``app`` until interrupted (SIGINT/SIGTERM shut down gracefully).

    ``sock``: an already bound socket (from :func:`bind_socket`); else ``host:port`` is bound here.
    """
    sock = sock if sock is not None else bind_socket(host, port)
    # log_config=None: uvicorn's loggers propagate to the root handler parley.log installs (redacted).
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", log_config=None)
    _ReportingServer(config, on_ready).run(sockets=[sock])


class BackgroundServer:
    """Serve an app from a daemon thread on ``host``; use as a context manager.

    >>> with BackgroundServer(app) as server:  # doctest: +SKIP
    ...     httpx.get(server.base_url + "/models")
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, startup_timeout_s: float = 60.0):
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", log_config=None)
        self._server = _ReportingServer(config)
        self._thread = threading.Thread(target=self._run, name="parley-serve", daemon=True)
        self._sock: socket.socket | None = None
        self.host = host
        self.port_requested = port
        self.startup_timeout_s = startup_timeout_s

    def _run(self) -> None:
        assert self._sock is not None
        self._server.run(sockets=[self._sock])

    @property
    def base_url(self) -> str:
        """``http://host:port/v1``, the ``base_url`` an OpenAI client needs."""
        if self._server.port is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self._server.port}/v1"

    def start(self) -> BackgroundServer:
        """Start serving; returns once the socket is bound (raises if startup fails or times out).

        A taken port raises :class:`PortInUseError` here, before the server thread starts.
        """
        self._sock = bind_socket(self.host, self.port_requested)
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while self._server.port is None:
            if not self._thread.is_alive():
                raise RuntimeError("parley serve failed to start; see the log for the cause")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"parley serve did not start within {self.startup_timeout_s} s")
            time.sleep(0.02)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask the server to shut down (running the app's shutdown) and wait for the thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
