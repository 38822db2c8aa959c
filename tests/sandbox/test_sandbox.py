"""Everyday behaviour: results, stdin/files, run_command on a work directory, the pool, config, CLI."""

from __future__ import annotations

import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from parley.cli.app import app
from parley.sandbox import Sandbox, SandboxConfig, SandboxPool, SandboxUnavailableError


def test_exit_codes_and_errors(sandbox: Sandbox) -> None:
    ok = sandbox.run_python("print('hello')")
    assert (ok.status, ok.exit_code, ok.stdout) == ("ok", 0, "hello\n")
    exited = sandbox.run_python("import sys\nsys.exit(3)")
    assert (exited.status, exited.exit_code) == ("error", 3)
    crashed = sandbox.run_python("def f():\n    raise ValueError('boom')\nf()")
    assert crashed.status == "error" and crashed.exit_code == 1
    assert crashed.stderr.startswith("Traceback") and "ValueError: boom" in crashed.stderr
    assert "_worker" not in crashed.stderr  # the traceback is the program's, not the worker's
    syntax = sandbox.run_python("def (:")
    assert syntax.status == "error" and "SyntaxError" in syntax.stderr


def test_stdin_and_files(sandbox: Sandbox, pool: SandboxPool) -> None:
    code = "import helper, sys\nprint(helper.double(int(sys.stdin.read())))\nprint(open('data/x.txt').read())"
    files = {"helper.py": b"def double(x):\n    return 2 * x\n", "data/x.txt": b"payload"}
    for runner in (sandbox, pool):
        result = runner.run_python(code, stdin=b"21", files=files)
        assert result.status == "ok", result.stderr
        assert result.stdout == "42\npayload\n"
    with pytest.raises(ValueError, match="relative path"):
        sandbox.run_python("pass", files={"../escape.py": b""})


def test_invalid_utf8_output_is_replaced(sandbox: Sandbox) -> None:
    result = sandbox.run_python("import sys\nsys.stdout.buffer.write(b'ok\\xff\\n')")
    assert result.status == "ok" and result.stdout == "ok\ufffd\n"


