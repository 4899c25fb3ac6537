"""Benchmark of ``socialtaxi ingest``, end to end: publishers → Mosquitto → ingest → PostgreSQL.

Usage::

    .venv/bin/python bench/ingest.py                 # the full run (a few minutes)
    .venv/bin/python bench/ingest.py --quick         # smaller streams

What it prints, per scenario:

* **throughput**: simulated vehicles publish a fixed number of fixes as fast as the broker takes
  (QoS 1, publishers in separate processes); the figure is stored fixes / (first publish → last
  commit seen), the loss count (published fixes not in ``vehicle_positions``), and — in the same
  run, on the same stream shape — the drain rate of a *bare subscriber* that stores nothing
  (paho, QoS 1, acks each message), and the ratio of the two. Once with one fix per message and
  once with buffered batches (an array of fixes per message, which the contract allows).
* **scaling**: the same stream with 1 and with 2 ingest processes on one shared subscription.
* **paho**: ingest's tuned MQTT client (overrides of private paho methods: a read buffer,
  batched acknowledgements, no per-message filter lookup) against ``--public-paho`` (paho's
  public API only) and against the tuned client without one tuning each (``--paho-without``):
  live runs of the same stream, alternated, in this one run. The figure is the CPU time of the
  ingest process per stored fix (user + system, all its threads, from ``/proc``), which other
  jobs on the machine barely move, beside the rate, which they do.
* **latency**: 2,000 vehicles at 1 Hz (2,000 fixes/s, one fix per message) published by the
  simulator's load mode (``socialtaxi simulate load``, its own process; its exact count of
  acknowledged fixes is what loss is checked against); p50/p99 of publish → commit
  (``received_at`` is ``statement_timestamp()`` of the INSERT, taken just before the commit;
  the fix time is the publish time).

The bench starts its own Mosquitto (``/usr/sbin/mosquitto``) on a free port with
``max_queued_messages 0`` (the default 1000 would drop messages while a consumer lags: see
``docs/telemetry.md``), creates its own database and drops it at the end, and uses a unique
topic prefix. Broker, database, publishers and ingest all share this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

# bench/ holds other scripts named like packages (bench/dispatch.py): never import from it
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # for bench._mqtt (bench/ itself stays off the path)

import psycopg  # noqa: E402

from bench._mqtt import broker, free_port, simulate_load  # noqa: E402
from telemetry import encode  # noqa: E402
from telemetry.model import Fix  # noqa: E402
from telemetry.publish import FastPublisher  # noqa: E402

PG_SERVER = os.environ.get("SOCIALTAXI_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
LAT0, LON0 = 59.94, 30.31  # St Petersburg


@contextmanager
def database(n_vehicles: int):
    from db import migrate

    name = f"st_bench_ingest_{uuid.uuid4().hex[:8]}"
    url = f"{PG_SERVER}/{name}"
    migrate.upgrade(url)
    with psycopg.connect(url, autocommit=True) as c:
        cid = c.execute("INSERT INTO carriers (name) VALUES ('bench') RETURNING id").fetchone()[0]
        with c.cursor().copy(
            "COPY vehicles (carrier_id, plate, vehicle_type, seats, mqtt_id) FROM STDIN"
        ) as cp:
            for i in range(n_vehicles):
                cp.write_row((cid, f"B{i:05d}", "car", 4, f"veh{i:05d}"))
    try:
        yield url
    finally:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as c:
            c.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            c.execute(f'DROP DATABASE IF EXISTS "{name}"')


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("TRUNCATE vehicle_positions, vehicle_last_position, telemetry_dead_letters")


# --- publishers (separate processes) ------------------------------------------------------------
def _fix(i_vehicle: int, seq: int, ts_ms: int) -> Fix:
    return Fix(
        ts_ms * 1000,
        round(LAT0 + (i_vehicle % 100) * 1e-3 + seq * 1e-5, 6),
        round(LON0 + (i_vehicle // 100) * 1e-3, 6),
        36.0,
        0.0,
        5.0,
        satellites=9,
    )


def _payload(v: int, seqs: range, base_ms: int, fixes_per_msg: int, now_ms: int | None = None):
    """The position payload of vehicle ``v`` for fixes ``seqs`` (telemetry/encode.py)."""
    fixes = [_fix(v, s, now_ms if now_ms is not None else base_ms + s * 1000) for s in seqs]
    if fixes_per_msg == 1:
        return encode.encode_fix(fixes[0])
    return encode.encode_batch(fixes)


def raw_publisher(port, prefix, vehicles, per_vehicle, fixes_per_msg, barrier, out_q):
    """Publish as fast as the broker takes, through the publisher module's raw fast path
    (:class:`telemetry.publish.FastPublisher`; why it exists is said there): every packet is
    built before the clock starts, at most 20,000 are unacknowledged, and the figure ends only
    when every publish is acknowledged."""
    fp = FastPublisher("127.0.0.1", port, window=20_000)
    topics = [encode.position_topic(prefix, f"veh{v:05d}").encode() for v in vehicles]
    base_ms = int(time.time() * 1000) - per_vehicle * 1000 - 60_000
    packets, sizes = [], 0
    for seq0 in range(0, per_vehicle, fixes_per_msg):
        for k, v in enumerate(vehicles):
            seqs = range(seq0, min(seq0 + fixes_per_msg, per_vehicle))
            body = _payload(v, seqs, base_ms, fixes_per_msg)
            packets.append(fp.packet(topics[k], body))
            sizes += len(body)
    barrier.wait()
    first = time.time()
    fp.send(packets)
    assert fp.drain(600), f"{fp.sent - fp.acknowledged} publishes never acknowledged"
    last = time.time()
    fp.close()
    out_q.put({"first": first, "last": last, "msgs": fp.acknowledged, "bytes": sizes})


def run_publishers(port, prefix, n_vehicles, per_vehicle, fixes_per_msg, n_pub):
    """As fast as the broker takes: the publisher module's raw fast path, ``n_pub`` processes."""
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    parts = [list(range(n_vehicles))[i::n_pub] for i in range(n_pub)]
    barrier = ctx.Barrier(n_pub)
    procs = [
        ctx.Process(
            target=raw_publisher,
            args=(port, prefix, part, per_vehicle, fixes_per_msg, barrier, q),
        )
        for part in parts
    ]
    for p in procs:
        p.start()
    return procs, q


