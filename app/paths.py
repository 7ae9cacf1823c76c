"""Where the console keeps its files (config, audit log, nonce marks): the OS's per-user dirs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "kraken-cancel"


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


def default_paths() -> Paths:
    """The OS-conventional paths, or all under ``$KRAKEN_CANCEL_HOME`` when set."""
    home = os.environ.get("KRAKEN_CANCEL_HOME")
    if home:
        return Paths(Path(home) / "config", Path(home) / "data")
    return Paths(
        Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)),
        Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)),
    )