def test_run_command_on_a_repository_workdir(sandbox: Sandbox, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (repo / "test_calc.py").write_text(
        "import os, unittest\nimport calc\n\n"
        "class T(unittest.TestCase):\n"
        "    def test_add(self):\n"
        "        self.assertEqual(calc.add(2, 3), 5)\n"
        "    def test_env(self):\n"
        "        self.assertEqual(os.environ['MODE'], 'ci')\n"
        "        open('report.txt', 'w').write('ran')\n"
    )
    result = sandbox.run_command(
        ["python", "-m", "unittest", "-v", "test_calc"], workdir=repo, env={"MODE": "ci"}
    )
    assert result.status == "ok", result.stderr
    assert "Ran 2 tests" in result.stderr and "OK" in result.stderr
    assert (repo / "report.txt").read_text() == "ran"  # the workdir is bound read-write

    (repo / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    failing = sandbox.run_command(["python", "-m", "unittest", "test_calc"], workdir=repo, env={"MODE": "ci"})
    assert failing.status == "error" and failing.exit_code == 1
    assert "FAILED" in failing.stderr

    shell = sandbox.run_command(["sh", "-c", "pwd; ls; echo $HOME"], workdir=repo)
    assert shell.stdout.split("\n")[0] == "/work" and "calc.py" in shell.stdout

    missing = sandbox.run_command(["no-such-binary"])
    assert missing.status == "error" and missing.exit_code == 127
    with pytest.raises(ValueError, match="not a directory"):
        sandbox.run_command(["true"], workdir=tmp_path / "absent")


def test_run_pytest_with_bound_site_packages(tmp_path: Path) -> None:
    # How a caller (e.g. CooperBench) runs a repository's pytest suite: bind the packages read-only.
    site_packages = Path(pytest.__file__).resolve().parent.parent
    box = Sandbox(SandboxConfig(timeout_s=60, ro_binds={"/opt/site-packages": site_packages}))
    (tmp_path / "test_mod.py").write_text("def test_ok():\n    assert 2 + 2 == 4\n\n"
                                           "def test_bad():\n    assert 2 + 2 == 5\n")
    result = box.run_command(
        ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        workdir=tmp_path,
        # The host's installed pytest plugins (kmock needs pytest-asyncio) are not the suite's.
        env={"PYTHONPATH": "/opt/site-packages", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert result.status == "error" and result.exit_code == 1, result.stderr
    assert "1 failed, 1 passed" in result.stdout


def test_pool_serves_concurrent_callers(pool: SandboxPool) -> None:
    with ThreadPoolExecutor(max_workers=6) as executor:
        results = list(executor.map(lambda i: pool.run_python(f"print({i} * {i})"), range(24)))
    assert [r.stdout for r in results] == [f"{i * i}\n" for i in range(24)]
    assert {r.isolation for r in results} == {"bwrap+cgroup+rlimit"}


def test_pool_from_asyncio(pool: SandboxPool) -> None:
    async def main() -> list[str]:
        results = await asyncio.gather(*(pool.arun_python(f"print({i})") for i in range(4)))
        return [r.stdout for r in results]

    assert asyncio.run(main()) == ["0\n", "1\n", "2\n", "3\n"]


def test_pool_jobs_are_independent(pool: SandboxPool) -> None:
    first = pool.run_python("import random\nprint(random.random())")
    second = pool.run_python("import random\nprint(random.random())")
    assert first.stdout != second.stdout  # each forked job is reseeded like a fresh interpreter
    pool.run_python("import json\njson.dumps = None\nglobals()['leak'] = 1")
    clean = pool.run_python("import json\nprint(json.dumps([1]), 'leak' in globals())")
    assert clean.stdout == "[1] False\n"


def test_config_validation_and_unavailable_isolation(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="timeout_s"):
        SandboxConfig(timeout_s=0)
    with pytest.raises(ValidationError, match="isolation"):
        SandboxConfig(isolation="docker")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="reserved"):
        SandboxConfig(ro_binds={"/tmp/x": tmp_path})
    with pytest.raises(SandboxUnavailableError, match="bubblewrap is not installed"):
        Sandbox(SandboxConfig(bwrap_path=tmp_path / "bwrap"))
    with pytest.raises(SandboxUnavailableError, match="no interpreter"):
        Sandbox(SandboxConfig(python_prefix=tmp_path))


def test_extra_read_only_bind(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "extra_mod.py").write_text("VALUE = 7\n")
    box = Sandbox(SandboxConfig(timeout_s=5, ro_binds={"/opt/lib": lib}))
    result = box.run_python("import sys\nsys.path.append('/opt/lib')\nimport extra_mod\nprint(extra_mod.VALUE)")
    assert result.stdout == "7\n"
    write = box.run_python("open('/opt/lib/x', 'w')")
    assert write.status == "error" and "Read-only" in write.stderr


def test_isolation_none_is_explicit_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    box = Sandbox(SandboxConfig(isolation="none", timeout_s=5))
    with caplog.at_level(logging.WARNING, logger="parley.sandbox"):
        first = box.run_python("print('unsafe')")
        box.run_python("print('again')")
    assert first.status == "ok" and first.isolation == "none+cgroup+rlimit"
    warnings = [r for r in caplog.records if "WITHOUT isolation" in r.getMessage()]
    assert len(warnings) == 2  # on every use
    spin = box.run_python("while True:\n    pass", timeout_s=1)
    assert spin.status == "timeout"


def test_cli_sandbox_run(tmp_path: Path) -> None:
    program = tmp_path / "prog.py"
    program.write_text("import sys\nprint(sys.stdin.read().upper())\n")
    stdin = tmp_path / "in.txt"
    stdin.write_text("shout")
    runner = CliRunner()
    result = runner.invoke(app, ["sandbox", "run", str(program), "--stdin", str(stdin), "--timeout", "5"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["status"] == "ok" and payload["stdout"] == "SHOUT\n"
    assert set(payload) >= {"status", "exit_code", "stdout", "stderr", "duration_s", "isolation"}
    bad = runner.invoke(app, ["sandbox", "run", str(program), "--memory-mb", "1"])
    assert bad.exit_code == 2 and "memory_mb" in bad.output
