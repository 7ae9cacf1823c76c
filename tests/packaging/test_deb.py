"""The Linux installer end to end: build the bundle and the .deb, install, self-check, demo window, purge."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
PACKAGE = "kraken-cancel"
OPT = Path("/opt/kraken-cancel")
BIN = Path("/usr/bin/kraken-cancel")
DESKTOP = Path("/usr/share/applications/kraken-cancel.desktop")
ICON = Path("/usr/share/icons/hicolor/256x256/apps/kraken-cancel.png")
DOC = Path("/usr/share/doc/kraken-cancel")
REPORT = DIST / "packaging-report.txt"
TOOLS = ("apt-get", "dpkg-deb", "objdump", "xvfb-run", "dbus-run-session", "gnome-keyring-daemon", "ldconfig")

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="the .deb is built and installed on Linux"
    ),
    pytest.mark.skipif(
        sys.platform.startswith("linux") and os.geteuid() != 0,
        reason="installing the .deb with apt-get needs root (run scripts/test.sh as root, or in CI)",
    ),
]


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """A user's environment in a fresh home: no Qt, D-Bus or display settings leak in from the test run."""
    leaked = ("QT_", "DBUS_", "XDG_", "KRAKEN_CANCEL", "DISPLAY", "WAYLAND", "GNOME_KEYRING")
    env = {k: v for k, v in os.environ.items() if not k.startswith(leaked)}
    runtime = home / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_RUNTIME_DIR=str(runtime),
    )
    env.update(extra)
    return env


