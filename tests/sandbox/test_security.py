"""Hostile programs: each is contained, gets the right status, and leaves the machine healthy.

These run the real sandbox (bubblewrap + cgroups + rlimits) as root on this machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from parley.sandbox import Sandbox, SandboxPool
from parley.sandbox.cgroups import CGROUP_ROOT, _own_path

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _leftover_cgroups() -> list[Path]:
    """This test process's sandbox cgroups that currently exist."""
    found: list[Path] = []
    for controller in ("memory", "pids"):
        parent = CGROUP_ROOT / controller / _own_path(controller).lstrip("/")
        found += list(parent.glob(f"parley-{os.getpid()}-*"))
    return sorted(found)


def test_reports_isolation_layers(sandbox: Sandbox) -> None:
    result = sandbox.run_python("print('hi')")
    assert result.status == "ok"
    assert result.isolation == "bwrap+cgroup+rlimit"


def test_socket_to_loopback_and_outside_is_refused(sandbox: Sandbox) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    port = server.getsockname()[1]
    code = f"""
import socket
for addr in [("127.0.0.1", {port}), ("1.1.1.1", 80), ("8.8.8.8", 53)]:
    try:
        socket.create_connection(addr, timeout=2)
        print("CONNECTED", addr)
    except OSError as exc:
        print("blocked", addr, type(exc).__name__, exc.errno)
"""
    try:
        result = sandbox.run_python(code)
        with pytest.raises(BlockingIOError):
            server.accept()  # nothing ever reached the host's listener
    finally:
        server.close()
    assert result.status == "ok"
    assert "CONNECTED" not in result.stdout
    assert result.stdout.count("blocked") == 3
    assert "Errno 101" in result.stderr or "101" in result.stdout  # network unreachable outside


