"""Log redaction: known secrets, named fields, signature shapes; records of any logger; crash output."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest
from websockets.frames import Frame, Opcode

from app.logsafe import REDACTED, RedactingFilter, clean_record, redact, register_secret
from app.venues.signing import futures_rest_sign, futures_ws_sign, spot_rest_sign
from tests.helpers.apprun import ROOT

SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
KEY = "K3yPublic7zxMEF5pZ8l2p2U7Ghv6x14AfFx92tPgUdVQ748FOIrEoT9bg"
TOKEN = "WW91ciBhdXRoZW50aWNhdGlvbiB0b2tlbiBnb2VzIGhlcmUu"
CHALLENGE = "c100b894-1729-464d-ace1-52dbce11db42"


def test_registered_values_are_replaced_wherever_they_appear() -> None:
    register_secret(KEY, SECRET, TOKEN, None, "short")
    text = f"blob {{'key': '{KEY}', 'secret': '{SECRET}'}} then {TOKEN}; and {KEY[:20]}"
    out = redact(text)
    assert KEY not in out and SECRET not in out and TOKEN not in out
    assert out.count(REDACTED) >= 3
    assert redact("short") == "short"  # too short to register: ordinary words stay


@pytest.mark.parametrize(
    "line",
    [
        "> API-Sign: {sig}",
        "> Authent: {sig}",
        "> ApiSign: {sig}",
        "> APIKey: {v}",
        "> API-Key: {v}",
        "Headers({{'api-key': '{v}', 'api-sign': '{sig}'}})",
        '{{"event":"subscribe","feed":"open_orders","api_key":"{v}","original_challenge":"{v}","signed_challenge":"{v}"}}',
        '{{"method":"subscribe","params":{{"channel":"executions","token":"{v}"}}}}',
        "nonce=1&token={v}&x=1",
        "secret={v}",
    ],
)
def test_named_fields_are_replaced_in_every_shape(line: str) -> None:
    value = "unregisteredvalue1234"
    sig = spot_rest_sign("/0/private/CancelOrder", 1, b"nonce=1", SECRET)
    text = line.format(v=value, sig=sig)
    out = redact(text)
    assert value not in out and sig not in out, out


def test_challenge_messages_and_signatures_go_without_registration() -> None:
    out = redact(f'< TEXT \'{{"event":"challenge","message":"{CHALLENGE}"}}\'')
    assert CHALLENGE not in out
    signed = futures_ws_sign(CHALLENGE, SECRET)
    authent = futures_rest_sign("/api/v3/cancelorder", "1", "order_id=x", SECRET)
    for sig in (signed, authent):
        assert sig not in redact(f"something said {sig} here")


def test_ordinary_lines_are_left_alone() -> None:
    for text in (
        "Kraken refused the key: EAPI:Invalid key",
        "order OQCLML-BW3P3-BUCMWZ cancelled (User requested)",
        "GetWebSocketsToken reply has no token",
        "/tmp/pytest-of-root/pytest-12/test_something_long_name0/home/data/audit.sqlite3",
        "f" * 80,  # a hex digest: not random base64
        "nonce for key d1d14f1fd469f55d jumped ahead",
    ):
        assert redact(text) == text


def test_a_websockets_frame_is_cleaned_before_it_is_shortened() -> None:
    # websockets logs "> %s" with the frame, which shortens long payloads to their ends: a
    # token at the end would show half of itself, past any whole-value match.
    tail_secret = "Zq8" + "x9Y" * 30
    payload = '{"method":"subscribe","params":{"channel":"executions","snap_orders":true,"token":"%s"}}'
    frame = Frame(Opcode.TEXT, (payload % tail_secret).encode())
    record = logging.LogRecord("websockets.client", logging.DEBUG, __file__, 1, "> %s", (frame,), None)
    text = clean_record(record).getMessage()
    assert "TEXT" in text and "executions" in text
    assert tail_secret[-12:] not in text and tail_secret[:12] not in text


def test_tracebacks_and_stacks_are_cleaned() -> None:
    register_secret(SECRET)
    try:
        raise RuntimeError(f"the venue echoed {SECRET}")
    except RuntimeError:
        record = logging.getLogger("httpx").makeRecord(
            "httpx", logging.ERROR, __file__, 1, "failed with %s", (SECRET,), sys.exc_info(), sinfo=SECRET
        )
    RedactingFilter().filter(record)
    formatted = logging.Formatter("%(message)s").format(record)
    assert SECRET not in formatted and "RuntimeError" in formatted and REDACTED in formatted
    assert record.stack_info is not None and SECRET not in record.stack_info


def test_installed_hooks_clean_third_party_records_and_uncaught_exceptions() -> None:
    # In a child process: install() changes process-wide hooks.
    script = textwrap.dedent(
        f"""
        import logging, sys, threading
        from app.logsafe import install, register_secret
        logging.basicConfig(stream=sys.stderr, level=logging.DEBUG, format="%(name)s %(message)s")
        install()
        register_secret({KEY!r}, {SECRET!r})
        logging.getLogger("httpx").debug("headers %s", {{"API-Key": {KEY!r}}})
        logging.getLogger("qasync").debug("callback with args %r", ("save", {SECRET!r}))
        logging.getLogger("websockets.client").debug("> ApiSign: %s", "abc-def_ghi=")
        t = threading.Thread(target=lambda: (_ for _ in ()).throw(ValueError({SECRET!r})))
        t.start(); t.join()
        raise RuntimeError("uncaught with " + {KEY!r})
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 1
    err = done.stderr
    assert "uncaught exception" in err and "RuntimeError" in err and "ValueError" in err
    assert "headers" in err and "callback with args" in err and "ApiSign: <redacted>" in err
    assert KEY not in err and SECRET not in err, err
