"""The accounts room: who holds which key, what it may do, and the nonces its key has used."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from app.sim import ids
from app.sim.auth import StrictNonces
from app.sim.instruments import AccountKind
from app.sim.limits import SPOT_TIERS

# Permission names the simulator knows. Spot maps Kraken's key settings onto them: "query"
# (Query open orders & trades), "cancel" (Cancel & close orders), "trade" (Create & modify
# orders, which also allows cancels), "websocket" (WebSocket interface - On).
ALL_PERMISSIONS = frozenset({"query", "cancel", "trade", "websocket"})
DEFAULT_PERMISSIONS: dict[AccountKind, frozenset[str]] = {
    "spot": ALL_PERMISSIONS,
    "futures": frozenset({"query", "cancel", "trade"}),
    "prime": frozenset({"query", "cancel", "trade"}),
}


@dataclass
class Account:
    """One API key holder on one venue.

    Attributes:
        name: Unique account name (``spot``, ``futures``, ``prime`` in demo mode).
        kind: Which venue the key belongs to.
        api_key: Public key.
        secret: Spot/Futures: base64 of 64 bytes; Prime: ASCII string.
        permissions: Subset of ``ALL_PERMISSIONS``.
        tier: Spot verification tier for rate limits (``starter``/``intermediate``/``pro``).
    """

    name: str
    kind: AccountKind
    api_key: str
    secret: str
    permissions: set[str]
    tier: str = "intermediate"

    def can(self, *permissions: str) -> bool:
        """Tell whether the key has any of ``permissions``.

        Args:
            permissions: Acceptable permissions (any one suffices).

        Returns:
            True if at least one is granted.
        """
        return any(p in self.permissions for p in permissions)


class Accounts(Mapping[str, Account]):
    """Every account by name (a read-only mapping), found by name or by public key.

    Events: ``on_added(name, kind)`` after each new account (the order book opens its place).

    Rules kept: names and keys are unique; an account's key and secret depend only on
    (exchange seed, kind, name), never on creation order; Spot and Futures secrets are base64
    of 64 bytes, Prime secrets ASCII; permissions and tiers are the known ones; Spot REST
    nonces are checked per key (``spot_nonces``).
    """

    def __init__(self, seed: int, *, on_added: Callable[[str, AccountKind], None]) -> None:
        """Start with no accounts.

        Args:
            seed: The exchange seed that keys and secrets derive from.
            on_added: Called with each new account's name and kind.
        """
        self.seed = seed
        self.on_added = on_added
        self.spot_nonces = StrictNonces()
        self._by_name: dict[str, Account] = {}
        self._by_key: dict[str, Account] = {}

    def __getitem__(self, name: str) -> Account:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def add(
        self,
        name: str,
        kind: AccountKind,
        *,
        permissions: Iterable[str] | None = None,
        tier: str = "intermediate",
        api_key: str | None = None,
        secret: str | None = None,
    ) -> Account:
        """Create an account with credentials derived from the exchange seed and its name.

        Args:
            name: Unique account name.
            kind: ``spot``, ``futures`` or ``prime``.
            permissions: Granted permissions; default all of the kind's.
            tier: Spot rate-limit tier.
            api_key: Fixed key instead of a generated one.
            secret: Fixed secret instead of a generated one.

        Returns:
            The account.

        Raises:
            ValueError: On a duplicate name or key, or an unknown tier/permission/kind.
        """
        if name in self._by_name:
            raise ValueError(f"account exists: {name}")
        if kind not in DEFAULT_PERMISSIONS:
            raise ValueError(f"unknown account kind: {kind}")
        if tier not in SPOT_TIERS:
            raise ValueError(f"unknown tier: {tier}")
        perms = set(DEFAULT_PERMISSIONS[kind] if permissions is None else permissions)
        if not perms <= ALL_PERMISSIONS:
            raise ValueError(f"unknown permissions: {sorted(perms - ALL_PERMISSIONS)}")
        # A string seed is hashed deterministically by random.Random, so an account's keys
        # depend only on (seed, name, kind), not on creation order.
        key_rng = random.Random(f"{self.seed}:{kind}:{name}")
        key = api_key if api_key is not None else ids.new_api_key(key_rng)
        if secret is None:
            secret = ids.new_prime_secret(key_rng) if kind == "prime" else ids.new_b64_secret(key_rng)
        if key in self._by_key:
            raise ValueError("api key already in use")
        account = Account(name, kind, key, secret, perms, tier)
        self._by_name[name] = account
        self._by_key[key] = account
        self.on_added(name, kind)
        return account

    def account(self, name: str) -> Account:
        """Return the account called ``name``.

        Args:
            name: Account name.

        Returns:
            The account.

        Raises:
            KeyError: If there is none.
        """
        return self._by_name[name]

    def by_key(self, api_key: str | None) -> Account | None:
        """Find the account owning a public API key.

        Args:
            api_key: The key from a request header (None allowed).

        Returns:
            The account, or None.
        """
        return self._by_key.get(api_key) if api_key else None

    def credentials(self) -> dict[str, dict[str, str]]:
        """Return every account's key and secret (for ``python -m app.sim``'s JSON line).

        Returns:
            ``{name: {"key": ..., "secret": ...}}``.
        """
        return {a.name: {"key": a.api_key, "secret": a.secret} for a in self._by_name.values()}
