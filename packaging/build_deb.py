"""Builds dist/kraken-cancel_<version>_<arch>.deb from the PyInstaller bundle in dist/kraken-cancel/."""

# Layout of the package:
#   /opt/kraken-cancel/                         the one-folder bundle (executable + _internal/)
#   /usr/bin/kraken-cancel                      -> /opt/kraken-cancel/kraken-cancel
#   /usr/share/applications/kraken-cancel.desktop
#   /usr/share/icons/hicolor/<n>x<n>/apps/kraken-cancel.png, scalable/apps/kraken-cancel.svg
#   /usr/share/doc/kraken-cancel/copyright      machine-readable (DEP-5), from the bundle's inventory
#   /usr/share/doc/kraken-cancel/THIRD-PARTY-NOTICES.txt -> the bundle's notices (every licence text)
# Standard library only; needs dpkg-deb (dpkg) and objdump (binutils) for the glibc floor.
#
#   .venv/bin/python packaging/build_deb.py [--bundle dist/kraken-cancel] [--out dist]

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app.licences import INVENTORY_FILE, NOTICES_FILE, Component, load_inventory  # noqa: E402

NAME = "kraken-cancel"
PREFIX = Path("opt") / NAME
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)

# Libraries the bundle does not carry (PyInstaller leaves GL, EGL, libxcb and Wayland to the system,
# they must match the host's drivers and display server), and the ones Qt's xcb platform plugin
# loads, listed even though PyInstaller currently copies most of them from the build machine: a
# different PyInstaller or a leaner spec must still find them (Qt docs, "Qt for X11 Requirements").
DEPENDS = (
    "libgl1",
    "libegl1",
    "libxcb1",
    "libx11-6",
    "libx11-xcb1",
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-image0",
    "libxcb-keysyms1",
    "libxcb-randr0",
    "libxcb-render0",
    "libxcb-render-util0",
    "libxcb-shape0",
    "libxcb-shm0",
    "libxcb-sync1",
    "libxcb-xfixes0",
    "libxcb-xkb1",
    "libxkbcommon0",
    "libxkbcommon-x11-0",
    "libwayland-client0",
    "libwayland-cursor0",
    "libwayland-egl1",
    "libfontconfig1",
    "libfreetype6",
    # Ubuntu 24.04 renamed it in the 64-bit time_t transition; Debian 12 has the old name.
    "libglib2.0-0t64 | libglib2.0-0",
    "libdbus-1-3",
    "fonts-dejavu-core",
)
# API keys live only in a Secret Service keychain (app/keychain.py): without one the console can
# list nothing. Recommends, not Depends: KDE's KWallet also serves the Secret Service API.
RECOMMENDS = ("gnome-keyring | libkf5wallet-bin",)

DESCRIPTION = """\
See every open Kraken order and cancel them fast and surely
 Kraken Cancel Console lists every open order on Kraken Spot, Futures and Prime
 accounts, and cancels one, a selection, or all of them, showing only what the
 exchange confirmed. API keys are kept in the system keychain (Secret Service).
 .
 Run "kraken-cancel --demo" to try it on a built-in simulated exchange."""

# Debian runs these through dpkg triggers too (hicolor-icon-theme, desktop-file-utils); the scripts
# cover systems without those triggers and do nothing when the tools are missing.
POSTINST = """\
#!/bin/sh
set -e
if [ "$1" = "configure" ]; then
  if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f /usr/share/icons/hicolor/index.theme ]; then
    gtk-update-icon-cache -q -t -f /usr/share/icons/hicolor || true
  fi
  if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q /usr/share/applications || true
  fi
fi
exit 0
"""
POSTRM = """\
#!/bin/sh
set -e
case "$1" in
  remove|purge)
    if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f /usr/share/icons/hicolor/index.theme ]; then
      gtk-update-icon-cache -q -t -f /usr/share/icons/hicolor || true
    fi
    if command -v update-desktop-database >/dev/null 2>&1; then
      update-desktop-database -q /usr/share/applications || true
    fi
    # dpkg removed every file it installed; drop the folder unless someone put files in it.
    rmdir /opt/kraken-cancel 2>/dev/null || true
    ;;
esac
exit 0
"""