def simulator_load(port, prefix, n_vehicles, seconds, rate_hz=1.0):
    """The simulator's load mode (``socialtaxi simulate load``, its own process): vehicles
    ``veh00000``... at ``rate_hz``, each fix stamped with its publish time; returns its JSON
    summary, whose ``acknowledged`` is the exact count the loss check uses."""
    return simulate_load(port, prefix=prefix, vehicles=n_vehicles, seconds=seconds,
                         rate_hz=rate_hz, id_format="veh{:05d}")  # fmt: skip


def offered(pub: dict, fixes_per_msg: int) -> float:
    """Fixes per second the publishers got acknowledged by the broker."""
    return pub["msgs"] * fixes_per_msg / (pub["last"] - pub["first"])


def collect(procs, q):
    res = [q.get() for _ in procs]
    for p in procs:
        p.join()
    return {
        "first": min(r["first"] for r in res),
        "last": max(r["last"] for r in res),
        "msgs": sum(r["msgs"] for r in res),
        "bytes": sum(r["bytes"] for r in res),
    }


# --- bare subscriber (separate process) ------------------------------------------------------
def bare_subscriber(port, topic, expected_msgs, ready, go, out_q, drain):
    """Count messages, store nothing. The same MQTT client as ingest (paho with ingest's read
    buffer, QoS 1, MQTT 5, Receive Maximum 65,535) and the same batched acknowledgements
    (``ack_many``, every 500 messages and after each loop pass): the fastest Python consumer
    of the stream we have, so the ratio shows the cost of storing and nothing else. In
    ``drain`` mode: subscribe with a persistent session, go offline until ``go`` is set (the
    stream queues up in the broker), then come back and drain it."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from telemetry.mqtt import _Client

    state = {"n": 0, "first": 0.0, "last": 0.0, "subscribed": False}
    mids: list[int] = []

    def on_message(c, _u, m):
        if state["n"] == 0:
            state["first"] = time.time()
        state["n"] += 1
        mids.append(m.mid)
        if len(mids) >= 500:
            c.ack_many(mids)
            mids.clear()
        if state["n"] >= expected_msgs:
            state["last"] = time.time()

    def on_connect(c, *_a):
        c.subscribe(topic, qos=1)

    def on_subscribe(*_a):
        state["subscribed"] = True

    cid = f"bare-{uuid.uuid4().hex[:8]}"

    def client():
        c = _Client(
            CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5, manual_ack=True
        )
        c.on_message, c.on_connect, c.on_subscribe = on_message, on_connect, on_subscribe
        props = Properties(PacketTypes.CONNECT)
        props.ReceiveMaximum = 65535
        props.SessionExpiryInterval = 3600
        c.connect("127.0.0.1", port, properties=props, clean_start=False)
        return c

    c = client()
    while not state["subscribed"]:
        c.loop(0.1)
    if drain:
        c.disconnect()
        ready.set()
        go.wait(600)
        c = client()
    else:
        ready.set()
    t_end = time.time() + 600
    while state["n"] < expected_msgs and time.time() < t_end:
        c.loop(0.1)
        if mids:
            c.ack_many(mids)
            mids.clear()
    c.loop(0.1)
    c.disconnect()
    out_q.put({"n": state["n"], "first": state["first"], "last": state["last"]})


def run_bare(port, prefix, n_vehicles, per_vehicle, fixes_per_msg, n_pub, drain=False):
    ctx = mp.get_context("fork")
    q, ready, go = ctx.Queue(), ctx.Event(), ctx.Event()
    msgs = n_vehicles * -(-per_vehicle // fixes_per_msg)
    sub = ctx.Process(
        target=bare_subscriber,
        args=(port, f"{prefix}/vehicles/+/position", msgs, ready, go, q, drain),
    )
    sub.start()
    ready.wait(30)
    procs, pq = run_publishers(port, prefix, n_vehicles, per_vehicle, fixes_per_msg, n_pub)
    pub = collect(procs, pq)
    go.set()
    res = q.get()
    sub.join()
    fixes = n_vehicles * per_vehicle
    secs = res["last"] - (res["first"] if drain else pub["first"])
    return {
        "fixes": fixes,
        "received_msgs": res["n"],
        "seconds": secs,
        "rate": fixes / secs,
        "pub": pub,
    }


# --- ingest (separate processes) --------------------------------------------------------------
@contextmanager
def ingest_procs(n, port, url, prefix, profile=None, *, group=None, extra=()):
    procs, ports = [], []
    spy = None
    group = group or f"bench{uuid.uuid4().hex[:6]}"
    for i in range(n):
        mport = free_port()
        env = dict(
            os.environ,
            SOCIALTAXI_DATABASE_URL=url,
            SOCIALTAXI_MQTT_PORT=str(port),
            SOCIALTAXI_MQTT_TOPIC_PREFIX=prefix,
            SOCIALTAXI_LOG_LEVEL="WARNING",
        )
        cmd = [sys.executable]
        if profile and i == 0 and profile.endswith(".prof"):  # main thread only
            cmd += ["-m", "cProfile", "-o", profile]
        cmd += [
            str(REPO / ".venv" / "bin" / "socialtaxi"),
            "ingest",
            "--client-id",
            f"{group}-{i}",
            "--share-group",
            group,
            "--owntracks-prefix",
            "-",
            "--metrics-port",
            str(mport),
            *extra,
        ]
        procs.append(subprocess.Popen(cmd, env=env, cwd=REPO))
        ports.append(mport)
        PIDS[mport] = procs[-1].pid
        if profile and i == 0 and not profile.endswith(".prof"):  # py-spy: all threads
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "-r",
                    "200",
                    "-o",
                    profile,
                    "--format",
                    "raw",
                    "--threads",
                    "--nonblocking",
                    "--pid",
                    str(procs[-1].pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
    try:
        deadline = time.time() + 30
        for mport in ports:
            while time.time() < deadline:
                try:
                    if metrics(mport)["mqtt_connects"] >= 1:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
        time.sleep(0.5)  # subscriptions acknowledged
        yield ports
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(30)


PIDS: dict[int, int] = {}  # metrics port -> pid of the ingest process


def ingest_cpu_s(ports) -> float:
    """CPU seconds (user + system, all threads) the ingest processes have used so far."""
    total = 0
    for port in ports:
        with open(f"/proc/{PIDS[port]}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def metrics(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics.json", timeout=2) as r:
        return json.loads(r.read())


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine so far (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]  # idle + iowait
    return sum(v) - idle, sum(v)


def wait_stored(ports, expected, timeout_s=600.0):
    t_end = time.time() + timeout_s
    last_change, last_total = time.time(), -1
    while time.time() < t_end:
        total = sum(metrics(p)["fixes_stored"] for p in ports)
        if total >= expected:
            return time.time(), total
        if total != last_total:
            last_change, last_total = time.time(), total
        elif time.time() - last_change > 30:
            break  # stalled
        time.sleep(0.25)  # the figure is the commit time ingest reports, not this poll's
    return time.time(), last_total


def run_ingest(
    port,
    url,
    prefix,
    n_vehicles,
    per_vehicle,
    fixes_per_msg,
    n_pub,
    n_ingest,
    profile=None,
    drain=False,
    extra=(),
):
    """Live: ingest runs while the publishers publish; the figure is first publish → last
    commit. Drain: ingest subscribes (persistent session), stops, the stream is published and
    queued in the broker, ingest restarts; the figure is its first receipt → last commit."""
    reset(url)
    fixes = n_vehicles * per_vehicle
    group = f"bench{uuid.uuid4().hex[:6]}"
    if drain:
        with ingest_procs(n_ingest, port, url, prefix, group=group, extra=extra):
            pass
        procs, pq = run_publishers(port, prefix, n_vehicles, per_vehicle, fixes_per_msg, n_pub)
        pub = collect(procs, pq)
        with ingest_procs(n_ingest, port, url, prefix, profile, group=group, extra=extra) as ports:
            cpu0 = cpu_times()
            _, stored = wait_stored(ports, fixes)
            cpu1 = cpu_times()
            snaps = [metrics(p) for p in ports]
        t0 = min(
            datetime.fromisoformat(m["first_message_at"]).timestamp()
            for m in snaps
            if m["first_message_at"]
        )
        t1 = max(
            datetime.fromisoformat(m["last_commit_at"]).timestamp()
            for m in snaps
            if m["last_commit_at"]
        )
    else:
        with ingest_procs(n_ingest, port, url, prefix, profile, group=group, extra=extra) as ports:
            own0 = ingest_cpu_s(ports)  # connected and idle: what follows is the stream's
            procs, pq = run_publishers(port, prefix, n_vehicles, per_vehicle, fixes_per_msg, n_pub)
            pub = collect(procs, pq)
            cpu0 = cpu_times()
            _, stored = wait_stored(ports, fixes)
            cpu1 = cpu_times()
            own1 = ingest_cpu_s(ports)
            snaps = [metrics(p) for p in ports]
        t0 = pub["first"]
        t1 = max(
            datetime.fromisoformat(m["last_commit_at"]).timestamp()
            for m in snaps
            if m["last_commit_at"]
        )
    with psycopg.connect(url) as c:
        rows = c.execute("SELECT count(*) FROM vehicle_positions").fetchone()[0]
    secs = t1 - t0
    own_us = None if drain else (own1 - own0) * 1e6 / max(1, rows)
    return {
        "fixes": fixes,
        "stored": rows,
        "loss": fixes - rows,
        "seconds": secs,
        "rate": rows / secs,
        "pub": pub,
        "msg_bytes": pub["bytes"] / pub["msgs"],
        "per_proc": [m["fixes_stored"] for m in snaps],
        "cpu_busy": (cpu1[0] - cpu0[0]) / max(1, cpu1[1] - cpu0[1]),
        "ingest_cpu_us_per_fix": own_us,  # live runs: CPU of the ingest process(es) per fix
    }


def run_latency(port, url, prefix, n_vehicles, seconds):
    reset(url)
    with ingest_procs(1, port, url, prefix) as ports:
        sim = simulator_load(port, prefix, n_vehicles, seconds)
        wait_stored(ports, sim["acknowledged"], timeout_s=120)
    with psycopg.connect(url) as c:
        p50, p99, pmax, n = c.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY d), max(d), count(*) FROM"
            " (SELECT extract(epoch FROM received_at - ts) AS d FROM vehicle_positions) x"
        ).fetchone()
    return {
        "fixes": sim["acknowledged"],  # the simulator's exact count: what loss is checked against
        "stored": n,
        "p50_s": float(p50),
        "p99_s": float(p99),
        "max_s": float(pmax),
        "offered_rate": sim["achieved_per_s"],
        "msg_bytes": float("nan"),
    }


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vehicles", type=int, default=2000)
    ap.add_argument("--fixes", type=int, default=200_000, help="fixes per throughput run")
    ap.add_argument("--batch", type=int, default=10, help="fixes per message, batched runs")
    ap.add_argument(
        "--batched-scale",
        type=int,
        default=3,
        help="batched runs publish this many times more fixes (else they last ~1 s)",
    )
    ap.add_argument("--publishers", type=int, default=2)
    ap.add_argument("--latency-seconds", type=int, default=30)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--only", choices=["single", "batched", "scaling", "paho", "latency"], action="append"
    )
    ap.add_argument("--paho-repeats", type=int, default=2, help="drain runs per client, paho")
    ap.add_argument("--profile", help="py-spy (or, *.prof: cProfile) output of the drain runs")
    a = ap.parse_args()
    if a.quick:
        a.fixes, a.latency_seconds = 60_000, 10
    only = set(a.only or ["single", "batched", "scaling", "paho", "latency"])
    per_vehicle = max(1, a.fixes // a.vehicles)
    print(
        f"bench/ingest: {a.vehicles} vehicles, {a.vehicles * per_vehicle:,} fixes per run "
        f"({a.vehicles * per_vehicle * a.batched_scale:,} batched), "
        f"{a.publishers} publisher processes, {os.cpu_count()} cores "
        f"(broker, database, publishers and ingest share them)"
    )
    print(
        "bare subscriber = ingest's own MQTT client (paho + read buffer, batched acks), "
        "storing nothing"
    )

    def prefix() -> str:
        return f"bench-{uuid.uuid4().hex[:8]}/socialtaxi/v1"

    results: dict[tuple[str, str], tuple[dict, dict]] = {}
    scaling: dict[tuple[str, int], dict] = {}
    paho: dict[tuple[str, str], list[dict]] = {}
    lat = None
    sizes = {"single": 1, "batched": a.batch}
    pv = {"single": per_vehicle, "batched": per_vehicle * a.batched_scale}
    with broker() as port, database(a.vehicles) as url:
        for name, fpm in sizes.items():
            if name not in only:
                continue
            for mode in ("live", "drain"):
                drain = mode == "drain"
                bare = run_bare(
                    port, prefix(), a.vehicles, pv[name], fpm, a.publishers, drain=drain
                )
                ing = run_ingest(
                    port,
                    url,
                    prefix(),
                    a.vehicles,
                    pv[name],
                    fpm,
                    a.publishers,
                    1,
                    a.profile if drain else None,
                    drain=drain,
                )
                results[name, mode] = (bare, ing)
                what = (
                    "first publish → last commit, publishers running"
                    if not drain
                    else "stream queued in the broker first; first receipt → last commit"
                )
                print(
                    f"\n[{name}, {mode}] {fpm} fix(es)/message, {ing['msg_bytes']:.0f} B/msg; "
                    f"{what}"
                )
                print(f"  publishers: {offered(ing['pub'], fpm):,.0f} fixes/s offered")
                print(
                    f"  bare subscriber: {bare['rate']:,.0f} fixes/s "
                    f"({bare['received_msgs']:,} msgs in {bare['seconds']:.2f} s)"
                )
                print(
                    f"  ingest (1 proc): {ing['rate']:,.0f} fixes/s stored "
                    f"({ing['stored']:,} of {ing['fixes']:,} in {ing['seconds']:.2f} s, "
                    f"loss {ing['loss']})"
                )
                print(
                    f"  ratio ingest / bare: {ing['rate'] / bare['rate']:.2f} "
                    f"(all cores {ing['cpu_busy']:.0%} busy while ingest ran)"
                )
                sys.stdout.flush()
        if "scaling" in only:
            for name, fpm in sizes.items():
                print(
                    f"\n[scaling] {fpm} fix(es)/message, drain of a queued stream, "
                    "one shared subscription"
                )
                for n in (1, 2):
                    ing = run_ingest(
                        port,
                        url,
                        prefix(),
                        a.vehicles,
                        pv[name],
                        fpm,
                        a.publishers,
                        n,
                        drain=True,
                    )
                    scaling[name, n] = ing
                    print(
                        f"  {n} ingest process(es): {ing['rate']:,.0f} fixes/s "
                        f"(loss {ing['loss']}, {ing['seconds']:.2f} s, "
                        f"per process {ing['per_proc']}; all cores {ing['cpu_busy']:.0%} busy)"
                    )
                    sys.stdout.flush()
        if "paho" in only:
            from telemetry.mqtt import TUNINGS

            clients: dict[str, tuple[str, ...]] = {"tuned": (), "public": ("--public-paho",)}
            clients.update({f"no {t}": ("--paho-without", t) for t in TUNINGS})
            for name, fpm in sizes.items():
                print(
                    f"\n[paho] {fpm} fix(es)/message, live, 1 process; CPU of the ingest process "
                    "per fix (steady under other load) and the rate: "
                    "tuned client (private paho overrides) vs --public-paho and vs the tuned "
                    "client without one tuning each, alternated"
                )
                for rep in range(a.paho_repeats):
                    order = list(clients) if rep % 2 == 0 else list(clients)[::-1]
                    for client in order:
                        ing = run_ingest(
                            port,
                            url,
                            prefix(),
                            a.vehicles,
                            pv[name],
                            fpm,
                            a.publishers,
                            1,
                            extra=clients[client],
                        )
                        paho.setdefault((name, client), []).append(ing)
                        print(
                            f"  {client:>18}: {ing['ingest_cpu_us_per_fix']:5.1f} µs CPU per fix, "
                            f"{ing['rate']:,.0f} fixes/s (loss {ing['loss']}, "
                            f"{ing['seconds']:.2f} s; all cores {ing['cpu_busy']:.0%} busy)"
                        )
                        sys.stdout.flush()
        if "latency" in only:
            lat = run_latency(port, url, prefix(), a.vehicles, a.latency_seconds)
            print(
                f"\n[latency] {a.vehicles} vehicles at 1 Hz for {a.latency_seconds} s "
                f"(offered {lat['offered_rate']:,.0f} fixes/s by the simulator's load mode, "
                f"{lat['fixes']:,} fixes by its count)"
            )
            print(
                f"  publish→commit p50 {lat['p50_s'] * 1000:.0f} ms, "
                f"p99 {lat['p99_s'] * 1000:.0f} ms, max {lat['max_s'] * 1000:.0f} ms; "
                f"stored {lat['stored']:,} of {lat['fixes']:,}"
            )
    print("\nSUMMARY (targets of the issue)")
    for name, fpm in sizes.items():
        if (name, "live") not in results:
            continue
        live = results[name, "live"][1]["rate"]
        drain = results[name, "drain"][1]["rate"]
        print(
            f"  ≥ 10,000 fixes/s sustained, {fpm} fix(es)/msg: {_verdict(min(live, drain) >= 1e4)}"
            f" — live {live:,.0f}, drain {drain:,.0f} fixes/s"
        )
    for name, fpm in sizes.items():
        if (name, "live") not in results:
            continue
        ratios = {
            m: results[name, m][1]["rate"] / results[name, m][0]["rate"] for m in ("live", "drain")
        }
        print(
            f"  ratio ≥ 0.7 to the bare subscriber, {fpm} fix(es)/msg: "
            f"{_verdict(min(ratios.values()) >= 0.7)} — live {ratios['live']:.2f} "
            f"({results[name, 'live'][1]['rate']:,.0f} / {results[name, 'live'][0]['rate']:,.0f}), "
            f"drain {ratios['drain']:.2f} "
            f"({results[name, 'drain'][1]['rate']:,.0f} / {results[name, 'drain'][0]['rate']:,.0f})"
        )
    runs = (
        [r[1] for r in results.values()]
        + list(scaling.values())
        + [r for rs in paho.values() for r in rs]
    )
    lost = sum(r["loss"] for r in runs) + (lat["fixes"] - lat["stored"] if lat else 0)
    total = sum(r["fixes"] for r in runs) + (lat["fixes"] if lat else 0)
    print(f"  zero loss: {_verdict(lost == 0)} — {lost} of {total:,} fixes lost over all runs")
    if lat:
        print(
            f"  p99 < 2 s at 2,000 fixes/s: {_verdict(lat['p99_s'] < 2.0)} — p50 "
            f"{lat['p50_s'] * 1000:.0f} ms, p99 {lat['p99_s'] * 1000:.0f} ms at "
            f"{lat['offered_rate']:,.0f} fixes/s offered"
        )
    for name, fpm in sizes.items():
        if (name, 1) in scaling:
            one, two = scaling[name, 1]["rate"], scaling[name, 2]["rate"]
            busy = scaling[name, 1]["cpu_busy"]
            print(
                f"  2 processes on a shared subscription scale the rate, {fpm} fix(es)/msg: "
                f"{'shown' if two > 1.2 * one else 'NOT shown'} — {one:,.0f} → {two:,.0f} "
                f"fixes/s (×{two / one:.2f}; per process {scaling[name, 2]['per_proc']}; "
                f"with 1 process the {os.cpu_count()} cores were already {busy:.0%} busy)"
            )

    for name, fpm in sizes.items():
        if (name, "tuned") not in paho:
            continue

        def med(client: str, key: str) -> float:
            return statistics.median(r[key] for r in paho[name, client])  # noqa: B023

        # worth = the rate one CPU second buys: (CPU per fix without) / (CPU per fix with) - 1
        tuned_us, public_us = (
            med("tuned", "ingest_cpu_us_per_fix"),
            med("public", "ingest_cpu_us_per_fix"),
        )
        gain = public_us / tuned_us - 1
        print(
            f"target private paho overrides worth >= 20 %, {fpm} fix(es)/msg: "
            f"{_verdict(gain >= 0.2)} — ingest CPU per fix tuned {tuned_us:.1f} µs, public API "
            f"{public_us:.1f} µs ({gain:+.0%} fixes per CPU second); rate tuned "
            f"{med('tuned', 'rate'):,.0f}, public {med('public', 'rate'):,.0f} fixes/s "
            f"(medians of {a.paho_repeats} alternated live runs each)"
        )
        for client in [c for c in (k[1] for k in paho if k[0] == name) if c.startswith("no ")]:
            without_us = med(client, "ingest_cpu_us_per_fix")
            gain = without_us / tuned_us - 1
            print(
                f"target override {client[3:]} worth >= 20 %, {fpm} fix(es)/msg: "
                f"{_verdict(gain >= 0.2)} — ingest CPU per fix {tuned_us:.1f} µs with it, "
                f"{without_us:.1f} µs without ({gain:+.0%}); rate {med('tuned', 'rate'):,.0f} "
                f"vs {med(client, 'rate'):,.0f} fixes/s"
            )


if __name__ == "__main__":
    main()
