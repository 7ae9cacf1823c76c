"""Where the console keeps its files (config, audit log, nonce marks): the OS's per-user dirs.

Every folder is 0700 and every file 0600 (POSIX): ``secure`` checks that at start and repairs
what is looser, saying so in the log. On Windows the per-user profile folders are already
private to the user (their ACLs), and POSIX modes mean little there: nothing is changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs

log = logging.getLogger("app.paths")

APP_NAME = "kraken-cancel"
DIR_MODE = 0o700
FILE_MODE = 0o600


@dataclass(frozen=True, slots=True)
class Paths:
    """The per-user directories and files. ``KRAKEN_CANCEL_HOME`` puts them all under one folder."""

    config_dir: Path
    data_dir: Path

    @property
    def config_file(self) -> Path:
        """Accounts and settings (never secrets)."""
        return self.config_dir / "config.json"

    @property
    def audit_db(self) -> Path:
        """The SQLite audit log."""
        return self.data_dir / "audit.sqlite3"

    @property
    def nonce_file(self) -> Path:
        """Per-key nonce high-water marks (no secrets: keyed by a hash of the public key)."""
        return self.data_dir / "nonces.json"

    def lock_file(self, profile: str) -> Path:
        """The lock that lets one console (window or command) run per profile at a time."""
        return self.data_dir / f"{profile}.lock"

    def profile_id(self, profile: str) -> str:
        """A short, stable, non-secret name for this user's ``profile`` in these folders."""
        ident = f"{os.getuid() if hasattr(os, 'getuid') else os.environ.get('USERNAME', '')}:"
        ident += f"{self.data_dir.resolve()}:{profile}"
        return hashlib.sha256(ident.encode()).hexdigest()[:12]


def default_paths() -> Paths:
    """The OS-conventional paths, or all under ``$KRAKEN_CANCEL_HOME`` when set."""
    home = os.environ.get("KRAKEN_CANCEL_HOME")
    if home:
        return Paths(Path(home) / "config", Path(home) / "data")
    return Paths(
        Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
    )


def _repair(path: Path, want: int) -> str | None:
    """Tighten ``path`` to ``want`` if any group/other bit is set; returns what was done."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return None  # never chmod through a link the user placed
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077 == 0:
        return None
    os.chmod(path, want)
    return f"{path}: {mode:04o} -> {want:04o}"


def secure(paths: Paths) -> list[str]:
    """Make the folders 0700 and every file in them 0600, creating the folders if missing.

    Runs at start-up, before a key is read or a file is written. What was too open is repaired
    and logged as a warning (someone or something loosened it: the trader should know).

    Args:
        paths: the console's folders.

    Returns:
        One line per repair (empty when everything was private already).
    """
    repaired: list[str] = []
    for folder in dict.fromkeys((paths.config_dir, paths.data_dir)):
        folder.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        if sys.platform == "win32":  # pragma: no cover - profile ACLs already keep it private
            continue
        try:
            done = _repair(folder, DIR_MODE)
            if done:
                repaired.append(done)
            for child in folder.iterdir():
                if child.is_file() and not child.is_symlink():
                    done = _repair(child, FILE_MODE)
                    if done:
                        repaired.append(done)
        except OSError as e:
            log.warning("could not check the permissions of %s: %s", folder, e)
    for line in repaired:
        log.warning("permissions were too open and were repaired: %s", line)
    return repaired
