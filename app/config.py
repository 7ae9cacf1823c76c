"""The accounts list and settings, as JSON in the user's config dir. Secrets never go here."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app.core.accounts import AccountSpec, Transport
from app.core.orders import VenueKind

log = logging.getLogger("app.config")

_SECRET_WORDS = ("secret", "api_key", "apikey", "password", "private")


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the user only (0600 whatever the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        if hasattr(os, "fchmod"):
            os.fchmod(f.fileno(), 0o600)  # an older file keeps its mode through O_TRUNC
        f.write(text)


def spec_to_json(spec: AccountSpec) -> dict[str, Any]:
    """An AccountSpec as plain JSON data."""
    data = asdict(spec)
    data["venue"] = spec.venue.value
    data["stream_transport"] = spec.stream_transport.value
    data["cancel_transport"] = spec.cancel_transport.value
    return data


def spec_from_json(data: dict[str, Any]) -> AccountSpec:
    """Parse one account entry.

    Raises:
        ValueError: a field is missing or invalid.
    """
    try:
        return AccountSpec(
            account_id=str(data["account_id"]),
            name=str(data.get("name") or data["account_id"]),
            venue=VenueKind(data["venue"]),
            endpoints={str(k): str(v) for k, v in dict(data.get("endpoints") or {}).items()},
            stream_transport=Transport(data.get("stream_transport", Transport.WS_V2)),
            cancel_transport=Transport(data.get("cancel_transport", Transport.WS_V2)),
            options=dict(data.get("options") or {}),
        )
    except (KeyError, TypeError) as e:
        raise ValueError(f"account entry is missing {e}") from e


class ConfigFile:
    """Reads and writes the accounts list atomically.

    Rules: a damaged file is kept aside (``.broken``) and reported, never silently overwritten;
    options whose names suggest a secret are refused.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problem: str | None = None

    def load(self) -> list[AccountSpec]:
        """Every configured account (empty if none or unreadable, with ``problem`` set)."""
        if not self.path.exists():
            return []
        try:
            data = json.loads(self.path.read_text())
            return [spec_from_json(a) for a in data.get("accounts", [])]
        except (OSError, ValueError, AttributeError) as e:
            self.problem = f"{self.path} could not be read ({e}); it was kept as {self.path.name}.broken"
            log.error("%s", self.problem)
            with contextlib.suppress(OSError):
                os.replace(self.path, self.path.with_suffix(".json.broken"))
            return []

    def save(self, accounts: list[AccountSpec]) -> None:
        """Write the accounts list (atomic replace).

        Raises:
            ValueError: an option looks like a secret.
        """
        for spec in accounts:
            for key in spec.options:
                if any(w in key.lower() for w in _SECRET_WORDS):
                    raise ValueError(f"option {key!r} looks like a secret: secrets belong in the keychain")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        text = json.dumps({"accounts": [spec_to_json(s) for s in accounts]}, indent=2)
        write_private(tmp, text)
        os.replace(tmp, self.path)
