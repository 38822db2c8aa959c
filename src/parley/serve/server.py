"""Run the app with uvicorn: blocking (``parley serve``) or in a background thread (tests, notebooks).

Both report the bound port after startup, so ``port=0`` (any free port) is race-free.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

logger = logging.getLogger(__name__)


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
) -> Any:
    """Load a model into an :class:`HFChatModel` and wrap it in the app.

    ``model_dir`` is anything the model catalog resolves (``tiny``, ``smollm2``, ``hf:ORG/NAME``, a
    checkpoint directory); a catalog name is also the served model id unless ``served_name`` is given.
    """
    from parley.llm.catalog import get_entry, resolve_model
    from parley.llm.hf import HFChatModel
    from parley.serve.app import create_app

    path = resolve_model(model_dir)
    default_name = str(model_dir) if get_entry(str(model_dir)) is not None else Path(path).name
    name = served_name or default_name
    model = HFChatModel.from_pretrained(
        path,
        device=device,
        dtype=dtype,
        batch_size=batch_size,
        batch_wait_ms=batch_wait_ms,
        name=name,
        num_threads=num_threads,
    )
    return create_app(model, served_name=name)


def run_server(
    app: Any, *, host: str = "127.0.0.1", port: int = 8000, on_ready: Callable[[int], None] | None = None
) -> None:
    """Serve ``app`` until interrupted (SIGINT/SIGTERM shut down gracefully)."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    _ReportingServer(config, on_ready).run()


class BackgroundServer:
    """Serve an app from a daemon thread on ``host``; use as a context manager.

    >>> with BackgroundServer(app) as server:  # doctest: +SKIP
    ...     httpx.get(server.base_url + "/models")
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, startup_timeout_s: float = 60.0):
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
        self._server = _ReportingServer(config)
        self._thread = threading.Thread(target=self._server.run, name="parley-serve", daemon=True)
        self.host = host
        self.startup_timeout_s = startup_timeout_s

    @property
    def base_url(self) -> str:
        """``http://host:port/v1``, the ``base_url`` an OpenAI client needs."""
        if self._server.port is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self._server.port}/v1"

    def start(self) -> BackgroundServer:
        """Start serving; returns once the socket is bound (raises if startup fails or times out)."""
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

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
