"""Guards against a Qt binding that corrupts reference counts on signal emission.

PySide6 6.12.0 drops a reference to ``True`` on every Python-side ``Signal.emit()``: after a few
thousand emits (seconds of a busy order table) CPython aborts with "bool_dealloc". pyproject.toml
excludes it; this test fails if an installed binding does it again.
"""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from PySide6.QtCore import QCoreApplication, QObject, Signal
app = QCoreApplication([])
class O(QObject):
    changed = Signal(int)
o = O()
o.changed.connect(lambda v: None)
before = sys.getrefcount(True)
for n in range(300):
    o.changed.emit(n)
print(sys.getrefcount(True) - before)
"""


def test_signal_emit_keeps_reference_counts() -> None:
    # In a child process: with the bug, a long loop here could abort the whole test run.
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert abs(int(out.stdout.strip())) < 30, "Signal.emit() leaks or drops references to True"
