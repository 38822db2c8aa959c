"""A small OpenAI-compatible HTTP/1.1 server on 127.0.0.1, run in a background thread.

It speaks just enough of the protocol for real clients (the official ``openai`` client, LiteLLM,
httpx): ``POST /v1/chat/completions`` (also without ``/v1``), ``GET /v1/models``, keep-alive
connections and Content-Length bodies. It is written on asyncio streams rather than a web framework
so faults that frameworks hide (a dropped connection, a body that is not JSON) are exact.

Admin endpoints for a server in another process: ``GET /_scripted/calls`` (the call records as JSON)
and ``POST /_scripted/reset``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Any

from parley.llm.scripted_server.script import (
    CallLedger,
    CallRecord,
    ServerScript,
    completion_body,
    error_body,
    request_key,
)

logger = logging.getLogger(__name__)

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_MAX_HEADER_BYTES = 64 * 1024


class _HTTPRequest:
    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body


async def _read_request(reader: asyncio.StreamReader) -> _HTTPRequest | None:
    """Read one request; ``None`` when the client closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    except asyncio.LimitOverrunError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2:
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    return _HTTPRequest(parts[0].upper(), parts[1].split("?", 1)[0], headers, body)


def _encode(status: int, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> bytes:
    return _encode(status, json.dumps(payload).encode(), headers)


class ScriptedServer:
    """An OpenAI-compatible chat server with scheduled faults, for tests and benchmarks.

    Use as a context manager (``with ScriptedServer(script) as server: ... server.base_url``) or call
    :meth:`start` / :meth:`stop`. It binds ``127.0.0.1`` on a free port and runs its own event loop in
    a daemon thread, so it serves clients running on any loop in the same process.
    """

    def __init__(self, script: ServerScript | None = None, *, port: int = 0) -> None:
        self.script = script or ServerScript()
        self.ledger = CallLedger()
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("ScriptedServer: not started; call start() or use it as a context manager")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ScriptedServer:
        """Bind and serve in a background thread; returns once the port is open."""
        if self._thread is not None:
            raise RuntimeError("ScriptedServer: already started")
        self._thread = threading.Thread(target=self._run, name="scripted-server", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError(f"ScriptedServer: could not start: {self._error}") from self._error
        if self._server is None:
            raise RuntimeError("ScriptedServer: did not start within 30 s")
        return self

    def stop(self) -> None:
        """Close every connection, stop the loop and join the thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        self._thread = None
        self._loop = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", self._port, limit=_MAX_HEADER_BYTES, backlog=1024)
            )
        except OSError as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    # -- inspection ------------------------------------------------------------------------------
    def calls(self) -> list[CallRecord]:
        """Every call received so far, in arrival order."""
        return self.ledger.records()

    def attempts_for(self, key: str) -> int:
        """How many times the request whose last message is ``key`` arrived."""
        return sum(1 for c in self.ledger.records() if c.key == key)

    def outcome_counts(self) -> dict[str, int]:
        """Calls per outcome (``ok``, ``unauthorized`` or a fault kind)."""
        counts: dict[str, int] = {}
        for c in self.ledger.records():
            counts[c.outcome] = counts.get(c.outcome, 0) + 1
        return counts

    def reset(self) -> None:
        """Forget every recorded call and counter."""
        self.ledger.reset()

    # -- serving ---------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                response = await self._respond(request)
                if response is None:  # scripted connection drop
                    writer.transport.abort()
                    return
                writer.write(response)
                await writer.drain()
                if request.headers.get("connection", "").lower() == "close":
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            logger.debug("scripted server: client connection closed mid-request")
        except asyncio.CancelledError:
            # Only stop() cancels handlers; ending quietly keeps asyncio's stream callback from
            # reporting the cancellation as an error during shutdown.
            writer.transport.abort()
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(ConnectionError, RuntimeError):
                writer.close()

    async def _respond(self, request: _HTTPRequest) -> bytes | None:
        path = request.path.rstrip("/")
        if request.method == "GET" and path in ("/v1/models", "/models"):
            return _json(200, {"object": "list", "data": [{"id": self.script.model, "object": "model"}]})
        if request.method == "GET" and path == "/_scripted/calls":
            return _json(200, [asdict(c) for c in self.ledger.records()])
        if request.method == "POST" and path == "/_scripted/reset":
            self.ledger.reset()
            return _json(200, {"reset": True})
        if request.method != "POST" or path not in ("/v1/chat/completions", "/chat/completions"):
            return _json(404, error_body(f"no route {request.method} {request.path}", "not_found"))
        try:
            payload = json.loads(request.body)
        except json.JSONDecodeError as exc:
            return _json(400, error_body(f"request body is not JSON: {exc}", "invalid_request_error"))
        if not isinstance(payload, dict) or not isinstance(payload.get("messages"), list):
            return _json(400, error_body("'messages' must be a list", "invalid_request_error"))
        return await self._chat(request, payload)

    async def _chat(self, request: _HTTPRequest, payload: dict[str, Any]) -> bytes | None:
        script = self.script
        presented = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        authorized = True
        if script.key_file is not None:
            authorized = presented == Path(script.key_file).read_text().strip()
        _, decision = self.ledger.decide(script, request_key(payload["messages"]), authorized)
        if script.latency_s > 0:
            await asyncio.sleep(script.latency_s)
        fault = decision.fault
        if decision.outcome == "unauthorized":
            # Like real providers, name the key that was refused, so clients must redact it.
            return _json(
                401, error_body(f"Incorrect API key provided: {presented}", "invalid_request_error", "invalid_api_key")
            )
        if fault is None:
            return _json(200, completion_body(script, payload))
        if fault.kind == "rate_limit":
            headers = {} if fault.retry_after_s is None else {"Retry-After": f"{fault.retry_after_s:g}"}
            return _json(429, error_body("Rate limit reached (scripted).", "rate_limit_error"), headers)
        if fault.kind == "server_error":
            return _json(fault.status, error_body("The server had an error (scripted).", "server_error"))
        if fault.kind == "bad_request":
            return _json(400, error_body(fault.message, "invalid_request_error"))
        if fault.kind == "malformed":
            return _encode(200, b'{"id": "chatcmpl-broken", "choices": [')
        if fault.kind == "drop":
            return None
        # slow: answer normally, but only after the delay (past the client's timeout in tests)
        await asyncio.sleep(fault.delay_s)
        return _json(200, completion_body(script, payload))
