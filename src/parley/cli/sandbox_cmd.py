"""``parley sandbox``: run a program in the sandbox and print the result as one JSON object."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from parley.cli.common import command_group, fail

app = command_group("Run untrusted code in the sandbox.")

#: Exit status of ``parley sandbox run`` per result status (``timeout`` follows GNU timeout's 124).
EXIT_CODES = {"ok": 0, "error": 1, "timeout": 124, "memory": 137, "killed": 137}


@app.command("run")
def run(
    file: Path = typer.Argument(..., help="Python file to run (as main.py in a private scratch dir)."),
    timeout: float = typer.Option(10.0, "--timeout", help="Wall-clock limit in seconds."),
    memory_mb: int = typer.Option(1024, "--memory-mb", help="Memory limit (address space and cgroup)."),
    stdin: Path | None = typer.Option(None, "--stdin", help="File fed to the program's stdin."),
    isolation: str = typer.Option("bwrap", "--isolation", help="bwrap, or none (unsafe, explicit)."),
) -> None:
    """Run FILE.py sandboxed; print {status, exit_code, stdout, stderr, duration_s, isolation}.

    Exit status: 0 when the program exited 0, 1 when it exited non-zero, 124 when it hit the time
    limit, 137 when it ran out of memory or was killed; the JSON line is printed in every case.
    """
    from pydantic import ValidationError

    from parley.sandbox import Sandbox, SandboxConfig

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
    result = Sandbox(config).run_python(code, stdin=stdin_bytes)
    keys = ("status", "exit_code", "stdout", "stderr", "duration_s", "isolation")
    payload = {key: getattr(result, key) for key in keys}
    payload["detail"] = result.detail
    typer.echo(json.dumps(payload))
    if result.status != "ok":
        raise typer.Exit(EXIT_CODES.get(result.status, 1))
