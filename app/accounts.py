"""Configured accounts: the config file for what they are, the keychain for their keys."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from app.config import ConfigFile
from app.core.accounts import AccountSpec, Credentials, KeyCheck
from app.core.errors import KeychainError
from app.desk.desk import Desk
from app.desk.keys import complete
from app.keychain import SERVICE, Keychain
from app.logsafe import register_secret
from app.venues.nonces import NonceSource
from app.venues.registry import build_venue


class ConfiguredAccounts:
    """The ``AccountsStore`` the Accounts dialog uses (app.ui.dialogs.AccountsStore).

    Rules: the key pair goes to the keychain only (``Keychain`` refuses plaintext backends); the
    keychain is written first, so a refused keychain leaves the config untouched.
    """

    def __init__(
        self,
        config: ConfigFile,
        keychain: Keychain,
        nonces: NonceSource,
        desk: Callable[[], Desk | None],
    ) -> None:
        self._config = config
        self._keychain = keychain
        self._nonces = nonces
        self._desk = desk

    def list(self) -> list[AccountSpec]:
        """Every configured account."""
        return self._config.load()

    def keychain_problem(self) -> str | None:
        """Why keys cannot be saved now (no usable keychain, or it is locked), or None.

        Blocks (D-Bus): the Accounts dialog calls it in a worker thread as it opens, so the
        trader learns of a missing or locked keychain before typing a key. A read of an entry
        that does not exist is harmless and makes a locked keychain say so (or ask to unlock).
        """
        try:
            self._keychain.check()
            self._keychain.backend.get_password(SERVICE, "__keychain-check__")
        except KeychainError as e:
            return str(e)
        except Exception as e:  # keyring raises its own errors (locked, D-Bus refused)
            return f"The keychain cannot be used now ({type(e).__name__}): unlock it and try again."
        return None

    def save(self, spec: AccountSpec, api_key: str | None, secret: str | None) -> None:
        """Store the key pair (if given) in the keychain, then the spec in the config."""
        if api_key is not None and secret is not None:
            register_secret(api_key, secret)
            self._keychain.save(spec.account_id, Credentials(api_key, secret))
        accounts = [a for a in self._config.load() if a.account_id != spec.account_id]
        self._config.save([*accounts, spec])

    def remove(self, account_id: str) -> None:
        """Forget the account: keychain entry first, then config."""
        self._keychain.delete(account_id)
        self._config.save([a for a in self._config.load() if a.account_id != account_id])

    async def check(self, spec: AccountSpec, api_key: str, secret: str) -> KeyCheck:
        """Probe a key with a throwaway venue; the desk keeps the result for the account."""
        register_secret(api_key, secret)
        venue = build_venue(spec, Credentials(api_key, secret), self._nonces)
        try:
            check = complete(await venue.check_key(), spec.venue)
        finally:
            await venue.aclose()
        desk = self._desk()
        if desk is not None and spec.account_id in desk.venues:
            desk.set_key_check(spec.account_id, check)
        return check

    async def credentials(self, account_id: str) -> Credentials | None:
        """An account's stored key pair (from the keychain, off the loop)."""
        return await asyncio.to_thread(self._keychain.load, account_id)

    async def connect(self, spec: AccountSpec) -> None:
        """(Re)connect ``spec`` on the desk with its stored key."""
        desk = self._desk()
        if desk is None:
            return
        creds = await self.credentials(spec.account_id)
        if creds is None:
            raise ValueError(f"no key stored for {spec.name}")
        if spec.account_id in desk.venues:
            await desk.remove_account(spec.account_id)
        desk.add_account(spec, build_venue(spec, creds, self._nonces))
