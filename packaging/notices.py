"""Licence notices of the PyInstaller bundle, from what it really collected (build time, all three OSes)."""

# Used by packaging/kraken-cancel.spec after its Analysis: every collected file (pure modules,
# extension modules, shared libraries, data) is traced to where it came from:
#   1. a Python distribution: the file is in the distribution's RECORD (importlib.metadata);
#   2. the console itself: under the repository's app/ or resources/;
#   3. Python: the interpreter's standard library or installation (sys.base_prefix);
#   4. Linux only: a system package: `dpkg -S` names the Debian package, whose
#      /usr/share/doc/<package>/copyright is the licence text (shared libraries PyInstaller copies
#      from the build machine, e.g. libssl3, libglib2.0-0).
# Anything else is "of unknown origin": the build prints it, the notices list it, and `check` (run
# by the tests and by CI on every OS) fails on it, so no file ships without a licence entry.
#
#   python packaging/notices.py check dist/kraken-cancel     # the built bundle's notices are complete
#
# build_deb.py renders the same inventory as the .deb's machine-readable copyright file.

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app import __version__  # noqa: E402
from app.licences import (  # noqa: E402
    INVENTORY_FILE,
    NOTICES_FILE,
    PROJECT,
    QT_NOTE,
    Component,
    component_of,
    copyright_lines,
    load_inventory,
    normalise,
    python_component,
    render_notices,
)

OWN = "(own)"  # the console's own files
TocEntry = tuple[str, str, str]  # PyInstaller's (destination name, source path, type code)
_QT_LIB = re.compile(r"^(lib)?Qt6[A-Za-z]+(\.so\.6|\.dll)$|^Qt[A-Za-z]+\.framework$")


def _key(path: str | os.PathLike[str]) -> str:
    return os.path.normcase(os.path.realpath(path))


@dataclass
class Attribution:
    """Which component each collected file came from.

    ``files`` maps a component key to the bundle-relative names of its files (``archive:`` names
    are modules inside the executable's archive); ``unknown`` lists files no rule could place.
    """

    components: dict[str, Component] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    unknown: list[str] = field(default_factory=list)


