"""Configured accounts: the config file for what they are, the keychain for their keys."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from app.config import ConfigFile
from app.core.accounts import AccountSpec, Credentials, KeyCheck
from app.desk.desk import Desk
from app.keychain import Keychain
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

    def save(self, spec: AccountSpec, api_key: str | None, secret: str | None) -> None:
        """Store the key pair (if given) in the keychain, then the spec in the config."""
        if api_key is not None and secret is not None:
            self._keychain.save(spec.account_id, Credentials(api_key, secret))
        accounts = [a for a in self._config.load() if a.account_id != spec.account_id]
        self._config.save([*accounts, spec])

    def remove(self, account_id: str) -> None:
        """Forget the account: keychain entry first, then config."""
        self._keychain.delete(account_id)
        self._config.save([a for a in self._config.load() if a.account_id != account_id])

    async def check(self, spec: AccountSpec, api_key: str, secret: str) -> KeyCheck:
        """Probe a key with a throwaway venue."""
        venue = build_venue(spec, Credentials(api_key, secret), self._nonces)
        try:
            return await venue.check_key()
        finally:
            await venue.aclose()

    async def connect(self, spec: AccountSpec) -> None:
        """(Re)connect ``spec`` on the desk with its stored key."""
        desk = self._desk()
        if desk is None:
            return
        creds = await asyncio.to_thread(self._keychain.load, spec.account_id)
        if creds is None:
            raise ValueError(f"no key stored for {spec.name}")
        if spec.account_id in desk.venues:
            await desk.remove_account(spec.account_id)
        desk.add_account(spec, build_venue(spec, creds, self._nonces))
