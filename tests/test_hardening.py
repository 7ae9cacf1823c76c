"""Crash-dump protection and private files, in real child processes (they change process state)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers.apprun import ROOT

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process controls")


def child(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@linux_only
def test_after_harden_no_core_limit_not_dumpable_and_files_private(tmp_path: Path) -> None:
    done = child(
        """
        import os, resource
        from app.hardening import dumpable, harden
        assert dumpable() is True
        harden()
        print(resource.getrlimit(resource.RLIMIT_CORE), dumpable())
        limits = [line for line in open("/proc/self/limits") if line.startswith("Max core file size")]
        print(" ".join(limits[0].split()))
        open("made.txt", "w").write("x")
        os.mkdir("made")
        print(oct(os.stat("made.txt").st_mode & 0o777), oct(os.stat("made").st_mode & 0o777))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    rlimit, limits, modes = done.stdout.splitlines()
    assert rlimit == "(0, 0) False"
    assert limits == "Max core file size 0 0 bytes"
    assert modes == "0o600 0o700"


@linux_only
def test_a_hardened_process_that_aborts_leaves_no_core(tmp_path: Path) -> None:
    # A real crash (SIGABRT): neither a core file in the working folder nor a raised limit.
    done = child(
        """
        import os
        from app.hardening import harden
        harden()
        os.abort()
        """,
        tmp_path,
    )
    assert done.returncode == -signal.SIGABRT
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("core")]


@linux_only
def test_the_limit_cannot_be_raised_again(tmp_path: Path) -> None:
    done = child(
        """
        import resource
        from app.hardening import harden
        harden()
        try:
            resource.setrlimit(resource.RLIMIT_CORE, (1 << 20, 1 << 20))
            print("raised")
        except (ValueError, OSError):
            print("refused")
        """,
        tmp_path,
    )
    # Only a process with CAP_SYS_RESOURCE (root, usually) could raise the hard limit again;
    # PR_SET_DUMPABLE still holds then.
    assert done.stdout.strip() == "refused" or os.geteuid() == 0
