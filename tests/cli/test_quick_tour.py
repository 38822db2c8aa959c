"""Every command of the README's "Quick tour", run as written, in order, in a fresh copy of the repository.

The tracked files (``git ls-files``) are copied into a temporary directory, with this checkout's
``.venv`` linked in as ``.venv``; the first ``bash`` block of the "Quick tour" section runs there as one
bash script (so ``&``, ``$!`` and ``kill`` mean what they mean to a reader pasting the block), with each
command's output and exit status recorded apart. The Python block of the section runs afterwards with
the same interpreter. One test case per command: it must exit 0, and a ``parley`` command must print
something and produce what :data:`EXPECTED` says it produces.

Extending the tour: add commands to the README block; add an entry to :data:`EXPECTED` when a command
writes files worth checking. A paragraph of the block (the commands after a comment, up to the next
blank line) may declare what it needs in its comment, as ``(needs: A, B)``; when a need is unmet here,
those commands are not run and their test cases are skipped with the reason. Known needs (use them
sparingly: a command that can run here should run):

- ``port N free``: nothing listens on 127.0.0.1:N (concurrent runs of this test on one machine wait
  for each other on a lock file, so only a foreign process can make it unmet);
- ``the X extra``: every requirement of parley's optional extra ``X`` is installed (``PARLEY_EXTRAS``);
- ``network``: internet access; never met here (the suite runs offline).

The tiny model is built on first use and cached in the user cache (``~/.cache/parley`` or
``$PARLEY_CACHE_DIR``), as for a user; with a cold cache the run takes a few minutes longer.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SCRIPT_TIMEOUT_S = 1800
pytestmark = [pytest.mark.slow, pytest.mark.timeout(SCRIPT_TIMEOUT_S + 300)]


@dataclass
class Command:
    """One command of the tour: its text, what its paragraph needs, and (after the run) what it did."""

    index: int
    text: str
    needs: list[str] = field(default_factory=list)
    skip_reason: str | None = None
    exit_code: int | None = None
    output: str = ""

    @property
    def is_parley(self) -> bool:
        return self.text.startswith(".venv/bin/parley ")


def tour_blocks(readme: str = README.read_text(encoding="utf-8")) -> tuple[str, str]:
    """The first ``bash`` and the first ``python`` block of the README's "## Quick tour" section."""
    section = readme.split("\n## Quick tour\n", 1)[1].split("\n## ", 1)[0]
    bash = re.search(r"```bash\n(.*?)```", section, re.S)
    python = re.search(r"```python\n(.*?)```", section, re.S)
    assert bash is not None and python is not None, "the Quick tour needs a bash and a python block"
    return bash.group(1), python.group(1)


def parse_commands(block: str) -> list[Command]:
    """Commands of a bash block (continuation lines joined), each with its paragraph's needs."""
    commands: list[Command] = []
    needs: list[str] = []
    pending = ""
    for raw in block.splitlines():
        line = raw.rstrip()
        if not line.strip():
            needs = []
            continue
        if line.lstrip().startswith("#"):
            found = re.search(r"\(needs: ([^)]*)\)", line)
            if found:
                needs = [n.strip() for n in found.group(1).split(",") if n.strip()]
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            commands.append(Command(len(commands), pending.strip(), list(needs)))
            pending = ""
    return commands


def _extra_installed(extra: str) -> str | None:
    """``None`` when every requirement of parley's extra ``extra`` is installed, else why not."""
    requirements = importlib.metadata.requires("parley") or []
    wanted = [r for r in requirements if re.search(rf"extra\s*==\s*['\"]{re.escape(extra)}['\"]", r)]
    if not wanted:
        return f"parley has no extra {extra!r}"
    for requirement in wanted:
        name = re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return f"the {extra} extra is not installed ({name} missing; PARLEY_EXTRAS={extra} bash scripts/install.sh)"
    return None


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def unmet(need: str) -> str | None:
    """Why ``need`` is not met here, or ``None`` when it is (an unknown need fails the test)."""
    if match := re.fullmatch(r"port (\d+) free", need):
        port = int(match.group(1))
        return None if _port_free(port) else f"port {port} is in use by another process"
    if match := re.fullmatch(r"the ([\w-]+) extra", need):
        return _extra_installed(match.group(1))
    if need == "network":
        return "needs network access; the test suite runs offline"
    raise AssertionError(f"README Quick tour: unknown need {need!r} (known: port N free, the X extra, network)")


