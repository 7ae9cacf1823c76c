"""``--self-check``: passes with a working keychain and plugin, and names each problem otherwise."""

from __future__ import annotations

import io
from pathlib import Path

import keyring
import keyring.backends.fail
import keyring.errors
import pytest

from app import __version__
from app.selfcheck import PROBE_SERVICE, platform_candidates, plugin_name, run_self_check


class MemoryBackend:
    """A keychain in a dict (duck-typed: a KeyringBackend subclass would join keyring's discovery)."""

    def __init__(self, *, lose_writes: bool = False, locked: bool = False) -> None:
        self.store: dict[tuple[str, str], str] = {}
        self.lose_writes = lose_writes
        self.locked = locked
        self.calls: list[str] = []

    def set_password(self, service: str, user: str, value: str) -> None:
        self.calls.append(f"set {service}")
        if self.locked:
            raise keyring.errors.KeyringLocked("locked")
        if not self.lose_writes:
            self.store[(service, user)] = value

    def get_password(self, service: str, user: str) -> str | None:
        self.calls.append(f"get {service}")
        return self.store.get((service, user))

    def delete_password(self, service: str, user: str) -> None:
        self.calls.append(f"delete {service}")
        self.store.pop((service, user), None)


def check(monkeypatch: pytest.MonkeyPatch, backend: object, platform: str = "offscreen") -> tuple[int, str]:
    monkeypatch.setattr(keyring, "get_keyring", lambda: backend)
    monkeypatch.setenv("QT_QPA_PLATFORM", platform)
    out = io.StringIO()
    status = run_self_check(out)
    return status, out.getvalue()


def test_a_working_keychain_and_plugin_pass_and_the_probe_is_cleaned_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = MemoryBackend()
    status, text = check(monkeypatch, backend)
    assert status == 0, text
    assert text.startswith(f"kraken-cancel {__version__}:")
    assert "usable:" in text and "yes (write, read and delete" in text
    assert "would use:         offscreen" in text
    assert text.rstrip().endswith("self-check: OK")
    assert backend.calls == [
        f"set {PROBE_SERVICE}",
        f"get {PROBE_SERVICE}",
        f"delete {PROBE_SERVICE}",
        f"get {PROBE_SERVICE}",
    ]
    assert backend.store == {}


def test_the_fail_backend_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    status, text = check(monkeypatch, keyring.backends.fail.Keyring())
    assert status == 1
    assert "keyring.backends.fail.Keyring" in text
    assert "No usable system keychain" in text
    assert "self-check: 1 PROBLEM(S)" in text


def test_a_keychain_that_loses_writes_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    status, text = check(monkeypatch, MemoryBackend(lose_writes=True))
    assert status == 1
    assert "returned a different value" in text


def test_a_locked_keychain_is_a_problem_and_says_where(monkeypatch: pytest.MonkeyPatch) -> None:
    status, text = check(monkeypatch, MemoryBackend(locked=True))
    assert status == 1
    assert "refused the test entry (write): KeyringLocked" in text


def test_a_missing_platform_plugin_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    status, text = check(monkeypatch, MemoryBackend(), platform="nosuchplatform")
    assert status == 1
    assert "'nosuchplatform' is not in the bundle" in text
    assert "would use:         none of nosuchplatform" in text


def test_plugin_names_and_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    assert plugin_name(Path("libqxcb.so")) == "xcb"
    assert plugin_name(Path("qwindows.dll")) == "windows"
    assert plugin_name(Path("libqcocoa.dylib")) == "cocoa"
    monkeypatch.setenv("QT_QPA_PLATFORM", "wayland;xcb:nograb")
    assert platform_candidates() == ["wayland", "xcb"]
