"""`parley serve smollm2` answers the official openai client with real text, plain and streamed.

Skipped when SmolLM2 is not fetched (`parley model fetch smollm2`; scripts/test.sh fetches it in CI).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import openai
import pytest

from parley.llm.catalog import smollm2_dir
from parley.llm.packaged_gguf import is_converted

pytestmark = pytest.mark.skipif(
    not is_converted(smollm2_dir()),
    reason="SmolLM2 is not fetched (run `parley model fetch smollm2`; scripts/test.sh does so in CI)")

QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one short sentence."}]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cmd = [sys.executable, "-m", "parley.cli.app", "serve", "smollm2", "--host", "127.0.0.1", "--port", "0",
           "--batch-size", "4", "--device", "auto", "--dtype", "auto"]
    log_path = tmp_path_factory.mktemp("serve-smollm2") / "stderr.txt"
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                                env={**os.environ, "HF_HUB_OFFLINE": "1"})
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if "listening on" not in line:
                proc.kill()
                proc.wait(timeout=30)
                pytest.fail(f"parley serve smollm2 did not start: {line!r}\n{log_path.read_text()}")
            yield line.split("listening on", 1)[1].split()[0]  # "listening on URL (model 'smollm2')"
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=30)


@pytest.mark.timeout(900)
def test_openai_client_gets_natural_language_from_smollm2(served: str) -> None:
    client = openai.OpenAI(base_url=served, api_key="unused", max_retries=0, timeout=300)
    assert [m.id for m in client.models.list()] == ["smollm2"]
    result = client.chat.completions.create(model="smollm2", messages=QUESTION,  # type: ignore[arg-type]
                                            max_tokens=16, temperature=0.0)
    text = result.choices[0].message.content or ""
    assert "paris" in text.lower(), text
    assert result.usage is not None and 0 < result.usage.completion_tokens <= 16


@pytest.mark.timeout(900)
def test_openai_client_streams_from_smollm2(served: str) -> None:
    client = openai.OpenAI(base_url=served, api_key="unused", max_retries=0, timeout=300)
    stream = client.chat.completions.create(model="smollm2", messages=QUESTION,  # type: ignore[arg-type]
                                            max_tokens=16, temperature=0.0, stream=True)
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    text = "".join(pieces)
    assert "paris" in text.lower(), pieces
