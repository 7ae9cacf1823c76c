"""API keys in the OS keychain (keyring), and nowhere else: no plaintext fallback, ever.

Calls block (D-Bus round trips): call them at start-up or through ``asyncio.to_thread``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend

from app.core.accounts import Credentials
from app.core.errors import KeychainError, KeychainLocked, KeychainUnavailable
from app.logsafe import register_secret

log = logging.getLogger("app.keychain")

SERVICE = "kraken-cancel-console"

WHAT_TO_DO = (
    "Kraken Cancel Console keeps API keys only in the system keychain. "
    "On Linux, install and unlock a Secret Service keychain (GNOME Keyring or KWallet), "
    "in a desktop session with D-Bus; on Windows and macOS the system keychain is used."
)

# Backends that store secrets in plain files, or nowhere, or fail: refused even if someone
# installed or configured them (PYTHON_KEYRING_BACKEND, keyringrc.cfg). ``keyring.backends.null``
# silently forgets what it is given: a key "saved" there would be lost without a word.
REFUSED_MODULES = ("keyrings.alt", "keyring.backends.null", "keyring.backends.fail")


def refused_backend(backend: KeyringBackend) -> str | None:
    """Why ``backend`` may not hold API keys, or None when it may.

    A chainer is refused when none of its backends is acceptable (it would pass calls on to a
    refused one).
    """
    name = f"{type(backend).__module__}.{type(backend).__qualname__}"
    if name.startswith(REFUSED_MODULES):
        if name.startswith("keyrings.alt"):
            return f"the keyring backend {name} stores secrets in plain files"
        if name.startswith("keyring.backends.fail"):
            return f"the keyring backend {name}: no system keychain was found"
        return f"the keyring backend {name} keeps nothing"
    chained = getattr(backend, "backends", None)
    if isinstance(backend, ChainerBackend) or "chainer" in name.lower():
        usable = [b for b in chained or () if refused_backend(b) is None]
        if not usable:
            return f"the keyring backend {name} has no usable system keychain behind it"
    return None


class Keychain:
    """The console's keychain entries: one per account, holding its key and secret.

    Rules: refuses fail/plaintext backends with KeychainUnavailable; maps keyring's errors to
    ``app.core.errors`` with a message saying what to do; never logs or repr()s a secret.
    """

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self._backend = backend

    @property
    def backend(self) -> KeyringBackend:
        """The keyring backend in use."""
        if self._backend is None:
            self._backend = keyring.get_keyring()
        return self._backend

    def backend_name(self) -> str:
        """e.g. ``keyring.backends.SecretService.Keyring``."""
        b = self.backend
        return f"{type(b).__module__}.{type(b).__qualname__}"

    def check(self) -> None:
        """Raise if no safe keychain is usable.

        Raises:
            KeychainUnavailable: no backend, or only a plaintext, null or failing one.
        """
        why = refused_backend(self.backend)
        if why is not None:
            raise KeychainUnavailable(f"No usable system keychain ({why}). {WHAT_TO_DO}")

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        self.check()
        try:
            return fn(*args)
        except keyring.errors.KeyringLocked:
            raise KeychainLocked(f"The keychain is locked: unlock it and try again ({what}).") from None
        except keyring.errors.NoKeyringError:
            raise KeychainUnavailable(f"No usable system keychain. {WHAT_TO_DO}") from None
        except keyring.errors.InitError:
            raise KeychainUnavailable(f"The keychain could not be opened. {WHAT_TO_DO}") from None
        except keyring.errors.KeyringError as e:
            # keyring's message may come from D-Bus; it never contains the secret we passed.
            raise KeychainLocked(f"The keychain refused to {what}: {type(e).__name__}") from None

    def save(self, account_id: str, creds: Credentials) -> None:
        """Store an account's key and secret.

        Raises:
            KeychainError: the keychain is missing, locked or refused.
        """
        register_secret(creds.api_key, creds.secret)
        blob = json.dumps({"key": creds.api_key, "secret": creds.secret})
        self._call("save the key", self.backend.set_password, SERVICE, account_id, blob)

    def load(self, account_id: str) -> Credentials | None:
        """An account's credentials, or None if none are stored.

        Raises:
            KeychainError: the keychain is missing, locked or refused, or the entry is damaged.
        """
        blob = self._call("read the key", self.backend.get_password, SERVICE, account_id)
        if blob is None:
            return None
        try:
            data = json.loads(blob)
            creds = Credentials(str(data["key"]), str(data["secret"]))
        except (ValueError, KeyError, TypeError):
            raise KeychainError(
                f"The keychain entry of {account_id!r} is damaged: enter the key again."
            ) from None
        register_secret(creds.api_key, creds.secret)
        return creds

    def delete(self, account_id: str) -> None:
        """Remove an account's entry (no error if there is none).

        Raises:
            KeychainError: the keychain is missing, locked or refused.
        """
        if self.load(account_id) is None:
            return
        self._call("delete the key", self.backend.delete_password, SERVICE, account_id)
