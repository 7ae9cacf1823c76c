"""Signatures against Kraken's published worked examples (API-FACTS section 0)."""

import base64
import hashlib
import hmac

import pytest

from app.venues.signing import (
    futures_rest_sign,
    futures_ws_sign,
    is_valid_b64_secret,
    prime_ws_sign,
    spot_rest_sign,
)

SPOT_SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="


def test_spot_rest_sign_matches_krakens_example() -> None:
    body = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    sig = spot_rest_sign("/0/private/AddOrder", 1616492376594, body, SPOT_SECRET)
    assert sig == "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="


def test_spot_rest_sign_depends_on_every_input() -> None:
    body = b"nonce=1&txid=OQCLML-BW3P3-BUCMWZ"
    base = spot_rest_sign("/0/private/CancelOrder", 1, body, SPOT_SECRET)
    assert spot_rest_sign("/0/private/CancelAll", 1, body, SPOT_SECRET) != base
    assert spot_rest_sign("/0/private/CancelOrder", 2, body, SPOT_SECRET) != base
    assert spot_rest_sign("/0/private/CancelOrder", 1, body + b" ", SPOT_SECRET) != base


def test_futures_ws_sign_matches_krakens_example() -> None:
    secret = "7zxMEF5p/Z8l2p2U7Ghv6x14Af+Fx+92tPgUdVQ748FOIrEoT9bgT+bTRfXc5pz8na+hL/QdrCVG7bh9KpT0eMTm"
    assert (
        futures_ws_sign("c100b894-1729-464d-ace1-52dbce11db42", secret)
        == "4JEpF3ix66GA2B+ooK128Ift4XQVtc137N9yeg4Kqsn9PI0Kpzbysl9M1IeCEdjg0zl00wkVqcsnG4bmnlMb3A=="
    )


def test_futures_rest_sign_matches_sdk_vector_and_strips_prefix() -> None:
    secret = "cHl0aG9uLWtyYWtlbi1zZGsgdW5pdC10ZXN0IHNlY3JldCB2YWx1ZQ=="
    expected = "Txi+gJVXe3EN1brXYQ46FuV6UVtEVSKhc6dYMhPb7a/HXZLGvO6m9UUg+KVKqhLxrbllOPI7qRkHYmPfJZZSGA=="
    post = "orderType=lmt&symbol=PI_XBTUSD"
    assert futures_rest_sign("/derivatives/api/v3/sendorder", "1616492376594", post, secret) == expected
    assert futures_rest_sign("/api/v3/sendorder", "1616492376594", post, secret) == expected


def test_prime_ws_sign_follows_the_documented_steps() -> None:
    ts, host, path, secret = "2019-02-13T05:17:32.000000Z", "wss.prime.kraken.com", "/ws/v1", "s3cr3t"
    mac = hmac.new(secret.encode(), f"GET\n{ts}\n{host}\n{path}".encode(), hashlib.sha256).digest()
    assert prime_ws_sign(ts, host, path, secret) == base64.urlsafe_b64encode(mac).decode()


def test_bad_secret_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as info:
        spot_rest_sign("/0/private/OpenOrders", 1, b"nonce=1", "not base64 !!!")
    assert "not base64 !!!" not in str(info.value)


def test_secret_validation() -> None:
    assert is_valid_b64_secret(SPOT_SECRET)
    assert not is_valid_b64_secret(SPOT_SECRET[:-4])
    assert not is_valid_b64_secret("hello world")
    assert not is_valid_b64_secret(base64.b64encode(b"x" * 32).decode())
