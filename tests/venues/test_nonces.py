"""Nonces: strictly increasing per key, across restarts and clock steps back."""

from pathlib import Path

from app.venues.nonces import NonceSource


def test_strictly_increasing_even_when_the_clock_stands_still() -> None:
    src = NonceSource(clock=lambda: 1000)
    values = [src.next("k") for _ in range(5)]
    assert values == [1000, 1001, 1002, 1003, 1004]


def test_keys_are_independent() -> None:
    src = NonceSource(clock=lambda: 50)
    assert src.next("a") == 50
    assert src.next("b") == 50


def test_survives_restart_and_clock_going_back(tmp_path: Path) -> None:
    store = tmp_path / "nonces.json"
    first = NonceSource(store, clock=lambda: 5_000_000_000_000)
    issued = [first.next("k") for _ in range(3)]
    again = NonceSource(store, clock=lambda: 1)  # clock jumped far back
    assert again.next("k") > max(issued)


def test_unreadable_store_starts_from_clock(tmp_path: Path) -> None:
    store = tmp_path / "nonces.json"
    store.write_text("{not json")
    assert NonceSource(store, clock=lambda: 7).next("k") == 7
