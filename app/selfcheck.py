"""``kraken-cancel --self-check``: versions, paths, the keychain and Qt's platform plugin, checked fast."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from app import __version__

# A throwaway entry under its own service name: the round trip never touches the accounts' keys.
PROBE_SERVICE = "kraken-cancel-console-self-check"

# (import name, distribution name) of what the console runs on, in the order printed.
LIBRARIES = (
    ("PySide6", "PySide6-Essentials"),
    ("qasync", "qasync"),
    ("httpx", "httpx"),
    ("websockets", "websockets"),
    ("keyring", "keyring"),
    ("aiohttp", "aiohttp"),
    ("platformdirs", "platformdirs"),
)


@dataclass
class Report:
    """What the self-check found.

    Rules: every line is printable as is (no secrets: the probe's value is random and never
    printed); a problem is anything that stops the console from running here.
    """

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def head(self, title: str) -> None:
        """Start a section."""
        self.lines.append(f"{title}:")

    def item(self, key: str, value: object) -> None:
        """One ``key: value`` line of the current section."""
        self.lines.append(f"  {key + ':':<18} {value}")

    def problem(self, text: str) -> None:
        """Record a problem (printed in its section and again at the end)."""
        self.lines.append(f"  PROBLEM: {text}")
        self.problems.append(text)


def library_version(module: str, dist: str) -> str:
    """The installed version of a library, from its ``__version__`` or its metadata.

    Args:
        module: the import name.
        dist: the distribution name (frozen builds carry its metadata only if the spec copies it).

    Returns:
        The version, or a short reason why it is not known.
    """
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        return f"NOT IMPORTABLE ({e})"
    version = getattr(mod, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "importable (version unknown)"


def _runtime(report: Report) -> None:
    report.head(f"kraken-cancel {__version__}")
    frozen = bool(getattr(sys, "frozen", False))
    bundle = getattr(sys, "_MEIPASS", None)
    report.item("frozen", f"yes (bundle {bundle})" if frozen else "no")
    report.item("executable", sys.executable)
    report.item("python", f"{platform.python_implementation()} {platform.python_version()}")
    report.item("system", platform.platform())
    for module, dist in LIBRARIES:
        version = library_version(module, dist)
        if module == "PySide6" and not version.startswith("NOT"):
            from PySide6.QtCore import qVersion

            version = f"{version} (Qt {qVersion()})"
        report.item(module, version)
        if version.startswith("NOT IMPORTABLE"):
            report.problem(f"{module} cannot be imported")


def _paths(report: Report) -> None:
    from app.paths import default_paths

    report.head("paths")
    paths = default_paths()
    if os.environ.get("KRAKEN_CANCEL_HOME"):
        report.item("KRAKEN_CANCEL_HOME", os.environ["KRAKEN_CANCEL_HOME"])
    for key, path in (
        ("config dir", paths.config_dir),
        ("data dir", paths.data_dir),
        ("config file", paths.config_file),
        ("audit log", paths.audit_db),
        ("nonce marks", paths.nonce_file),
    ):
        report.item(key, f"{path}{'' if path.exists() else '  (not created yet)'}")


def _protection(report: Report) -> None:
    """Crash-dump protection of this process (``app.hardening``) and the folders' modes."""
    from app.hardening import dumpable
    from app.paths import default_paths

    report.head("protection")
    if sys.platform != "win32":
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        report.item(
            "core dumps", "off (RLIMIT_CORE 0)" if soft == 0 else f"allowed (RLIMIT_CORE {soft}/{hard})"
        )
    can_dump = dumpable()
    if can_dump is not None:
        report.item("dumpable", "no (PR_SET_DUMPABLE 0)" if not can_dump else "yes")
    paths = default_paths()
    for key, folder in (("config dir mode", paths.config_dir), ("data dir mode", paths.data_dir)):
        if folder.exists() and sys.platform != "win32":
            mode = folder.stat().st_mode & 0o777
            report.item(key, f"{mode:04o}" + ("" if mode & 0o077 == 0 else "  (repaired to 0700 at start)"))


def _keychain(report: Report) -> None:
    import keyring.errors

    from app.core.errors import KeychainError
    from app.keychain import Keychain

    report.head("keychain")
    keychain = Keychain()
    try:
        report.item("backend", keychain.backend_name())
    except Exception as e:  # keyring's discovery can fail in many ways; report, do not crash
        report.problem(f"no keyring backend could be loaded: {type(e).__name__}: {e}")
        return
    chained = getattr(keychain.backend, "backends", None)
    if chained:
        names = ", ".join(f"{type(b).__module__}.{type(b).__qualname__}" for b in chained)
        report.item("chained backends", names)
    try:
        keychain.check()
    except KeychainError as e:
        report.item("usable", "no")
        report.problem(str(e))
        return
    # A real round trip: a backend can be "viable" yet locked, or refuse writes (D-Bus, policy).
    backend = keychain.backend
    user = f"probe-{os.getpid()}-{secrets.token_hex(4)}"
    value = secrets.token_hex(16)
    stage = "write"
    try:
        backend.set_password(PROBE_SERVICE, user, value)
        try:
            stage = "read"
            read_back = backend.get_password(PROBE_SERVICE, user)
        finally:
            stage = "delete"
            backend.delete_password(PROBE_SERVICE, user)
        stage = "read after delete"
        after = backend.get_password(PROBE_SERVICE, user)
    except keyring.errors.KeyringError as e:
        report.item("usable", "no")
        report.problem(f"the keychain refused the test entry ({stage}): {type(e).__name__}: {e}")
        return
    if read_back != value:
        report.item("usable", "no")
        report.problem("the keychain returned a different value for the test entry")
    elif after is not None:
        report.item("usable", "no")
        report.problem("the keychain kept the test entry after deleting it")
    else:
        report.item("usable", f"yes (write, read and delete of a test entry under {PROBE_SERVICE!r})")


