"""Routing benchmark: our contraction hierarchy against networkx, on every shared map and on a
generated regional-size graph (>= 100,000 nodes), measured in the same run.

For each graph it prints: nodes/edges, build (import + contraction, from the cache record) and
cache-load times, p50/p95 single-route latency of networkx (``nx.shortest_path`` with a weight,
i.e. bidirectional Dijkstra — what ``osmnx.shortest_path`` runs) and of ours (node path; and the
full :class:`routing.Route` with geometry), the p50 speed-up, the time of a 50 x 200 matrix,
the largest relative cost difference on the sampled pairs, and the loaded graph's memory.

With ``--osrm`` (the default) it also runs **OSRM** (``osrm-bindings``, car profile, contraction
hierarchy) as the peer on every shared map, in its own Python 3.12 process
(``bench/peers/osrm_peer.py`` builds that venv and prepares the maps once), on the same 2,000
coordinate pairs and the same 50 x 200 matrix: route p50/p95 with and without geometry, matrix
time, and the ratio of our durations to OSRM's (median, p10, p90).

Usage::

    .venv/bin/python bench/routing.py [--cache-dir DIR] [--grid-side 317] [--nx-pairs 100]
                                      [--no-osrm] [--osrm-pairs 2000]

The first run imports and contracts every graph (Porto and the grid take a minute or two each);
later runs load the cache.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import networkx as nx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.append(str(REPO / "bench"))  # bench/peers (after the repo: this file shadows `routing`)

from routing import RoadGraph, load_graph  # noqa: E402
from routing.errors import GraphImportError  # noqa: E402
from routing.store import read_graph, save_graph  # noqa: E402
from routing.synthetic import grid_network  # noqa: E402

OSM = Path(os.environ.get("SOCIALTAXI_SHARED_DATA", REPO.parent / "shared" / "data")) / "osm"
ROUNDS = 5  # interleaved measurement blocks per graph

MAPS = {
    "murino": "murino_lo_osmnx.osm",
    "spb_nevsky": "spb_nevsky_center.osm",
    "moscow": "moscow_center.osm.gz",
    "heidelberg": "heidelberg.osm.pbf",
    "porto": "porto_portugal.osm.pbf",
}


def _pcts(samples_s: list[float]) -> tuple[float, float]:
    a = np.asarray(samples_s) * 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 95))


def _grid(cache_dir: Path, side: int, seed: int) -> tuple[RoadGraph, float]:
    path = cache_dir / f"grid-{side}-{seed}.graph.npz"
    if path.is_file():
        t = time.perf_counter()
        try:
            g = read_graph(path)
            return g, time.perf_counter() - t
        except GraphImportError:  # an older cache format: build it again
            pass
    t = time.perf_counter()
    g = RoadGraph.from_arrays(grid_network(side, seed=seed), {"source": f"grid {side}x{side}"})
    g.meta["build_s"] = round(time.perf_counter() - t, 2)
    save_graph(g, path)
    t = time.perf_counter()
    g = read_graph(path)
    return g, time.perf_counter() - t


def bench_graph(name: str, g: RoadGraph, load_s: float, *, nx_pairs: int, ours_pairs: int) -> dict:
    rng = np.random.default_rng(2024)
    n = g.node_count
    # the reference runs on the same weights as ours: the edge-expanded graph (turn costs and
    # restrictions) when the graph is turn-aware, else the road graph itself
    turn_aware = g.turns is not None
    ref = g.to_networkx_turns() if turn_aware else g.to_networkx()

    def ends(s: int, t: int) -> tuple:
        return (("s", s), ("t", t)) if turn_aware else (s, t)

    # networkx: bidirectional Dijkstra on a DiGraph with the same weights, and on a MultiDiGraph
    # (the graph type osmnx builds; weight = min over parallel edges); ours: the same pairs for
    # the cost comparison, many more for the latency. The latencies are taken in ROUNDS
    # interleaved blocks (networkx, MultiDiGraph, ours, ours s == t), so a change of the shared
    # machine's load during the run hits both sides alike.
    pairs = rng.integers(0, n, size=(nx_pairs, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    more = rng.integers(0, n, size=(ours_pairs, 2))
    multi = nx.MultiDiGraph(ref)
    g.route_nodes(0, min(1, n - 1))  # warm up the compiled code
    nx_times: list[float] = []
    nx_costs: list[float] = []
    multi_times: list[float] = []
    node_times: list[float] = []
    same_times: list[float] = []  # s == t: the fixed cost of a call (no search to speak of)
    for r in range(ROUNDS):
        chunk = pairs[r::ROUNDS].tolist()
        for s, t in chunk:
            a, b = ends(s, t)
            t0 = time.perf_counter()
            path = nx.shortest_path(ref, a, b, weight="travel_time")
            nx_times.append(time.perf_counter() - t0)
            nx_costs.append(nx.path_weight(ref, path, weight="travel_time"))
        for s, t in chunk:
            a, b = ends(s, t)
            t0 = time.perf_counter()
            nx.shortest_path(multi, a, b, weight="travel_time")
            multi_times.append(time.perf_counter() - t0)
        ours = more[r::ROUNDS].tolist()
        for s, t in ours:
            t0 = time.perf_counter()
            g.fastest_path(s, t)
            node_times.append(time.perf_counter() - t0)
        for s, _t in ours:
            t0 = time.perf_counter()
            g.fastest_path(s, s)
            same_times.append(time.perf_counter() - t0)
    del multi
    worst = 0.0
    done = np.concatenate([pairs[r::ROUNDS] for r in range(ROUNDS)])
    for (s, t), c in zip(done, nx_costs, strict=True):
        got = g.travel_time(int(s), int(t))
        if c > 0:
            worst = max(worst, abs(got - c) / c)
    route_times: list[float] = []
    for s, t in more[: max(100, ours_pairs // 4)]:
        t0 = time.perf_counter()
        g.route_nodes(int(s), int(t))
        route_times.append(time.perf_counter() - t0)

    # 50 x 200 matrix from coordinates (snapping included) and from node indices
    o = rng.integers(0, n, 50)
    d = rng.integers(0, n, 200)
    g.matrix_nodes(o[:2], d[:2])
    m_nodes = []
    m_coords = []
    for _ in range(3):
        t0 = time.perf_counter()
        m = g.matrix_nodes(o, d)
        m_nodes.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        g.matrix(g.node_lat[o], g.node_lon[o], g.node_lat[d], g.node_lon[d])
        m_coords.append(time.perf_counter() - t0)
    assert np.isfinite(m.duration_s).all()

    nx50, nx95 = _pcts(nx_times)
    mx50, _ = _pcts(multi_times)
    our50, our95 = _pcts(node_times)
    r50, r95 = _pcts(route_times)
    same50, _ = _pcts(same_times)
    return {
        "name": name,
        "nodes": n,
        "edges": g.edge_count,
        "shortcuts": (g.turns.hierarchy if turn_aware else g.hierarchy).shortcut_count,
        "turn_aware": turn_aware,
        "contract_s": g.meta.get("contract_s", {}),
        "build_s": g.meta.get("build_s", float("nan")),
        "load_s": load_s,
        "nx_p50": nx50,
        "nx_p95": nx95,
        "our_p50": our50,
        "our_p95": our95,
        "route_p50": r50,
        "same_p50": same50,
        "route_p95": r95,
        "speedup": nx50 / our50,
        "multi_p50": mx50,
        "speedup_multi": mx50 / our50,
        "speedup_route": nx50 / r50,
        "matrix_s": statistics.median(m_nodes),
        "matrix_snap_s": statistics.median(m_coords),
        "max_rel": worst,
        "mb": g.nbytes / 2**20,
    }


def bench_osrm(name: str, g: RoadGraph, osm_file: Path, *, pairs: int) -> dict:
    """Ours against OSRM on the same coordinate pairs and matrix (OSRM in its own process)."""
    from peers import osrm_peer

    py, base = osrm_peer.prepare(osm_file)
    rng = np.random.default_rng(7)
    n = g.node_count
    s = rng.integers(0, n, pairs)
    t = rng.integers(0, n, pairs)
    coords = [
        (float(g.node_lon[a]), float(g.node_lat[a]), float(g.node_lon[b]), float(g.node_lat[b]))
        for a, b in zip(s, t, strict=True)
    ]
    o = rng.integers(0, n, 50)
    d = rng.integers(0, n, 200)
    src = [(float(g.node_lon[i]), float(g.node_lat[i])) for i in o]
    dst = [(float(g.node_lon[i]), float(g.node_lat[i])) for i in d]
    peer = osrm_peer.run(py, base, coords, (src, dst))

    # ours, from the same coordinates: snap + path (no geometry), snap + full Route (geometry)
    g.route((coords[0][1], coords[0][0]), (coords[0][3], coords[0][2]))  # warm up
    plain: list[float] = []
    geom: list[float] = []
    ours_s = np.full(pairs, np.nan)
    for i, (lon1, lat1, lon2, lat2) in enumerate(coords):
        t0 = time.perf_counter()
        sn = g.snap([lat1, lat2], [lon1, lon2])
        ours_s[i] = g.travel_time(int(sn.index[0]), int(sn.index[1]))
        plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        g.route((lat1, lon1), (lat2, lon2))
        geom.append(time.perf_counter() - t0)
    m_times = []
    for _ in range(3):
        t0 = time.perf_counter()
        g.matrix([c[1] for c in src], [c[0] for c in src], [c[1] for c in dst], [c[0] for c in dst])
        m_times.append(time.perf_counter() - t0)
    theirs = np.array([np.nan if x is None else x for x in peer["durations_s"]])
    ok = np.isfinite(theirs) & np.isfinite(ours_s) & (theirs >= 60)  # trips of a minute or more
    ratio = ours_s[ok] / theirs[ok]
    p10, p50, p90 = (float(x) for x in np.percentile(ratio, [10, 50, 90]))
    ours_plain = _pcts(plain)
    ours_geom = _pcts(geom)
    return {
        "name": name,
        "pairs": int(ok.sum()),
        "ratio": (p50, p10, p90),
        "ours_plain": ours_plain,
        "ours_geom": ours_geom,
        "osrm_plain": _pcts(peer["route_latency_s"]),
        "osrm_geom": _pcts(peer["route_geom_latency_s"]),
        "ours_matrix_s": statistics.median(m_times),
        "osrm_matrix_s": statistics.median(peer["matrix_s"]),
    }


def _numba_code_report() -> str:
    """Load (or compile) the query and matrix kernels and say which it was, and how long."""
    from routing import ch

    t0 = time.perf_counter()
    g = RoadGraph.from_arrays(grid_network(4, seed=1), {"source": "warm-up"})
    g.fastest_path(0, 1)
    g.matrix_nodes([0], [1])
    took = time.perf_counter() - t0
    hits = misses = 0
    for f in (ch._build, ch._csr, ch._route, ch._many_to_many):
        hits += sum(f.stats.cache_hits.values())
        misses += sum(f.stats.cache_misses.values())
    how = "compiled (cache was empty or stale)" if misses else "loaded from the on-disk cache"
    return f"numba kernels: {how}: {hits} cache hits, {misses} misses, {took:.1f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache/socialtaxi/bench")
    ap.add_argument("--grid-side", type=int, default=317, help="317 -> 100,489 nodes")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--nx-pairs", type=int, default=100)
    ap.add_argument("--ours-pairs", type=int, default=1000)
    ap.add_argument("--only", nargs="*", help="subset of graph names")
    ap.add_argument("--no-osrm", dest="osrm", action="store_false", help="skip the OSRM peer")
    ap.add_argument("--osrm-pairs", type=int, default=2000)
    args = ap.parse_args()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    print(_numba_code_report(), flush=True)

    rows = []
    peer_rows: list[dict] = []
    names = args.only or [*MAPS, "grid"]
    for name in names:
        gc.collect()
        if name == "grid":
            tracemalloc.start()
            g, load_s = _grid(args.cache_dir, args.grid_side, args.seed)
            g._snapper()  # include the snapping index in the footprint
            current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            mem = (current, peak)
            label = f"grid{args.grid_side}"
        else:
            load_graph(OSM / MAPS[name], cache_dir=args.cache_dir, progress=True)  # build once
            t0 = time.perf_counter()
            g = load_graph(OSM / MAPS[name], cache_dir=args.cache_dir)
            load_s = time.perf_counter() - t0
            label = name
        pairs = args.nx_pairs if g.node_count > 20_000 else max(args.nx_pairs, 200)
        row = bench_graph(label, g, load_s, nx_pairs=pairs, ours_pairs=args.ours_pairs)
        rows.append(row)
        if args.osrm and name != "grid":
            peer_rows.append(bench_osrm(label, g, OSM / MAPS[name], pairs=args.osrm_pairs))
        print(
            f"{label:>11}: {row['nodes']:>7,} nodes, nx p50 {row['nx_p50']:8.2f} ms, "
            f"ours p50 {row['our_p50'] * 1e3:7.2f} us -> x{row['speedup']:.1f} "
            f"(MultiDiGraph x{row['speedup_multi']:.1f}); fixed cost (s == t) "
            f"{row['same_p50'] * 1e3:.2f} us",
            flush=True,
        )

    print()
    print(
        "graph        nodes    edges shortcuts  build_s load_s | networkx p50/p95 ms | "
        "ours path p50/p95 us | x p50 | Route p50/p95 us | x p50 | 50x200 s (snap) | "
        "max rel diff | MB | nx MultiDiGraph p50 ms (x)"
    )
    for r in rows:
        c = r["contract_s"]
        kind = "turn-aware" if r["turn_aware"] else "node-based"
        print(
            f"{r['name']:<11} contraction: node-based {c.get('nodes', float('nan'))} s, "
            f"turn-aware {c.get('turns', '-')} s ({kind} routes; the shortcuts below are "
            "those of the routes' hierarchy)"
        )
    for r in rows:
        print(
            f"{r['name']:<11}{r['nodes']:>7,}{r['edges']:>9,}{r['shortcuts']:>10,}"
            f"{r['build_s']:>9}{r['load_s']:>7.2f} | {r['nx_p50']:>8.2f} /{r['nx_p95']:>8.2f} | "
            f"{r['our_p50'] * 1e3:>8.2f} /{r['our_p95'] * 1e3:>8.2f} | {r['speedup']:>5.1f} | "
            f"{r['route_p50'] * 1e3:>7.1f} /{r['route_p95'] * 1e3:>7.1f} | "
            f"{r['speedup_route']:>5.0f} | {r['matrix_s']:.3f} ({r['matrix_snap_s']:.3f}) | "
            f"{r['max_rel']:.1e} | {r['mb']:.1f} | {r['multi_p50']:.2f} (x{r['speedup_multi']:.0f})"
        )
    if "grid" in names:
        cur, peak = mem
        print(
            f"\nLoaded {args.grid_side}x{args.grid_side} grid graph: arrays "
            f"{rows[-1]['mb']:.1f} MB; traced allocations after load + snapping index "
            f"{cur / 2**20:.1f} MB (peak {peak / 2**20:.1f} MB)"
        )
    if peer_rows:
        print(
            "\nOSRM (osrm-bindings, car profile, CH) on the same coordinates, snapping included:\n"
            "graph       pairs | duration ours/OSRM median (p10, p90) | route p50/p95 us: "
            "ours / OSRM | with geometry: ours / OSRM | 50x200 matrix ms: ours / OSRM"
        )
        for r in peer_rows:
            p50, p10, p90 = r["ratio"]
            print(
                f"{r['name']:<11}{r['pairs']:>6} | {p50:.3f} ({p10:.3f}, {p90:.3f})"
                f"{'':>14} | {r['ours_plain'][0] * 1e3:7.1f}/{r['ours_plain'][1] * 1e3:7.1f} / "
                f"{r['osrm_plain'][0] * 1e3:7.1f}/{r['osrm_plain'][1] * 1e3:7.1f} | "
                f"{r['ours_geom'][0] * 1e3:7.1f}/{r['ours_geom'][1] * 1e3:7.1f} / "
                f"{r['osrm_geom'][0] * 1e3:7.1f}/{r['osrm_geom'][1] * 1e3:7.1f} | "
                f"{r['ours_matrix_s'] * 1e3:7.1f} / {r['osrm_matrix_s'] * 1e3:7.1f}"
            )
    print()
    for key, baseline in (("speedup", "nx DiGraph"), ("speedup_multi", "nx MultiDiGraph (osmnx)")):
        slow = [f"{r['name']} x{r[key]:.1f}" for r in rows if r[key] < 20]
        low = min(rows, key=lambda r: r[key])
        verdict = "met" if not slow else "NOT met"
        print(
            f"target >= 20x at p50 on every graph vs {baseline}: {verdict} — "
            f"lowest {low['name']} x{low[key]:.1f}{'; ' + ', '.join(slow) if slow else ''}"
        )
    big = [r for r in rows if r["nodes"] >= 100_000]
    if big:
        ok = all(r["matrix_s"] < 1.0 for r in big)
        worst_s = max(r["matrix_s"] for r in big)
        print(
            f"target 50x200 matrix < 1 s on the >= 100k-node graph: "
            f"{'met' if ok else 'NOT met'} — {worst_s:.3f} s"
        )
    worst = max(r["max_rel"] for r in rows)
    print(
        f"target costs within 0.01 % of networkx (sampled pairs): "
        f"{'met' if worst <= 1e-4 else 'NOT met'} — largest relative difference {worst:.1e}"
    )
    if peer_rows:
        figs = "; ".join(
            f"{r['name']} {r['ratio'][0]:.3f} ({r['ratio'][1]:.3f}-{r['ratio'][2]:.3f})"
            for r in peer_rows
        )
        ok = all(0.9 <= r["ratio"][0] <= 1.1 for r in peer_rows)
        print(
            f"target durations within ±10 % of OSRM at the median: "
            f"{'met' if ok else 'NOT met'} — {figs}"
        )
        ok = all(r["ratio"][1] >= 0.8 and r["ratio"][2] <= 1.2 for r in peer_rows)
        print(
            f"target durations p10-p90 within ±20 % of OSRM: {'met' if ok else 'NOT met'} — {figs}"
        )
        for label, ours, theirs in (
            ("route p50 without geometry", "ours_plain", "osrm_plain"),
            ("route p50 with geometry", "ours_geom", "osrm_geom"),
        ):
            slow = [r for r in peer_rows if r[ours][0] >= r[theirs][0]]
            figs = "; ".join(
                f"{r['name']} {r[ours][0] * 1e3:.0f} vs {r[theirs][0] * 1e3:.0f} us"
                for r in peer_rows
            )
            print(f"target faster than OSRM, {label}: {'NOT met' if slow else 'met'} — {figs}")
        slow = [r for r in peer_rows if r["ours_matrix_s"] >= r["osrm_matrix_s"]]
        figs = "; ".join(
            f"{r['name']} {r['ours_matrix_s'] * 1e3:.1f} vs {r['osrm_matrix_s'] * 1e3:.1f} ms"
            for r in peer_rows
        )
        print(f"target faster than OSRM, 50x200 matrix: {'NOT met' if slow else 'met'} — {figs}")


if __name__ == "__main__":
    main()