DEP5_FORMAT = "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
OWN_LICENCE = "LicenseRef-Kraken-Cancel-Console"
OWN_TERMS = """\
Kraken Cancel Console's own code is proprietary: all rights reserved by the Kraken
Cancel Console maintainers. The third-party parts of this package are under their own
licences, given in the paragraphs below."""


# Licences whose full text every Debian system has (base-files): referenced, not repeated.
COMMON_LICENCES = {
    "Apache-2.0": "Apache-2.0",
    "GPL-2.0-only": "GPL-2",
    "GPL-2.0-or-later": "GPL-2",
    "GPL-3.0-only": "GPL-3",
    "GPL-3.0-or-later": "GPL-3",
    "LGPL-2.1-only": "LGPL-2.1",
    "LGPL-2.1-or-later": "LGPL-2.1",
    "LGPL-3.0-only": "LGPL-3",
    "LGPL-3.0-or-later": "LGPL-3",
    "MPL-2.0": "MPL-2.0",
}


def dep5_expression(spdx: str) -> str:
    """An SPDX expression in the copyright format's syntax (``and``/``or``, ``with X exception``)."""
    text = re.sub(r"\s+AND\s+", " and ", spdx)
    text = re.sub(r"\s+OR\s+", " or ", text)
    return re.sub(
        r"\s+WITH\s+(\S+)", lambda m: f" with {m.group(1).removesuffix('-exception')} exception", text
    )


def dep5_text(text: str) -> str:
    """A multi-line field value: each line indented by one space, empty lines as ``" ."``."""
    lines = text.strip("\n").splitlines() or [""]
    return "\n".join(f" {line.rstrip()}" if line.strip() else " ." for line in lines)


def licence_name(c: Component) -> str:
    """The short name a component's files are under: its SPDX expression, or one naming its Debian file."""
    return f"LicenseRef-Debian-{c.name}" if c.kind == "system" else dep5_expression(c.licence)


