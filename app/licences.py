"""Third-party licence notices: what the console is built from, under which licences, with their texts."""

# Two sources, one shape (``Component``):
# - installed (frozen): the notices PyInstaller's spec wrote into the bundle from what it really
#   collected (packaging/notices.py): ``THIRD-PARTY-NOTICES.txt`` and ``third-party-licences.json``
#   beside the bundle's other data (``sys._MEIPASS``);
# - from source: the distributions the project depends on (its dependency closure), read from the
#   environment's package metadata, and the Python interpreter itself.
# Standard library only (importlib.metadata): the same code runs in the app, in the PyInstaller
# spec at build time and in the tests, with nothing to install (pip-licenses would be one more
# dependency, in the app's environment too, for what importlib.metadata already reads).

from __future__ import annotations

import importlib.metadata as md
import json
import platform
import re
import sys
import sysconfig
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app import __version__

PROJECT = "kraken-cancel"
NOTICES_FILE = "THIRD-PARTY-NOTICES.txt"
INVENTORY_FILE = "third-party-licences.json"
INVENTORY_FORMAT = 1

# The full texts the Qt for Python wheels do not ship (their metadata names the licence only):
# the FSF's LGPL-3.0 and the GPL-3.0 it builds on. Kept in the repository (packaging/licences/);
# the spec copies them into the bundle's inventory.
LICENCE_TEXT_DIR = Path(__file__).resolve().parent.parent / "packaging" / "licences"
VENDORED_TEXTS = {"LGPL-3.0": "LGPL-3.0.txt", "GPL-3.0": "GPL-3.0.txt"}

# Licence strings found in older metadata (the License field, trove classifiers) -> SPDX ids.
_SPDX = {
    "apache 2.0": "Apache-2.0",
    "apache-2.0": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "mit": "MIT",
    "mit license": "MIT",
    "bsd 2-clause license": "BSD-2-Clause",
    "bsd 3-clause license": "BSD-3-Clause",
    "python software foundation license": "PSF-2.0",
    "psf-2.0": "PSF-2.0",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
    "mpl-2.0": "MPL-2.0",
    "isc license (iscl)": "ISC",
}
# Where a project's metadata is ambiguous or wordy, its licence file says what applies to the part
# that is bundled. PyInstaller: the bootloader and run-time code are GPL-2.0-or-later with an
# exception allowing any program built with it to be distributed under its own terms (COPYING.txt).
# pyinstaller-hooks-contrib: only its run-time hooks are bundled, and those are Apache-2.0 (LICENSE).
_OVERRIDES = {
    "pyinstaller": "GPL-2.0-or-later WITH Bootloader-exception",
    "pyinstaller-hooks-contrib": "Apache-2.0",
}
_LICENCE_FILE = re.compile(r"(^|/)(licen[cs]e|copying|notice|authors|copyright)[^/]*$", re.I)
# A holder's line: "Copyright (c) 2019 Someone", "(c) 2019 ...", "© ..."; not the licence's own
# words ("copyright notice ...") nor the FSF's notice on the GPL texts themselves.
_COPYRIGHT_LINE = re.compile(r"^\s*(copyright\b.*(\d{4}|\(c\)|©)|\(c\)\s*\d{4}|©\s*\d{4})", re.I)
_LICENCE_TEXT_HOLDERS = ("Free Software Foundation, Inc.",)

QT_NOTE = (
    "Qt and Qt for Python (PySide6, shiboken6) are used under the GNU Lesser General Public License "
    "version 3 (LGPL-3.0; its text and the GPL-3.0 text it builds on are in the PySide6-Essentials "
    "entry). The console is a one-folder bundle: the Qt libraries are separate shared libraries, not "
    "linked into the program, so you may replace them with your own build of the same Qt version (or a "
    "compatible one) by replacing the Qt library files named at the end of this note. Qt's source code: "
    "https://download.qt.io/official_releases/qt/; Qt for Python's: "
    "https://code.qt.io/cgit/pyside/pyside-setup.git/. Qt itself includes third-party code under other "
    "permissive licences, listed at https://doc.qt.io/qt-6/licenses-used-in-qt.html."
)


