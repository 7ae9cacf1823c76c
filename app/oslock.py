"""OS file locks shared by processes: ``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows.

The OS releases a lock when its process dies, however it dies (``kill -9`` included), so a
crashed console never leaves its profile or its nonce store locked.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt
else:
    import fcntl


class LockHeld(OSError):
    """Another process holds the lock."""


def _lock_fd(fd: int, *, blocking: bool) -> None:
    if sys.platform == "win32":  # pragma: no cover
        mode = msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, mode, 1)
        except OSError as e:
            raise LockHeld(str(e)) from e
    else:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError as e:
            raise LockHeld(str(e)) from e


def _unlock_fd(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)


def open_lock_file(path: Path) -> int:
    """Open (creating, 0600) a lock file and return its descriptor."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


@contextlib.contextmanager
def locked(path: Path, *, timeout_s: float = 10.0) -> Iterator[None]:
    """Hold the lock on ``path`` for the block, waiting for it up to ``timeout_s``.

    Raises:
        LockHeld: another process kept it longer than ``timeout_s``.
    """
    fd = open_lock_file(path)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                _lock_fd(fd, blocking=False)
                break
            except LockHeld:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.002)
        try:
            yield
        finally:
            _unlock_fd(fd)
    finally:
        os.close(fd)


class HeldLock:
    """A lock kept for the life of the process (or until ``release``), with a note inside.

    The note (e.g. ``{"pid": 123, "kind": "window"}``) tells a second process who holds it.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def try_acquire(cls, path: Path, note: str) -> HeldLock | None:
        """Take the lock now, or return None if another process holds it."""
        fd = open_lock_file(path)
        try:
            _lock_fd(fd, blocking=False)
        except LockHeld:
            os.close(fd)
            return None
        if sys.platform != "win32":  # Windows locks the first byte: the note goes after it
            os.ftruncate(fd, 0)
            os.pwrite(fd, note.encode(), 0)
        else:  # pragma: no cover
            os.lseek(fd, 1, os.SEEK_SET)
            os.write(fd, note.encode())
        return cls(path, fd)

    def release(self) -> None:
        """Let the lock go (the OS also does at exit)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                _unlock_fd(self._fd)
            os.close(self._fd)
            self._fd = None


def read_note(path: Path) -> str:
    """What the holder of ``path`` wrote in it ("" if nothing or unreadable)."""
    try:
        with path.open("rb") as f:
            if sys.platform == "win32":  # pragma: no cover - byte 0 is locked (mandatory locks)
                f.seek(1)
            raw = f.read()
    except OSError:
        return ""
    return raw.lstrip(b"\0").decode("utf-8", "replace").strip()
