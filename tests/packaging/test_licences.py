"""Licence notices: every distribution the console runs on has a licence entry and text (no build needed)."""

from __future__ import annotations

import importlib.metadata as md
import sys
from pathlib import Path

import pytest
from debian.copyright import Copyright

from app.licences import (
    Component,
    component_of,
    dependency_closure,
    dump_inventory,
    environment_components,
    licence_of,
    load_inventory,
    normalise,
    render_notices,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging"))
import build_deb  # noqa: E402


def fake_distribution(tmp_path: Path, metadata: str, files: dict[str, str] | None = None) -> md.Distribution:
    """An installed distribution made of a .dist-info folder, as pip leaves it."""
    info = tmp_path / "fake_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(metadata)
    for name, text in (files or {}).items():
        (info / name).parent.mkdir(parents=True, exist_ok=True)
        (info / name).write_text(text)
    record = [f"fake_pkg-1.0.dist-info/{n},," for n in ["METADATA", *(files or {})]]
    (info / "RECORD").write_text("\n".join(record) + "\n")
    return md.PathDistribution(info)


def test_every_distribution_of_the_dependency_closure_has_a_licence_and_its_text() -> None:
    components = environment_components()
    closure = {normalise(str(d.metadata["Name"])) for d in dependency_closure()}
    # The closure is what the console imports: a guard that the loop below has something to check.
    assert {"pyside6-essentials", "shiboken6", "httpx", "keyring", "qasync", "aiohttp"} <= closure
    assert {c.key for c in components} == closure | {"python"}
    problems = [p for c in components for p in c.problems()]
    assert not problems, "\n".join(problems)


def test_python_itself_is_listed_under_the_psf_licence_with_its_text() -> None:
    python = environment_components()[0]
    assert (python.name, python.licence) == ("Python", "PSF-2.0")
    assert "PYTHON SOFTWARE FOUNDATION LICENSE" in "\n".join(t for _n, t in python.texts).upper()


def test_qt_is_lgpl_with_both_texts_and_the_note_on_replacing_it() -> None:
    by_key = {c.key: c for c in environment_components()}
    qt = by_key["pyside6-essentials"]
    assert "LGPL-3.0" in qt.licence
    texts = "\n".join(t for _n, t in qt.texts)
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in texts and "GNU GENERAL PUBLIC LICENSE" in texts
    assert "replace" in qt.note and "Qt libraries used here:" in qt.note
    notices = render_notices(list(by_key.values()))
    assert "Qt and PySide6 (LGPL-3.0): replacing the Qt libraries" in notices


def test_a_distribution_without_a_licence_is_reported(tmp_path: Path) -> None:
    dist = fake_distribution(tmp_path, "Metadata-Version: 2.1\nName: fake-pkg\nVersion: 1.0\n")
    component = component_of(dist)
    assert component.licence == "UNKNOWN"
    assert component.problems() == [
        "fake-pkg 1.0: no licence in its metadata",
        "fake-pkg 1.0: no licence text",
    ]


def test_licence_metadata_in_its_three_forms(tmp_path: Path) -> None:
    for sub in "abc":
        (tmp_path / sub).mkdir()
    modern = fake_distribution(
        tmp_path / "a",
        "Metadata-Version: 2.4\nName: a\nVersion: 1\nLicense-Expression: MIT OR Apache-2.0\n"
        "License-File: LICENSE\n",
        {"licenses/LICENSE": "Copyright (c) 2024 A. Author\nPermission is hereby granted"},
    )
    assert licence_of(modern) == "MIT OR Apache-2.0"
    assert component_of(modern).copyright == ["Copyright (c) 2024 A. Author"]
    assert component_of(modern).texts == [
        ("LICENSE", "Copyright (c) 2024 A. Author\nPermission is hereby granted")
    ]
    field = fake_distribution(
        tmp_path / "b", "Metadata-Version: 2.1\nName: b\nVersion: 1\nLicense: Apache 2.0\n"
    )
    assert licence_of(field) == "Apache-2.0"
    classifier = fake_distribution(
        tmp_path / "c",
        "Metadata-Version: 2.1\nName: c\nVersion: 1\nLicense: UNKNOWN\n"
        "Classifier: License :: OSI Approved :: MIT License\n",
    )
    assert licence_of(classifier) == "MIT"


def test_the_inventory_round_trips_through_json() -> None:
    components = environment_components()[:3]
    assert load_inventory(dump_inventory(components, built_from="test")) == components
    with pytest.raises(ValueError):
        load_inventory('{"format": 99}')


def test_the_debian_copyright_file_is_machine_readable_and_names_every_file() -> None:
    components = [
        Component(
            "Python",
            "3.11.7",
            "PSF-2.0",
            "python",
            texts=[("LICENSE.txt", "PSF text")],
            copyright=["Copyright (c) 2001 Python Software Foundation"],
            paths=["base_library.zip", "python3.11/"],
            archived=["asyncio", "json"],
        ),
        Component(
            "httpx",
            "0.28.1",
            "BSD-3-Clause",
            "package",
            texts=[("LICENSE.md", "BSD text\n\nmore")],
            copyright=["Copyright © 2019, Encode OSS Ltd."],
            paths=["httpx/"],
        ),
        Component(
            "PySide6_Essentials",
            "6.11.3",
            "LGPL-3.0-only OR GPL-3.0-only",
            "package",
            texts=[("LGPL-3.0.txt", "LGPL"), ("GPL-3.0.txt", "GPL")],
            paths=["PySide6/"],
        ),
        Component(
            "libssl3",
            "3.0",
            "see its Debian copyright file",
            "system",
            texts=[("copyright (Debian)", "Format: x\n\nFiles: *\nLicense: Apache-2.0")],
            paths=["libssl.so.3"],
        ),
        Component(
            "pyinstaller",
            "6.22.3",
            "GPL-2.0-or-later WITH Bootloader-exception",
            "tool",
            texts=[("COPYING.txt", "bootloader exception")],
            archived=["pyimod01_archive"],
        ),
    ]
    text = build_deb.debian_copyright(components, "0.1.0")
    parsed = Copyright(text.splitlines(keepends=True), strict=True)
    assert parsed.header.upstream_name == "Kraken Cancel Console"

    def licence(path: str) -> str:
        paragraph = parsed.find_files_paragraph(path)
        assert paragraph is not None, path
        return str(paragraph.license.synopsis)

    internal = "opt/kraken-cancel/_internal"
    assert licence(f"{internal}/httpx/_api.pyc") == "BSD-3-Clause"
    assert licence(f"{internal}/PySide6/Qt/lib/libQt6Core.so.6") == "LGPL-3.0-only or GPL-3.0-only"
    assert licence(f"{internal}/python3.11/lib-dynload/_ssl.so") == "PSF-2.0"
    assert licence(f"{internal}/libssl.so.3") == "LicenseRef-Debian-libssl3"
    assert licence("opt/kraken-cancel/kraken-cancel") == (
        "LicenseRef-Kraken-Cancel-Console and PSF-2.0 and GPL-2.0-or-later with Bootloader exception"
    )
    assert licence("usr/share/applications/kraken-cancel.desktop") == "LicenseRef-Kraken-Cancel-Console"
    # Every short name used without its text has a stand-alone License paragraph.
    standalone = {str(p.license.synopsis) for p in parsed.all_license_paragraphs()}
    assert {
        "LicenseRef-Kraken-Cancel-Console",
        "PSF-2.0",
        "GPL-2.0-or-later with Bootloader exception",
    } <= standalone
    httpx = parsed.find_files_paragraph(f"{internal}/httpx/x.pyc")
    assert httpx is not None and httpx.license.text == "BSD text\n\nmore"
