"""parley.redact on key shapes, and what it must leave alone."""

from __future__ import annotations

import pytest

from parley.redact import REDACTED, redact, redact_data, register_secret

KEY = "sk-proj-" + "Ab3" * 12


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"error: key {KEY} refused", "error: key *** refused"),
        ("Authorization: Bearer abc.def-ghijklmnop", "Authorization: Bearer ***"),
        (f'{{"Authorization": "Bearer {KEY}"}}', '{"Authorization": "Bearer ***"}'),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic ***"),
        (f"OPENAI_API_KEY={KEY}", "OPENAI_API_KEY=***"),
        ('export HF_TOKEN="hf_abcdefghijklmnopqrstuvwxyz"', 'export HF_TOKEN="***"'),
        ("AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI/K7MDENG", "AWS_SECRET_ACCESS_KEY: ***"),
        ("api_key: hunter22", "api_key: ***"),
        ('"password": "correct horse"', '"password": "***"'),
        ("https://bob:s3cretpass@example.com/v1", "https://bob:***@example.com/v1"),
        ("https://x.example/v1?api_key=abc123&x=1", "https://x.example/v1?api_key=***&x=1"),
        ("ghp_" + "a1" * 18, REDACTED),
        ("AKIAIOSFODNN7EXAMPLE", REDACTED),
        ("AIza" + "b" * 35, REDACTED),
    ],
)
def test_key_shapes_are_redacted(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "api_key_env: OPENAI_API_KEY",
        "max_tokens: 256, max_new_tokens=64",
        "http://127.0.0.1:8000/v1",
        "reasoning_gym:basic_arithmetic, basic arithmetic problems, the token budget",
        "sk-learn is a package; the bearer of news",
        "Incorrect API key provided: sk-abc12***********************wxyz",
        r"\boxed{\frac{1}{2}}",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_registered_and_environment_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANTED_SERVICE_API_KEY", "plain-looking-value-42")
    monkeypatch.setenv("PLANTED_SHORT_TOKEN", "1")
    register_secret("secret-from-a-file-0001")
    text = "got plain-looking-value-42 and secret-from-a-file-0001 (1 retry)"
    assert redact(text) == "got *** and *** (1 retry)"


def test_redact_data_walks_json_and_blanks_secret_fields() -> None:
    data = {
        "model": {"api_key_env": "OPENAI_API_KEY", "api_key": "x", "api_base": "https://u:pw123456@h/v1",
                  "openai_api_key": "anything", "max_tokens": 5},
        "argv": ["--set", f"OPENAI_API_KEY={KEY}", 3, None],
        "headers": {"Authorization": "Bearer zzzzzzzzzzzz"},
    }
    assert redact_data(data) == {
        "model": {"api_key_env": "OPENAI_API_KEY", "api_key": "***", "api_base": "https://u:***@h/v1",
                  "openai_api_key": "***", "max_tokens": 5},
        "argv": ["--set", "OPENAI_API_KEY=***", 3, None],
        "headers": {"Authorization": "***"},
    }
