"""Process hardening at start-up, before any key is read: no core dumps, private files by default.

What each OS gets:

- **Linux**: ``RLIMIT_CORE`` 0 (soft and hard: the kernel writes no core file, and the process
  cannot raise it again) and ``prctl(PR_SET_DUMPABLE, 0)`` (no core even through a
  ``core_pattern`` pipe such as systemd-coredump or apport, which ignore the rlimit; also keeps
  other processes of the same user from ptrace-attaching or reading ``/proc/<pid>/mem``).
- **macOS**: ``RLIMIT_CORE`` 0 (the only core switch macOS has; ``/cores`` stays empty).
  ``ptrace(PT_DENY_ATTACH)`` is not used: it would also stop crash reporting of the stack.
- **Windows**: no core files exist; Windows Error Reporting may write a minidump of a crashed
  process. ``WerSetFlags(WER_FAULT_REPORTING_FLAG_NOHEAP)`` keeps the heap (where keys live) out
  of any report, and ``SetErrorMode`` stops the crash dialog that holds the process open.
- **Everywhere**: umask 077, so every file the console creates (config, audit log and its
  ``-wal``/``-shm`` companions, nonce marks, locks, logs) is private to the user from birth.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

log = logging.getLogger("app.hardening")

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3
WER_FAULT_REPORTING_FLAG_NOHEAP = 1
SEM_FAILCRITICALERRORS = 0x0001
SEM_NOGPFAULTERRORBOX = 0x0002
PRIVATE_UMASK = 0o077


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def disable_core_dumps() -> list[str]:
    """Stop this process from ever writing a core dump or crash dump with its memory.

    Returns:
        What was done, one short line per measure (for the log; ``"... failed: why"`` when a
        measure could not be taken, which is logged as a warning by ``harden``).
    """
    done: list[str] = []
    if sys.platform != "win32":
        import resource

        try:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            done.append("RLIMIT_CORE 0")
        except (OSError, ValueError) as e:
            done.append(f"RLIMIT_CORE failed: {e}")
    if sys.platform.startswith("linux"):
        try:
            if _libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            done.append("PR_SET_DUMPABLE 0")
        except (OSError, AttributeError) as e:
            done.append(f"PR_SET_DUMPABLE failed: {e}")
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        try:
            kernel32 = ctypes.WinDLL("kernel32")  # type: ignore[attr-defined,unused-ignore]
            kernel32.SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX)
            if kernel32.WerSetFlags(WER_FAULT_REPORTING_FLAG_NOHEAP) != 0:
                raise OSError("WerSetFlags refused")
            done.append("WER: no heap in crash reports, no crash dialog")
        except (OSError, AttributeError) as e:
            done.append(f"WER flags failed: {e}")
    return done


def dumpable() -> bool | None:
    """Linux: whether the process may dump core (``PR_GET_DUMPABLE``); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    return bool(_libc().prctl(PR_GET_DUMPABLE, 0, 0, 0, 0))


def harden() -> None:
    """Everything above, logged; called first thing by the composition root."""
    os.umask(PRIVATE_UMASK)
    for line in disable_core_dumps():
        if "failed" in line:
            log.warning("crash-dump protection: %s", line)
        else:
            log.debug("crash-dump protection: %s", line)