@dataclass
class Component:
    """One thing the console is built from, with its licence.

    Rules: ``licence`` is an SPDX expression, or ``UNKNOWN`` when the metadata says nothing
    usable; ``texts`` hold the licence files verbatim (title, text); ``where`` says where its files
    are (bundle-relative when frozen).
    """

    name: str
    version: str
    licence: str
    kind: str  # "python" (the interpreter), "package" (a Python distribution), "system", "tool"
    homepage: str = ""
    texts: list[tuple[str, str]] = field(default_factory=list)
    copyright: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    note: str = ""
    # Frozen only: bundle-relative files and folders ("dir/") that are this component's alone,
    # and the top-level names of its modules inside the executable's archive.
    paths: list[str] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The normalised name (PEP 503), to compare names across metadata and requirements."""
        return normalise(self.name)

    def problems(self) -> list[str]:
        """What is missing for a complete notice: a known licence and at least one licence text."""
        out = []
        if not self.licence or self.licence == "UNKNOWN":
            out.append(f"{self.name} {self.version}: no licence in its metadata")
        if not any(text.strip() for _title, text in self.texts):
            out.append(f"{self.name} {self.version}: no licence text")
        return out


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares it: ``jaraco.classes`` -> ``jaraco-classes``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def spdx(text: str) -> str:
    """An SPDX id for a licence string from older metadata, or the string itself."""
    return _SPDX.get(text.strip().lower(), text.strip())


def _field(dist: md.Distribution, key: str) -> str:
    """A metadata field's first value, or ``""`` (``PackageMetadata`` has no ``get`` before 3.12)."""
    values = dist.metadata.get_all(key) or []
    return str(values[0]).strip() if values else ""


def licence_of(dist: md.Distribution) -> str:
    """The distribution's licence as an SPDX expression (or the best words its metadata has).

    ``License-Expression`` (PEP 639) first, then a short ``License`` field, then the ``License ::``
    trove classifiers; ``UNKNOWN`` if none says anything.
    """
    meta = dist.metadata
    name = normalise(meta["Name"] or "")
    if name in _OVERRIDES:
        return _OVERRIDES[name]
    expression = _field(dist, "License-Expression")
    if expression:
        return expression
    field_value = _field(dist, "License")
    if field_value and "\n" not in field_value and len(field_value) <= 80 and field_value != "UNKNOWN":
        return spdx(field_value)
    classifiers = [
        c.split("::")[-1].strip()
        for c in meta.get_all("Classifier") or []
        if c.startswith("License ::") and c.split("::")[-1].strip() != "OSI Approved"
    ]
    if classifiers:
        return " OR ".join(dict.fromkeys(spdx(c) for c in classifiers))
    return "UNKNOWN"


def homepage_of(dist: md.Distribution) -> str:
    """The project's home page from its metadata (``Home-page`` or a ``Project-URL``)."""
    if _field(dist, "Home-page"):
        return _field(dist, "Home-page")
    urls = [str(u).split(",", 1) for u in dist.metadata.get_all("Project-URL") or []]
    for label, url in urls:
        if label.strip().lower() in ("homepage", "home", "source", "repository", "source code"):
            return url.strip()
    return urls[0][1].strip() if urls else ""


def licence_texts(dist: md.Distribution) -> list[tuple[str, str]]:
    """The licence files a distribution installed (in its ``.dist-info``), verbatim."""
    texts: list[tuple[str, str]] = []
    for path in dist.files or []:
        posix = path.as_posix()
        info, _, inner = posix.partition(".dist-info/")
        if not inner or "/" in info:
            continue
        if inner.startswith("licenses/") or _LICENCE_FILE.search(inner):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            texts.append((inner.removeprefix("licenses/"), text))
    return sorted(texts)


def copyright_lines(texts: Iterable[tuple[str, str]]) -> list[str]:
    """The ``Copyright ...`` lines of licence texts (deduplicated, in order)."""
    lines = (line.strip() for _title, text in texts for line in text.splitlines())
    return list(
        dict.fromkeys(
            line
            for line in lines
            if _COPYRIGHT_LINE.match(line) and not any(h in line for h in _LICENCE_TEXT_HOLDERS)
        )
    )


