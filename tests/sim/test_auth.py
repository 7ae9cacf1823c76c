"""The simulator's signature checks against Kraken's published vectors (API-FACTS section 0)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from app.sim import auth

# API-FACTS 0.1: Kraken's published Spot REST example.
SPOT_SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
SPOT_NONCE = "1616492376594"
SPOT_BODY = b"nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
SPOT_PATH = "/0/private/AddOrder"
SPOT_SIGN = "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="

# API-FACTS 0.2: Kraken's published Futures WebSocket challenge example.
CHALLENGE = "c100b894-1729-464d-ace1-52dbce11db42"
CHALLENGE_SECRET = "7zxMEF5p/Z8l2p2U7Ghv6x14Af+Fx+92tPgUdVQ748FOIrEoT9bgT+bTRfXc5pz8na+hL/QdrCVG7bh9KpT0eMTm"
CHALLENGE_SIGNED = "4JEpF3ix66GA2B+ooK128Ift4XQVtc137N9yeg4Kqsn9PI0Kpzbysl9M1IeCEdjg0zl00wkVqcsnG4bmnlMb3A=="

# API-FACTS 0.3: third-party Futures REST vector (no Kraken-published one exists).
FUT_SECRET = "cHl0aG9uLWtyYWtlbi1zZGsgdW5pdC10ZXN0IHNlY3JldCB2YWx1ZQ=="
FUT_POST = "orderType=lmt&symbol=PI_XBTUSD"
FUT_NONCE = "1616492376594"
FUT_PATH = "/derivatives/api/v3/sendorder"
FUT_AUTHENT = "Txi+gJVXe3EN1brXYQ46FuV6UVtEVSKhc6dYMhPb7a/HXZLGvO6m9UUg+KVKqhLxrbllOPI7qRkHYmPfJZZSGA=="


def test_spot_rest_signature_matches_kraken_vector() -> None:
    assert auth.spot_rest_signature(SPOT_PATH, SPOT_NONCE, SPOT_BODY, SPOT_SECRET) == SPOT_SIGN


def test_spot_rest_verify_accepts_vector_and_rejects_changes() -> None:
    assert auth.verify_spot_rest(SPOT_PATH, SPOT_NONCE, SPOT_BODY, SPOT_SECRET, SPOT_SIGN)
    tampered = SPOT_BODY.replace(b"1.25", b"1.26")
    assert not auth.verify_spot_rest(SPOT_PATH, SPOT_NONCE, tampered, SPOT_SECRET, SPOT_SIGN)
    assert not auth.verify_spot_rest("/0/private/CancelOrder", SPOT_NONCE, SPOT_BODY, SPOT_SECRET, SPOT_SIGN)
    assert not auth.verify_spot_rest(SPOT_PATH, "1616492376595", SPOT_BODY, SPOT_SECRET, SPOT_SIGN)
    assert not auth.verify_spot_rest(SPOT_PATH, SPOT_NONCE, SPOT_BODY, "not base64!", SPOT_SIGN)
    assert not auth.verify_spot_rest(SPOT_PATH, SPOT_NONCE, SPOT_BODY, SPOT_SECRET, "")


def test_futures_ws_challenge_matches_kraken_vector() -> None:
    assert auth.futures_ws_challenge_signature(CHALLENGE, CHALLENGE_SECRET) == CHALLENGE_SIGNED
    assert auth.verify_futures_ws_challenge(CHALLENGE, CHALLENGE_SECRET, CHALLENGE_SIGNED)
    assert not auth.verify_futures_ws_challenge(CHALLENGE.upper(), CHALLENGE_SECRET, CHALLENGE_SIGNED)


def test_futures_rest_authent_matches_vector_with_prefix_stripped() -> None:
    assert auth.futures_endpoint_path(FUT_PATH) == "/api/v3/sendorder"
    assert auth.futures_rest_authent(FUT_POST, FUT_NONCE, FUT_PATH, FUT_SECRET) == FUT_AUTHENT
    # Same result when the caller already stripped the prefix, or passes bytes.
    stripped = auth.futures_rest_authent(FUT_POST.encode(), FUT_NONCE, "/api/v3/sendorder", FUT_SECRET)
    assert stripped == FUT_AUTHENT
    assert auth.verify_futures_rest(FUT_POST, FUT_NONCE, FUT_PATH, FUT_SECRET, FUT_AUTHENT)
    assert not auth.verify_futures_rest(FUT_POST, "", FUT_PATH, FUT_SECRET, FUT_AUTHENT)


def _prime_reference(timestamp: str, host: str, path: str, secret: str) -> bytes:
    """The Prime steps of API-FACTS 9.1, written out here independently."""
    text = f"GET\n{timestamp}\n{host}\n{path}".encode()
    return hmac.new(secret.encode("ascii"), text, hashlib.sha256).digest()


def test_prime_signature_follows_the_documented_steps() -> None:
    secret = "PrimeSecretAsciiOnly0123456789"
    # Find a timestamp whose MAC has a character where the two base64 alphabets differ.
    for micros in range(1000):
        ts = f"2019-02-13T05:17:32.{micros:06d}Z"
        mac = _prime_reference(ts, "wss.prime.kraken.com", "/ws/v1", secret)
        standard = base64.b64encode(mac).decode()
        if "+" in standard or "/" in standard:
            break
    urlsafe = base64.urlsafe_b64encode(mac).decode()
    assert urlsafe != standard
    assert auth.prime_ws_signature(ts, "wss.prime.kraken.com", "/ws/v1", secret) == urlsafe
    assert auth.verify_prime_ws(ts, "wss.prime.kraken.com", "/ws/v1", secret, urlsafe)
    assert auth.verify_prime_ws(ts, "wss.prime.kraken.com", "/ws/v1", secret, standard)
    assert not auth.verify_prime_ws(ts, "127.0.0.1", "/ws/v1", secret, urlsafe)
    assert not auth.verify_prime_ws(ts, "wss.prime.kraken.com", "/ws/v1", secret + "x", urlsafe)


def test_strict_nonces_only_move_up_per_key() -> None:
    nonces = auth.StrictNonces()
    assert nonces.accept("k1", "100")
    assert not nonces.accept("k1", "100")
    assert not nonces.accept("k1", "99")
    assert nonces.accept("k1", "101")
    assert nonces.accept("k2", "5")  # keys are independent
    assert nonces.last("k1") == 101
    for bad in ("", "-1", "1.5", "abc", str(2**64), "\uff11\uff12"):
        assert not nonces.accept("k3", bad)
    assert nonces.last("k3") == 0
