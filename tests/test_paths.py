"""Config, audit and nonce files are 0600 in 0700 folders: created so, and repaired at start."""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path

import pytest

from app.config import ConfigFile
from app.core.accounts import AccountSpec
from app.core.orders import VenueKind
from app.desk.audit import AuditLog
from app.paths import Paths, secure
from app.venues.nonces import NonceSource

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_private_from_birth_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        paths = Paths(tmp_path / "config", tmp_path / "data")
        ConfigFile(paths.config_file).save([AccountSpec("a", "A", VenueKind.SPOT)])
        audit = AuditLog(paths.audit_db)
        audit.begin_action("A1", "cancel 1 order", 1, 1)  # the -wal file appears
        NonceSource(paths.nonce_file).next("k")
        for f in (paths.config_file, paths.audit_db, paths.nonce_file):
            assert mode(f) == 0o600, f
        wal = paths.audit_db.with_name(paths.audit_db.name + "-wal")
        assert wal.exists() and mode(wal) == 0o600
        assert mode(paths.config_dir) == 0o700 and mode(paths.data_dir) == 0o700
        audit.close()
    finally:
        os.umask(old)


def test_start_up_repairs_what_is_too_open_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    paths = Paths(tmp_path / "config", tmp_path / "data")
    paths.config_dir.mkdir(mode=0o755)
    paths.data_dir.mkdir(mode=0o777)
    os.chmod(paths.data_dir, 0o777)
    paths.config_file.write_text("{}")
    os.chmod(paths.config_file, 0o644)
    paths.nonce_file.write_text("{}")
    os.chmod(paths.nonce_file, 0o666)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("x")
    os.chmod(outside, 0o644)
    (paths.data_dir / "link").symlink_to(outside)
    caplog.set_level(logging.WARNING)
    repaired = secure(paths)
    assert len(repaired) == 4, repaired
    assert mode(paths.config_dir) == 0o700 and mode(paths.data_dir) == 0o700
    assert mode(paths.config_file) == 0o600 and mode(paths.nonce_file) == 0o600
    assert mode(outside) == 0o644  # never through a link
    assert "permissions were too open and were repaired" in caplog.text
    assert "0644 -> 0600" in caplog.text
    caplog.clear()
    assert secure(paths) == [] and not caplog.text  # nothing left to repair: nothing said


def test_missing_folders_are_made_private(tmp_path: Path) -> None:
    paths = Paths(tmp_path / "a" / "config", tmp_path / "a" / "data")
    assert secure(paths) == []
    assert mode(paths.config_dir) == 0o700 and mode(paths.data_dir) == 0o700
