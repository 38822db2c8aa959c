"""The verifier pool's worker process: hardening, the task loop and the task handlers.

A worker reads ``(task_id, kind, payload)`` from its pipe and answers ``(task_id, ok, value)``. It
never decides timeouts: the parent kills a worker that overruns and starts a replacement.

Hardening, applied once at start (defence in depth; real isolation of *code* is the sandbox's job):

- the environment is emptied except locale and PATH, so API keys are not in the worker's memory;
- core dumps are off and the address space is capped (``memory_limit_mb``), so a symbolic blow-up
  dies with ``MemoryError`` instead of swapping the machine;
- bytecode writing is off, the working directory is the filesystem root, and an audit hook
  (:func:`sys.addaudithook`) refuses process creation (``os.system``, ``subprocess``, ``exec*``,
  ``fork``), sockets, ``ctypes`` and opening files for writing. Python documents audit hooks as
  not a sandbox; here they back up the guarantee that no model output is ever evaluated (see
  :mod:`parley.rewards.reasoning`), so a missed ``eval`` still cannot run a shell command.

Task kinds: ``math`` (gold, pred), ``reasoning`` (dataset, answer, entry), and two test hooks that
do exactly what they say: ``_sleep`` (sleeps, to exercise the hard timeout) and ``_crash`` (exits,
to exercise recovery from a dying worker).
"""

from __future__ import annotations

import os
import resource
import sys
import time
from multiprocessing.connection import Connection
from typing import Any, Final

_KEEP_ENV: Final = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
_BLOCKED_EVENTS: Final = frozenset(
    {
        "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.forkpty", "os.kill",
        "subprocess.Popen", "pty.spawn", "socket.connect", "socket.bind", "socket.sendto",
        "ctypes.dlopen", "ctypes.dlsym", "os.remove", "os.rename", "os.rmdir", "os.mkdir",
        "os.chmod", "os.truncate", "shutil.rmtree", "os.putenv", "os.symlink", "os.link",
    }
)  # fmt: skip
_WRITE_FLAGS: Final = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class BlockedOperationError(PermissionError):
    """A verifier worker tried to spawn a process, open a socket or write a file."""


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in _BLOCKED_EVENTS:
        raise BlockedOperationError(f"verifier worker refused {event}")
    if event == "open" and len(args) >= 3:
        mode, flags = args[1], args[2]
        writing = isinstance(mode, str) and any(c in mode for c in "wax+")
        if writing or (isinstance(flags, int) and flags & _WRITE_FLAGS):
            raise BlockedOperationError(f"verifier worker refused to open {args[0]!r} for writing")


def harden(memory_limit_mb: int | None) -> None:
    """Apply the hardening described in the module docstring to the current process."""
    for key in list(os.environ):
        if key not in _KEEP_ENV:
            del os.environ[key]
    sys.dont_write_bytecode = True
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_limit_mb:
        limit = memory_limit_mb * 1024 * 1024
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit if hard == resource.RLIM_INFINITY else hard))
    os.chdir("/")
    sys.addaudithook(_audit)


def _run_task(kind: str, payload: Any) -> Any:
    if kind == "math":
        from parley.rewards.math import compare_answers

        gold, pred = payload
        return compare_answers(gold, pred)
    if kind == "reasoning":
        from parley.rewards.reasoning import score_reasoning_answer

        dataset, answer, entry = payload
        return score_reasoning_answer(dataset, answer, entry)
    if kind == "_sleep":
        time.sleep(float(payload))
        return float(payload)
    if kind == "_crash":
        os._exit(int(payload))
    raise ValueError(f"unknown verifier task kind {kind!r}")


PRELOAD: Final = ("math_verify", "latex2sympy2_extended", "sympy", "reasoning_gym")


def worker_main(conn: Connection, memory_limit_mb: int | None, preload: tuple[str, ...] = PRELOAD) -> None:
    """Serve one worker process: harden, warm the imports, then answer tasks until EOF."""
    import importlib
    import logging
    import warnings

    # math-verify logs a warning when its signal-based timeouts are disabled; we time out from outside.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    for module in preload:
        importlib.import_module(module)
    if "reasoning_gym" in preload:
        from parley.rewards.reasoning import make_scorers_safe

        make_scorers_safe()
    harden(memory_limit_mb)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        task_id, kind, payload = message
        try:
            reply = (task_id, True, _run_task(kind, payload))
        except MemoryError:
            reply = (task_id, False, "MemoryError: the verifier ran out of its memory limit")
        except Exception as exc:  # noqa: BLE001 - any verifier failure is reported to the parent, typed
            reply = (task_id, False, f"{type(exc).__name__}: {exc}"[:2000])
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return


def _main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="parley verifier worker (started by VerifierPool)")
    parser.add_argument("--fd", type=int, required=True, help="inherited socket for the task protocol")
    parser.add_argument("--memory-limit-mb", type=int, default=None)
    args = parser.parse_args(argv)
    worker_main(Connection(args.fd), args.memory_limit_mb)


if __name__ == "__main__":
    _main()
