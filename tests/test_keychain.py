"""The keychain against a real Secret Service (gnome-keyring in a private D-Bus session).

scripts/test.sh runs the suite inside such a session; run alone without one, these skip.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import keyring.backends.fail
import pytest

from app.accounts import ConfiguredAccounts
from app.config import ConfigFile
from app.core.accounts import AccountSpec, Credentials
from app.core.errors import KeychainUnavailable
from app.core.orders import VenueKind
from app.keychain import Keychain
from app.venues.nonces import NonceSource

SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
IN_TEST_SCRIPT = bool(os.environ.get("KRAKEN_CANCEL_TEST_TMP"))


def real_keychain() -> Keychain:
    kc = Keychain()
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS") and not IN_TEST_SCRIPT:
        pytest.skip("no D-Bus session: run through scripts/test.sh")
    return kc


@pytest.mark.keychain
def test_real_secret_service_round_trip(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    kc = real_keychain()
    assert kc.backend_name() == "keyring.backends.SecretService.Keyring"
    kc.check()
    creds = Credentials("PUBLICKEY123", SECRET)
    kc.save("acct-1", creds)
    assert kc.load("acct-1") == creds
    kc.delete("acct-1")
    assert kc.load("acct-1") is None
    kc.delete("acct-1")  # deleting twice is fine
    assert SECRET not in caplog.text and SECRET not in repr(creds)


@pytest.mark.keychain
def test_accounts_keep_secrets_out_of_the_config(tmp_path: Path) -> None:
    kc = real_keychain()
    config = ConfigFile(tmp_path / "config.json")
    store = ConfiguredAccounts(config, kc, NonceSource(), lambda: None)
    spec = AccountSpec("main", "Main", VenueKind.SPOT)
    store.save(spec, "PUBLICKEY123", SECRET)
    assert store.list() == [spec]
    text = config.path.read_text()
    assert SECRET not in text and "PUBLICKEY123" not in text
    assert kc.load("main") == Credentials("PUBLICKEY123", SECRET)
    store.remove("main")
    assert store.list() == [] and kc.load("main") is None


def test_no_keychain_is_refused_plainly_never_plaintext(tmp_path: Path) -> None:
    kc = Keychain(keyring.backends.fail.Keyring())
    with pytest.raises(KeychainUnavailable, match="system keychain"):
        kc.save("x", Credentials("k", SECRET))
    store = ConfiguredAccounts(ConfigFile(tmp_path / "c.json"), kc, NonceSource(), lambda: None)
    with pytest.raises(KeychainUnavailable):
        store.save(AccountSpec("x", "X", VenueKind.SPOT), "k", SECRET)
    assert not (tmp_path / "c.json").exists()  # nothing written anywhere
    assert not any(SECRET in p.read_text() for p in tmp_path.rglob("*") if p.is_file())


def test_config_refuses_secret_looking_options(tmp_path: Path) -> None:
    config = ConfigFile(tmp_path / "c.json")
    with pytest.raises(ValueError, match="keychain"):
        config.save([AccountSpec("x", "X", VenueKind.SPOT, options={"api_secret": "s"})])


def test_damaged_config_is_kept_aside(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text("{broken")
    config = ConfigFile(path)
    assert config.load() == [] and config.problem
    assert (tmp_path / "c.json.broken").exists()
