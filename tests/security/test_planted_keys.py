"""Planted API keys never reach a file or log line: generate, train, experiments and serve.

Each test puts a key where parley will meet it (the environment, a provider's 401 message quoting
it, a URL password, a stage error, an Authorization header), runs the real command, then searches
every file the run wrote (Parquet files decoded, not just their compressed bytes) and everything
it printed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from parley.cli.app import app
from parley.experiments import ExperimentRunner, spec_from_mapping
from parley.llm.scripted_server import ScriptedServer, ServerScript
from tests.generation.support import debate_reply
from tests.tiny_model_support import tiny_model_dir

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
PLANTED = "sk-planted-" + "Zq9x" * 8  # an OpenAI-shaped key
PLANTED_PASSWORD = "pw-planted-73918264"  # not key-shaped: found by its place (URL password, env value)


def _texts_of(root: Path) -> dict[str, str]:
    """Every file under ``root`` as text: raw bytes decoded, plus decoded rows for Parquet files."""
    out: dict[str, str] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        text = data.decode("utf-8", errors="replace")
        if path.suffix == ".parquet":
            text += json.dumps(pq.read_table(path).to_pylist(), default=str)
        out[str(path.relative_to(root))] = text
    return out


def assert_clean(where: dict[str, str], *secrets: str) -> None:
    leaks = [(name, secret[:14]) for name, text in where.items() for secret in secrets if secret in text]
    assert leaks == [], f"planted secrets found in: {leaks}"


def test_generate_with_a_provider_that_quotes_the_refused_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED)
    key_file = tmp_path / "server.key"
    key_file.write_text("the-right-key-which-is-not-planted")
    out = tmp_path / "out"
    with ScriptedServer(ServerScript(reply=debate_reply, key_file=str(key_file))) as server:
        result = CliRunner().invoke(app, [
            "--log-level", "DEBUG", "generate", str(EXAMPLES / "generate_openai.yaml"),
            "--set", f"model.api_base={server.base_url}", "--set", "model.api_key_env=OPENAI_API_KEY",
            "--set", "model.max_retries=0", "--set", "dataset.limit=2", "--set", f"output.dir={out}",
        ])
        outcomes = server.outcome_counts()
    assert outcomes.get("unauthorized", 0) >= 1  # the planted key went out and the 401 quoted it back
    files = _texts_of(out) if out.exists() else {}
    printed = {"output": result.output}
    assert "Incorrect API key provided: ***" in "".join([*files.values(), result.output])  # the error was kept
    assert_clean({**files, **printed}, PLANTED)


@pytest.mark.timeout(600)
def test_train_with_a_password_in_a_url_and_keys_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.training.tiny_rl_support import small_tiny_model, train_overrides

    monkeypatch.setenv("OPENAI_API_KEY", PLANTED)
    monkeypatch.setenv("PLANTED_SERVICE_PASSWORD", PLANTED_PASSWORD)
    out = tmp_path / "run"
    overrides = train_overrides(small_tiny_model(), out, **{
        "train.steps": 1, "train.checkpoint_every": 1, "train.eval.protocols": [],
        "model.api_base": f"https://trainer:{PLANTED_PASSWORD}@example.invalid/v1",
    })
    args = ["--log-level", "DEBUG", "train"]
    for item in overrides:
        args += ["--set", item]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    files = _texts_of(out)
    assert "train_run.json" in files and "trainer:***@example.invalid" in files["train_run.json"]
    assert_clean({**files, "output": result.output}, PLANTED, PLANTED_PASSWORD)


def test_experiment_stage_that_logs_and_fails_with_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANTED_PROVIDER_API_KEY", PLANTED)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps({"id": f"p{i}", "question": f"{i}+{i}?", "answer": str(2 * i)}) + "\n"
                                for i in range(3)))
    spec = spec_from_mapping({
        "name": "planted", "plugins": ["tests.security.planted_kinds"],
        "config": {"dataset": {"name": str(problems)}, "model": {"api_base": f"https://u:{PLANTED}@x.invalid/v1"}},
        "stages": [{"id": "call", "kind": "provider_echo", "outputs": ["out.json"]}],
    })
    root = tmp_path / "experiments"
    runner = ExperimentRunner(root)
    record = runner.run(spec, command=["parley", "experiment", "run", "planted.yaml", "--set",
                                       f"OPENAI_API_KEY={PLANTED}"])
    stage = runner.store.stage(record.id, "call")
    assert record.status == "failed" and "Incorrect API key provided: ***" in (stage.error or "")
    files = _texts_of(root)
    assert any("manifest.json" in name for name in files)
    # The state database keeps the spec the stages run from (with the URL as given); everything else,
    # including the database's command and error columns, is clean.
    db = {name: text for name, text in files.items() if name.endswith((".db", ".sqlite", ".db-wal"))}
    assert_clean({n: t for n, t in files.items() if n not in db}, PLANTED)
    assert runner.store.get_experiment(record.id).command is not None
    assert PLANTED not in (runner.store.get_experiment(record.id).command or "")
    assert all(PLANTED not in (s.error or "") for s in runner.store.stages(record.id))


@pytest.mark.timeout(300)
def test_serve_never_logs_or_echoes_a_client_key(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    model_dir = tiny_model_dir(tmp_path_factory)
    log = tmp_path / "stderr.txt"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OPENAI_API_KEY": PLANTED}
    cmd = [sys.executable, "-m", "parley.cli.app", "--log-level", "DEBUG", "serve", str(model_dir), "--port", "0",
           "--model-name", "tiny"]
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, log.read_text()
        base = line.split("listening on", 1)[1].split()[0]
        headers = {"Authorization": f"Bearer {PLANTED}"}
        messages = [{"role": "user", "content": "Question: Calculate 1 + 1."}]
        bodies = [
            httpx.post(f"{base}/chat/completions", headers=headers, timeout=60,
                       json={"model": "tiny", "messages": messages, "max_tokens": 4}),
            httpx.post(f"{base}/chat/completions", headers=headers, timeout=60,
                       json={"model": PLANTED, "messages": messages}),
            httpx.post(f"{base}/chat/completions", headers={**headers, "content-type": "application/json"},
                       content=b'{"model": "tiny", "api_key": "' + PLANTED.encode() + b'", oops', timeout=60),
            httpx.get(f"{base}/{PLANTED}", headers=headers, timeout=60),
        ]
        assert [r.status_code for r in bodies] == [200, 404, 400, 404]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert "request for model '***'" in log.read_text()  # the wrong-model request was logged, redacted
    assert_clean({"stderr": log.read_text(), **{f"response {i}": r.text for i, r in enumerate(bodies)}}, PLANTED)
