"""On-disk layout, atomic file writes and the write lock.

Layout of a store directory::

    run.json                     run manifest, written atomically at creation
    write.lock                   flock'ed by the one live writer (holds its pid, for messages)
    turns-00000001.parquet       one row per turn of the debates committed by shard 1
    debates-00000001.parquet     one row per debate; its presence commits shard 1
    .<name>.tmp-<pid>            a file being written (never read; removed by repair)

Every file is written to a temporary name in the same directory, fsync'ed, renamed into place and the
directory fsync'ed, so a file under its final name is always complete. A shard's turns file is renamed
before its debates file, so a debates file implies its turns are on disk; a turns file without its
debates file is an orphan left by a crash, ignored by readers and removed by the next writer.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley.store.errors import StoreCorruptError, StoreLockedError

MANIFEST_NAME = "run.json"
LOCK_NAME = "write.lock"
_SHARD_RE = re.compile(r"^(turns|debates)-(\d{8})\.parquet$")
_TMP_MARK = ".tmp-"


def shard_name(kind: str, seq: int) -> str:
    """File name of shard ``seq`` of ``kind`` (``turns`` or ``debates``)."""
    return f"{kind}-{seq:08d}.parquet"


def fsync_dir(path: Path) -> None:
    """Flush a directory entry change (a rename or unlink) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(final: Path) -> Path:
    """A temporary sibling of ``final`` that readers never pick up."""
    return final.with_name(f".{final.name}{_TMP_MARK}{os.getpid()}")


def atomic_write(final: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` then fsync ``tmp`` and rename it to ``final`` (durable and all-or-nothing)."""
    tmp = temp_path(final)
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(final.parent)


def atomic_write_json(final: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as pretty JSON to ``final`` atomically."""
    text = json.dumps(payload, indent=2, ensure_ascii=False, sort_keys=True) + "\n"

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    atomic_write(final, write)


@dataclass(frozen=True)
class ShardListing:
    """What a directory scan found: committed shard seqs, orphan turn shards and temporary files."""

    committed: list[int]
    orphan_turns: list[Path]
    temp_files: list[Path]

    @property
    def max_seq(self) -> int:
        seqs = list(self.committed)
        for path in self.orphan_turns:
            match = _SHARD_RE.match(path.name)
            if match:
                seqs.append(int(match.group(2)))
        return max(seqs, default=0)


def list_shards(root: Path) -> ShardListing:
    """Scan ``root``: a shard is committed when both its turns and debates files exist."""
    turns: set[int] = set()
    debates: set[int] = set()
    temps: list[Path] = []
    for entry in os.scandir(root):
        name = entry.name
        if name.startswith(".") and _TMP_MARK in name:
            temps.append(Path(entry.path))
            continue
        match = _SHARD_RE.match(name)
        if match is None:
            continue
        (turns if match.group(1) == "turns" else debates).add(int(match.group(2)))
    missing = sorted(debates - turns)
    if missing:
        raise StoreCorruptError(
            f"{root / shard_name('debates', missing[0])} is committed but its turns file "
            f"{shard_name('turns', missing[0])} is missing; the store was modified outside parley"
        )
    orphans = [root / shard_name("turns", s) for s in sorted(turns - debates)]
    return ShardListing(committed=sorted(debates), orphan_turns=orphans, temp_files=sorted(temps))


class WriteLock:
    """An exclusive ``flock`` on ``root/write.lock``; the kernel drops it when the holder dies."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`StoreLockedError` naming the holder's pid."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = self._holder()
            raise StoreLockedError(
                f"trajectory store {self.path.parent} is being written by another process"
                f"{f' (pid {holder})' if holder else ''}; wait for it to finish, stop it, "
                "or write to a different output directory"
            ) from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def _holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return ""

    def release(self) -> None:
        """Release the lock (idempotent). The lock file stays; its presence means nothing."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None