class Origins:
    """Finds the origin of a source file: a distribution, the app, Python, or a system package."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root
        self.by_file: dict[str, md.Distribution] = {}
        self.by_name: dict[str, md.Distribution] = {}  # RECORD's relative name, e.g. "jeepney/bus.py"
        for dist in md.distributions():
            if normalise(str(dist.metadata["Name"])) == PROJECT:
                continue
            for f in dist.files or []:
                self.by_file.setdefault(_key(str(dist.locate_file(f))), dist)
                self.by_name.setdefault(f.as_posix(), dist)
        paths = sysconfig.get_paths()
        self.python_dirs = [
            _key(p)
            for p in {paths["stdlib"], paths["platstdlib"], sys.base_prefix, sys.base_exec_prefix}
            if p
        ]
        self.site_dirs = [_key(paths["purelib"]), _key(paths["platlib"])]
        self.own_dirs = [_key(root / "app"), _key(root / "resources")]

    def of(self, src: str, dest: str = "") -> tuple[str, md.Distribution | None]:
        """``("package", dist)``, ``(OWN, None)``, ``("python", None)`` or ``("", None)`` for ``src``.

        PyInstaller's own products in its work folder are traced through what they were made
        from: a module compiled to ``localpycs/<n>/<package>/<module>.pyc`` (collected as .pyc,
        ``dest`` is its name in the bundle) to its distribution's ``.py``, and ``base_library.zip``
        (the standard library modules Python needs to start) to Python.
        """
        parts = Path(src).parts
        if "localpycs" in parts and dest.endswith(".pyc"):
            dist = self.by_name.get(dest.replace("\\", "/").removesuffix(".pyc") + ".py")
            return ("package", dist) if dist is not None else ("", None)
        if Path(src).name == "base_library.zip" and dest == "base_library.zip":
            return "python", None
        k = _key(src)
        dist = self.by_file.get(k)
        if dist is not None:
            return "package", dist
        if any(k == d or k.startswith(d + os.sep) for d in self.own_dirs):
            return OWN, None
        in_site = any(k.startswith(d + os.sep) for d in self.site_dirs)
        if not in_site and any(k == d or k.startswith(d + os.sep) for d in self.python_dirs):
            return "python", None
        return "", None


def debian_packages(paths: Iterable[str]) -> dict[str, str]:
    """Source path -> Debian package owning it (``dpkg -S``), for the paths dpkg knows."""
    if shutil.which("dpkg") is None:
        return {}
    out: dict[str, str] = {}
    todo = list(dict.fromkeys(paths))
    # Debian's merged /usr: dpkg may record /lib/... while the file is found as /usr/lib/..., or
    # the reverse; try the path as given, resolved, then with and without /usr.
    for variant in (
        lambda p: p,
        os.path.realpath,
        lambda p: "/usr" + os.path.realpath(p),
        lambda p: os.path.realpath(p).removeprefix("/usr"),
    ):
        asked = {variant(p): p for p in todo if p not in out}
        if not asked:
            break
        r = subprocess.run(["dpkg", "-S", *asked], capture_output=True, text=True, check=False)
        for line in r.stdout.splitlines():
            package, sep, path = line.partition(": ")
            if sep and not line.startswith("diversion") and path in asked:
                out[asked[path]] = package.split(",")[0].strip()
    return out


def debian_component(package: str) -> Component:
    """A Debian package (a shared library the bundle carries), with its copyright file as licence text."""
    version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=False
    ).stdout.strip()
    copyright_file = Path("/usr/share/doc") / package.split(":")[0] / "copyright"
    text = copyright_file.read_text(encoding="utf-8", errors="replace") if copyright_file.is_file() else ""
    names = sorted({m.group(1).strip() for m in re.finditer(r"^License:[ \t]*(\S[^\n]*)$", text, re.M)})
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    licence = f"see its Debian copyright file ({shown})" if names else "see its Debian copyright file"
    return Component(
        name=package.split(":")[0],
        version=version or "unknown",
        licence=licence if text else "UNKNOWN",
        kind="system",
        homepage=f"https://packages.debian.org/{package.split(':')[0]}",
        texts=[("copyright (Debian)", text)] if text else [],
        copyright=copyright_lines([("", text)])[:20],
        note="A shared library copied from the build system's Debian package.",
    )


def attribute(
    entries: Iterable[TocEntry], *, archived: Iterable[TocEntry] = (), root: Path = ROOT
) -> Attribution:
    """Trace every collected file to its component.

    Args:
        entries: the binaries, data files and collected modules (PyInstaller TOC entries), each
            with its bundle-relative destination.
        archived: modules compiled into the executable's archive (``a.pure`` and ``a.scripts``).
        root: the repository (its app/ and resources/ are the console's own files).
    """
    origins = Origins(root)
    result = Attribution()
    python = python_component()
    pending: list[tuple[str, str]] = []

    def add(dest: str, kind: str, dist: md.Distribution | None) -> None:
        if kind == "package" and dist is not None:
            key = normalise(str(dist.metadata["Name"]))
            if key not in result.components:
                result.components[key] = component_of(dist)
        elif kind == "python":
            key = "python"
            result.components.setdefault(key, python)
        else:
            return
        result.files[key].append(dest)

    for dest, src, typecode in entries:
        if not src or typecode == "SYMLINK":  # a link to a file listed on its own
            continue
        kind, dist = origins.of(src, dest)
        if kind == OWN:
            continue
        if kind:
            add(dest, kind, dist)
        else:
            pending.append((dest, src))
    for name, src, _typecode in archived:
        if not src or not os.path.isabs(src):
            continue
        kind, dist = origins.of(src)
        if kind == OWN:
            continue
        if kind:
            add(f"archive:{name}", kind, dist)
        else:
            pending.append((f"archive:{name}", src))

    owners = debian_packages(src for _dest, src in pending) if sys.platform.startswith("linux") else {}
    for dest, src in pending:
        package = owners.get(src)
        if package is None:
            result.unknown.append(f"{dest} (from {src})")
            continue
        key = normalise(package.split(":")[0])
        if key not in result.components:
            result.components[key] = debian_component(package)
        result.files[key].append(dest)
    return result


def summarise(files: list[str], owner_of: dict[str, str], key: str) -> tuple[list[str], list[str]]:
    """A component's bundle paths, shortened, and the top-level names of its archived modules.

    A whole top-level folder (``"dir/"``) stands for its files when every file in it is this
    component's; other files are listed one by one.
    """
    paths: list[str] = []
    archived = sorted({f.removeprefix("archive:").split(".")[0] for f in files if f.startswith("archive:")})
    folders: dict[str, list[str]] = defaultdict(list)
    for f in sorted(f.replace("\\", "/") for f in files if not f.startswith("archive:")):
        top, sep, _rest = f.partition("/")
        folders[top if sep else ""].append(f)
    for top, names in sorted(folders.items()):
        whole = top and all(owner == key for path, owner in owner_of.items() if path.startswith(top + "/"))
        paths.extend([f"{top}/"] if whole else names)
    return paths, archived


def qt_locations(dests: Iterable[str]) -> list[str]:
    """The bundle folders holding the Qt libraries (what the LGPL note tells users to replace)."""
    dirs = set()
    for dest in dests:
        parts = dest.replace("\\", "/").split("/")
        for i, part in enumerate(parts):
            if _QT_LIB.match(part):
                dirs.add("/".join(parts[:i]) + "/" if i else "./")
                break
    return sorted(dirs)


def components(att: Attribution) -> list[Component]:
    """The inventory in notice order: Python, the packages by name, system libraries, PyInstaller.

    PyInstaller is always listed: its bootloader is the executable's start-up code, and its run-time
    modules are in the executable's archive.
    """
    if "pyinstaller" not in att.components:
        att.components["pyinstaller"] = component_of(md.distribution("pyinstaller"))
    owner_of = {f.replace("\\", "/"): key for key, fs in att.files.items() for f in fs}
    out = []
    for key, c in att.components.items():
        c.paths, c.archived = summarise(att.files[key], owner_of, key)
        c.where = list(c.paths)
        if c.archived:
            shown = ", ".join(c.archived[:6]) + (", ..." if len(c.archived) > 6 else "")
            c.where.append(f"modules in the executable's archive ({shown})")
        out.append(c)
    qt_dirs = qt_locations(owner_of)
    for c in out:
        if c.key == "pyside6-essentials":
            where = ", ".join(qt_dirs) or "the PySide6 folder"
            c.note = (
                f"{QT_NOTE} In this bundle the Qt libraries are in: {where} (relative to the bundle's "
                "_internal folder: /opt/kraken-cancel/_internal on Linux, <install folder>\\_internal on "
                "Windows, Kraken Cancel Console.app/Contents/Frameworks on macOS)."
            )
        elif c.key == "shiboken6":
            c.note = "Part of Qt for Python: see the note on Qt and PySide6 (LGPL-3.0) above."
        elif c.key == "pyinstaller":
            c.kind = "tool"
            c.where.insert(
                0, "the executable kraken-cancel (kraken-cancel.exe): its start-up code, the bootloader"
            )
            c.note = (
                "PyInstaller made the bundle. Its bootloader and run-time modules are in the executable; "
                "the bootloader exception in its licence lets programs built with it be distributed "
                "under their own terms."
            )
    order = {"python": 0, "package": 1, "system": 2, "tool": 3}
    out.sort(key=lambda c: (order.get(c.kind, 9), c.key))
    return out


def write(target: Path, comps: list[Component], *, unknown: list[str], built_from: str) -> list[Path]:
    """Write THIRD-PARTY-NOTICES.txt and the JSON inventory into ``target``; return their paths."""
    from app.licences import dump_inventory

    target.mkdir(parents=True, exist_ok=True)
    intro = f"Built from: {built_from}. Paths are relative to the bundle's _internal folder." + (
        "\n\nFILES OF UNKNOWN ORIGIN (no licence entry; this build must not ship):\n  " + "\n  ".join(unknown)
        if unknown
        else ""
    )
    notices = target / NOTICES_FILE
    notices.write_text(render_notices(comps, intro=intro), encoding="utf-8")
    inventory = target / INVENTORY_FILE
    inventory.write_text(dump_inventory(comps, built_from=built_from), encoding="utf-8")
    return [notices, inventory]


# --- checking a built bundle (independent of the attribution above) --------------------------------


def bundle_distributions(bundle: Path) -> dict[str, set[str]]:
    """Distribution keys of what is in a built bundle, found another way than ``attribute``.

    Import names of the modules in the executable's archive and of the packages and extension
    modules on disk, mapped to distributions with ``packages_distributions()`` (top-level names),
    and every ``*.dist-info`` folder.

    Returns:
        distribution key -> the bundle names that showed it.
    """
    from PyInstaller.archive.readers import CArchiveReader

    internal = bundle / "_internal" if (bundle / "_internal").is_dir() else bundle
    exe = next(p for p in (bundle / "kraken-cancel", bundle / "kraken-cancel.exe") if p.is_file())
    names: set[str] = set()
    archive = CArchiveReader(str(exe))
    pyz_name = next(n for n in archive.toc if n.endswith(".pyz") or n == "PYZ.pyz")
    names.update(n.split(".")[0] for n in archive.open_embedded_archive(pyz_name).toc)
    for p in internal.iterdir():
        if p.is_dir() and not p.name.endswith(".dist-info"):
            names.add(p.name)
        elif p.suffix in (".py", ".pyc", ".so", ".pyd") and "." in p.name:
            names.add(p.name.split(".")[0])
    top = md.packages_distributions()
    found: dict[str, set[str]] = defaultdict(set)
    for name in names:
        for dist in top.get(name, []):
            key = normalise(dist)
            if key != PROJECT:
                found[key].add(name)
    for info in internal.glob("*.dist-info"):
        found[normalise(info.name.removesuffix(".dist-info").rsplit("-", 1)[0])].add(info.name)
    return dict(found)


def check_bundle(bundle: Path) -> list[str]:
    """Problems with a built bundle's notices (an empty list: complete).

    Every distribution the bundle contains has an entry with a licence and its text; Python and
    the bootloader are listed; no file is of unknown origin; the notices file names them all.
    """
    internal = bundle / "_internal" if (bundle / "_internal").is_dir() else bundle
    problems: list[str] = []
    try:
        comps = load_inventory((internal / INVENTORY_FILE).read_text(encoding="utf-8"))
        notices = (internal / NOTICES_FILE).read_text(encoding="utf-8")
    except (OSError, ValueError) as e:
        return [f"no readable notices in {internal}: {e}"]
    listed = {c.key for c in comps}
    for c in comps:
        problems += c.problems()
        if f"\n{c.name} {c.version}\n" not in notices:
            problems.append(f"{c.name} is in the inventory but not in {NOTICES_FILE}")
    for key, shown_by in sorted(bundle_distributions(bundle).items()):
        if key not in listed:
            problems.append(
                f"bundled distribution {key} ({', '.join(sorted(shown_by))}) has no licence entry"
            )
    for needed in ("python", "pyinstaller"):
        if needed not in listed:
            problems.append(f"no entry for {needed}")
    if "FILES OF UNKNOWN ORIGIN" in notices:
        problems.append("the notices list files of unknown origin")
    return problems


def main(argv: list[str] | None = None) -> int:
    """``check BUNDLE``: print the problems with a built bundle's notices; exit 1 if any."""
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="check a built bundle's notices")
    check.add_argument("bundle", type=Path, help="the one-folder bundle, e.g. dist/kraken-cancel")
    args = p.parse_args(argv)
    problems = check_bundle(args.bundle)
    for line in problems:
        print(f"notices: {line}", file=sys.stderr)
    if not problems:
        comps = load_inventory((args.bundle / "_internal" / INVENTORY_FILE).read_text(encoding="utf-8"))
        print(f"notices: {len(comps)} components, each with its licence ({PROJECT} {__version__})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
