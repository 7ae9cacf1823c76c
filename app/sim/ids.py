"""Kraken-format identifiers and credentials for the simulator, drawn from a seeded rng."""

from __future__ import annotations

import base64
import random
import re
import string
import uuid

_TXID_ALPHABET = string.ascii_uppercase + string.digits
_TOKEN_ALPHABET = string.ascii_letters + string.digits
_PRIME_SECRET_ALPHABET = string.ascii_letters + string.digits

# Kraken's examples (OQCLML-BW3P3-BUCMWZ): a prefix letter and 5 chars, 5 chars, 6 chars, all
# uppercase alphanumerics (API-FACTS 1.5; inferred from examples, no official regex).
SPOT_TXID_RE = re.compile(r"^O[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{6}$")


def _pick(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def new_spot_txid(rng: random.Random) -> str:
    """Make a Spot order txid such as ``OQCLML-BW3P3-BUCMWZ``.

    Args:
        rng: The random source.

    Returns:
        ``O`` + 5, ``-``, 5, ``-``, 6 uppercase alphanumerics.
    """
    return f"O{_pick(rng, _TXID_ALPHABET, 5)}-{_pick(rng, _TXID_ALPHABET, 5)}-{_pick(rng, _TXID_ALPHABET, 6)}"


def is_spot_txid(text: str) -> bool:
    """Tell whether ``text`` has the shape of a Spot order txid.

    Args:
        text: The candidate.

    Returns:
        True for ``OXXXXX-XXXXX-XXXXXX``.
    """
    return SPOT_TXID_RE.match(text) is not None


def new_uuid(rng: random.Random) -> str:
    """Make a version-4 UUID string from the rng (Futures and Prime order ids).

    Args:
        rng: The random source.

    Returns:
        A lowercase UUID such as ``c100b894-1729-464d-ace1-52dbce11db42``.
    """
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def new_api_key(rng: random.Random) -> str:
    """Make a public API key: standard base64 of 42 random bytes (56 chars, like Kraken's).

    Args:
        rng: The random source.

    Returns:
        The key text.
    """
    return base64.b64encode(rng.randbytes(42)).decode("ascii")


def new_b64_secret(rng: random.Random) -> str:
    """Make a Spot/Futures API secret: standard base64 of 64 random bytes (88 chars).

    Args:
        rng: The random source.

    Returns:
        The secret text, which signers base64-decode before use.
    """
    return base64.b64encode(rng.randbytes(64)).decode("ascii")


def new_prime_secret(rng: random.Random) -> str:
    """Make a Prime API secret: a plain ASCII string, used as HMAC key bytes as-is.

    Args:
        rng: The random source.

    Returns:
        64 ASCII letters and digits.
    """
    return _pick(rng, _PRIME_SECRET_ALPHABET, 64)


def new_ws_token(rng: random.Random) -> str:
    """Make a WebSocket token as GetWebSocketsToken returns (opaque, 43 chars).

    Args:
        rng: The random source.

    Returns:
        The token text.
    """
    return _pick(rng, _TOKEN_ALPHABET, 43)
