"""One console per profile: the profile lock, the window's local socket, and the client that talks to it.

A profile is a set of folders (``Paths``) and a mode: ``main`` (the trader's accounts), ``demo``
and ``sim`` (``--endpoints``) each have their own audit log, so each is its own profile. Whoever
runs on a profile (the window, or a command-line run without a window) holds its lock, an OS
file lock the OS releases when the process dies. The window also listens on a local socket
named after the profile (``QLocalServer`` in the ui; a Unix socket under ``$XDG_RUNTIME_DIR``,
a named pipe on Windows): a second start asks it to come forward instead of starting again, and
the command line asks it to act on its desk instead of opening a second set of connections.

The socket speaks one JSON object per line each way: ``{"v": 1, "cmd": "raise"}`` ->
``{"ok": true}``; the commands (``list``, ``cancel``, ``kill``, ``deadman``) are
``app.cli.DeskCommands``'s.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.oslock import HeldLock, read_note
from app.paths import Paths

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 1 << 20  # a listing of 10,000 orders is ~3 MB: answers may be long; asks are short
MAX_REQUEST_BYTES = 64 << 10
MAX_SOCKET_PATH = 100  # sun_path holds 104-108 bytes depending on the OS


class InstanceError(Exception):
    """The profile is in use and its holder cannot be reached (the message says what to do)."""


@dataclass(frozen=True, slots=True)
class Profile:
    """Which console this is: folders plus mode (``main``, ``demo`` or ``sim``)."""

    paths: Paths
    name: str

    @property
    def lock_path(self) -> Path:
        """The profile's lock file."""
        return self.paths.lock_file(self.name)

    @property
    def address(self) -> str:
        """The window's local socket: a path on POSIX, a pipe name on Windows."""
        ident = f"kraken-cancel-{self.paths.profile_id(self.name)}"
        if sys.platform == "win32":  # pragma: no cover - named pipes: \\.\pipe\<ident>
            return ident
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        for folder in (runtime, tempfile.gettempdir()):
            if folder and Path(folder).is_dir():
                path = str(Path(folder) / f"{ident}.sock")
                if len(path.encode()) <= MAX_SOCKET_PATH:
                    return path
        return str(Path("/tmp") / f"{ident}.sock")

    def acquire(self, kind: str) -> HeldLock | None:
        """Take the profile's lock for a ``window`` or a ``command``; None if someone holds it."""
        note = json.dumps({"pid": os.getpid(), "kind": kind, "since": round(time.time())})
        return HeldLock.try_acquire(self.lock_path, note)

    def holder(self) -> dict[str, Any]:
        """What the lock's holder wrote about itself (``pid``, ``kind``), or {}."""
        try:
            note = json.loads(read_note(self.lock_path) or "{}")
        except ValueError:
            return {}
        return note if isinstance(note, dict) else {}

    def describe_holder(self) -> str:
        """e.g. ``the console window (pid 1234)``."""
        h = self.holder()
        what = {"window": "the console window", "command": "a kraken-cancel command"}.get(
            str(h.get("kind")), "another kraken-cancel"
        )
        return f"{what} (pid {h['pid']})" if "pid" in h else what


def _connect(address: str, timeout_s: float) -> Any:
    if sys.platform == "win32":  # pragma: no cover - a named pipe opens like a file
        return open(rf"\\.\pipe\{address}", "r+b", buffering=0)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock


def request(address: str, message: dict[str, Any], *, timeout_s: float = 5.0) -> dict[str, Any]:
    """Send one request to the window and return its answer.

    Args:
        address: ``Profile.address``.
        message: the request (``cmd`` and its arguments; the protocol version is added).
        timeout_s: the longest wait for the connection and for the answer.

    Raises:
        OSError: nobody listens there, or the answer did not come in time.
        ValueError: the answer is not a JSON object.
    """
    conn = _connect(address, timeout_s)
    try:
        data = (json.dumps({"v": PROTOCOL_VERSION, **message}) + "\n").encode()
        if isinstance(conn, socket.socket):
            conn.sendall(data)
            buf = bytearray()
            while not buf.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                buf += chunk
                if len(buf) > MAX_MESSAGE_BYTES * 8:
                    raise ValueError("the console's answer is too long")
        else:  # pragma: no cover - Windows pipe
            conn.write(data)
            buf = bytearray(conn.readline())
    finally:
        conn.close()
    answer = json.loads(bytes(buf).decode("utf-8"))
    if not isinstance(answer, dict):
        raise ValueError("the console's answer is not a JSON object")
    return answer


def window_answers(profile: Profile, *, timeout_s: float = 2.0) -> bool:
    """Whether a window listens on the profile's socket (it answers a ``ping``)."""
    try:
        return bool(request(profile.address, {"cmd": "ping"}, timeout_s=timeout_s).get("ok"))
    except (OSError, ValueError):
        return False
