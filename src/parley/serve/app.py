"""The FastAPI application: OpenAI-compatible chat completions over any :class:`ChatModel`.

Each choice of each request is one ``ChatModel.complete`` call; with :class:`~parley.llm.hf.
HFChatModel` concurrent HTTP requests meet in its micro-batcher and are sampled in one batch.

Streaming (``stream: true``) answers with server-sent events in the chat-completions chunk format
(``chat.completion.chunk``: a role delta, the content delta, a finish delta per choice, an optional
usage chunk, then ``data: [DONE]``), which the official ``openai`` client reads with ``stream=True``.
The content arrives in one delta once sampling finishes: batched local sampling does not hand out
tokens per request as they are sampled, so the first token comes no sooner than the whole answer.

Under load (:mod:`parley.serve.limits`): at most ``limits.max_pending`` completions are admitted at
a time, the rest get 503 with ``Retry-After`` at once; bodies over ``limits.max_body_bytes`` get
413; malformed requests get 400 (404 / 405 for unknown paths and methods) with an OpenAI-style
error body naming the problem.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from parley.llm.base import ChatModel
from parley.llm.errors import LLMError, ProviderError
from parley.llm.types import Completion, Message, SamplingParams
from parley.serve.limits import BodyLimitMiddleware, ServeLimits
from parley.serve.schema import ChatCompletionRequest, error_body

logger = logging.getLogger(__name__)

#: ``max_tokens`` when the request gives none.
DEFAULT_MAX_TOKENS = 256


def create_app(
    model: ChatModel,
    *,
    served_name: str,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
    limits: ServeLimits | None = None,
) -> FastAPI:
    """Build the app serving ``model`` under the id ``served_name``; the model is closed on shutdown."""
    limits = limits or ServeLimits()
    stats = {"requests": 0, "completions": 0, "rejected": 0, "pending": 0}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await model.aclose()

    app = FastAPI(title="parley serve", lifespan=lifespan)
    app.add_middleware(BodyLimitMiddleware, limit=limits.max_body_bytes)
    app.state.served_name = served_name
    created = int(time.time())

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"no route {request.url.path}; this server has POST /v1/chat/completions and GET /v1/models"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return JSONResponse(error_body(message, type_="invalid_request_error"), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p != "body"]
        param = ".".join(loc) or None
        message = f"{param + ': ' if param else ''}{first.get('msg', 'invalid request')}"
        logger.info("invalid request %s %s: %s", request.method, request.url.path, message)
        return JSONResponse(error_body(message, type_="invalid_request_error", param=param), status_code=400)

    @app.exception_handler(ProviderError)
    async def _provider(_: Request, exc: ProviderError) -> JSONResponse:
        status = exc.status_code or 500
        kind = "invalid_request_error" if 400 <= status < 500 else "server_error"
        return JSONResponse(error_body(str(exc), type_=kind), status_code=status)

    @app.exception_handler(LLMError)
    async def _llm(_: Request, exc: LLMError) -> JSONResponse:
        logger.error("model error: %s", exc)
        return JSONResponse(error_body(str(exc), type_="server_error"), status_code=500)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        entry = {"id": served_name, "object": "model", "created": created, "owned_by": "parley"}
        return {"object": "list", "data": [entry]}

    @app.get("/parley/stats")
    async def parley_stats() -> dict[str, Any]:
        """Requests and completions served, and how many batches the model sampled (hf backend)."""
        return {**stats, "batches": getattr(model, "batches_run", None)}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatCompletionRequest) -> JSONResponse | StreamingResponse:
        if body.model != served_name:
            logger.info("request for model %r, which is not served here (%r)", body.model, served_name)
            return JSONResponse(
                error_body(
                    f"model {body.model!r} is not served here; this server serves {served_name!r}",
                    type_="invalid_request_error",
                    param="model",
                    code="model_not_found",
                ),
                status_code=404,
            )
        if body.n > limits.max_pending:
            return JSONResponse(
                error_body(f"n: {body.n} choices is over this server's limit of {limits.max_pending} pending "
                           "completions (--max-pending)", type_="invalid_request_error", param="n"),
                status_code=400,
            )
        if stats["pending"] + body.n > limits.max_pending:
            stats["rejected"] += 1
            return JSONResponse(
                error_body(
                    f"server overloaded: {stats['pending']} completions in progress (limit {limits.max_pending}, "
                    f"--max-pending); retry after {limits.retry_after_s} s",
                    type_="server_error",
                    code="server_overloaded",
                ),
                status_code=503,
                headers={"Retry-After": str(limits.retry_after_s)},
            )
        stats["requests"] += 1
        stats["pending"] += body.n
        try:
            return await _complete(body)
        finally:
            stats["pending"] -= body.n

    async def _complete(body: ChatCompletionRequest) -> JSONResponse | StreamingResponse:
        messages: list[Message] = [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in body.messages
        ]
        max_tokens = body.max_completion_tokens or body.max_tokens or default_max_tokens
        params = [
            SamplingParams(
                temperature=1.0 if body.temperature is None else body.temperature,
                top_p=1.0 if body.top_p is None else body.top_p,
                max_new_tokens=max_tokens,
                stop=body.stop_strings(),
                seed=None if body.seed is None else body.seed + i,
            )
            for i in range(body.n)
        ]
        completions = await asyncio.gather(*(model.complete(messages, p) for p in params))
        stats["completions"] += len(completions)
        payload = _response(body, completions, served_name, model)
        if body.stream:
            return StreamingResponse(_sse(payload, body), media_type="text/event-stream")
        return JSONResponse(payload)

    return app


def _response(
    body: ChatCompletionRequest, completions: Sequence[Completion], served_name: str, model: ChatModel
) -> dict[str, Any]:
    prompt_tokens = completions[0].usage.prompt_tokens
    completion_tokens = sum(c.usage.completion_tokens for c in completions)
    choices: list[dict[str, Any]] = []
    for index, c in enumerate(completions):
        choice: dict[str, Any] = {
            "index": index,
            "message": {"role": "assistant", "content": c.text},
            "finish_reason": c.finish_reason,
            "logprobs": _logprobs(c, model) if body.logprobs else None,
        }
        if body.return_token_ids:
            choice["token_ids"] = c.token_ids
        choices.append(choice)
    payload: dict[str, Any] = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": served_name,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
    if body.return_token_ids:
        payload["prompt_token_ids"] = completions[0].prompt_token_ids
    return payload


def _logprobs(c: Completion, model: ChatModel) -> dict[str, Any] | None:
    """OpenAI ``logprobs.content``: one entry per sampled token (sampling log-probs, no alternatives)."""
    if c.token_ids is None or c.logprobs is None:
        return None
    decode = getattr(model, "decode", None)
    entries = []
    for token_id, logprob in zip(c.token_ids, c.logprobs, strict=True):
        token = decode([token_id]) if decode is not None else str(token_id)
        entries.append({"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8")), "top_logprobs": []})
    return {"content": entries}


async def _sse(payload: dict[str, Any], body: ChatCompletionRequest) -> AsyncIterator[str]:
    """Server-sent events for a finished response: role, content and finish chunks per choice."""
    base = {"id": payload["id"], "object": "chat.completion.chunk", "created": payload["created"]}
    base["model"] = payload["model"]
    for choice in payload["choices"]:
        index = choice["index"]
        deltas: list[tuple[dict[str, Any], str | None]] = [
            ({"role": "assistant", "content": ""}, None),
            ({"content": choice["message"]["content"]}, None),
            ({}, choice["finish_reason"]),
        ]
        for delta, finish in deltas:
            chunk = {**base, "choices": [{"index": index, "delta": delta, "finish_reason": finish}]}
            yield f"data: {json.dumps(chunk)}\n\n"
    if body.stream_options is not None and body.stream_options.include_usage:
        yield f"data: {json.dumps({**base, 'choices': [], 'usage': payload['usage']})}\n\n"
    yield "data: [DONE]\n\n"
