"""The WebSocket token room: GetWebSocketsToken's tokens, their expiry and their revocation."""

from __future__ import annotations

import random
from collections.abc import Container
from dataclasses import dataclass

from app.sim import ids
from app.sim.clock import SimClock

WS_TOKEN_TTL_S = 900.0


@dataclass(slots=True)
class WsToken:
    """A GetWebSocketsToken token.

    Attributes:
        token: The opaque text.
        account: The account it authenticates.
        issued_at: Unix time of issue.
        used: Set once a private subscription used it (then it no longer expires).
        invalidated: Set when the exchange revoked it (clients get ``ESession:Invalid session``).
    """

    token: str
    account: str
    issued_at: float
    used: bool = False
    invalidated: bool = False


class WsTokens:
    """Every WebSocket token issued, by its text.

    Rules kept (API-FACTS 2.1): a token is good for ``ttl_s`` (Kraken: 15 minutes) unless a
    private subscription uses it, after which it does not expire; a revoked token is never good
    again; only known accounts get tokens.

    Attributes:
        ttl_s: How long an unused token stays good (tests and ``/_sim/tokens`` shorten it).
    """

    def __init__(self, rng: random.Random, clock: SimClock, accounts: Container[str]) -> None:
        """Start with no tokens.

        Args:
            rng: Draws token texts (shared with the other rooms, so a seed replays a run).
            clock: The exchange's clocks (expiry is wall time).
            accounts: The known account names.
        """
        self.rng = rng
        self.clock = clock
        self.accounts = accounts
        self.ttl_s = WS_TOKEN_TTL_S
        self._tokens: dict[str, WsToken] = {}

    def issue(self, account: str) -> WsToken:
        """Issue a WebSocket token (GetWebSocketsToken).

        Args:
            account: Account name.

        Returns:
            The new token, valid ``ttl_s`` unless used by a subscription.

        Raises:
            KeyError: For an unknown account.
        """
        if account not in self.accounts:
            raise KeyError(account)
        token = WsToken(ids.new_ws_token(self.rng), account, self.clock.wall())
        self._tokens[token.token] = token
        return token

    def validate(self, token: str) -> str | None:
        """Check a WebSocket token.

        Args:
            token: The token a client sent.

        Returns:
            The account name if the token is known, not invalidated, and either used already
            or younger than ``ttl_s``; otherwise None.
        """
        found = self._tokens.get(token)
        if found is None or found.invalidated:
            return None
        if not found.used and self.clock.wall() - found.issued_at >= self.ttl_s:
            return None
        return found.account

    def mark_used(self, token: str) -> None:
        """Record that a private subscription used the token (it no longer expires).

        Args:
            token: The token.
        """
        found = self._tokens.get(token)
        if found is not None:
            found.used = True

    def invalidate(self, account: str) -> int:
        """Revoke every token of an account (as Kraken does after upgrades).

        Args:
            account: Account name.

        Returns:
            How many tokens were invalidated.
        """
        count = 0
        for token in self._tokens.values():
            if token.account == account and not token.invalidated:
                token.invalidated = True
                count += 1
        return count
