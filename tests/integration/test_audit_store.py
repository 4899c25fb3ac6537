"""The audit against the real PostgreSQL: jobs enqueued by trigger, batch runs, idempotent
re-runs, reviews kept across changed inputs, the worker, the API and the monthly report."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from audit import service
from db.timeseries import positions_spec, store_for
from tests.unit.test_audit_rules import CLINIC, LAT0, LON0, M_LAT, M_LON, PLAN_M, drive

pytestmark = pytest.mark.integration

BOOKED = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # 10:00 Moscow, a past month
NOW = datetime(2026, 4, 2, tzinfo=UTC)


@dataclass
class World:
    carrier_id: int
    other_carrier_id: int
    vehicle_id: int
    passenger_id: int
    clinic_id: int


def make_world(conn: psycopg.Connection) -> World:
    c1 = conn.execute(
        "INSERT INTO carriers (name, inn) VALUES ('ООО Перевозчик', '7801234567') RETURNING id"
    ).fetchone()[0]
    c2 = conn.execute(
        "INSERT INTO carriers (name, inn) VALUES ('ООО Другой', '7801234568') RETURNING id"
    ).fetchone()[0]
    veh = conn.execute(
        "INSERT INTO vehicles (carrier_id, plate, vehicle_type, seats, mqtt_id)"
        " VALUES (%s, 'А001АА47', 'car', 4, 'sim-001') RETURNING id",
        (c1,),
    ).fetchone()[0]
    pas = conn.execute(
        "INSERT INTO passengers (last_name, first_name, birth_date, name_norm)"
        " VALUES ('Иванова', 'Мария', '1940-01-01', 'иванова мария') RETURNING id"
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO passenger_benefits (passenger_id, category, valid_from)"
        " VALUES (%s, 'disabled_1', '2020-01-01')",
        (pas,),
    )
    obj = conn.execute(
        "INSERT INTO social_objects (name, object_type, address, lat, lon, radius_m)"
        " VALUES ('Поликлиника', 'medical', 'Мурино', %s, %s, 150) RETURNING id",
        (CLINIC.lat, CLINIC.lon),
    ).fetchone()[0]
    return World(c1, c2, veh, pas, obj)


def add_trip(
    conn: psycopg.Connection,
    w: World,
    *,
    detour_m: float = 0.0,
    status: str = "completed",
    payment_kop: int | None = 8150,
    booked: datetime = BOOKED,
    seed: int = 1,
) -> int:
    """A finished trip with its fixes (vehicle_positions), events and payment."""
    track, moments, _ = drive(detour_m=detour_m, booked=booked, seed=seed)
    at = {k: datetime.fromtimestamp(v, UTC) for k, v in moments.items()}
    plan = {
        "type": "LineString",
        "coordinates": [[LON0, LAT0], [LON0, LAT0 + PLAN_M * M_LAT]],
    }
    trip_id = conn.execute(
        "INSERT INTO trips (passenger_id, category, status, vehicle_type, pickup_at,"
        " pickup_address, pickup_lat, pickup_lon, dest_object_id, dest_lat, dest_lon,"
        " planned_route, planned_dist_m, planned_duration_s, fare_kop, copay_share_pct, copay_kop,"
        " vehicle_id, carrier_id, started_at, picked_up_at, completed_at)"
        " VALUES (%s, 'disabled_1', %s, 'car', %s, 'адрес', %s, %s, %s, %s, %s, %s, %s, 300,"
        " 31600, 25, 7900, %s, %s, %s, %s, %s) RETURNING id",
        (
            w.passenger_id,
            status,
            booked,
            LAT0,
            LON0,
            w.clinic_id,
            CLINIC.lat,
            CLINIC.lon,
            Jsonb(plan),
            PLAN_M,
            w.vehicle_id,
            w.carrier_id,
            at["start"],
            at["board"] if status == "completed" else None,
            at["end"] if status == "completed" else None,
        ),
    ).fetchone()[0]
    series = store_for(conn, positions_spec())
    t0, t1 = float(track.t_s[0]), float(track.t_s[-1])
    series.ensure_range(
        conn, datetime.fromtimestamp(t0, UTC), datetime.fromtimestamp(t1, UTC) + timedelta(1)
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO vehicle_positions (vehicle_id, ts, lat, lon) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            [
                (w.vehicle_id, datetime.fromtimestamp(float(t), UTC), float(la), float(lo))
                for t, la, lo in zip(track.t_s, track.lat, track.lon, strict=True)
            ],
        )
    for kind, when in (("en_route", "start"), ("arrived_at_pickup", "arrived")):
        conn.execute(
            "INSERT INTO trip_events (trip_id, vehicle_id, event_type, occurred_at, source)"
            " VALUES (%s, %s, %s, %s, 'vehicle')",
            (trip_id, w.vehicle_id, kind, at[when]),
        )
    if payment_kop is not None:
        conn.execute(
            "INSERT INTO payments (trip_id, amount_kop, method, collected_at, source)"
            " VALUES (%s, %s, 'cash', %s, 'vehicle')",
            (trip_id, payment_kop, at["end"]),
        )
    return int(trip_id)


def findings(conn: psycopg.Connection, trip_id: int) -> dict[str, dict[str, Any]]:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    rows = cur.execute(
        "SELECT * FROM audit_findings WHERE trip_id = %s ORDER BY rule", (trip_id,)
    ).fetchall()
    return {r["rule"]: r for r in rows}


def batch(db_url: str, rules, *, carrier: int | None = None) -> service.RunTally:
    return service.run_period(
        db_url,
        start=BOOKED - timedelta(days=1),
        end=BOOKED + timedelta(days=1),
        carrier_id=carrier,
        rules=rules,
        graph=None,
        matcher=None,
    )


@pytest.fixture
def fresh_settings():
    """The CLI reads the cached settings: drop them before and after a command test."""
    from config.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def due_copay(rules) -> int:
    from dispatch.tariff import quote

    return quote(rules, category="disabled_1", vehicle_type="car", distance_m=PLAN_M).copay_kop


def test_finishing_a_trip_enqueues_one_job(db):
    w = make_world(db)
    trip = add_trip(db, w, status="completed")
    jobs = db.execute("SELECT trip_id, reason FROM audit_jobs WHERE done_at IS NULL").fetchall()
    assert jobs == [(trip, "status:completed")]  # the payment did not add a second pending job
    booked = db.execute(
        "INSERT INTO trips (passenger_id, category, vehicle_type, pickup_at, pickup_address,"
        " pickup_lat, pickup_lon, dest_object_id, dest_lat, dest_lon)"
        " VALUES (%s, 'disabled_1', 'car', %s, 'a', 60.04, 30.45, %s, 60.06, 30.45) RETURNING id",
        (w.passenger_id, BOOKED, w.clinic_id),
    ).fetchone()[0]
    assert (
        db.execute("SELECT count(*) FROM audit_jobs WHERE trip_id = %s", (booked,)).fetchone()[0]
        == 0
    )
    db.execute("UPDATE trips SET status = 'cancelled' WHERE id = %s", (booked,))
    assert db.execute("SELECT reason FROM audit_jobs WHERE trip_id = %s", (booked,)).fetchone() == (
        "status:cancelled",
    )


def test_batch_run_is_idempotent_and_keeps_reviews(db, db_url, rules):
    w = make_world(db)
    trip = add_trip(db, w, detour_m=1500, payment_kop=due_copay(rules))
    clean = add_trip(db, w, booked=BOOKED + timedelta(hours=3), payment_kop=due_copay(rules))
    first = batch(db_url, rules)
    assert first.trips == 2 and first.failed == 0
    f = findings(db, trip)
    assert set(f) == {"route_deviation"}
    assert findings(db, clean) == {}
    dev = f["route_deviation"]
    assert dev["status"] == "new" and dev["evidence"]["off_route"]
    assert dev["geometry"]["type"] == "FeatureCollection"
    run = db.execute(
        "SELECT status, trips_checked, findings_new, notes, duration_s FROM audit_runs"
        " WHERE id = %s",
        (first.run_id,),
    ).fetchone()
    assert run[0] == "done" and run[1] == 2 and run[2] == 1 and run[3] >= 1
    assert run[4] is not None
    # the run log says the deviation was checked by the corridor only (no map here)
    codes = {
        r[0]
        for r in db.execute(
            "SELECT code FROM audit_run_notes WHERE run_id = %s", (first.run_id,)
        ).fetchall()
    }
    assert "no_matched_track" in codes

    second = batch(db_url, rules)
    assert (second.counts.new, second.counts.updated, second.counts.unchanged) == (0, 0, 1)
    assert db.execute("SELECT count(*) FROM audit_findings").fetchone()[0] == 1

    # a controller confirms; then a second payment arrives: the copayment finding appears, the
    # deviation keeps its review and is unchanged
    uid = db.execute(
        "INSERT INTO users (login, full_name, password_hash) VALUES ('ctl', 'К', 'x') RETURNING id"
    ).fetchone()[0]
    from audit.service_findings import review_finding

    @dataclass
    class U:
        id: int
        roles: frozenset[str] = frozenset({"controller"})
        carrier_id: int | None = None

    with psycopg.connect(db_url) as conn:
        review_finding(
            conn, user=U(uid), finding_id=dev["id"], action="confirm", comment="Крюк", now=NOW
        )
    db.execute(
        "INSERT INTO payments (trip_id, amount_kop, method, collected_at, source)"
        " VALUES (%s, 500, 'cash', %s, 'web')",
        (trip, BOOKED + timedelta(hours=1)),
    )
    assert db.execute(
        "SELECT reason FROM audit_jobs WHERE trip_id = %s AND done_at IS NULL", (trip,)
    ).fetchone() == ("payment",)
    batch(db_url, rules)
    f = findings(db, trip)
    assert set(f) == {"route_deviation", "improper_copayment"}
    assert f["route_deviation"]["status"] == "confirmed"
    assert f["route_deviation"]["evidence_changed_at"] is None
    assert f["improper_copayment"]["evidence"]["reasons"] == ["repeated", "amount_mismatch"]

    # the fixes change (the far end of the detour is lost): the confirmed deviation's evidence
    # changes — it keeps its review and is marked
    db.execute(
        "DELETE FROM vehicle_positions WHERE vehicle_id = %s AND lon > %s",
        (w.vehicle_id, LON0 + 1000 * M_LON),
    )
    batch(db_url, rules)
    dev2 = findings(db, trip)["route_deviation"]
    assert dev2["withdrawn_at"] is None
    assert dev2["evidence_changed_at"] is not None
    assert dev2["evidence"] != dev["evidence"]
    assert dev2["status"] == "confirmed" and dev2["id"] == dev["id"]
    assert db.execute("SELECT count(*) FROM audit_reviews").fetchone()[0] == 1


def test_withdrawn_when_inputs_no_longer_show_it(db, db_url, rules):
    w = make_world(db)
    trip = add_trip(db, w, payment_kop=due_copay(rules) + 1000)
    batch(db_url, rules)
    assert findings(db, trip)["improper_copayment"]["withdrawn_at"] is None
    db.execute("UPDATE payments SET amount_kop = %s WHERE trip_id = %s", (due_copay(rules), trip))
    tally = batch(db_url, rules)
    assert tally.counts.withdrawn == 1
    assert findings(db, trip)["improper_copayment"]["withdrawn_at"] is not None
    assert db.execute("SELECT count(*) FROM audit_findings").fetchone()[0] == 1  # kept


def test_batch_filters_by_carrier_and_logs_bad_input(db, db_url, rules):
    w = make_world(db)
    trip = add_trip(db, w, detour_m=1500)
    assert batch(db_url, rules, carrier=w.other_carrier_id).trips == 0
    # a trip without a plan and without fixes: notes, never a crash
    db.execute(
        "UPDATE trips SET planned_route = NULL, planned_dist_m = NULL WHERE id = %s", (trip,)
    )
    db.execute("DELETE FROM vehicle_positions")
    tally = batch(db_url, rules, carrier=w.carrier_id)
    assert tally.trips == 1 and tally.failed == 0
    codes = {
        r[0]
        for r in db.execute(
            "SELECT code FROM audit_run_notes WHERE run_id = %s AND trip_id = %s",
            (tally.run_id, trip),
        ).fetchall()
    }
    assert {"no_fixes", "missing_plan"} <= codes
    assert "poor_gps_coverage" in findings(db, trip)


def test_worker_takes_jobs_once_and_marks_them_done(db, db_url, rules):
    w = make_world(db)
    trip = add_trip(db, w, detour_m=1500)
    tally = service.work(
        db_url, rules=rules, graph=None, matcher=None, settle=timedelta(0), once=True
    )
    assert tally.trips == 1
    assert "route_deviation" in findings(db, trip)
    job = db.execute("SELECT done_at, run_id, attempts FROM audit_jobs WHERE trip_id = %s", (trip,))
    done_at, run_id, attempts = job.fetchone()
    assert done_at is not None and run_id == tally.run_id and attempts == 1
    again = service.work(
        db_url, rules=rules, graph=None, matcher=None, settle=timedelta(0), once=True
    )
    assert again.trips == 0


def test_jobs_are_not_taken_twice(db, db_url, rules):
    """Two workers at once: FOR UPDATE SKIP LOCKED hands each job to one of them."""
    from audit import store

    w = make_world(db)
    t1 = add_trip(db, w)
    t2 = add_trip(db, w, booked=BOOKED + timedelta(hours=3))
    with (
        psycopg.connect(db_url) as a,
        psycopg.connect(db_url) as b,
        psycopg.connect(db_url) as c,
    ):
        ja = store.take_job(a, settle=timedelta(0))
        jb = store.take_job(b, settle=timedelta(0))
        assert ja and jb and ja != jb
        assert {ja[1], jb[1]} == {t1, t2}
        assert store.take_job(c, settle=timedelta(0)) is None  # both are locked
        a.rollback()  # a worker that dies leaves its job pending: the next one takes it
        assert store.take_job(c, settle=timedelta(0)) == ja


def test_monthly_report_xlsx_reads_back(db, db_url, rules, tmp_path, fresh_settings):
    from openpyxl import load_workbook
    from typer.testing import CliRunner

    w = make_world(db)
    add_trip(db, w, detour_m=1500, payment_kop=due_copay(rules))
    add_trip(db, w, booked=BOOKED + timedelta(hours=3), payment_kop=0)
    batch(db_url, rules)
    from socialtaxi.cli import app

    out = tmp_path / "r.xlsx"
    res = CliRunner().invoke(
        app,
        ["audit", "report", "--month", "2026-03", "--out", str(out)],
        env={"SOCIALTAXI_DATABASE_URL": db_url},
    )
    assert res.exit_code == 0, res.output
    wb = load_workbook(io.BytesIO(out.read_bytes()))
    summary = wb["Сводка"]
    header = [c.value for c in summary[1]]
    assert header[:5] == ["Перевозчик", "Выполнено поездок", "Неявок", "Оплачено км", "К оплате, ₽"]
    row = dict(zip(header, [c.value for c in summary[2]], strict=True))
    assert row["Перевозчик"] == "ООО Перевозчик"
    assert row["Выполнено поездок"] == 2
    assert row["Оплачено км"] == pytest.approx(2 * PLAN_M / 1000)
    assert row["Нарушений: Отклонение от маршрута"] == 1
    assert row["Нарушений: Неправильная доплата"] == 1
    assert row["Под вопросом, ₽"] > 0
    lines = list(wb["Нарушения"].iter_rows(min_row=2, values_only=True))
    assert sorted(r[5] for r in lines) == ["Неправильная доплата", "Отклонение от маршрута"]
    assert all("Иванова" not in str(r) for r in lines)  # no personal data in the report
    csv_out = tmp_path / "r.csv"
    res = CliRunner().invoke(
        app,
        ["audit", "report", "--month", "2026-03", "--out", str(csv_out)],
        env={"SOCIALTAXI_DATABASE_URL": db_url},
    )
    assert res.exit_code == 0, res.output
    text = csv_out.read_bytes().decode("utf-8-sig")
    assert text.splitlines()[0].startswith("Перевозчик;Выполнено поездок")
    assert len(text.splitlines()) == 2


def test_run_and_worker_commands(db, db_url, rules, fresh_settings):
    from typer.testing import CliRunner

    from socialtaxi.cli import app

    w = make_world(db)
    trip = add_trip(db, w, detour_m=1500, payment_kop=due_copay(rules))
    env = {"SOCIALTAXI_DATABASE_URL": db_url, "SOCIALTAXI_MAP_SOURCE": ""}
    runner = CliRunner()
    res = runner.invoke(
        app, ["audit", "run", "--from", "2026-03-10", "--to", "2026-03-11"], env=env
    )
    assert res.exit_code == 0, res.output
    assert "trips 1, failed 0, findings new 1" in res.stdout
    assert "карта не задана" in res.stderr
    res = runner.invoke(
        app, ["audit", "run", "--from", "2026-03-11", "--to", "2026-03-10"], env=env
    )
    assert res.exit_code == 2 and "--to" in res.stderr
    res = runner.invoke(app, ["audit", "run", "--from", "вчера", "--to", "2026-03-10"], env=env)
    assert res.exit_code == 2 and "ISO 8601" in res.stderr
    # the batch closed the trip's job: the worker has nothing to do
    res = runner.invoke(app, ["audit", "worker", "--once", "--settle-s", "0"], env=env)
    assert res.exit_code == 0, res.output
    assert "trips 0" in res.stdout
    assert list(findings(db, trip)) == ["route_deviation"]


def test_over_quota_counts_the_passengers_earlier_trips(db, db_url, rules):
    w = make_world(db)
    due = due_copay(rules)
    trips = [
        add_trip(db, w, booked=BOOKED + timedelta(days=k), payment_kop=due, seed=k)
        for k in range(5)
    ]
    # a cancelled trip in between does not count
    db.execute(
        "UPDATE trips SET status = 'cancelled', completed_at = NULL WHERE id = %s", (trips[2],)
    )
    extra = add_trip(db, w, booked=BOOKED + timedelta(days=6), payment_kop=due, seed=9)
    service.run_period(
        db_url,
        start=BOOKED - timedelta(days=1),
        end=BOOKED + timedelta(days=10),
        carrier_id=None,
        rules=rules,
        graph=None,
        matcher=None,
    )
    flagged = [t for t in [*trips, extra] if "over_quota" in findings(db, t)]
    assert flagged == [extra]  # four counted trips before it (one of five was cancelled)
    ev = findings(db, extra)["over_quota"]["evidence"]
    assert ev["month_used"] == 4 and ev["month_limit"] == 4
