"""The sandboxed worker: runs inside bubblewrap, receives jobs over a pipe, forks one child per job.

This file is standard-library only: the host passes its source to ``python -I -c`` inside the sandbox,
which cannot see parley's install. Protocol (both directions): a 4-byte big-endian length, then a
UTF-8 JSON object; bytes travel base64-encoded.

Request fields: ``kind`` (``python``: run ``code`` as ``__main__`` in a forked child of this warm
interpreter, so no interpreter start-up is paid; ``exec``: ``execve`` ``argv`` with ``env``), ``files``,
``stdin``, ``cwd`` (``exec`` only), and the limits ``timeout_s``, ``cpu_time_s``, ``memory_bytes``,
``file_size_bytes``, ``max_open_files``, ``max_processes``, ``max_output_bytes``.

Response: ``exit_code`` (``None`` when killed by a signal), ``signal``, ``stdout``/``stderr`` (base64,
each capped), the truncation flags, ``timed_out``, ``output_capped``, ``duration_s``.

Per job the child gets its own session, fresh stdio pipes and no other descriptors, rlimits (CPU, AS,
FSIZE, NOFILE, NPROC, CORE=0) and a fresh scratch directory under the private /tmp. The worker reads
stdout/stderr incrementally, kills the child's group at the output cap or the wall-clock deadline and,
when it runs in its own pid namespace (``--sweep``), kills every other process in that namespace after
each job so nothing a job started outlives it. The worker marks itself non-dumpable so a job (same uid,
no capabilities) cannot ptrace it or open its descriptors through /proc.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import resource
import selectors
import shutil
import signal
import sys
import time
from typing import Any

_READ_CHUNK = 65536


def apply_rlimits(req: dict[str, Any]) -> None:
    """Set the per-job rlimits in the calling (child) process."""
    cpu = int(req["cpu_time_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (req["memory_bytes"], req["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (req["file_size_bytes"], req["file_size_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (req["max_open_files"], req["max_open_files"]))
    if req.get("max_processes"):  # per-user count: only meaningful inside the sandbox's user namespace
        resource.setrlimit(resource.RLIMIT_NPROC, (req["max_processes"], req["max_processes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def collect(
    out_fd: int, err_fd: int, pidfd: int, cap: int, deadline: float
) -> tuple[bytes, bytes, bool, bool, bool, bool]:
    """Read both pipes until EOF, the child's exit (then drain), the output cap, or the deadline.

    Returns ``(stdout, stderr, stdout_truncated, stderr_truncated, timed_out, output_capped)``.
    """
    bufs = {out_fd: bytearray(), err_fd: bytearray()}
    trunc = {out_fd: False, err_fd: False}
    sel = selectors.DefaultSelector()
    for fd in (out_fd, err_fd):
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    sel.register(pidfd, selectors.EVENT_READ)
    open_fds = {out_fd, err_fd}
    exited = timed_out = capped = False
    while open_fds and not capped:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        # Once the child has exited, drain what is buffered without waiting for stray writers.
        ready = list(open_fds) if exited else [key.fd for key, _ in sel.select(remaining)]
        progressed = False
        for fd in ready:
            if fd == pidfd:
                exited = True
                sel.unregister(pidfd)
                continue
            try:
                chunk = os.read(fd, _READ_CHUNK)
            except BlockingIOError:
                continue
            if not chunk:
                open_fds.discard(fd)
                sel.unregister(fd)
                continue
            progressed = True
            buf = bufs[fd]
            room = cap - len(buf)
            buf += chunk[: max(room, 0)]
            if len(chunk) > room:
                trunc[fd] = True
                capped = True
        if exited and not progressed:
            break
    sel.close()
    return bytes(bufs[out_fd]), bytes(bufs[err_fd]), trunc[out_fd], trunc[err_fd], timed_out, capped


def _run_python_child(code: str, path: str, workdir: str) -> int:
    """Run ``code`` as ``__main__`` the way ``python main.py`` would; return the exit code."""
    import atexit
    import builtins
    import io
    import traceback
    import types

    sys.argv = [path]
    sys.path.insert(0, workdir)
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8")
    sys.stderr = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )
    if "random" in sys.modules:
        sys.modules["random"].seed()  # a fresh interpreter would seed from os.urandom
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = module
    status = 0
    try:
        exec(compile(code, path, "exec"), module.__dict__)  # inside the sandbox, in the job's child
    except SystemExit as exc:
        if exc.code is None:
            status = 0
        elif isinstance(exc.code, int):
            status = exc.code
        else:
            print(exc.code, file=sys.stderr)
            status = 1
    except BaseException as exc:  # noqa: BLE001 - the program's own error, reported like python does
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        traceback.print_exception(type(exc), exc, tb)  # without this worker's frame
        status = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 - a closed or broken stdout must not change the exit path
        status = status or 120
    return status & 0xFF


def _child(req: dict[str, Any], workdir: str, stdin_path: str | None, out_w: int, err_w: int) -> None:
    """Runs in the forked child: isolate, limit, then become the program. Never returns."""
    code = 1
    try:
        os.setsid()
        in_fd = os.open(stdin_path or os.devnull, os.O_RDONLY)
        os.dup2(in_fd, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 65536)
        os.chdir(workdir)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        apply_rlimits(req)
        if req["kind"] == "python":
            code = _run_python_child(req["code"], os.path.join(workdir, "main.py"), workdir)
        else:
            env = dict(req["env"])
            argv = list(req["argv"])
            exe = shutil.which(argv[0], path=env.get("PATH")) or argv[0]
            os.execve(exe, argv, env)
    except BaseException as exc:  # noqa: BLE001 - report the setup failure on the job's stderr
        try:
            os.write(2, f"sandbox: {type(exc).__name__}: {exc}\n".encode())
        finally:
            code = 127 if req.get("kind") == "exec" else 1
    os._exit(code)


def _sweep(own_pid: int) -> None:
    """Kill every process in this pid namespace except its init (pid 1) and this worker."""
    for _ in range(200):
        others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, own_pid)]
        if not others:
            return
        for pid in others:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while True:
            try:
                reaped, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if reaped == 0:
                break
        time.sleep(0.001)


def _wipe(*dirs: str) -> None:
    """Remove everything a job left in the sandbox's writable directories."""
    for top in dirs:
        try:
            names = os.listdir(top)
        except OSError:
            continue
        for name in names:
            path = os.path.join(top, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(path)


def run_job(req: dict[str, Any], job_no: int, sweep: bool) -> dict[str, Any]:
    """Run one job to completion and describe what happened."""
    scratch = f"/tmp/job{job_no}" if sweep else os.path.join(req["scratch_root"], f"job{job_no}")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch, mode=0o700)
    for name, data in req.get("files", {}).items():
        target = os.path.join(scratch, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as fh:
            fh.write(base64.b64decode(data))
    if req["kind"] == "python":
        with open(os.path.join(scratch, "main.py"), "w", encoding="utf-8") as fh:
            fh.write(req["code"])
    stdin_path = None
    if req.get("stdin") is not None:
        stdin_path = scratch + ".stdin"
        with open(stdin_path, "wb") as fh:
            fh.write(base64.b64decode(req["stdin"]))
    workdir = req.get("cwd") or scratch
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(req, workdir, stdin_path, out_w, err_w)
    os.close(out_w)
    os.close(err_w)
    pidfd = os.pidfd_open(pid)
    out, err, out_t, err_t, timed_out, capped = collect(
        out_r, err_r, pidfd, int(req["max_output_bytes"]), start + float(req["timeout_s"])
    )
    if timed_out or capped:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    _, wstatus = os.waitpid(pid, 0)
    duration = time.monotonic() - start
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # anything the job left in its session
    if sweep:
        _sweep(os.getpid())
        _wipe("/tmp", "/dev/shm")
    for fd in (out_r, err_r, pidfd):
        os.close(fd)
    shutil.rmtree(scratch, ignore_errors=True)
    if stdin_path and os.path.exists(stdin_path):
        os.unlink(stdin_path)
    code = os.waitstatus_to_exitcode(wstatus)
    return {
        "exit_code": code if code >= 0 else None,
        "signal": -code if code < 0 else None,
        "stdout": base64.b64encode(out).decode(),
        "stderr": base64.b64encode(err).decode(),
        "stdout_truncated": out_t,
        "stderr_truncated": err_t,
        "timed_out": timed_out,
        "output_capped": capped,
        "duration_s": duration,
    }


def _read_exact(fd: int, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return bytes(data)
        data += chunk
    return bytes(data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def serve(sweep: bool) -> None:
    """Answer framed requests on fd 0 with framed responses on fd 1 until EOF."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
    except (OSError, AttributeError) as exc:
        os.write(2, f"worker: could not clear dumpable: {exc}\n".encode())
    # Warm the modules most test programs import, so forked jobs do not pay for them.
    import atexit  # noqa: F401
    import builtins  # noqa: F401
    import collections  # noqa: F401
    import functools  # noqa: F401
    import heapq  # noqa: F401
    import io  # noqa: F401
    import itertools  # noqa: F401
    import math  # noqa: F401
    import random  # noqa: F401
    import re  # noqa: F401
    import string  # noqa: F401
    import traceback  # noqa: F401
    import types  # noqa: F401
    import typing  # noqa: F401

    in_fd = os.dup(0)
    out_fd = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    _write_all(out_fd, b"\x00\x00\x00\x05ready")
    job_no = 0
    while True:
        header = _read_exact(in_fd, 4)
        if len(header) < 4:
            return
        req = json.loads(_read_exact(in_fd, int.from_bytes(header, "big")))
        job_no += 1
        payload = json.dumps(run_job(req, job_no, sweep)).encode()
        _write_all(out_fd, len(payload).to_bytes(4, "big") + payload)


if __name__ == "__main__":
    serve(sweep="--sweep" in sys.argv and os.getpid() == 2)