def run(
    cmd: list[str], *, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output as text (never raises on a non-zero exit)."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def with_keychain(command: str) -> list[str]:
    """``command`` in a private D-Bus session with an unlocked gnome-keyring (ENV.md's recipe)."""
    script = f"echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec {command}"
    return ["dbus-run-session", "--", "sh", "-c", script]


def installed_version() -> str | None:
    """The installed version of the package, or None."""
    r = run(["dpkg-query", "-W", "-f=${Status} ${Version}", PACKAGE], timeout=30)
    if r.returncode != 0 or "install ok installed" not in r.stdout:
        return None
    return r.stdout.split()[-1]


def write_report(measured: dict[str, Any]) -> None:
    """dist/packaging-report.txt (and .json): sizes and times, for humans and for the lead."""
    if not measured:
        return
    DIST.mkdir(exist_ok=True)
    lines = ["kraken-cancel packaging report"] + [f"  {k:<28} {v}" for k, v in measured.items()]
    REPORT.write_text("\n".join(lines) + "\n")
    REPORT.with_suffix(".json").write_text(json.dumps(measured, indent=1) + "\n")


@pytest.fixture(scope="module")
def deb(measured: dict[str, Any]) -> Iterator[Path]:
    """Build the bundle and the .deb with scripts/package.sh, install it with apt-get; purge at the end."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"missing tools: {', '.join(missing)} (bash scripts/setup.sh --dev installs them)")
    started = time.monotonic()
    built = run(["bash", str(ROOT / "scripts" / "package.sh")], timeout=420)
    assert built.returncode == 0, f"scripts/package.sh failed:\n{built.stdout}\n{built.stderr[-4000:]}"
    measured["build wall time"] = f"{time.monotonic() - started:.1f} s"
    stats = json.loads((DIST / "package-stats.json").read_text())
    measured["bundle size"] = f"{stats['bundle_bytes'] / 1e6:.1f} MB (dist/kraken-cancel/)"
    measured["deb size"] = f"{stats['deb_bytes'] / 1e6:.1f} MB ({stats['deb']})"
    measured["PyInstaller time"] = f"{stats['pyinstaller_s']} s"
    measured[".deb time"] = f"{stats['deb_s']} s"
    path = ROOT / stats["deb"]
    assert path.is_file()

    started = time.monotonic()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    installed = run(["apt-get", "install", "-y", "--reinstall", f"./{stats['deb']}"], timeout=300, env=env)
    assert installed.returncode == 0, f"apt-get install failed:\n{installed.stdout}\n{installed.stderr}"
    measured["apt-get install time"] = f"{time.monotonic() - started:.1f} s"
    assert installed_version() == stats["version"]

    yield path
    if installed_version() is not None:
        run(["apt-get", "purge", "-y", PACKAGE], timeout=300, env=env)
    write_report(measured)


def test_the_package_installs_the_bundle_launcher_desktop_file_and_icons(deb: Path) -> None:
    assert (OPT / "kraken-cancel").is_file()
    assert os.access(OPT / "kraken-cancel", os.X_OK)
    assert BIN.is_symlink() and BIN.resolve() == OPT / "kraken-cancel"
    desktop = DESKTOP.read_text()
    assert re.search(r"^Exec=kraken-cancel\b", desktop, re.M)
    assert re.search(r"^Icon=kraken-cancel$", desktop, re.M)
    assert ICON.is_file()
    assert (OPT / "_internal" / "resources" / "icons" / "kraken-cancel.svg").is_file()
    info = run(["dpkg-deb", "-f", str(deb), "Depends"], timeout=30).stdout
    for lib in ("libgl1", "libegl1", "libxcb1", "libxcb-cursor0", "libxkbcommon-x11-0", "fonts-dejavu-core"):
        assert re.search(rf"(^|, ){re.escape(lib)}(,| |$)", info.strip()), f"{lib} not in Depends: {info}"


def test_version_starts_fast(deb: Path, measured: dict[str, Any], tmp_path: Path) -> None:
    times = []
    for _ in range(3):
        started = time.monotonic()
        r = run([str(BIN), "--version"], timeout=60, env=user_env(tmp_path))
        times.append(time.monotonic() - started)
        assert r.returncode == 0, r.stderr
        assert (
            r.stdout.strip()
            == f"kraken-cancel {json.loads((DIST / 'package-stats.json').read_text())['version']}"
        )
    measured["--version first run"] = f"{times[0]:.2f} s"
    measured["--version warm"] = f"{min(times[1:]):.2f} s"
    assert times[0] < 20


def test_self_check_uses_the_secret_service_keychain(
    deb: Path, measured: dict[str, Any], tmp_path: Path
) -> None:
    started = time.monotonic()
    r = run(with_keychain(f"{BIN} --self-check"), timeout=60, env=user_env(tmp_path))
    measured["--self-check time"] = f"{time.monotonic() - started:.2f} s (incl. D-Bus + keyring start)"
    assert r.returncode == 0, f"self-check failed:\n{r.stdout}\n{r.stderr}"
    assert re.search(r"^\s*frozen:\s+yes", r.stdout, re.M), r.stdout
    assert re.search(r"^\s*backend:\s+keyring\.backends\.SecretService\.Keyring$", r.stdout, re.M), r.stdout
    assert re.search(r"^\s*usable:\s+yes", r.stdout, re.M), r.stdout
    assert re.search(r"^\s*plugin xcb:\s+ok$", r.stdout, re.M), r.stdout
    assert re.search(r"^\s*plugin offscreen:\s+ok$", r.stdout, re.M), r.stdout
    assert r.stdout.rstrip().endswith("self-check: OK")


def test_self_check_fails_plainly_without_a_keychain(deb: Path, tmp_path: Path) -> None:
    # No D-Bus session: keyring has only its fail backend; never a plaintext fallback, and exit 1.
    r = run([str(BIN), "--self-check"], timeout=60, env=user_env(tmp_path))
    assert r.returncode == 1, r.stdout
    assert "keyring.backends.fail.Keyring" in r.stdout
    assert "No usable system keychain" in r.stdout


def test_demo_window_under_xvfb_is_a_real_window(deb: Path, measured: dict[str, Any], tmp_path: Path) -> None:
    from PySide6.QtGui import QImage

    shot = tmp_path / "demo.png"
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24"]
    cmd += [str(BIN), "--demo", "--screenshot", str(shot), "--quit-after", "8"]
    started = time.monotonic()
    r = run(cmd, timeout=90, env=user_env(tmp_path, QT_QPA_PLATFORM="xcb"))
    measured["--demo to screenshot+exit"] = f"{time.monotonic() - started:.2f} s (incl. Xvfb start)"
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr[-4000:]}"
    assert shot.is_file(), r.stderr
    DIST.mkdir(exist_ok=True)
    shutil.copy(shot, DIST / "packaging-screenshot.png")
    image = QImage(str(shot))
    assert not image.isNull(), "the screenshot is not a readable PNG"
    assert image.width() >= 800 and image.height() >= 500, (image.width(), image.height())
    counts: dict[int, int] = {}
    for y in range(0, image.height(), 3):
        for x in range(0, image.width(), 3):
            rgb = image.pixel(x, y)
            counts[rgb] = counts.get(rgb, 0) + 1
    samples = sum(counts.values())
    measured["screenshot"] = f"{image.width()}x{image.height()}, {len(counts)} distinct colours sampled"
    # A blank or black window has a handful of colours; text, a table and buttons have hundreds.
    assert len(counts) >= 64, f"only {len(counts)} colours: blank window?"
    assert max(counts.values()) < 0.95 * samples, "one colour covers the window: blank window?"


# Real key presses on the installed app: Alt+H opens Help; Up from the top of a Qt menu selects its last
# entry (About), Up Up the one before (Licences). Each dialog's window must appear, by its title.
HELP_MENU_SCRIPT = """\
set -eux
echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
kraken-cancel --demo --quit-after 60 &
app=$!
found() { timeout "$2" xdotool search --sync --name "$1" | head -1; }
main=$(found '^Kraken Cancel Console.*DEMO$' 20)
[ -n "$main" ]  # the demo's window, marked DEMO in its title
sleep 1  # mapped is not yet ready for input
# Opens the Help menu and picks an entry; tries again if the dialog does not show (a key press
# that arrives while the window is still starting is lost).
pick() {
  for _ in 1 2 3; do
    xdotool windowfocus --sync "$main"; xdotool key alt+h; sleep 0.5; xdotool key "$@"
    if id=$(found "$title" 8) && [ -n "$id" ]; then echo "$id"; return 0; fi
    xdotool key Escape Escape
  done
  return 1
}
title='^About Kraken Cancel Console$'; about=$(pick Up Return)
echo "about $about"
xdotool windowfocus --sync "$about"; xdotool key Escape; sleep 0.5
title='^Licences$'; licences=$(pick Up Up Return)
echo "licences $licences"
xdotool windowfocus --sync "$licences"; xdotool key Escape; sleep 0.5
xdotool windowfocus --sync "$main"; xdotool key ctrl+q
wait "$app"
"""


def test_help_menu_opens_about_and_licences_in_the_installed_app(deb: Path, tmp_path: Path) -> None:
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is missing (bash scripts/setup.sh installs it)")
    script = tmp_path / "help-menu.sh"
    script.write_text(HELP_MENU_SCRIPT)
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", "dbus-run-session", "--", "bash", str(script)]
    r = run(cmd, timeout=120, env=user_env(tmp_path, QT_QPA_PLATFORM="xcb"))
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr[-3000:]}"
    assert re.search(r"^about \d+$", r.stdout, re.M), r.stdout
    assert re.search(r"^licences \d+$", r.stdout, re.M), r.stdout


def test_every_system_library_the_bundle_needs_is_in_depends(deb: Path, measured: dict[str, Any]) -> None:
    files = [
        p for p in OPT.rglob("*") if p.is_file() and not p.is_symlink() and p.read_bytes()[:4] == b"\x7fELF"
    ]
    bundled = {p.name for p in OPT.rglob("*")}
    needed: set[str] = set()
    for i in range(0, len(files), 64):
        out = run(["objdump", "-p", *map(str, files[i : i + 64])], timeout=120).stdout
        needed.update(m.group(1) for m in re.finditer(r"^\s*NEEDED\s+(\S+)$", out, re.M))
    system = sorted(needed - bundled)
    cache = run(["ldconfig", "-p"], timeout=30).stdout
    where = {
        m.group(1): m.group(2) for m in re.finditer(r"^\s*(\S+) \(libc6,x86-64[^)]*\) => (\S+)$", cache, re.M)
    }
    depends = run(["dpkg-deb", "-f", str(deb), "Depends"], timeout=30).stdout
    allowed = {re.split(r"[ (]", alt.strip())[0] for alt in re.split(r"[,|]", depends) if alt.strip()}
    uncovered = []
    for soname in system:
        assert soname in where, f"{soname} is needed but not installed at all"
        path = Path(where[soname])
        owners: set[str] = set()
        for candidate in {
            path,
            path.resolve(),
            Path("/usr") / path.relative_to("/"),
            Path(str(path).removeprefix("/usr")),
        }:
            r = run(["dpkg", "-S", str(candidate)], timeout=30)
            if r.returncode == 0:
                owners.update(
                    line.split(":")[0] for line in r.stdout.splitlines() if not line.startswith("diversion")
                )
        if not owners & allowed:
            uncovered.append(f"{soname} ({', '.join(sorted(owners)) or 'no package'})")
    measured["system libraries needed"] = ", ".join(system)
    assert not uncovered, f"needed by the bundle, not in Depends: {uncovered}"


def test_the_copyright_file_is_machine_readable_and_gives_every_bundled_file_its_licence(deb: Path) -> None:
    from debian.copyright import Copyright

    with (DOC / "copyright").open(encoding="utf-8") as f:
        parsed = Copyright(f, strict=True)
    own = "LicenseRef-Kraken-Cancel-Console"
    exe = parsed.find_files_paragraph("opt/kraken-cancel/kraken-cancel")
    assert exe is not None and str(exe.license.synopsis).startswith(f"{own} and ")
    internal = OPT / "_internal"
    ours = (
        internal / "resources",
        internal / "THIRD-PARTY-NOTICES.txt",
        internal / "third-party-licences.json",
    )
    unlicensed = []
    files = [p for p in internal.rglob("*") if p.is_file() and not p.is_symlink()]
    assert len(files) > 500  # guards the loop: the bundle is there
    for p in files:
        if p in ours or internal / "resources" in p.parents:
            continue
        paragraph = parsed.find_files_paragraph(p.relative_to("/").as_posix())
        if paragraph is None or str(paragraph.license.synopsis) == own:
            unlicensed.append(str(p.relative_to(internal)))
    assert not unlicensed, (
        f"{len(unlicensed)} third-party files under the console's own licence: {unlicensed[:20]}"
    )
    qt = parsed.find_files_paragraph("opt/kraken-cancel/_internal/PySide6/Qt/lib/libQt6Core.so.6")
    assert qt is not None and "LGPL-3.0" in str(qt.license.synopsis)


def test_the_notices_are_beside_the_copyright_file_and_cover_every_bundled_distribution(deb: Path) -> None:
    sys.path.insert(0, str(ROOT / "packaging"))
    import notices

    text = (DOC / "THIRD-PARTY-NOTICES.txt").read_text(encoding="utf-8")
    assert text.startswith("Kraken Cancel Console ")
    assert "Qt and PySide6 (LGPL-3.0): replacing the Qt libraries" in text
    assert "In this bundle the Qt libraries are in: PySide6/Qt/lib/" in " ".join(text.split())
    assert notices.check_bundle(OPT) == []
    assert not (OPT / "_internal" / "libreadline.so.8").exists()  # GPL-3.0: kept out of the bundle


def test_purge_leaves_nothing_behind(deb: Path) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    r = run(["apt-get", "purge", "-y", PACKAGE], timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert installed_version() is None
    for path in (OPT, BIN, DESKTOP, ICON, DOC):
        assert not path.exists() and not path.is_symlink(), f"{path} is still there after purge"