def test_parent_environment_secret_is_invisible(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "parley-test-secret-7f3a9c"
    monkeypatch.setenv("PARLEY_TEST_API_KEY", secret)
    code = """
import json, os
print(json.dumps(sorted(os.environ)))
for pid in os.listdir("/proc"):
    if pid.isdigit():
        for name in ("environ", "cmdline"):
            try:
                print(open(f"/proc/{pid}/{name}", "rb").read())
            except OSError as exc:
                print("denied", pid, name, exc.errno)
"""
    result = sandbox.run_python(code)
    assert result.status == "ok"
    assert secret not in result.stdout + result.stderr
    env = json.loads(result.stdout.splitlines()[0])
    assert set(env) <= {"PATH", "HOME", "LANG", "LD_LIBRARY_PATH", "PWD", "PYTHONDONTWRITEBYTECODE"}


def test_home_and_project_directory_are_invisible(sandbox: Sandbox) -> None:
    targets = ["/root", str(PROJECT_DIR), str(PROJECT_DIR / "pyproject.toml"), "/etc/shadow", "/work"]
    code = f"""
import json, os
out = {{}}
for path in {targets!r}:
    try:
        out[path] = sorted(os.listdir(path)) if os.path.isdir(path) else open(path).read()[:50]
    except OSError as exc:
        out[path] = type(exc).__name__
print(json.dumps(out))
"""
    result = sandbox.run_python(code)
    assert result.status == "ok", result.stderr
    seen = json.loads(result.stdout)
    assert all(value == "FileNotFoundError" for value in seen.values()), seen


def test_writes_outside_private_tmp_fail(sandbox: Sandbox, tmp_path: Path) -> None:
    marker = tmp_path / "escaped.txt"
    targets = ["/usr/escaped", "/opt/python/escaped", "/escaped", str(marker), "/proc/escaped"]
    code = f"""
import json
out = {{}}
for path in {targets!r}:
    try:
        with open(path, "w") as fh:
            fh.write("x")
        out[path] = "written"
    except OSError as exc:
        out[path] = type(exc).__name__
open("/tmp/inside.txt", "w").write("private tmp works")
print(json.dumps(out))
"""
    result = sandbox.run_python(code)
    assert result.status == "ok", result.stderr
    seen = json.loads(result.stdout)
    assert "written" not in seen.values(), seen
    assert not marker.exists()
    assert not Path("/usr/escaped").exists() and not Path("/escaped").exists()


def test_fork_bomb_is_contained(sandbox: Sandbox) -> None:
    code = """
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
"""
    before = _leftover_cgroups()
    result = sandbox.run_python(code, timeout_s=2)
    assert result.status == "timeout"
    assert _leftover_cgroups() == before  # the bomb's cgroups were emptied and removed
    assert subprocess.run(["true"], check=False).returncode == 0  # the host can still fork


def test_allocating_8gb_is_a_memory_error(sandbox: Sandbox) -> None:
    result = sandbox.run_python("x = bytearray(8 * 1024**3)\nprint('allocated')")
    assert result.status == "memory"
    assert "allocated" not in result.stdout


def test_cgroup_oom_across_processes_is_a_memory_error(sandbox: Sandbox) -> None:
    # Each child stays under RLIMIT_AS (512 MB) but together they pass the cgroup limit.
    code = """
import os
kids = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        block = bytearray(400 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        os._exit(0)
    kids.append(pid)
codes = [os.waitpid(pid, 0)[1] for pid in kids]
print(codes)
"""
    result = sandbox.run_python(code, timeout_s=20)
    assert result.status == "memory", (result.status, result.detail, result.stdout)


def test_cpu_spin_hits_wall_clock_and_cpu_limits(sandbox: Sandbox) -> None:
    wall = sandbox.run_python("while True:\n    pass", timeout_s=1)
    assert wall.status == "timeout" and "wall-clock" in (wall.detail or "")
    from parley.sandbox import SandboxConfig

    cpu_limited = Sandbox(SandboxConfig(timeout_s=20, cpu_time_s=1))
    cpu = cpu_limited.run_python("while True:\n    pass")
    assert cpu.status == "timeout" and "CPU" in (cpu.detail or "")


def test_printing_a_gigabyte_is_capped_and_killed(sandbox: Sandbox) -> None:
    code = "import sys\nfor _ in range(16384):\n    sys.stdout.write('x' * 65536)\n"
    result = sandbox.run_python(code)
    assert result.status == "killed"
    assert result.stdout_truncated
    assert len(result.stdout) == 64 * 1024


def test_killing_the_parent_only_hurts_the_sandbox(sandbox: Sandbox, pool: SandboxPool) -> None:
    code = "import os, signal\nos.kill(os.getppid(), 9)\nos.kill(1, 9)\nos.kill(-1, 9)\n"
    result = sandbox.run_python(code)
    assert result.status == "killed"
    replaced = pool.replaced
    pooled = pool.run_python(code)
    assert pooled.status == "killed"
    assert pool.replaced == replaced + 1
    assert pool.run_python("print(6 * 7)").stdout == "42\n"  # a fresh worker took over


def test_proc_shows_only_the_sandbox(sandbox: Sandbox) -> None:
    code = """
import os
pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
print(len(pids), max(pids))
for pid in pids:
    try:
        print(open(f"/proc/{pid}/cmdline", "rb").read()[:60])
    except OSError:
        pass
"""
    result = sandbox.run_python(code)
    assert result.status == "ok"
    count, highest = map(int, result.stdout.splitlines()[0].split())
    assert count <= 4 and highest <= 10  # bwrap's init, the worker, this job
    assert "pytest" not in result.stdout
    assert str(os.getpid()) not in result.stdout.splitlines()[0].split()


def test_jobs_in_a_pool_leave_nothing_behind(pool: SandboxPool) -> None:
    first = pool.run_python(
        "import os, subprocess\nopen('/tmp/leak.txt', 'w').write('x')\n"
        "subprocess.Popen(['sleep', '60'], start_new_session=True)\nprint('started')"
    )
    assert first.status == "ok"
    for _ in range(2):  # whichever worker runs it, no process or file from the first job remains
        check = pool.run_python(
            "import os\nprint(os.path.exists('/tmp/leak.txt'))\n"
            "print(sum(1 for p in os.listdir('/proc') if p.isdigit()))"
        )
        lines = check.stdout.split()
        assert lines[0] == "False"
        assert int(lines[1]) <= 3


def test_machine_is_healthy_afterwards(sandbox: Sandbox) -> None:
    before = _leftover_cgroups()
    assert sandbox.run_python("print(1)").stdout == "1\n"
    assert _leftover_cgroups() == before
    assert subprocess.run(["python3", "-c", "print(1)"], capture_output=True, check=False).stdout == b"1\n"