def vendored_texts(licence: str) -> list[tuple[str, str]]:
    """Full texts kept in the repository for the licences named in ``licence`` (LGPL-3.0 and GPL-3.0)."""
    out = []
    for ident, filename in VENDORED_TEXTS.items():
        if re.search(rf"\b{re.escape(ident)}\b", licence) or (ident == "GPL-3.0" and "LGPL-3.0" in licence):
            path = LICENCE_TEXT_DIR / filename
            if path.is_file():
                out.append((filename, path.read_text(encoding="utf-8")))
    return out


def component_of(dist: md.Distribution) -> Component:
    """A Python distribution as a ``Component``, from its installed metadata."""
    meta = dist.metadata
    licence = licence_of(dist)
    texts = licence_texts(dist)
    if not texts:
        texts = vendored_texts(licence)
    author = _field(dist, "Author") or _field(dist, "Author-email") or _field(dist, "Maintainer")
    return Component(
        name=str(meta["Name"]),
        version=str(meta["Version"]),
        licence=licence,
        kind="package",
        homepage=homepage_of(dist),
        texts=texts,
        copyright=copyright_lines(texts) or ([f"{author} (package author)"] if author else []),
    )


def python_licence_file() -> Path | None:
    """Python's own LICENSE.txt where this interpreter's installation keeps it, if it does."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    base = Path(sys.base_prefix)
    for candidate in (stdlib / "LICENSE.txt", base / "LICENSE.txt", base / "LICENSE", stdlib / "LICENSE"):
        if candidate.is_file():
            return candidate
    debian = Path(f"/usr/share/doc/python{sys.version_info.major}.{sys.version_info.minor}/copyright")
    return debian if debian.is_file() else None


def python_component() -> Component:
    """The Python interpreter and its standard library (PSF-2.0), with this installation's licence file."""
    licence_file = python_licence_file()
    texts = [(licence_file.name, licence_file.read_text(encoding="utf-8"))] if licence_file else []
    return Component(
        name="Python",
        version=platform.python_version(),
        licence="PSF-2.0",
        kind="python",
        homepage="https://www.python.org/",
        texts=texts,
        copyright=copyright_lines(texts)
        or ["Copyright (c) 2001 Python Software Foundation; All Rights Reserved"],
        note="The interpreter, its standard library and its extension modules; on Windows and macOS its "
        "licence file also covers the libraries Python's installer ships (OpenSSL, libffi, SQLite, ...).",
    )


def _requirement_names(dist: md.Distribution) -> Iterator[str]:
    """Names of a distribution's run-time requirements: those without an ``extra`` marker.

    Other markers (platform, Python version) are not evaluated here: a requirement whose marker
    excludes this system is normally not installed, and one that is installed anyway is listed
    (a notice too many is harmless; one too few is not).
    """
    for requirement in dist.requires or []:
        spec, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        if match:
            yield normalise(match.group(1))


def dependency_closure(root: str = PROJECT) -> list[md.Distribution]:
    """Every installed distribution ``root`` needs at run time, directly or not (``root`` excluded).

    Raises:
        importlib.metadata.PackageNotFoundError: ``root`` is not installed.
    """
    installed: dict[str, md.Distribution] = {}
    for dist in md.distributions():
        installed.setdefault(normalise(str(dist.metadata["Name"])), dist)
    todo = list(_requirement_names(md.distribution(root)))
    seen: dict[str, md.Distribution] = {}
    while todo:
        name = todo.pop()
        if name in seen or name not in installed:
            continue
        seen[name] = installed[name]
        todo.extend(_requirement_names(installed[name]))
    return sorted(seen.values(), key=lambda d: normalise(str(d.metadata["Name"])))


def qt_location_from_source() -> str:
    """Where this environment's Qt libraries are (the PySide6 wheel's ``Qt/lib``)."""
    try:
        dist = md.distribution("PySide6-Essentials")
    except md.PackageNotFoundError:
        return ""
    for path in dist.files or []:
        if re.search(r"(^|/)(lib)?Qt6?Core[^/]*\.(so[.\d]*|dll|dylib)$", path.as_posix()) or (
            "QtCore.framework/" in path.as_posix()
        ):
            located = Path(str(dist.locate_file(path)))
            return str(located.parent if "framework" not in str(located) else located.parents[1])
    return ""


