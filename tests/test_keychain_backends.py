"""Backends that would lose or expose keys are refused: fail, null, keyrings.alt, chainers of those."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

import keyring.backends.fail
import keyring.backends.null
import pytest
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend

from app.accounts import ConfiguredAccounts
from app.config import ConfigFile
from app.core.accounts import AccountSpec, Credentials
from app.core.errors import KeychainUnavailable
from app.core.orders import VenueKind
from app.keychain import Keychain, refused_backend
from app.venues.nonces import NonceSource
from tests.helpers.apprun import ROOT

SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="


def plaintext_backend() -> KeyringBackend:
    """keyrings.alt is not installed here: a stand-in with its module name (all the check reads).

    Not a KeyringBackend subclass: those register themselves with keyring's backend discovery
    and would be picked by ``keyring.get_keyring()`` in later tests of this process.
    """
    cls = type(
        "PlaintextKeyring",
        (),
        {
            "__module__": "keyrings.alt.file",
            "get_password": lambda self, service, user: None,
            "set_password": lambda self, service, user, password: None,
            "delete_password": lambda self, service, user: None,
        },
    )
    return cast(KeyringBackend, cls())


def only_refused_chainer(monkeypatch: pytest.MonkeyPatch) -> KeyringBackend:
    """A chainer whose only backends are refused ones (as keyring builds when nothing else is viable)."""
    monkeypatch.setattr(ChainerBackend, "backends", [keyring.backends.null.Keyring(), plaintext_backend()])
    return ChainerBackend()


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda _mp: keyring.backends.null.Keyring(), "keeps nothing"),
        (lambda _mp: keyring.backends.fail.Keyring(), "no system keychain was found"),
        (lambda _mp: plaintext_backend(), "plain files"),
        (only_refused_chainer, "no usable system keychain"),
    ],
    ids=["null", "fail", "keyrings.alt", "chainer of refused"],
)
def test_refused_backends_save_nothing_and_say_what_to_do(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make: Callable[[pytest.MonkeyPatch], KeyringBackend],
    why: str,
) -> None:
    backend = make(monkeypatch)
    assert why in (refused_backend(backend) or "")
    kc = Keychain(backend)
    with pytest.raises(KeychainUnavailable, match="GNOME Keyring"):
        kc.save("x", Credentials("PUBLICKEY123", SECRET))
    store = ConfiguredAccounts(ConfigFile(tmp_path / "c.json"), kc, NonceSource(), lambda: None)
    problem = store.keychain_problem()
    assert problem is not None and why in problem
    with pytest.raises(KeychainUnavailable):
        store.save(AccountSpec("x", "X", VenueKind.SPOT), "PUBLICKEY123", SECRET)
    assert not (tmp_path / "c.json").exists()
    assert not any(SECRET in p.read_text() for p in tmp_path.rglob("*") if p.is_file())


def test_the_configured_null_backend_fails_the_self_check(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        "KRAKEN_CANCEL_HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "app", "--self-check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert "keyring.backends.null.Keyring keeps nothing" in done.stdout


@pytest.mark.keychain
def test_the_real_secret_service_is_accepted() -> None:
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        pytest.skip("no D-Bus session: run through scripts/test.sh")
    kc = Keychain()
    assert refused_backend(kc.backend) is None
    store = ConfiguredAccounts(ConfigFile(Path(os.devnull)), kc, NonceSource(), lambda: None)
    assert store.keychain_problem() is None
