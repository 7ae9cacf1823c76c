"""The desk's tests run with automatic garbage collection on, as the app's desk does (tests/conftest.py)."""

import gc


def test_automatic_collection_is_on_off_the_qt_loop() -> None:
    assert gc.isenabled()
