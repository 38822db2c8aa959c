"""Bounds that keep ``parley serve`` up under load: admission control and a request-body cap.

- ``max_pending``: completions admitted and not yet answered (each choice of ``n`` counts). A request
  that would exceed it is answered at once with HTTP 503, an OpenAI-style error body
  (``code: server_overloaded``) and ``Retry-After``; OpenAI clients and parley's own retry policy
  retry 503s after that delay. Admitted requests wait for the batcher, so memory and latency stay
  bounded however many clients connect.
- ``max_body_bytes``: larger request bodies get HTTP 413 before they are parsed (checked against
  ``Content-Length`` and, for chunked uploads, while the body arrives).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class ServeLimits:
    """Load bounds of one server (see the module docstring)."""

    max_pending: int = 256
    max_body_bytes: int = 4 * 1024 * 1024
    retry_after_s: int = 1

    def __post_init__(self) -> None:
        if self.max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {self.max_pending}")
        if self.max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes must be >= 1024, got {self.max_body_bytes}")


class BodyLimitMiddleware:
    """Answer requests whose body exceeds ``limit`` bytes with 413 and an OpenAI-style error.

    The body is read here (up to the limit) and handed on in one piece; the app reads whole bodies
    anyway, so this costs no extra copy of note.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await self._reject(send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps({"error": {
            "message": f"request body is over {self.limit:,} bytes (the server's --max-body-bytes)",
            "type": "invalid_request_error", "param": None, "code": "request_too_large",
        }}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