def plugin_name(file: Path) -> str:
    """Qt's platform name of a plugin file: ``libqxcb.so`` -> ``xcb``, ``qwindows.dll`` -> ``windows``."""
    stem = file.name.split(".")[0]
    stem = stem.removeprefix("lib")
    return stem.removeprefix("q")


def platform_candidates() -> list[str]:
    """The platform plugins Qt would try, in order (it takes the first one that loads).

    ``QT_QPA_PLATFORM`` wins (``a;b`` lists alternatives, ``:args`` are options); otherwise the
    system's default: ``windows``, ``cocoa``, or on Linux ``xcb`` (``wayland`` first in a Wayland
    session).
    """
    env = os.environ.get("QT_QPA_PLATFORM", "").strip()
    if env:
        return [part.split(":")[0] for part in env.split(";") if part.strip()]
    if sys.platform == "win32":
        return ["windows"]
    if sys.platform == "darwin":
        return ["cocoa"]
    if os.environ.get("XDG_SESSION_TYPE") == "wayland" and os.environ.get("WAYLAND_DISPLAY"):
        return ["wayland", "xcb"]
    return ["xcb"]


def _platform_plugins() -> Iterator[Path]:
    from PySide6.QtCore import QCoreApplication, QLibraryInfo

    dirs = [QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath), *QCoreApplication.libraryPaths()]
    seen: set[Path] = set()
    for d in dirs:
        folder = Path(d) / "platforms"
        if folder in seen or not folder.is_dir():
            continue
        seen.add(folder)
        for f in sorted(folder.iterdir()):
            if f.suffix in (".so", ".dll", ".dylib"):
                yield f


def load_error(plugin: Path) -> str | None:
    """Why a Linux plugin cannot be loaded (a missing system library, usually), or None.

    Loading the plugin's shared object shows a missing dependency (e.g. ``libxcb-cursor.so.0``)
    without a display and without starting Qt's GUI; elsewhere only the file's presence is checked.
    """
    if not sys.platform.startswith("linux"):
        return None
    # ldd, not dlopen: loading a platform plugin into this process would leave Qt state behind
    # (a later QApplication in the same process crashed on it).
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return f"ldd failed: {e}"
    missing = [line.split()[0] for line in out.splitlines() if "not found" in line]
    return f"{', '.join(missing)}: cannot open shared object file" if missing else None


def _qt(report: Report) -> None:
    report.head("qt")
    report.item("QT_QPA_PLATFORM", os.environ.get("QT_QPA_PLATFORM") or "(not set)")
    display = os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY")
    if sys.platform.startswith("linux"):
        report.item("display", display or "none (a window needs X11 or Wayland; offscreen still works)")
    try:
        plugins = {plugin_name(p): p for p in _platform_plugins()}
    except ImportError as e:
        report.problem(f"Qt cannot be imported: {e}")
        return
    report.item("platform plugins", ", ".join(sorted(plugins)) or "none")
    if plugins:
        report.item("plugin folder", next(iter(plugins.values())).parent)
    candidates = platform_candidates()
    needed = list(dict.fromkeys([*candidates, *(["xcb", "offscreen"] if sys.platform == "linux" else [])]))
    usable: list[str] = []
    for name in needed:
        path = plugins.get(name)
        if path is None:
            report.item(f"plugin {name}", "MISSING")
            report.problem(f"Qt platform plugin {name!r} is not in the bundle")
            continue
        error = load_error(path)
        if error is not None:
            report.item(f"plugin {name}", f"present but cannot load: {error}")
            report.problem(f"Qt platform plugin {name!r} cannot load (a system library is missing): {error}")
            continue
        report.item(f"plugin {name}", "ok")
        usable.append(name)
    chosen = next((c for c in candidates if c in usable), None)
    report.item("would use", chosen or f"none of {', '.join(candidates)}")


def _output(out: TextIO | None) -> tuple[TextIO, bool]:
    if out is not None:
        return out, False
    if sys.stdout is not None:
        return sys.stdout, False
    # A windowed Windows build has no console: keep the report in a file instead of losing it.
    from app.paths import default_paths

    target = default_paths().data_dir / "self-check.txt"
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.open("w", encoding="utf-8"), True


def run_self_check(out: TextIO | None = None) -> int:
    """Print versions, paths, the keychain's state and Qt's platform plugins; never opens a window.

    Args:
        out: where to print (default stdout; a file in the data dir when there is no stdout).

    Returns:
        0 when the console can run here, 1 when something is missing (no usable keychain, a Qt
        platform plugin missing or not loadable).
    """
    report = Report()
    for section in (_runtime, _paths, _protection, _keychain, _qt):
        try:
            section(report)
        except Exception as e:  # a broken section must not hide the others
            report.problem(f"{section.__name__.strip('_')} check crashed: {type(e).__name__}: {e}")
    if report.problems:
        report.lines.append(f"self-check: {len(report.problems)} PROBLEM(S)")
        report.lines.extend(f"  - {p}" for p in report.problems)
    else:
        report.lines.append("self-check: OK")
    stream, close = _output(out)
    try:
        stream.write("\n".join(report.lines) + "\n")
        stream.flush()
    finally:
        if close:
            stream.close()
    return 1 if report.problems else 0
