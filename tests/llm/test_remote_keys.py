"""Keys: missing keys fail before any call, a 401 picks up a rotated key, and keys never leak."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from parley.config.models import ModelConfig
from parley.llm.errors import AuthenticationError, MissingAPIKeyError
from parley.llm.keys import KeySource, parse_secrets_file
from parley.llm.litellm_backend import LiteLLMChatModel
from parley.llm.openai_backend import OpenAIChatModel
from parley.llm.scripted_server import Fault, ServerScript
from tests.llm.remote_support import BACKENDS, PARAMS, make_model, run_closing, scripted, user

__all__ = ["scripted"]

OLD_KEY = "sk-test-OLD-0123456789abcdef"
NEW_KEY = "sk-test-NEW-fedcba9876543210"


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_key_raises_before_any_call(
    backend: str, scripted: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = scripted()
    monkeypatch.delenv("PARLEY_TEST_MISSING_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="PARLEY_TEST_MISSING_KEY"):
        make_model(backend, server.base_url, api_key_env="PARLEY_TEST_MISSING_KEY")
    with pytest.raises(MissingAPIKeyError, match="does not exist"):
        make_model(backend, server.base_url, secrets_file=tmp_path / "absent.key")
    assert server.calls() == []


def test_provider_default_key_is_required_without_api_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("COHERE_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY"):
        OpenAIChatModel.from_config(ModelConfig(backend="openai", name="gpt-4o-mini"))
    with pytest.raises(MissingAPIKeyError, match="COHERE_API_KEY"):
        LiteLLMChatModel.from_config(ModelConfig(backend="litellm", name="cohere/command-a-03-2025"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_rotated_key_is_picked_up_after_401(
    backend: str, scripted: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server_key = tmp_path / "server.key"
    client_key = tmp_path / "client.env"
    server_key.write_text(OLD_KEY + "\n")
    client_key.write_text(f"# rotated by the ops team\nexport MY_KEY='{OLD_KEY}'\nOTHER=unused\n")
    server = scripted(ServerScript(key_file=str(server_key)))
    model = make_model(backend, server.base_url, api_key_env="MY_KEY", secrets_file=client_key)

    first = run_closing(model, model.complete(user("before rotation"), PARAMS))
    server_key.write_text(NEW_KEY)  # the provider rotates...
    client_key.write_text(f"MY_KEY={NEW_KEY}\n")  # ...and the secrets file is updated, no restart
    second = run_closing(model, model.complete(user("after rotation"), PARAMS))

    assert first.text == "Echo: before rotation" and second.text == "Echo: after rotation"
    outcomes = [c.outcome for c in server.calls() if c.key == "after rotation"]
    assert outcomes == ["unauthorized", "ok"]
    assert model.keys.key == NEW_KEY
    assert OLD_KEY not in caplog.text and NEW_KEY not in caplog.text
    assert OLD_KEY not in repr(model) and NEW_KEY not in repr(model)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unrotated_bad_key_fails_once_without_leaking(
    backend: str, scripted: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server_key = tmp_path / "server.key"
    server_key.write_text(NEW_KEY)
    client_key = tmp_path / "client.key"
    client_key.write_text(OLD_KEY)
    # Retries also happen before the 401 so their WARNING lines are in the captured log.
    server = scripted(ServerScript(key_file=str(server_key), faults=[Fault("server_error", first_n=1)]))
    model = make_model(backend, server.base_url, secrets_file=client_key)
    with pytest.raises(AuthenticationError) as info:
        run_closing(model, model.complete(user("wrong key"), PARAMS))
    # The server echoes the refused key in its message (as real providers do); we must not.
    assert info.value.status_code == 401
    assert "Incorrect API key provided" in str(info.value)
    for text in (str(info.value), repr(info.value), caplog.text):
        assert OLD_KEY not in text and NEW_KEY not in text
    assert server.attempts_for("wrong key") == 1  # key unchanged on re-read: no second request


@pytest.mark.parametrize("backend", BACKENDS)
def test_retries_are_logged_at_warning_without_secrets(
    backend: str, scripted: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key_file = tmp_path / "k"
    key_file.write_text(OLD_KEY)
    server = scripted(ServerScript(key_file=str(key_file), faults=[Fault("rate_limit", first_n=2)]))
    model = make_model(backend, server.base_url, secrets_file=key_file)
    run_closing(model, model.complete(user("logged"), PARAMS))
    retries = [r for r in caplog.records if r.name == "parley.llm.retry"]
    assert [r.levelno for r in retries] == [logging.WARNING, logging.WARNING]
    assert [getattr(r, "status", None) for r in retries] == [429, 429]
    assert [getattr(r, "attempt", None) for r in retries] == [1, 2]
    assert OLD_KEY not in caplog.text


def test_secrets_file_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_secrets_file("sk-lone-key==\n", None, source="f") == "sk-lone-key=="
    assert parse_secrets_file("A=1\nB='two'\n", "B", source="f") == "two"
    assert parse_secrets_file("ONLY=abc\n", None, source="f") == "abc"
    with pytest.raises(MissingAPIKeyError, match="several keys"):
        parse_secrets_file("A=1\nB=2\n", None, source="f")
    # File lacks the named key: the environment variable is the fallback.
    path = tmp_path / "keys.env"
    path.write_text("OTHER=1\n")
    monkeypatch.setenv("NAMED_KEY", "from-env")
    assert KeySource("NAMED_KEY", path, required=True).key == "from-env"
    monkeypatch.delenv("NAMED_KEY")
    with pytest.raises(MissingAPIKeyError, match="NAMED_KEY"):
        KeySource("NAMED_KEY", path, required=True)
    assert KeySource(None, None, required=False).key is None


def test_redact_hides_every_seen_key(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text(OLD_KEY)
    source = KeySource(None, path, required=True)
    path.write_text(NEW_KEY)
    source.reload()
    assert source.redact(f"a {OLD_KEY} b {NEW_KEY}") == "a *** b ***"
    assert OLD_KEY not in repr(source)
