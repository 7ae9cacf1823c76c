"""The ledger's legal moves: cancelled only from sent/acknowledged or a stream's word on unknown."""

from app.core.ledger import CancelState as S
from app.core.ledger import Outcome, can_move


def test_happy_path() -> None:
    assert can_move(None, S.QUEUED) and can_move(S.QUEUED, S.SENT)
    assert can_move(S.SENT, S.ACKNOWLEDGED) and can_move(S.ACKNOWLEDGED, S.CANCELLED)


def test_nothing_is_cancelled_without_being_sent() -> None:
    assert not can_move(None, S.CANCELLED)
    assert not can_move(S.QUEUED, S.CANCELLED)
    assert not can_move(S.FAILED, S.CANCELLED)
    assert not can_move(S.REJECTED, S.CANCELLED)


def test_unknown_resolves_by_recheck_and_filled_is_final() -> None:
    assert can_move(S.UNKNOWN, S.CANCELLED) and can_move(S.UNKNOWN, S.FAILED)
    assert not any(can_move(S.FILLED, s) for s in S)


def test_outcome_text() -> None:
    assert str(Outcome(S.REJECTED, "EGeneral:Permission denied")) == "rejected (EGeneral:Permission denied)"
    # A reason that already names its state is not said twice.
    assert (
        str(Outcome(S.WAITING, "waiting: Kraken's rate limit, ~3 s")) == "waiting: Kraken's rate limit, ~3 s"
    )
    assert S.SENT.is_open_attempt and not S.UNKNOWN.is_open_attempt and S.UNKNOWN.is_final
