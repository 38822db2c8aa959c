"""What the scripted server answers: replies, scheduled faults and the record of every call.

A :class:`ServerScript` is plain data (JSON-serialisable unless ``reply`` is a callable), so the same
script drives the in-process server (tests) and the subprocess server (benchmarks).

Requests are identified by a *request key*: the content of the last message. Tests give each logical
request a distinct prompt, so ``attempts_for(prompt)`` counts how many times the client sent it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultKind = Literal["rate_limit", "server_error", "slow", "malformed", "drop", "bad_request"]
FAULT_KINDS: tuple[str, ...] = ("rate_limit", "server_error", "slow", "malformed", "drop", "bad_request")

ReplyFn = Callable[[list[dict[str, Any]]], str]


@dataclass(frozen=True)
class Fault:
    """One scheduled failure.

    A fault fires on a call when the call matches (``match`` is a substring of the request key, or
    ``None`` for every request) and either:

    * ``first_n``: the call is one of the first ``first_n`` attempts of its request key, or
    * ``every_k``: the call is the k-th, 2k-th, ... matching call the server received for this fault
      (calls already taken by an earlier fault in the list are not counted).

    Kinds: ``rate_limit`` (429, ``Retry-After: retry_after_s`` when set), ``server_error`` (``status``,
    default 500), ``slow`` (sleeps ``delay_s`` before answering normally), ``malformed`` (200 with a
    body that is not JSON), ``drop`` (closes the connection without answering), ``bad_request``
    (400 with ``message`` in an OpenAI-style error body).
    """

    kind: FaultKind
    first_n: int | None = None
    every_k: int | None = None
    match: str | None = None
    retry_after_s: float | None = None
    delay_s: float = 5.0
    status: int = 500
    message: str = "Invalid request: scripted bad request."

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Fault.kind: unknown kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if (self.first_n is None) == (self.every_k is None):
            raise ValueError("Fault: set exactly one of first_n (per request) or every_k (every k-th call)")
        if self.first_n is not None and self.first_n < 1:
            raise ValueError(f"Fault.first_n: must be >= 1, got {self.first_n}")
        if self.every_k is not None and self.every_k < 1:
            raise ValueError(f"Fault.every_k: must be >= 1, got {self.every_k}")


@dataclass
class ServerScript:
    """How the scripted server behaves.

    Args:
        latency_s: delay before every answer (faults included), simulating model time.
        reply: ``"echo"`` (``"Echo: <last message>"``), any other string (returned verbatim), or a
            callable mapping the request's messages to the reply text (in-process server only).
        faults: scheduled failures, checked in order; the first that fires wins.
        key_file: when set, requests must carry ``Authorization: Bearer <file content>``; the file is
            read on every request so a test can rotate the key. Otherwise no key is checked.
        model: the model name reported in responses when the request names none.
    """

    latency_s: float = 0.0
    reply: str | ReplyFn = "echo"
    faults: list[Fault] = field(default_factory=list)
    key_file: str | None = None
    model: str = "scripted-model"

    def to_json(self) -> str:
        """Serialise for the subprocess server (a callable ``reply`` cannot cross the boundary)."""
        if callable(self.reply):
            raise ValueError("ServerScript.reply: a callable reply only works in-process; use a string")
        data = asdict(self)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> ServerScript:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        data["faults"] = [Fault(**f) for f in data.get("faults", [])]
        return cls(**data)


@dataclass(frozen=True)
class CallRecord:
    """One request the server received: when, for which request key, which attempt, what happened."""

    index: int
    key: str
    attempt: int
    arrival_s: float
    outcome: str
    authorized: bool


@dataclass(frozen=True)
class Decision:
    """What to do with one call: a fault kind (or ``ok`` / ``unauthorized``) and its fault."""

    outcome: str
    fault: Fault | None


def count_tokens(text: str) -> int:
    """The server's deterministic token count: whitespace-separated words."""
    return len(text.split())


def request_key(messages: list[dict[str, Any]]) -> str:
    """The key identifying a logical request: the content of its last message."""
    if not messages:
        return ""
    content = messages[-1].get("content", "")
    return content if isinstance(content, str) else json.dumps(content)


class CallLedger:
    """Thread-safe bookkeeping: per-key attempt counters, per-fault counters and call records."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._attempts: Counter[str] = Counter()
        self._fault_hits: Counter[int] = Counter()
        self._records: list[CallRecord] = []

    def decide(self, script: ServerScript, key: str, authorized: bool) -> tuple[int, Decision]:
        """Count this call and decide its outcome; returns (attempt number, decision)."""
        with self._lock:
            self._attempts[key] += 1
            attempt = self._attempts[key]
            decision = Decision("ok" if authorized else "unauthorized", None)
            if authorized:
                for i, fault in enumerate(script.faults):
                    if fault.match is not None and fault.match not in key:
                        continue
                    self._fault_hits[i] += 1
                    fires = (fault.first_n is not None and attempt <= fault.first_n) or (
                        fault.every_k is not None and self._fault_hits[i] % fault.every_k == 0
                    )
                    if fires:
                        decision = Decision(fault.kind, fault)
                        break
            self._records.append(
                CallRecord(len(self._records), key, attempt, time.monotonic(), decision.outcome, authorized)
            )
            return attempt, decision

    def records(self) -> list[CallRecord]:
        """A snapshot of every call so far, in arrival order."""
        with self._lock:
            return list(self._records)

    def reset(self) -> None:
        """Forget all calls and counters (the script is kept)."""
        with self._lock:
            self._attempts.clear()
            self._fault_hits.clear()
            self._records.clear()


def reply_text(script: ServerScript, messages: list[dict[str, Any]]) -> str:
    """The reply for a successful call."""
    if callable(script.reply):
        return script.reply(messages)
    if script.reply == "echo":
        return f"Echo: {request_key(messages)}"
    return script.reply


def completion_body(script: ServerScript, request: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` object answering ``request`` (honours max_tokens and stop)."""
    messages = request.get("messages") or []
    text = reply_text(script, messages)
    finish = "stop"
    for stop in request.get("stop") or []:
        if stop and stop in text:
            text = text[: text.index(stop)]
    limit = request.get("max_tokens") or request.get("max_completion_tokens")
    if isinstance(limit, int) and limit > 0 and count_tokens(text) > limit:
        text = " ".join(text.split()[:limit])
        finish = "length"
    prompt_tokens = sum(count_tokens(str(m.get("content", ""))) for m in messages)
    completion_tokens = count_tokens(text)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or script.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error_body(message: str, error_type: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error object."""
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}
