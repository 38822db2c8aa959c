"""Acceptance: the openai Python client gets chat completions from `parley serve` run as a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.tiny_model_support import tiny_model_dir


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    model_dir = tiny_model_dir(tmp_path_factory)
    cmd = [sys.executable, "-m", "parley.cli.app", "serve", str(model_dir), "--host", "127.0.0.1", "--port", "0"]
    cmd += ["--batch-size", "8", "--batch-wait-ms", "20", "--model-name", "tiny"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    # stderr goes to a file: a pipe nobody reads could fill up and stall the server.
    log_path = tmp_path_factory.mktemp("serve-log") / "stderr.txt"
    log = log_path.open("w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the server prints its address (or exits)
        if "listening on" not in line:
            proc.kill()
            proc.wait(timeout=30)
            pytest.fail(f"parley serve did not start: {line!r}\n{log_path.read_text()}")
        yield line.split("listening on", 1)[1].strip(), "tiny"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
        log.close()


@pytest.mark.timeout(300)
def test_openai_client_gets_chat_completions_from_parley_serve(served: tuple[str, str]) -> None:
    base_url, name = served
    assert base_url.startswith("http://127.0.0.1:")
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=60)
    assert [m.id for m in client.models.list()] == [name]
    result = client.chat.completions.create(
        model=name,
        messages=[{"role": "user", "content": "Question: Calculate 2 + 2."}],
        max_tokens=8,
        temperature=0.7,
        seed=3,
    )
    choice = result.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert result.usage is not None
    assert 1 <= result.usage.completion_tokens <= 8 and result.usage.prompt_tokens > 0
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens

    async def many() -> list:
        aclient = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=60)
        try:
            return await asyncio.gather(
                *(
                    aclient.chat.completions.create(
                        model=name,
                        messages=[{"role": "user", "content": f"Question: Calculate {i} * 3."}],
                        max_tokens=8,
                        seed=i,
                    )
                    for i in range(12)
                )
            )
        finally:
            await aclient.close()

    results = asyncio.run(many())
    assert len(results) == 12
    assert all(r.choices[0].message.content is not None and r.usage.completion_tokens >= 1 for r in results)


def test_bad_model_dir_fails_cleanly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "parley.cli.app", "serve", str(tmp_path / "nope"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "config.json" in proc.stderr and "Traceback" not in proc.stderr