def environment_components() -> list[Component]:
    """The notices from source: Python and every distribution of the project's dependency closure."""
    components = [python_component(), *(component_of(d) for d in dependency_closure())]
    qt = qt_location_from_source()
    for c in components:
        if c.key in ("pyside6-essentials", "shiboken6"):
            c.note = QT_NOTE + (f" The Qt libraries used here: {qt}" if qt else "")
    return components


# --- the bundle's inventory ----------------------------------------------------------------------


def dump_inventory(components: Iterable[Component], *, built_from: str) -> str:
    """The JSON inventory the spec writes into the bundle (read back by ``load_inventory``)."""
    return json.dumps(
        {
            "format": INVENTORY_FORMAT,
            "app": {"name": PROJECT, "version": __version__},
            "built_from": built_from,
            "components": [asdict(c) for c in components],
        },
        indent=1,
        ensure_ascii=False,
    )


def load_inventory(text: str) -> list[Component]:
    """Components from ``dump_inventory``'s JSON.

    Raises:
        ValueError: not an inventory this version understands.
    """
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format") != INVENTORY_FORMAT:
        raise ValueError("not a third-party licence inventory (format 1)")
    out = []
    for raw in data["components"]:
        raw["texts"] = [(str(title), str(text)) for title, text in raw.get("texts", [])]
        out.append(Component(**raw))
    return out


def bundle_dir() -> Path | None:
    """The frozen bundle's data folder (``sys._MEIPASS``), or None when run from source."""
    if not getattr(sys, "frozen", False):
        return None
    meipass = getattr(sys, "_MEIPASS", None)
    return Path(meipass) if meipass else Path(sys.executable).resolve().parent


def installed_components() -> tuple[list[Component], Path | None]:
    """The notices that apply to this run, and the notices file when there is one.

    Frozen: read from the bundle (what PyInstaller collected). From source: generated from the
    environment's metadata.

    Raises:
        OSError: a frozen bundle without its inventory (a broken build).
    """
    bundle = bundle_dir()
    if bundle is None:
        return environment_components(), None
    components = load_inventory((bundle / INVENTORY_FILE).read_text(encoding="utf-8"))
    notices = bundle / NOTICES_FILE
    return components, notices if notices.is_file() else None


# --- the notices as text ---------------------------------------------------------------------------


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=100, break_long_words=False, break_on_hyphens=False)


def render_notices(components: list[Component], *, intro: str = "") -> str:
    """THIRD-PARTY-NOTICES: a summary table, the Qt note, then each component's licence texts."""
    title = f"Kraken Cancel Console {__version__}: third-party notices"
    lines = [title, "=" * len(title), ""]
    lines += [
        "Kraken Cancel Console includes the software below. Each part is under its own licence,",
        "whose full text follows. The console's own code is not covered by these licences.",
    ]
    if intro:
        lines += ["", intro]
    width = max((len(c.name) for c in components), default=10) + 2
    lines += ["", "Contents", "--------"]
    lines += [f"  {c.name:<{width}} {c.version:<16} {c.licence}" for c in components]
    qt = next((c for c in components if c.note.startswith(QT_NOTE[:40])), None)
    if qt is not None:
        lines += ["", "Qt and PySide6 (LGPL-3.0): replacing the Qt libraries", "-" * 53, _wrap(qt.note)]
    for c in components:
        head = f"{c.name} {c.version}"
        lines += ["", "", head, "=" * len(head), f"Licence: {c.licence}"]
        if c.homepage:
            lines.append(f"Home page: {c.homepage}")
        if c.where:
            lines.append("In the bundle: " + "; ".join(c.where))
        if c.note and c is not qt:
            lines += ["", _wrap(c.note)]
        for text_title, text in c.texts:
            lines += ["", f"--- {text_title} ---", text.rstrip()]
    return "\n".join(lines) + "\n"
