"""Structured logging through the standard :mod:`logging` module.

Library code only calls ``logging.getLogger(__name__)``; the CLI calls :func:`configure_logging` once.
With ``json_format=True`` each record is one JSON object per line (fields passed through
``extra={...}`` are included), which log shippers and ``jq`` read directly.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

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
        return json.dumps(payload, default=str)


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
    """Send parley's logs to stderr, as text or JSON lines. Safe to call more than once."""
    root = logging.getLogger("parley")
    root.setLevel(level.upper())
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = CurrentStderrHandler()
    if json_format:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.propagate = False
