"""What the window says about links, the dead man's switch and Kraken's status: pure, at a given time."""

from __future__ import annotations

import time

from app.core.accounts import LinkState
from app.core.orders import VenueKind
from app.desk.deadman import DeadmanState
from app.desk.desk import AccountStatus
from app.desk.venues import VenueStatus
from app.ui import status_text as st

NOW = 1_800_000_000.0


def status(link: LinkState, **kw: object) -> AccountStatus:
    return AccountStatus("a", "Main", VenueKind.SPOT, link, **kw)  # type: ignore[arg-type]


def hhmmss(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def test_links_say_how_long_and_when_the_next_try_is() -> None:
    assert st.link(status(LinkState.LIVE), NOW) == st.Said("live", "good", "Main is live")
    down = st.link(status(LinkState.DOWN, since=NOW - 312, live_at=NOW - 320, detail="refused"), NOW)
    assert down.short == "down 5m" and down.tone == "failed"
    assert down.long == f"Main is down for 5 min 12 s: refused; rows as of {hhmmss(NOW - 320)}"
    again = st.link(
        status(
            LinkState.RECONNECTING, since=NOW - 3, retry_at=NOW + 12, detail="refused; reconnecting in 16 s"
        ),
        NOW,
    )
    assert again.short == "retry 12s"
    assert again.long == "Main is reconnecting for 3 s · retry in 12 s: refused"  # no frozen 16 s
    rest = st.link(status(LinkState.POLLING, detail="listed over REST; stream reconnecting"), NOW)
    assert rest.short == "REST" and rest.tone == "in_flight"


def test_the_dead_mans_switch_counts_down_to_krakens_deadline_and_says_when_it_will_fire() -> None:
    assert st.deadman(None, NOW, switch_on=False).short == "off"
    assert st.deadman(DeadmanState("a", False, supported=False), NOW, switch_on=True).short == "none"
    left_out = st.deadman(DeadmanState("a", False, left_out="its key cannot cancel"), NOW, switch_on=True)
    assert left_out.short == "left out" and "its key cannot cancel" in left_out.long
    ok = st.deadman(DeadmanState("a", True, trigger_at=NOW + 47, acked_at=NOW - 13), NOW, switch_on=True)
    assert ok.short == "47s" and ok.tone == "good" and f"last acknowledged at {hhmmss(NOW - 13)}" in ok.long
    failing = DeadmanState("a", True, trigger_at=NOW + 20, acked_at=NOW - 40, error="timed out")
    said = st.deadman(failing, NOW, switch_on=True)
    assert said.short == f"⚠ {hhmmss(NOW + 20)}" and said.tone == "failed"
    assert said.long.startswith(f"Not acknowledged since {hhmmss(NOW - 40)}: Kraken cancels everything at")
    # Past the deadline with no acknowledgement: it fired (Kraken's timer does not wait for us).
    late = st.deadman(DeadmanState("a", True, trigger_at=NOW - 1, acked_at=NOW - 61), NOW, switch_on=True)
    assert "Kraken fired at" in late.long


def test_krakens_status_and_a_maintenance_reminder_when_the_switch_is_armed() -> None:
    assert st.kraken(VenueStatus("online"), NOW) is None
    said = st.kraken(VenueStatus("cancel_only"), NOW)
    assert said is not None and said.short == "cancel only"
    ahead = st.kraken(VenueStatus("online", "scheduled", NOW + 1500), NOW)
    assert ahead is not None and ahead.short == f"maint. {hhmmss(NOW + 1500)}" and "in 25 min" in ahead.long
    accounts = [status(LinkState.LIVE, kraken=VenueStatus("online", "scheduled", NOW + 1500))]
    armed = {"a": DeadmanState("a", True, trigger_at=NOW + 50)}
    (line,) = st.maintenance_reminder(accounts, armed, NOW)
    assert "disarm the dead man's switch first" in line
    assert st.maintenance_reminder(accounts, {"a": DeadmanState("a", False)}, NOW) == []
    far = [status(LinkState.LIVE, kraken=VenueStatus("online", "scheduled", NOW + 7200))]
    assert st.maintenance_reminder(far, armed, NOW) == []