def debian_copyright(components: list[Component], version: str) -> str:
    """/usr/share/doc/kraken-cancel/copyright in the machine-readable format 1.0 (DEP-5).

    File patterns are the installed paths (the package has no source tree). The executable holds
    the console's own modules, Python's standard library and PyInstaller's start-up code, so its
    paragraph names all their licences, each given once in a stand-alone License paragraph; every
    other component's paragraph carries its own licence files verbatim.
    """
    internal = f"{PREFIX.as_posix()}/_internal"
    paragraphs = [
        {
            "Format": DEP5_FORMAT,
            "Upstream-Name": "Kraken Cancel Console",
            "Upstream-Contact": "Kraken Cancel Console maintainers <kraken-cancel@localhost>",
            "Comment": dep5_text(
                f"kraken-cancel {version} is a PyInstaller one-folder bundle in /{PREFIX.as_posix()}; "
                "the file patterns below are installed paths. Every licence text, as each project "
                "ships it, is also in /usr/share/doc/kraken-cancel/THIRD-PARTY-NOTICES.txt."
            ).lstrip(),
        },
        {"Files": "*", "Copyright": "Kraken Cancel Console maintainers", "License": OWN_LICENCE},
    ]
    in_executable = [c for c in components if c.archived]
    standalone = {OWN_LICENCE: OWN_TERMS}
    for c in in_executable:
        name = licence_name(c)
        if name in COMMON_LICENCES:
            file = f"/usr/share/common-licenses/{COMMON_LICENCES[name]}"
            standalone.setdefault(name, f"On Debian systems, the complete text of {name} is in {file}.")
        else:
            standalone.setdefault(name, "\n\n".join(text for _title, text in c.texts))
    holders = ["Kraken Cancel Console maintainers"] + [
        line for c in in_executable for line in c.copyright[:3]
    ]
    paragraphs.append(
        {
            "Files": f"{PREFIX.as_posix()}/{NAME}",
            "Copyright": dep5_text("\n".join(dict.fromkeys(holders))).lstrip(),
            "License": " and ".join(dict.fromkeys([OWN_LICENCE, *(licence_name(c) for c in in_executable)])),
            "Comment": dep5_text(
                "PyInstaller's bootloader followed by an archive of compiled Python modules: the console's "
                "own, "
                + ", ".join(f"{c.name} {c.version} ({', '.join(c.archived[:4])}...)" for c in in_executable)
            ).lstrip(),
        }
    )
    for c in components:
        if not c.paths:
            continue
        name = licence_name(c)
        texts = "\n\n".join(
            f"--- {title} ---\n{text}" if len(c.texts) > 1 else text for title, text in c.texts
        )
        paragraphs.append(
            {
                "Files": "\n".join(
                    f"{internal}/{p}*" if p.endswith("/") else f"{internal}/{p}" for p in c.paths
                ),
                "Copyright": dep5_text("\n".join(c.copyright) or f"the {c.name} authors").lstrip(),
                "License": name if name in standalone else f"{name}\n{dep5_text(texts)}",
                "Comment": f"{c.name} {c.version}" + (f", {c.homepage}" if c.homepage else ""),
            }
        )
    paragraphs += [{"License": f"{name}\n{dep5_text(text)}"} for name, text in standalone.items()]
    out = []
    for paragraph in paragraphs:
        lines = []
        for key, value in paragraph.items():
            first, *rest = value.split("\n")
            # Continuation lines of Files are indented like any other field's.
            rest = [line if line.startswith(" ") else f" {line}" for line in rest]
            lines.append("\n".join([f"{key}: {first}".rstrip(), *rest]))
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def read_version() -> str:
    """``__version__`` from app/__init__.py, read without importing the app."""
    tree = ast.parse((ROOT / "app" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == "__version__" for t in node.targets
        ):
            return str(ast.literal_eval(node.value))
    raise SystemExit("no __version__ in app/__init__.py")


def glibc_floor(bundle: Path) -> str:
    """The newest GLIBC_x.y symbol version any ELF file of the bundle needs (libc6's minimum)."""
    files = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink() and _is_elf(p)]
    best = (2, 17)
    for i in range(0, len(files), 64):
        out = subprocess.run(
            ["objdump", "-p", *map(str, files[i : i + 64])], capture_output=True, text=True, check=False
        ).stdout
        for major, minor in re.findall(r"\bGLIBC_(\d+)\.(\d+)\b", out):
            best = max(best, (int(major), int(minor)))
    return f"{best[0]}.{best[1]}"


def _is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


def normalise_modes(root: Path) -> None:
    """0755 for folders and executables, 0644 for the rest: readable by every user whatever the umask."""
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = Path(dirpath) / d
            if not p.is_symlink():
                p.chmod(0o755)
        for f in filenames:
            p = Path(dirpath) / f
            if p.is_symlink():
                continue
            executable = p.stat().st_mode & stat.S_IXUSR
            p.chmod(0o755 if executable else 0o644)
    root.chmod(0o755)


