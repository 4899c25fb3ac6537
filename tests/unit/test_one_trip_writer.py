"""Trip state has one writer (issue 8, item 3): no module but ``dispatch/store/trips.py`` changes a
trip, writes a trip event or a payment — API actions and vehicle events alike go through
``dispatch.store.trips.record_event``. A new module with its own SQL fails here without being
listed anywhere."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WRITER = REPO / "dispatch" / "store" / "trips.py"
WRITES = re.compile(
    r"UPDATE\s+trips\b|INSERT\s+INTO\s+(trip_events|payments)\b"
    r"|(insert_row|update_row)\(\s*\w+\s*,\s*[\"'](trips|trip_events|payments)[\"']",
    re.IGNORECASE,
)
#: the packages that run in production (the CLI's demo seeding, benches and tests may set up
#: data as they need)
PACKAGES = ("dispatch", "telemetry", "web", "audit", "simulators", "routing", "config")


def _sources() -> list[Path]:
    return [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py") if p != WRITER]


def test_only_the_trip_store_writes_trips_events_and_payments() -> None:
    offenders = {
        str(p.relative_to(REPO)): m.group(0)
        for p in _sources()
        for m in [WRITES.search(p.read_text(encoding="utf-8"))]
        if m
    }
    assert not offenders, f"trip state written outside {WRITER.relative_to(REPO)}: {offenders}"


def test_the_check_sees_a_writer() -> None:
    # the pattern matches what the writer itself does, so the check above can fail
    text = WRITER.read_text(encoding="utf-8")
    assert len({m.group(0).split()[0].upper() for m in WRITES.finditer(text)}) >= 2
    assert WRITES.search('cur.execute("update trips set status = %s")')
    assert WRITES.search("insert_row(conn, 'payments', values)")
