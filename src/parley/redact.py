"""Scrubbing secrets from text and data before they reach logs, manifests, stores or error messages.

:func:`redact` replaces, in any text:

- known key shapes: ``sk-...`` (OpenAI, Anthropic, OpenRouter), ``hf_...``, ``ghp_...`` /
  ``github_pat_...``, ``gsk_...`` (Groq), ``xox?-...`` (Slack), ``AKIA...`` (AWS), ``AIza...`` (Google);
- ``Bearer <token>``, and whatever follows ``Authorization:`` (``Basic ...``, ``Bearer ...``, a raw key);
- the value in ``NAME=value`` / ``NAME: value`` when ``NAME`` looks like a secret's variable
  (``OPENAI_API_KEY``, ``HF_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ``DB_PASSWORD``), and in
  ``"api_key": "value"``-style fields; the name stays, so the message still says what was wrong;
- passwords in URLs (``https://user:secret@host``) and ``?api_key=`` / ``&token=`` query values;
- every exact value registered with :func:`register_secret` (the keys parley itself read from a
  secrets file or the environment) and the current value of every environment variable whose name
  looks like a secret's (at least 8 characters long, so ``1`` or ``true`` are left alone).

:func:`redact_data` does the same through nested dicts and lists (JSON-like data), and also blanks
the value of any field whose *name* is a secret's (``api_key``, ``password``, ``authorization``...);
field names that only mention a secret (``api_key_env``, ``max_tokens``) keep their values.

This module is the single redaction function parley uses (logging formatters, manifests, store and
training run files, CLI error messages, the remote backends' provider errors).
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any, Final

REDACTED: Final = "***"
_MIN_SECRET_LEN: Final = 8

_KEY_SHAPES: Final = re.compile(
    r"\bsk-(?:ant-|proj-|or-v1-|or-)?[A-Za-z0-9_\-]{16,}"
    r"|\bhf_[A-Za-z0-9]{20,}"
    r"|\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\bgsk_[A-Za-z0-9]{20,}"
    r"|\bxox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|\bAKIA[0-9A-Z]{16}\b"
    r"|\bAIza[0-9A-Za-z_\-]{35}"
)
_BEARER: Final = re.compile(r"(?i)\b(bearer)(\s+)(?!\*\*\*)[A-Za-z0-9._~+/=\-]{8,}")
_AUTH_HEADER: Final = re.compile(
    r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)(?:(basic|bearer|token|digest)\s+)?"
    r"(?!\*\*\*|(?:basic|bearer|token|digest)\s)[^\s\"',;]+"
)
# An environment-style secret name: ends in API_KEY, TOKEN, SECRET, PASSWORD, ... (upper case).
SECRET_ENV_NAME: Final = re.compile(
    r"^[A-Z][A-Z0-9_]*(?:API_KEY|APIKEY|_KEY|_TOKEN|_SECRET|SECRET_KEY|PASSWORD|_PASSWD|_CREDENTIALS)$"
)
# A value after "=" or ":": a quoted string (to its closing quote) or a bare word.
_VALUE: Final = r"(?:\"(?!\*\*\*\")[^\"\n]*\"|'(?!\*\*\*')[^'\n]*'|(?![\"']|\*\*\*)[^\s\"',;}\]&#]+)"
_ENV_ASSIGNMENT: Final = re.compile(
    r"\b([A-Z][A-Z0-9_]*(?:API_KEY|APIKEY|_KEY|_TOKEN|_SECRET|SECRET_KEY|PASSWORD|_PASSWD|_CREDENTIALS))\b"
    rf"(\s*[=:]\s*){_VALUE}"
)
_FIELD_NAMES: Final = r"api[_-]?key|apikey|access[_-]?token|auth[_-]?token|refresh[_-]?token|secret|password|passwd"
_FIELD_ASSIGNMENT: Final = re.compile(rf"(?i)([\"']?\b(?:{_FIELD_NAMES})[\"']?\s*[=:]\s*){_VALUE}")
_URL_PASSWORD: Final = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]+:)(?!\*\*\*@)[^@\s/]+@")
_QUERY_SECRET: Final = re.compile(
    r"(?i)([?&](?:api[_-]?key|key|token|access_token|secret|password|sig)=)(?!\*\*\*)[^&\s#\"']+"
)
SECRET_FIELD: Final = re.compile(rf"(?i)^(?:{_FIELD_NAMES}|authorization|x-api-key|[a-z0-9_]*_api_key)$")

_registered: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Scrub ``value`` (exactly) from everything :func:`redact` sees from now on in this process."""
    if value and len(value.strip()) >= _MIN_SECRET_LEN:
        with _lock:
            _registered.add(value.strip())


def _exact_secrets() -> list[str]:
    with _lock:
        values = set(_registered)
    for name, value in os.environ.items():
        if len(value) >= _MIN_SECRET_LEN and SECRET_ENV_NAME.match(name):
            values.add(value)
    return sorted(values, key=len, reverse=True)


def _mask(value: str) -> str:
    """``***`` in place of a value, keeping its quotes."""
    return f"{value[0]}{REDACTED}{value[0]}" if value[:1] in ("'", '"') else REDACTED


def redact(text: str) -> str:
    """``text`` with every secret-shaped value replaced by ``***`` (see the module docstring)."""
    if not text:
        return text
    for secret in _exact_secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _KEY_SHAPES.sub(REDACTED, text)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}{REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _ENV_ASSIGNMENT.sub(lambda m: f"{m.group(1)}{m.group(2)}{_mask(m.group(0)[m.end(2) - m.start():])}", text)
    text = _FIELD_ASSIGNMENT.sub(lambda m: f"{m.group(1)}{_mask(m.group(0)[m.end(1) - m.start():])}", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    return _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def redact_data(data: Any) -> Any:
    """A copy of JSON-like ``data`` with secrets redacted in every string and secret-named field."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if isinstance(key, str) and SECRET_FIELD.match(key) and isinstance(value, str) and value:
                out[key] = REDACTED
            else:
                out[key] = redact_data(value)
        return out
    if isinstance(data, list | tuple):
        return [redact_data(v) for v in data]
    return data
