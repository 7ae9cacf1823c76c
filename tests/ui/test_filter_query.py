"""The filter language, pure: words ANDed and matched per field, field:value, comparisons."""

from __future__ import annotations

import pytest

from app.ui.filter_query import FilterRecord, NumberTerm, TextTerm, parse

NOW = 1_000_000.0


def rec(**changes: object) -> FilterRecord:
    base = dict(
        pair="btc/usd",
        base="btc",
        quote="usd",
        market="spot",
        symbol="btc/usd",
        venue_symbol="btcusd",
        side="sell",
        order_type="stop-loss-limit",
        status="new",
        tif="gtc",
        flags=("post-only",),
        account_name="main spot",
        account_id="main",
        venue="spot",
        order_id="oqclml-bw3p3-bucmwz",
        client_id="grid-7",
        userref="42",
        cancel="",
        notional=25_000.0,
        limit=50_000.0,
        trigger=49_000.0,
        qty=0.5,
        filled=0.0,
        pct=0.0,
        opened_at=NOW - 7200,
    )
    return FilterRecord(**{**base, **changes})  # type: ignore[arg-type]


ETH_BTC = rec(pair="eth/btc", base="eth", quote="btc", symbol="eth/btc", venue_symbol="eth-btc")
BTC_PERP = rec(market="perp", symbol="btc/usd perp", venue_symbol="pf_btcusd", venue="futures")


def matches(text: str, r: FilterRecord) -> bool:
    return parse(text).matches(r, NOW)


def test_words_are_anded_and_each_matched_in_its_own_field() -> None:
    assert matches("btc sell", rec())
    assert not matches("btc sell", ETH_BTC)  # BTC is its quote, not its market
    assert not matches("btc sell", rec(side="buy"))  # a BTC/USD buy is not a sell
    assert matches("eth", ETH_BTC)
    assert matches("/btc", ETH_BTC) and not matches("/btc", rec())
    assert matches("xbt", rec())  # Kraken's other spelling


@pytest.mark.parametrize(
    "text",
    [
        "stop",
        "type:stop",
        "limit",
        "gtc",
        "post",
        "flag:post",
        "main",
        "acct:main",
        "spot",
        "new",
        "42",
        "oqclml",
        "grid",
    ],
)
def test_each_field_is_found_by_a_bare_word_or_by_name(text: str) -> None:
    assert matches(text, rec())


@pytest.mark.parametrize(
    ("text", "r", "expected"),
    [
        ("side:sell", rec(), True),
        ("side:buy", rec(), False),
        ("sells", rec(), True),
        ("type:take", rec(), False),
        ("venue:futures", BTC_PERP, True),
        ("venue:futures", rec(), False),
        ("perp", BTC_PERP, True),
        ("perp", rec(), False),
        ("sym:btc/usd", BTC_PERP, True),
        ("sym:pf_", BTC_PERP, True),
        ("quote:usd", rec(), True),
        ("status:partial", rec(status="partially filled"), True),
        ("cancel:unknown", rec(cancel="unknown (timeout)"), True),
        ("cancel:unknown", rec(), False),
        ('acct:"main spot"', rec(), True),
        ("-side:buy", rec(), True),
        ("-stop", rec(), False),
    ],
)
def test_field_terms(text: str, r: FilterRecord, expected: bool) -> None:
    assert matches(text, r) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (">notional:10000", True),
        (">notional:30k", False),
        ("notional>=25000", True),
        ("notional:<25,000", False),
        ("<price:100", False),
        (">trigger:48000", True),
        ("qty:0.5", True),
        (">pct:0", False),
        (">age:1h", True),
        ("<age:90m", False),
    ],
)
def test_comparisons(text: str, expected: bool) -> None:
    assert matches(text, rec()) is expected


def test_an_order_without_the_number_never_passes_a_comparison() -> None:
    assert not matches(">notional:0", rec(notional=None))
    assert matches("-<notional:0", rec(notional=None))


@pytest.mark.parametrize("text", ["foo:bar", ">side:1", ">notional:lots", "side:", ">5"])
def test_what_cannot_be_read_matches_nothing_and_says_why(text: str) -> None:
    q = parse(text)
    assert q.errors and not q.matches(rec(), NOW)


def test_parsed_terms_and_their_words() -> None:
    q = parse('btc side:sell >notional:10k acct:"main spot" -type:stop')
    assert q.terms == (
        TextTerm("btc"),
        TextTerm("sell", field=q.terms[1].field),  # type: ignore[union-attr]
        NumberTerm(q.terms[2].field, ">", 10_000.0),  # type: ignore[union-attr]
        TextTerm("main spot", field=q.terms[3].field),  # type: ignore[union-attr]
        TextTerm("stop", field=q.terms[4].field, negate=True),  # type: ignore[union-attr]
    )
    assert q.describe() == "“btc” and side sell and notional > 10,000 and account main spot and not type stop"
    assert parse("   ").empty and parse("").matches(rec(), NOW)


def test_the_fast_bare_word_path_means_the_same_as_each_field_s_rule() -> None:
    import random

    from app.ui.filter_query import BARE_FIELDS, _match_field

    rng = random.Random(2)
    words = ["btc", "xbt", "eth", "sell", "sells", "buy", "stop", "limit", "loss", "take", "new", "partial",
             "gtc", "post", "reduce", "main", "spot", "fut", "perp", "/usd", "/btc", "btc/u", "pf_", "oq",
             "grid", "4", "42", "unknown", "time", "m", "s", "-", "usd", "filled", "trig"]  # fmt: skip
    records = [
        rec(),
        ETH_BTC,
        BTC_PERP,
        rec(status="partially filled", cancel="unknown (timeout)", flags=("post-only", "reduce-only")),
        rec(side="buy", order_type="limit", client_id="", userref="", tif="", account_name="futures desk"),
    ]
    for r in records:
        for w in [*words, *(rng.choice(words)[:2] for _ in range(20))]:
            slow = any(_match_field(f, w, r) for f in BARE_FIELDS)
            assert TextTerm(w).matches(r, NOW) is slow, (w, r)
