"""Runs ``python -m app`` unchanged, noting when the orders are first listed and the peak memory."""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> int:
    """``python -m bench.startup_child APP_ARGS...``: the app's main, plus one JSON line on stderr."""
    from app.__main__ import _preload_before_qt
    from app.__main__ import main as app_main

    _preload_before_qt()  # the app's own import order (this hook needs app.ui.app before main runs)
    import app.ui.app as ui_app

    marks: dict[str, int] = {}
    listed = ui_app.orders_listed

    def watched(desk: object) -> bool:
        ok = listed(desk)  # type: ignore[arg-type]
        if ok and "listed_ns" not in marks:
            marks["listed_ns"] = time.monotonic_ns()
            marks["orders"] = len(desk.store)  # type: ignore[attr-defined]
        return ok

    ui_app.orders_listed = watched
    status = app_main(sys.argv[1:])
    hwm = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    sys.stderr.write("BENCH " + json.dumps({**marks, "vmhwm_kb": hwm, "status": status}) + "\n")
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
