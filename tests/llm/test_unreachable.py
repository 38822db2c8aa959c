"""An endpoint that cannot be reached is told apart from a slow one (issue 12, point 2).

The ``openai`` client's aiohttp transport reports a refused connection (and a failed DNS lookup, and a
failed TLS handshake) as ``APITimeoutError``; parley used to retry each call ``max_retries`` times as a
"request timed out". Both remote backends now raise :class:`EndpointUnreachableError` on the first
attempt, naming the endpoint and the fix; real timeouts and dropped connections are still retried.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from parley.config.models import ModelConfig
from parley.errors import UserError
from parley.llm.errors import ConnectionLostError, EndpointUnreachableError
from parley.llm.factory import create_model
from parley.llm.remote import unreachable_reason
from parley.llm.scripted_server import Fault, ScriptedServer, ServerScript
from parley.llm.types import SamplingParams

BACKENDS = ["openai", "litellm"]


def _model(backend: str, api_base: str, max_retries: int = 4) -> object:
    name = "scripted" if backend == "openai" else "openai/scripted"
    return create_model(ModelConfig(backend=backend, name=name, api_base=api_base, max_retries=max_retries,
                                    backoff_base_s=0.01, backoff_max_s=0.02, request_timeout_s=10))


async def _call(model: object) -> object:
    try:
        return await model.complete([{"role": "user", "content": "What is 6*7?"}], SamplingParams())  # type: ignore[attr-defined]
    finally:
        await model.aclose()  # type: ignore[attr-defined]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def plain_tcp_server() -> Iterator[int]:
    """A server on 127.0.0.1 that answers a TLS ClientHello with plain HTTP (a TLS handshake failure)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    stop.set()
    sock.close()
    thread.join(timeout=5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_refused_connection_is_unreachable_and_not_retried(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    port = _closed_port()
    with pytest.raises(EndpointUnreachableError) as info:
        asyncio.run(_call(_model(backend, f"http://127.0.0.1:{port}/v1")))
    assert info.value.reason == "connection refused"
    assert info.value.endpoint == f"http://127.0.0.1:{port}/v1"
    assert f"cannot reach http://127.0.0.1:{port}/v1 (connection refused)" in str(info.value)
    assert "model.api_base" in str(info.value)
    assert isinstance(info.value, UserError) and info.value.exit_code == 1
    assert "retrying" not in caplog.text  # the first attempt was the only one


@pytest.mark.parametrize("backend", BACKENDS)
def test_tls_handshake_failure_is_unreachable(backend: str, plain_tcp_server: int) -> None:
    with pytest.raises(EndpointUnreachableError) as info:
        asyncio.run(_call(_model(backend, f"https://127.0.0.1:{plain_tcp_server}/v1")))
    assert info.value.reason == "TLS handshake failed"
    assert "http:// or https://" in str(info.value)


def test_dropped_connection_is_still_retried() -> None:
    # A connection made and then dropped may work next time: retried, then answered.
    with ScriptedServer(ServerScript(faults=[Fault("drop", first_n=1)])) as server:
        completion = asyncio.run(_call(_model("openai", server.base_url)))
        assert completion.attempts == 2  # type: ignore[attr-defined]
        assert server.attempts_for("What is 6*7?") == 2


def test_reason_is_found_through_the_cause_chain() -> None:
    def chained(cause: BaseException) -> BaseException:
        try:
            try:
                raise cause
            except OSError as inner:
                raise ConnectionLostError("client: connection failed") from inner
        except ConnectionLostError as outer:
            return outer

    assert unreachable_reason(chained(socket.gaierror(-2, "Name or service not known"))) == "host name not found"
    assert unreachable_reason(chained(ConnectionRefusedError(111, "refused"))) == "connection refused"
    assert unreachable_reason(chained(ConnectionResetError(104, "reset by peer"))) is None
    assert unreachable_reason(TimeoutError("slow")) is None
