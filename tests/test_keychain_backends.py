"""Backends that would lose or expose keys are refused: fail, null, keyrings.alt, chainers of those."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

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
    """keyrings.alt is not installed here: a stand-in with its module name (all the check reads)."""
    cls = type("PlaintextKeyring", (keyring.backends.null.Keyring,), {"__module__": "keyrings.alt.file"})
    return cls()


class OnlyRefusedChainer(ChainerBackend):
    """A chainer whose only backends are refused ones (as keyring builds when nothing else is viable)."""

    backends: ClassVar = [keyring.backends.null.Keyring(), plaintext_backend()]


@pytest.mark.parametrize(
    ("backend", "why"),
    [
        (keyring.backends.null.Keyring(), "keeps nothing"),
        (keyring.backends.fail.Keyring(), "keeps nothing"),
        (plaintext_backend(), "plain files"),
        (OnlyRefusedChainer(), "no usable system keychain"),
    ],
)
def test_refused_backends_save_nothing_and_say_what_to_do(
    tmp_path: Path, backend: KeyringBackend, why: str
) -> None:
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
