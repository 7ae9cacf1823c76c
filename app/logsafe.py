"""Keeps API keys, secrets, signatures, WS tokens and challenges out of every log line and crash report.

Three nets, each catching what the others might miss:

1. **Known values.** Every key, secret and WS token the console holds is registered here
   (``register_secret``) the moment it is read or received; any log text holding one gets it
   replaced, wherever it came from (our loggers, httpx, websockets, qasync's executor logging the
   arguments it is given at DEBUG, asyncio, an exception's message or traceback).
2. **Named fields.** Whatever follows ``API-Key``, ``API-Sign``, ``APIKey``, ``Authent``,
   ``ApiKey``, ``ApiSign``, ``token``, ``secret``, ``original_challenge``, ``signed_challenge``
   (and a challenge event's ``message``) is replaced, in JSON, Python reprs, headers and forms:
   signatures and Futures challenges are made per request and never registered.
3. **Shapes.** A run of 64 or more base64 characters (Spot/Futures secrets and every HMAC-SHA512
   signature are 88) is replaced.

``install`` hooks the nets in at start-up, before any key is read: a log-record factory (every
record of every logger, whichever handler writes it, is cleaned when it is made, its traceback
included), a filter on the root handlers, and hooks for uncaught exceptions in the main thread,
other threads and finalizers. websockets' frame log lines are rendered from the whole frame and
cleaned before they are shortened, so a secret cut in half by the ellipsis cannot leak either.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable
from types import TracebackType
from typing import Any

log = logging.getLogger("app.logsafe")

REDACTED = "<redacted>"
MIN_SECRET_CHARS = 8  # shorter values would redact ordinary words; no Kraken secret is this short
FRAME_LOG_CHARS = 120  # how much of a WebSocket frame a DEBUG line shows (after cleaning)

_NAMES = (
    r"api[-_]?key|apikey|api[-_]?sign|apisign|authent|api[-_]?secret|secret|private[-_]?key|password|"
    r"passphrase|otp|ws[-_]?token|token|original_challenge|signed_challenge|challenge|signature"
)
# name, optional closing quote, ":" or "=", optional opening quote, then the value (up to a
# quote, white space or a separator). Headers ("API-Sign: x"), JSON ("token":"x"), reprs
# ('secret': 'x'), forms (token=x) and keyword reprs (api_key=x) all fit.
_FIELD = re.compile(
    rf"(?i)((?<![A-Za-z0-9])(?:{_NAMES})[\"']?\s*[:=]\s*(?:b?[\"'])?)(?!{re.escape(REDACTED)})([^\"'\s,;&)}}\]>]+)"
)
# {"event":"challenge","message":"<uuid>"}: the challenge travels in "message".
_CHALLENGE_MESSAGE = re.compile(r"(?i)([\"']message[\"']\s*:\s*[\"'])([^\"']+)")
_LONG_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{64,}={0,2}")

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_ordered: tuple[str, ...] = ()  # longest first, so a key inside a blob goes with the blob


def register_secret(*values: str | None) -> None:
    """Redact these values from every log text from now on (too short or empty ones are ignored).

    Args:
        values: API keys, secrets, WS tokens... Safe to call again with the same values.
    """
    global _secrets, _ordered
    new = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_CHARS} - _secrets
    if not new:
        return
    with _lock:
        _secrets = _secrets | new
        _ordered = tuple(sorted(_secrets, key=len, reverse=True))


def registered_count() -> int:
    """How many values are being redacted (for tests and the self-check; never the values)."""
    return len(_secrets)


def redact(text: str) -> str:
    """``text`` with every known secret, named secret field and signature-shaped run replaced."""
    if not text:
        return text
    for value in _ordered:
        if value in text:
            text = text.replace(value, REDACTED)
    text = _FIELD.sub(lambda m: m.group(1) + REDACTED, text)
    if "challenge" in text.lower():
        text = _CHALLENGE_MESSAGE.sub(lambda m: m.group(1) + REDACTED, text)
    return _LONG_BASE64.sub(_random_run, text)


def _random_run(match: re.Match[str]) -> str:
    # Secrets and signatures are random: upper case, lower case and digits all appear. A long
    # run without one of them (a word, a hex digest, a path) is left alone.
    run = match.group(0)
    if any(c.isupper() for c in run) and any(c.islower() for c in run) and any(c.isdigit() for c in run):
        return REDACTED
    return run


def _frame_text(frame: Any) -> str | None:
    """A websockets frame as its DEBUG line would show it, cleaned before it is shortened."""
    data = getattr(frame, "data", None)
    opcode = getattr(frame, "opcode", None)
    if not isinstance(data, bytes | bytearray | memoryview) or opcode is None:
        return None
    body = redact(bytes(data).decode("utf-8", "replace"))
    if len(body) > FRAME_LOG_CHARS:
        half = FRAME_LOG_CHARS // 2
        body = f"{body[:half]}...{body[-half:]}"
    return f"{getattr(opcode, 'name', opcode)} {body!r} [{len(data)} bytes]"


def _clean_arg(arg: Any) -> Any:
    framed = _frame_text(arg)
    return framed if framed is not None else arg


def format_exception(
    exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
) -> str:
    """A traceback as text, cleaned."""
    return redact("".join(traceback.format_exception(exc_type, exc, tb)))


def clean_record(record: logging.LogRecord) -> logging.LogRecord:
    """Clean a record in place: its message (arguments merged), traceback and stack."""
    if getattr(record, "_logsafe", False):
        return record
    try:
        args = record.args
        if isinstance(args, tuple):
            record.args = tuple(_clean_arg(a) for a in args)
        message = record.getMessage()
    except Exception:  # a bad format string must not lose the record, nor leak its arguments
        message = f"{record.msg!s} (unformattable arguments)"
    record.msg = redact(message)
    record.args = None
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        record.exc_text = format_exception(*record.exc_info).rstrip("\n")
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._logsafe = True
    return record


class RedactingFilter(logging.Filter):
    """A handler filter that cleans every record it passes (records are never dropped)."""

    def filter(self, record: logging.LogRecord) -> bool:
        clean_record(record)
        return True


_installed = False
_previous_factory = logging.getLogRecordFactory()


def _factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    return clean_record(_previous_factory(*args, **kwargs))


def _excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logging.getLogger("app").critical("uncaught exception", exc_info=(exc_type, exc, tb))


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    exc = args.exc_value if args.exc_value is not None else args.exc_type()
    logging.getLogger("app").critical(
        "uncaught exception in thread %s", name, exc_info=(args.exc_type, exc, args.exc_traceback)
    )


def _unraisable_hook(unraisable: Any) -> None:
    exc = unraisable.exc_value
    logging.getLogger("app").error(
        "%s: %r",
        unraisable.err_msg or "Exception ignored",
        unraisable.object,
        exc_info=(unraisable.exc_type, exc, unraisable.exc_traceback) if exc is not None else None,
    )


def install(handlers: Iterable[logging.Handler] = ()) -> None:
    """Hook the redaction in: every record of every logger, uncaught exceptions everywhere.

    Args:
        handlers: handlers to give the filter too (the root logger's are always given it).
    """
    global _installed
    for handler in [*logging.getLogger().handlers, *handlers]:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    if _installed:
        return
    _installed = True
    logging.setLogRecordFactory(_factory)
    logging.captureWarnings(True)
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    sys.unraisablehook = _unraisable_hook
