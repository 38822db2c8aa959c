"""API keys: where they come from, when they are re-read, and keeping them out of text.

Policy (both remote backends):

* ``secrets_file`` set: the key is read from that file, either a single line holding the key or
  ``KEY=VALUE`` lines (``#`` comments and ``export`` prefixes allowed). With several ``KEY=VALUE``
  lines, the one named by ``api_key_env`` is used. If the file lacks a key and ``api_key_env`` is
  set, the environment variable is the fallback.
* ``api_key_env`` set (no file): the key is that environment variable.
* Neither set and ``api_base`` set: the endpoint needs no key (a local vLLM or parley server);
  nothing is sent.
* Neither set and no ``api_base``: the backend's default applies (``openai``: ``OPENAI_API_KEY``;
  ``litellm``: the provider's own variable, checked through LiteLLM before any call).

A required key that cannot be found raises :class:`MissingAPIKeyError` at construction, before
any request. After a 401 the backend calls :meth:`KeySource.reload` once, so a rotated key is
picked up without a restart. Keys never appear in ``repr``, logs or error messages:
:meth:`KeySource.redact` scrubs every key this source has seen from provider text, and every key it
reads is registered with :func:`parley.redact.register_secret`, so logs, manifests and stores written
anywhere in the process scrub it too.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from parley.llm.errors import MissingAPIKeyError
from parley.redact import redact, register_secret

logger = logging.getLogger(__name__)

_ASSIGNMENT = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
REDACTED = "***"


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def parse_secrets_file(text: str, name: str | None, *, source: str) -> str | None:
    """The key in a secrets file's text: a lone line, or the ``KEY=VALUE`` line named ``name``.

    Returns ``None`` when the file holds no usable key; raises :class:`MissingAPIKeyError` when it
    holds several and ``name`` does not say which.
    """
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    assignments: dict[str, str] = {}
    plain: list[str] = []
    for line in lines:
        match = _ASSIGNMENT.match(line)
        if match and _unquote(match.group(2)):
            assignments[match.group(1)] = _unquote(match.group(2))
        else:
            plain.append(line)
    if name is not None and name in assignments:
        return assignments[name]
    if len(plain) == 1 and not assignments:
        return plain[0]
    if len(assignments) == 1 and not plain and name is None:
        return next(iter(assignments.values()))
    if len(assignments) > 1 and name is None:
        raise MissingAPIKeyError(
            f"secrets file {source} holds several keys ({', '.join(sorted(assignments))}); "
            "set model.api_key_env to the name of the one to use"
        )
    return None


class KeySource:
    """Finds, caches and re-reads one API key.

    Args:
        env_var: environment variable holding the key (also the name looked up in a
            ``KEY=VALUE`` secrets file).
        secrets_file: file holding the key; takes precedence over ``env_var``.
        required: whether a missing key is an error (see the module docstring for the policy).
    """

    def __init__(self, env_var: str | None, secrets_file: Path | None, *, required: bool) -> None:
        self.env_var = env_var
        self.secrets_file = secrets_file
        self.required = required
        self._seen: set[str] = set()
        self._key: str | None = None
        self._key = self._read()

    def __repr__(self) -> str:
        state = "set" if self._key else "unset"
        return f"KeySource(env_var={self.env_var!r}, secrets_file={self.secrets_file!s}, key={state})"

    @property
    def key(self) -> str | None:
        """The current key (``None`` when none is needed)."""
        return self._key

    def reload(self) -> str | None:
        """Re-read the key from its source (after a 401); returns the (possibly new) key."""
        new = self._read()
        if new != self._key:
            logger.warning("API key changed in %s; using the new key", self._describe())
        self._key = new
        return new

    def redact(self, text: str) -> str:
        """``text`` with every key this source has seen, and anything key-shaped, replaced by ``***``."""
        for secret in sorted(self._seen, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return redact(text)

    def _describe(self) -> str:
        parts = []
        if self.secrets_file is not None:
            parts.append(f"secrets file {self.secrets_file}")
        if self.env_var is not None:
            parts.append(f"environment variable {self.env_var}")
        return " or ".join(parts) or "no key source"

    def _read(self) -> str | None:
        key: str | None = None
        if self.secrets_file is not None:
            path = Path(self.secrets_file).expanduser()
            if path.is_file():
                key = parse_secrets_file(path.read_text(encoding="utf-8"), self.env_var, source=str(path))
            elif self.env_var is None and self.required:
                raise MissingAPIKeyError(
                    f"model.secrets_file: {path} does not exist; create it with the API key on one line"
                )
        if key is None and self.env_var is not None:
            key = os.environ.get(self.env_var) or None
        if key is None and self.required:
            raise MissingAPIKeyError(
                f"no API key found in {self._describe()}; set it there (or, for a keyless local "
                "endpoint, leave model.api_key_env and model.secrets_file unset and set model.api_base)"
            )
        if key is not None:
            key = key.strip()
            self._seen.add(key)
            register_secret(key)
        return key
