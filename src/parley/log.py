"""Structured logging through the standard :mod:`logging` module.

Library code only calls ``logging.getLogger(__name__)``; the CLI calls :func:`configure_logging` once.
With ``json_format=True`` each record is one JSON object per line (fields passed through
``extra={...}`` are included), which log shippers and ``jq`` read directly.

Every formatted record (message, ``extra`` fields, traceback) passes through
:func:`parley.redact.redact` before it is written, so an API key in an exception or a provider's
error text never reaches the log.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from parley.redact import redact

_PARLEY_HANDLER = "_parley_handler"
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str))


class RedactingFormatter(logging.Formatter):
    """A text formatter whose output (message, arguments, traceback) has secrets scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class CurrentStderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is when a record is emitted.

    A live progress display (rich) redirects ``sys.stderr`` so that other output is printed above the
    bar; a handler holding the original stream would write log lines onto the bar instead.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        """Ignored: the stream is always the current ``sys.stderr``."""


def configure_logging(level: str = "INFO", json_format: bool = False) -> None:
    """Send parley's logs to stderr, as text or JSON lines. Safe to call more than once.

    The same redacting handler is also put on the root logger, so warnings from libraries (httpx,
    LiteLLM, uvicorn) are formatted and scrubbed the same way instead of going out raw.
    """
    handler = CurrentStderrHandler()
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    setattr(handler, _PARLEY_HANDLER, True)
    parley = logging.getLogger("parley")
    parley.setLevel(level.upper())
    for old in list(parley.handlers):
        parley.removeHandler(old)
    parley.addHandler(handler)
    parley.propagate = False
    top = logging.getLogger()
    for old in list(top.handlers):
        if getattr(old, _PARLEY_HANDLER, False):
            top.removeHandler(old)
    top.addHandler(handler)
