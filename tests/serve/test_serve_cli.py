"""`parley serve` as a subprocess: the served id, the README's OpenAI example against it, busy ports.

``parley serve tiny`` resolves ``tiny`` to the cached warm-started model. Building that model takes
minutes, so these tests put a random-init tiny model (a real checkpoint) in a private cache
(``PARLEY_CACHE_DIR``) under the warm start's recipe digest; the resolution, the served id and the
whole HTTP path are the real ones.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from typer.testing import CliRunner

from parley.cli.app import app
from parley.serve import resolve_served_model
from parley.tiny.sft import SFT_INFO_FILE, TinySFTRecipe
from tests.tiny_model_support import tiny_model_dir

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def stand_in_tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache directory whose ``tiny-sft/<digest>`` holds a random-init tiny checkpoint."""
    cache = tmp_path_factory.mktemp("parley-cache")
    target = cache / "tiny-sft" / TinySFTRecipe().digest()
    shutil.copytree(tiny_model_dir(tmp_path_factory), target)
    (target / SFT_INFO_FILE).write_text(json.dumps({"stand_in": "random-init tiny model (tests)"}))
    return cache


def start_serve(args: list[str], env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[str], str]:
    """Start ``parley serve ARGS``; returns the process and its 'listening on' line."""
    cmd = [sys.executable, "-m", "parley.cli.app", "serve", *args]
    log = log_path.open("w")  # a pipe nobody reads could fill up and stall the server
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    log.close()
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the server prints its address (or exits)
    if "listening on" not in line:
        proc.kill()
        proc.wait(timeout=30)
        pytest.fail(f"parley serve did not start: {line!r}\n{log_path.read_text()}")
    return proc, line


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stand_in_tiny_cache(tmp_path_factory)


@pytest.fixture(scope="module")
def served(cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PARLEY_CACHE_DIR": str(cache)}
    log = tmp_path_factory.mktemp("serve-log") / "stderr.txt"
    proc, line = start_serve(["tiny", "--port", "0", "--batch-size", "8", "--batch-wait-ms", "20"], env, log)
    try:
        yield line, line.split("listening on", 1)[1].split()[0]
    finally:
        stop(proc)


def test_listening_line_names_the_served_model(served: tuple[str, str]) -> None:
    line, base_url = served
    assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
    assert "(model 'tiny')" in line


@pytest.mark.timeout(300)
def test_openai_client_chat_stream_and_concurrency(served: tuple[str, str]) -> None:
    _, base_url = served
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=60)
    assert [m.id for m in client.models.list()] == ["tiny"]
    messages = [{"role": "user", "content": "Question: Calculate 2 + 2."}]
    result = client.chat.completions.create(model="tiny", messages=messages, max_tokens=8, temperature=0.7, seed=3)
    choice = result.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert result.usage is not None and 1 <= result.usage.completion_tokens <= 8
    # Streaming: the same seed gives the same text, delivered as chat.completion.chunk events.
    stream = client.chat.completions.create(model="tiny", messages=messages, max_tokens=8, temperature=0.7,
                                            seed=3, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" and c.model == "tiny" for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == choice.message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == choice.finish_reason
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == result.usage.completion_tokens

    async def many() -> list:
        aclient = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=60)
        try:
            return await asyncio.gather(*(
                aclient.chat.completions.create(
                    model="tiny", messages=[{"role": "user", "content": f"Question: Calculate {i} * 3."}],
                    max_tokens=8, seed=i)
                for i in range(12)))
        finally:
            await aclient.close()

    results = asyncio.run(many())
    assert len(results) == 12 and all(r.usage.completion_tokens >= 1 for r in results)


@pytest.mark.timeout(300)
def test_readme_openai_example_runs_against_parley_serve_tiny(served: tuple[str, str], tmp_path: Path) -> None:
    _, base_url = served
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "generate", str(EXAMPLES / "generate_openai.yaml"), "--set", f"model.api_base={base_url}",
        "--set", "dataset.limit=3", "--set", "generation.max_new_tokens=16", "--set", "generation.concurrency=3",
        "--set", f"output.dir={out}",
    ])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"] == {}, summary  # no 404 (model 'tiny' is served), no other HTTP error
    assert sum(summary["terminations"].values()) == 3


def test_resolve_served_model(cache: Path, tmp_path_factory: pytest.TempPathFactory,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_CACHE_DIR", str(cache))
    tiny = resolve_served_model("tiny")
    assert tiny.served_id == "tiny" and tiny.path == cache / "tiny-sft" / TinySFTRecipe().digest()
    assert resolve_served_model("tiny", "my-model").served_id == "my-model"
    directory = tiny_model_dir(tmp_path_factory)
    assert resolve_served_model(str(directory)).served_id == directory.name
    assert resolve_served_model(str(directory), "other").served_id == "other"
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        resolve_served_model(str(directory.parent / "nope"))
    with pytest.raises(ValueError, match="--model-name"):
        resolve_served_model("tiny", " ")


def test_busy_port_fails_before_loading_the_model(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        # The model path does not exist: a message about the port proves the port was checked first.
        proc = subprocess.run(
            [sys.executable, "-m", "parley.cli.app", "serve", str(tmp_path / "no-model"), "--port", str(port)],
            capture_output=True, text=True, timeout=120,
        )
    assert proc.returncode == 2, proc.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr and "--port" in proc.stderr
    assert "config.json" not in proc.stderr and "Traceback" not in proc.stderr


def test_bad_model_dir_fails_cleanly(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "parley.cli.app", "serve", str(tmp_path / "nope"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "config.json" in proc.stderr and "Traceback" not in proc.stderr
