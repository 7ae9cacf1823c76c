"""Request signature checks for every Kraken host, written from Kraken's documents.

These are the simulator's own implementations (API-FACTS sections 0, 1.1, 5.1, 5.5, 9.1). They
must never be shared with the client's signing code: each side is written separately from the
docs, so a bug cannot pass on both sides.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

_FUTURES_PREFIX = "/derivatives"


def _b64_secret(secret_b64: str) -> bytes:
    """Decode a base64 API secret (Spot and Futures secrets are base64 text)."""
    return base64.b64decode(secret_b64, validate=True)


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def spot_rest_signature(uri_path: str, nonce: str, body: bytes, secret_b64: str) -> str:
    """Compute a Spot REST ``API-Sign`` (API-FACTS 1.1).

    ``base64(HMAC-SHA512(b64decode(secret), uri_path + SHA256(nonce + body)))``.

    Args:
        uri_path: The path, starting ``/0/private/``, no host or query.
        nonce: The decimal nonce text as it appears in the body.
        body: The request body bytes exactly as received.
        secret_b64: The API secret (base64 text).

    Returns:
        The signature, standard base64 with padding.

    Raises:
        binascii.Error: If the secret is not valid base64.
    """
    inner = hashlib.sha256(nonce.encode("ascii") + body).digest()
    mac = hmac.new(_b64_secret(secret_b64), uri_path.encode("utf-8") + inner, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode("ascii")


def verify_spot_rest(uri_path: str, nonce: str, body: bytes, secret_b64: str, api_sign: str) -> bool:
    """Check a Spot REST ``API-Sign`` header.

    Args:
        uri_path: The request path, starting ``/0/private/``.
        nonce: The nonce text from the parsed body.
        body: The raw body bytes received.
        secret_b64: The key's secret (base64 text).
        api_sign: The ``API-Sign`` header value.

    Returns:
        True when the signature matches.
    """
    try:
        expected = spot_rest_signature(uri_path, nonce, body, secret_b64)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(expected.encode("ascii"), api_sign.encode("utf-8", "replace"))


def futures_endpoint_path(url_path: str) -> str:
    """Strip the leading ``/derivatives`` from a Futures URL path (API-FACTS 5.1 step 2).

    Args:
        url_path: The path as requested, e.g. ``/derivatives/api/v3/cancelorder``.

    Returns:
        The path that is signed, e.g. ``/api/v3/cancelorder``.
    """
    if url_path.startswith(_FUTURES_PREFIX + "/"):
        return url_path[len(_FUTURES_PREFIX) :]
    return url_path


def futures_rest_authent(post_data: str | bytes, nonce: str, url_path: str, secret_b64: str) -> str:
    """Compute a Futures REST ``Authent`` header (API-FACTS 5.1).

    ``base64(HMAC-SHA512(b64decode(secret), SHA256(postData + nonce + endpointPath)))``.

    Args:
        post_data: The URL-encoded parameters exactly as sent (query for GET, body for POST),
            or empty.
        nonce: The ``Nonce`` header value, or ``""`` when none was sent.
        url_path: The request path; a leading ``/derivatives`` is stripped here.
        secret_b64: The API secret (base64 text).

    Returns:
        The Authent value, standard base64 with padding.

    Raises:
        binascii.Error: If the secret is not valid base64.
    """
    message = _as_bytes(post_data) + nonce.encode("utf-8") + futures_endpoint_path(url_path).encode()
    digest = hashlib.sha256(message).digest()
    mac = hmac.new(_b64_secret(secret_b64), digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode("ascii")


def verify_futures_rest(
    post_data: str | bytes, nonce: str, url_path: str, secret_b64: str, authent: str
) -> bool:
    """Check a Futures REST ``Authent`` header.

    Args:
        post_data: The URL-encoded parameter string as received.
        nonce: The ``Nonce`` header, or ``""``.
        url_path: The request path (with or without ``/derivatives``).
        secret_b64: The key's secret (base64 text).
        authent: The ``Authent`` header value.

    Returns:
        True when it matches.
    """
    try:
        expected = futures_rest_authent(post_data, nonce, url_path, secret_b64)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(expected.encode("ascii"), authent.encode("utf-8", "replace"))


def futures_ws_challenge_signature(challenge: str, secret_b64: str) -> str:
    """Sign a Futures WebSocket challenge (API-FACTS 5.5 step 3, vector 0.2).

    ``base64(HMAC-SHA512(b64decode(secret), SHA256(challenge)))``.

    Args:
        challenge: The UUID text the server sent.
        secret_b64: The API secret (base64 text).

    Returns:
        The signed challenge.

    Raises:
        binascii.Error: If the secret is not valid base64.
    """
    digest = hashlib.sha256(challenge.encode("utf-8")).digest()
    mac = hmac.new(_b64_secret(secret_b64), digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode("ascii")


def verify_futures_ws_challenge(challenge: str, secret_b64: str, signed: str) -> bool:
    """Check a Futures WebSocket ``signed_challenge``.

    Args:
        challenge: The challenge the server issued (``original_challenge``).
        secret_b64: The key's secret (base64 text).
        signed: The client's ``signed_challenge``.

    Returns:
        True when it matches.
    """
    try:
        expected = futures_ws_challenge_signature(challenge, secret_b64)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(expected.encode("ascii"), signed.encode("utf-8", "replace"))


def prime_ws_signature(timestamp: str, host: str, path: str, secret: str, *, method: str = "GET") -> str:
    """Compute the Prime WebSocket upgrade ``ApiSign`` (API-FACTS 9.1).

    ``urlsafe_b64(HMAC-SHA256(secret ASCII bytes, "GET\\n{timestamp}\\n{host}\\n{path}"))``.
    The secret is used as bytes, not base64-decoded, as in Kraken's Python example.

    Args:
        timestamp: The ``ApiTimestamp`` header text.
        host: The host name, e.g. ``wss.prime.kraken.com``.
        path: The path, e.g. ``/ws/v1``.
        secret: The Prime secret string.
        method: The HTTP method of the upgrade request.

    Returns:
        The signature, URL-safe base64 with padding (the alphabet of Kraken's example).
    """
    text = "\n".join((method, timestamp, host, path)).encode("utf-8")
    mac = hmac.new(secret.encode("ascii"), text, hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode("ascii")


def verify_prime_ws(
    timestamp: str, host: str, path: str, secret: str, api_sign: str, *, method: str = "GET"
) -> bool:
    """Check a Prime ``ApiSign``, accepting URL-safe or standard base64 (docs are ambiguous).

    Args:
        timestamp: The ``ApiTimestamp`` header.
        host: The host the client signed (the ``Host`` header without port, as Kraken's
            example signs the bare host name).
        path: The request path.
        secret: The Prime secret string.
        api_sign: The ``ApiSign`` header.
        method: The HTTP method.

    Returns:
        True when either encoding of the expected MAC matches.
    """
    urlsafe = prime_ws_signature(timestamp, host, path, secret, method=method)
    standard = urlsafe.replace("-", "+").replace("_", "/")
    given = api_sign.encode("utf-8", "replace")
    ok_urlsafe = hmac.compare_digest(urlsafe.encode("ascii"), given)
    ok_standard = hmac.compare_digest(standard.encode("ascii"), given)
    return ok_urlsafe or ok_standard


class StrictNonces:
    """Per-API-key nonce high-water marks, Spot rules (API-FACTS 1.2).

    A nonce must be strictly greater than every nonce accepted before on the same key; keys are
    independent. There is no way to lower the mark. (Kraken's optional per-key nonce window is
    not modelled: every key behaves as with window 0.)
    """

    def __init__(self) -> None:
        """Start with no key seen."""
        self._last: dict[str, int] = {}

    def last(self, api_key: str) -> int:
        """Return the high-water mark of ``api_key`` (0 if never used).

        Args:
            api_key: The public key.

        Returns:
            The largest accepted nonce.
        """
        return self._last.get(api_key, 0)

    def accept(self, api_key: str, nonce_text: str) -> bool:
        """Accept and record ``nonce_text`` if it is a decimal integer above the mark.

        Args:
            api_key: The public key.
            nonce_text: The nonce as received.

        Returns:
            True if accepted (the mark moves up), False for a stale or malformed nonce.
        """
        if not nonce_text.isascii() or not nonce_text.isdigit():
            return False
        nonce = int(nonce_text)
        # Kraken documents the nonce as an unsigned 64-bit integer.
        if nonce >= 2**64 or nonce <= self._last.get(api_key, 0):
            return False
        self._last[api_key] = nonce
        return True