def installed_size_kib(root: Path) -> int:
    """Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up, plus one per folder."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath).name == "DEBIAN":
            continue
        total += len(dirnames)
        for f in filenames:
            p = Path(dirpath) / f
            size = p.lstat().st_size
            total += max(1, -(-size // 1024))
    return total


def write_md5sums(root: Path) -> None:
    """DEBIAN/md5sums, so ``dpkg --verify kraken-cancel`` can check the installed files."""
    lines = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if rel.parts[0] == "DEBIAN" or p.is_symlink() or not p.is_file():
            continue
        lines.append(f"{hashlib.md5(p.read_bytes()).hexdigest()}  {rel.as_posix()}\n")
    (root / "DEBIAN" / "md5sums").write_text("".join(lines))


def stage(bundle: Path, root: Path, version: str, arch: str) -> None:
    """Lay out the package's files and DEBIAN/ under ``root``."""
    if root.exists():
        shutil.rmtree(root)
    shutil.copytree(bundle, root / PREFIX, symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True)
    # An absolute link: PyInstaller's bootloader resolves it and finds _internal/ beside the target.
    os.symlink(f"/{PREFIX.as_posix()}/{NAME}", root / "usr" / "bin" / NAME)
    apps = root / "usr" / "share" / "applications"
    apps.mkdir(parents=True)
    shutil.copy(ROOT / "resources" / f"{NAME}.desktop", apps / f"{NAME}.desktop")
    icons = ROOT / "resources" / "icons"
    hicolor = root / "usr" / "share" / "icons" / "hicolor"
    for n in ICON_SIZES:
        target = hicolor / f"{n}x{n}" / "apps"
        target.mkdir(parents=True)
        shutil.copy(icons / f"{NAME}-{n}.png", target / f"{NAME}.png")
    (hicolor / "scalable" / "apps").mkdir(parents=True)
    shutil.copy(icons / f"{NAME}.svg", hicolor / "scalable" / "apps" / f"{NAME}.svg")
    doc = root / "usr" / "share" / "doc" / NAME
    doc.mkdir(parents=True)
    internal = root / PREFIX / "_internal"
    components = load_inventory((internal / INVENTORY_FILE).read_text(encoding="utf-8"))
    (doc / "copyright").write_text(debian_copyright(components, version), encoding="utf-8")
    # A link, not a copy: the notices are ~1 MB and already in the bundle (which the app reads).
    os.symlink(f"/{PREFIX.as_posix()}/_internal/{NOTICES_FILE}", doc / NOTICES_FILE)
    normalise_modes(root)

    debian = root / "DEBIAN"
    debian.mkdir(mode=0o755)
    control = {
        "Package": NAME,
        "Version": version,
        "Architecture": arch,
        "Maintainer": "Kraken Cancel Console maintainers <kraken-cancel@localhost>",
        "Installed-Size": str(installed_size_kib(root)),
        "Depends": ", ".join([f"libc6 (>= {glibc_floor(root / PREFIX)})", *DEPENDS]),
        "Recommends": ", ".join(RECOMMENDS),
        "Section": "utils",
        "Priority": "optional",
        "Description": DESCRIPTION,
    }
    (debian / "control").write_text("".join(f"{k}: {v}\n" for k, v in control.items()))
    for script, text in (("postinst", POSTINST), ("postrm", POSTRM)):
        (debian / script).write_text(text)
        (debian / script).chmod(0o755)
    write_md5sums(root)


def main(argv: list[str] | None = None) -> int:
    """Stage and build the .deb; print its path, size and the time taken."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--bundle", type=Path, default=ROOT / "dist" / NAME, help="the PyInstaller one-folder output"
    )
    p.add_argument("--out", type=Path, default=ROOT / "dist", help="where the .deb goes")
    p.add_argument("--work", type=Path, default=ROOT / "packaging" / "build" / "deb", help="staging folder")
    args = p.parse_args(argv)
    if not (args.bundle / "_internal" / INVENTORY_FILE).is_file():
        print(f"build_deb: the bundle has no licence inventory ({INVENTORY_FILE})", file=sys.stderr)
        return 1
    if not (args.bundle / NAME).is_file():
        print(
            f"build_deb: no bundle at {args.bundle} (run PyInstaller first: scripts/package.sh)",
            file=sys.stderr,
        )
        return 1
    for tool in ("dpkg-deb", "objdump"):
        if shutil.which(tool) is None:
            print(f"build_deb: {tool} is missing (apt-get install dpkg binutils)", file=sys.stderr)
            return 1
    started = time.monotonic()
    version = read_version()
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    root = args.work / "root"
    stage(args.bundle, root, version, arch)
    args.out.mkdir(parents=True, exist_ok=True)
    deb = args.out / f"{NAME}_{version}_{arch}.deb"
    # --root-owner-group: files owned by root in the package whoever builds it; zstd: fast
    # (xz takes ~35 s here for a few MB less), read by dpkg >= 1.21.18 (Debian 12, Ubuntu 21.10).
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zzstd", "--build", str(root), str(deb)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    shutil.rmtree(root)
    seconds = time.monotonic() - started
    print(f"{deb}  {deb.stat().st_size / 1e6:.1f} MB  built in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