def _fresh_copy(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is not part of the copy
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (dest / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)


def _script(commands: list[Command], logs: Path) -> str:
    lines = ["set -u", f"cd {shlex.quote(str(logs.parent / 'repo'))}"]
    for c in commands:
        log, rc = shlex.quote(str(logs / f"{c.index}.log")), shlex.quote(str(logs / f"{c.index}.rc"))
        if c.skip_reason is not None:
            continue
        # A brace group runs in this shell: `cmd & VAR=$!` and a later `kill $VAR` keep their meaning.
        lines.append(f"{{\n{c.text}\n}} >{log} 2>&1 </dev/null; echo $? >{rc}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Run the whole tour once; yields the commands (with exit codes and outputs) and the copy's root."""
    bash_block, python_block = tour_blocks()
    commands = parse_commands(bash_block)
    base = tmp_path_factory.mktemp("quick-tour")
    repo, logs = base / "repo", base / "logs"
    logs.mkdir()
    _fresh_copy(repo)
    with open(Path(os.environ.get("TMPDIR", "/tmp")) / "parley-quick-tour.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one tour per machine at a time: the tour binds fixed ports
        for c in commands:
            reasons = [r for r in (unmet(n) for n in c.needs) if r]
            c.skip_reason = "; ".join(reasons) or None
        env = {k: v for k, v in os.environ.items() if k != "PARLEY_EXPERIMENTS_ROOT"}
        proc = subprocess.Popen(["bash", "-c", _script(commands, logs)], env=env, start_new_session=True)
        try:
            proc.wait(timeout=SCRIPT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the Quick tour did not finish within {SCRIPT_TIMEOUT_S} s")
        finally:
            # The script's process group: bash and anything it left running (a server whose `kill` never ran).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        python_run = subprocess.run([sys.executable, "-c", python_block], cwd=repo, env=env, capture_output=True,
                                    text=True, timeout=SCRIPT_TIMEOUT_S)
    for c in commands:
        rc_file, log_file = logs / f"{c.index}.rc", logs / f"{c.index}.log"
        c.exit_code = int(rc_file.read_text()) if rc_file.exists() else None
        c.output = log_file.read_text(errors="replace") if log_file.exists() else ""
    yield {"commands": commands, "repo": repo, "python": python_run}


def _stored(repo: Path, out_dir: str) -> int:
    return int(json.loads((repo / out_dir / "summary.json").read_text())["stored"])


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) if path.is_file() else 0


#: What a command must have produced: (regex on its text, check of the copy's root and its output).
EXPECTED: list[tuple[str, Callable[[Path, str], bool]]] = [
    (r"config show", lambda repo, out: "config_hash:" in out and "max_rounds: 3" in out),
    (r"model init-tiny", lambda repo, out: "warm-start accuracy" in out),
    (r"generate examples/generate_svj_tiny\.yaml", lambda repo, out: _stored(repo, "runs/svj") == 24),
    (r"trajectories show", lambda repo, out: "final answer" in out),
    (r"trajectories export", lambda repo, out: _lines(repo / "runs/svj.jsonl") == 24),
    (r"generate examples/generate_openai\.yaml", lambda repo, out: _stored(repo, "runs/svj-openai") == 8),
    (r"verify math", lambda repo, out: _lines(repo / "runs/verdicts.jsonl") == 6 and "4 correct" in out),
    (r"verify code", lambda repo, out: "3 passed" in out),
    (r"sandbox run", lambda repo, out: '"status": "ok"' in out and "primes below 30" in out),
    (r"parley train", lambda repo, out: "metrics.jsonl" in out),
    (r"eval run .* --label svj", lambda repo, out: (repo / "runs/eval/svj/summary.json").is_file()),
    (r"eval run .* --label single", lambda repo, out: (repo / "runs/eval/single/summary.json").is_file()),
    (r"eval compare", lambda repo, out: "McNemar" in out),
    (r"experiment run examples/experiment_quick\.yaml --dry-run", lambda repo, out: "2 arms" in out),
    (r"experiment run examples/experiment_quick\.yaml$", lambda repo, out: "succeeded" in out),
    (r"experiment list", lambda repo, out: "experiment-quick" in out),
    (r"cooperbench analyze", lambda repo, out: (repo / "runs/cooperbench/metrics.json").is_file()),
]

COMMANDS = parse_commands(tour_blocks()[0])


def test_the_tour_parses_into_commands_and_every_expectation_matches_one() -> None:
    assert len(COMMANDS) >= 15
    for pattern, _check in EXPECTED:
        assert any(re.search(pattern, c.text) for c in COMMANDS), f"EXPECTED entry {pattern!r} matches no command"
    for c in COMMANDS:
        for need in c.needs:
            unmet(need)  # raises on an unknown need


@pytest.mark.parametrize("index", range(len(COMMANDS)), ids=[f"{c.index:02d} {c.text[:60]}" for c in COMMANDS])
def test_quick_tour_command(index: int, tour: dict[str, object]) -> None:
    command = tour["commands"][index]  # type: ignore[index]
    assert isinstance(command, Command)
    if command.skip_reason is not None:
        pytest.skip(f"README Quick tour: {command.text!r} not run: {command.skip_reason}")
    assert command.exit_code == 0, f"{command.text}\nexit status {command.exit_code}\n{command.output[-4000:]}"
    if command.is_parley:
        assert command.output.strip(), f"{command.text}: printed nothing"
    for pattern, check in EXPECTED:
        if re.search(pattern, command.text):
            assert check(tour["repo"], command.output), (  # type: ignore[arg-type]
                f"{command.text}: did not produce what it should ({pattern!r})\n{command.output[-4000:]}")


def test_quick_tour_python_block(tour: dict[str, object]) -> None:
    run = tour["python"]
    assert isinstance(run, subprocess.CompletedProcess)
    assert run.returncode == 0, run.stdout + run.stderr
    accuracy, errored = run.stdout.split()[-2:]
    assert 0.0 <= float(accuracy) <= 1.0 and errored == "0", run.stdout
