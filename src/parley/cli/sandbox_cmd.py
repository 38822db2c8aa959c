"""``parley sandbox``: run a program in the sandbox and print the result as one JSON object."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from parley.cli.common import fail

app = typer.Typer(help="Run untrusted code in the sandbox.", no_args_is_help=True)


@app.command("run")
def run(
    file: Path = typer.Argument(..., help="Python file to run (as main.py in a private scratch dir)."),
    timeout: float = typer.Option(10.0, "--timeout", help="Wall-clock limit in seconds."),
    memory_mb: int = typer.Option(1024, "--memory-mb", help="Memory limit (address space and cgroup)."),
    stdin: Path | None = typer.Option(None, "--stdin", help="File fed to the program's stdin."),
    isolation: str = typer.Option("bwrap", "--isolation", help="bwrap, or none (unsafe, explicit)."),
) -> None:
    """Run FILE.py sandboxed; print {status, exit_code, stdout, stderr, duration_s, isolation}."""
    from pydantic import ValidationError

    from parley.sandbox import Sandbox, SandboxConfig, SandboxError

    try:
        code = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
    try:
        stdin_bytes = stdin.read_bytes() if stdin is not None else None
    except OSError as exc:
        fail(f"cannot read --stdin {stdin}: {exc}")
    try:
        config = SandboxConfig(
            isolation=isolation,  # type: ignore[arg-type]
            timeout_s=timeout,
            memory_mb=memory_mb,
            cpu_time_s=max(1, int(timeout + 1)),
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        fail(f"invalid sandbox option: {problems}")
    try:
        result = Sandbox(config).run_python(code, stdin=stdin_bytes)
    except SandboxError as exc:
        fail(str(exc))
    keys = ("status", "exit_code", "stdout", "stderr", "duration_s", "isolation")
    payload = {key: getattr(result, key) for key in keys}
    payload["detail"] = result.detail
    typer.echo(json.dumps(payload))
