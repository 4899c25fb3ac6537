"""Hidden-Markov map matching of GPS tracks onto the road graph (pure: numpy, shapely, numba).

Newson & Krumm, "Hidden Markov Map Matching Through Noise and Sparseness" (ACM SIGSPATIAL GIS
2009), on :class:`routing.graph.RoadGraph`:

* **States** are points on edges: every edge whose geometry passes within the search radius of
  a fix (one STRtree query for all fixes at once, on the graph's own snapping index in UTM),
  the fix projected onto that edge's polyline (numba), at most ``max_candidates`` nearest per
  fix. Both directions of a two-way street are separate candidates; transitions pick one.
* **Emission**: ``log p = -0.5 (d / sigma)^2``, ``d`` the fix's distance to the candidate point.
  ``sigma_m`` is configured or estimated from the data as in the paper: 1.4826 × the median
  distance of each fix to its nearest edge (the median absolute deviation of a zero-mean
  Gaussian, the perpendicular error).
* **Transition**: ``log p = -|route - gc| / beta`` with ``gc`` the straight distance between
  the two fixes (in UTM: within 0.1 % of the great-circle distance at a town's scale) and
  ``route`` the road distance between the candidates: the rest of the first edge, then the
  node-to-node distance, then the start of the second edge. The node-to-node distance is the
  **length of the fastest path** in the contraction hierarchy (:mod:`routing.ch` keeps metres
  along every shortcut): the hierarchy minimises time, as Valhalla's Meili does. Between fixes
  1–30 s apart the fastest and the shortest path between nearby nodes are the same road almost
  always; ``tests/unit/test_routing_matching.py`` checks a deliberate detour is matched along
  the detour, not along the fastest path. No search over the base graph is written here:
  distances come from a bidirectional query of the hierarchy (:func:`_ch_dist`), cached per
  node pair, and a pair is pruned before any query when its straight-line lower bound already
  exceeds what the vehicle could have driven (``max_speed_mps``) or ``max_excess_m``.
* **Viterbi** in numba over all fixes of a track, with back-pointers; the matched path is
  unpacked from the hierarchy between consecutive matched edges.

Robustness
----------
* Stationary jitter: a fix within ``2 sigma`` (``dedupe_factor``) of the previous kept fix is
  not a state of its own; it takes the matched point of that fix.
* Gaps: consecutive fixes more than ``max_gap_s`` apart split the track into pieces, reported
  as a :class:`Break` with reason ``"gap"`` — missing data, never a deviation. A fix with no
  transition from the previous one is skipped as an outlier (unmatched); after ``max_outliers``
  such fixes in a row the track is split (reason ``"no_route"``). Fixes with no road within the
  radius are unmatched; if they last longer than ``max_gap_s`` the track is split (reason
  ``"off_road"``).
* U-turns at a node: the reverse edge is reached at node distance 0. A small step backwards on
  the same edge (noise while crawling, up to ``backtrack_factor`` × sigma) counts as standing
  still instead of a loop around the block.

Output shape (the audit codes against it): :class:`MatchedTrack`. Indices in it are *input*
fix indices; ``pieces`` are graph node indices (internal, ``graph.node_id[...]`` gives OSM ids).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np
import shapely
from numba import types as nbt
from numba.typed import Dict as NbDict
from numpy.typing import ArrayLike

from routing import ch as _ch
from routing.graph import RoadGraph

#: break reasons, in the order of their codes in the compiled kernel (code 0 = end of track)
BREAK_REASONS = ("end", "gap", "no_route", "off_road")
_GAP, _NO_ROUTE, _OFF_ROAD = 1, 2, 3

MAD_TO_SIGMA = 1.4826  # sigma of a zero-mean Gaussian from the median of |error|
_CACHE_LIMIT = 4_000_000  # node-pair distances kept per graph and thread before a reset


@dataclass(frozen=True)
class Break:
    """Where a track is split: no matched movement between two fixes (missing data).

    ``start_index`` is the last input fix matched before the break, ``end_index`` the first
    matched after it; ``start_s`` / ``end_s`` their times (same clock as ``t_s``); ``reason``
    is ``"gap"`` (time between fixes above ``max_gap_s``), ``"no_route"`` (no road route
    explains the movement) or ``"off_road"`` (no road within the search radius for too long).
    """

    start_index: int
    end_index: int
    start_s: float
    end_s: float
    reason: str


@dataclass(frozen=True, eq=False)
class MatchedTrack:
    """A track matched to the road graph.

    Attributes
    ----------
    pieces
        Per continuous piece, graph node indices (internal) of the matched path, in travel
        order: ``u`` of the first edge, then the ``v`` of every edge.
    piece_edges
        Per piece, graph edge indices of the matched path (the first and last edges are
        partly driven: the matched points' offsets trim them in the geometry and length).
    lat, lon
        Matched path geometry (road geometry, WGS 84 degrees), pieces separated by NaN.
    length_m
        Matched length, metres: sum over pieces of the road distances between consecutive
        matched points (partial edges included).
    fix_offset_m
        Per input fix, metres to its matched point; NaN when unmatched.
    fix_lat, fix_lon
        Per input fix, the matched point (NaN when unmatched).
    fix_edge
        Per input fix, the graph edge of its matched point (-1 when unmatched).
    fix_piece
        Per input fix, the index of its piece (-1 when unmatched).
    breaks
        Splits between consecutive pieces, in order (``len(pieces) - 1`` of them).
    sigma_m
        The GPS error used (configured or estimated), metres.
    """

    pieces: tuple[np.ndarray, ...]
    piece_edges: tuple[np.ndarray, ...]
    lat: np.ndarray
    lon: np.ndarray
    length_m: float
    fix_offset_m: np.ndarray
    fix_lat: np.ndarray
    fix_lon: np.ndarray
    fix_edge: np.ndarray
    fix_piece: np.ndarray
    breaks: tuple[Break, ...]
    sigma_m: float

    @property
    def matched_count(self) -> int:
        """Number of input fixes with a matched point."""
        return int(np.count_nonzero(self.fix_edge >= 0))


# --------------------------------------------------------------------------------------------
# compiled kernels
# --------------------------------------------------------------------------------------------


@nb.njit(cache=True)
def _project(pf, pe, fx, fy, geom_ptr, gx, gy, scale):  # type: ignore[no-untyped-def]
    """Project fix ``pf[k]`` onto edge ``pe[k]``'s polyline (UTM) for every pair ``k``.

    Returns distance (m), offset along the edge (m, in ``edge_length_m`` units) and the point.
    """
    n = pf.shape[0]
    out_d = np.empty(n)
    out_off = np.empty(n)
    out_x = np.empty(n)
    out_y = np.empty(n)
    for k in range(n):
        i = pf[k]
        e = pe[k]
        x = fx[i]
        y = fy[i]
        best = np.inf
        bo = 0.0
        bx = 0.0
        by = 0.0
        acc = 0.0
        for j in range(geom_ptr[e], geom_ptr[e + 1] - 1):
            x0 = gx[j]
            y0 = gy[j]
            dx = gx[j + 1] - x0
            dy = gy[j + 1] - y0
            l2 = dx * dx + dy * dy
            tt = 0.0
            if l2 > 0.0:
                tt = ((x - x0) * dx + (y - y0) * dy) / l2
                tt = min(max(tt, 0.0), 1.0)
            qx = x0 + tt * dx
            qy = y0 + tt * dy
            d2 = (x - qx) ** 2 + (y - qy) ** 2
            seg = np.sqrt(l2)
            if d2 < best:
                best = d2
                bo = acc + tt * seg
                bx = qx
                by = qy
            acc += seg
        out_d[k] = np.sqrt(best)
        out_off[k] = bo * scale[e]
        out_x[k] = bx
        out_y[k] = by
    return out_d, out_off, out_x, out_y


@nb.njit(cache=True)
def _group(fx, fy, ts, valid, gap_before, alone, spacing_m, max_span_s):  # type: ignore[no-untyped-def]
    """Consecutive valid fixes within ``spacing_m`` and less than ``max_span_s`` after their
    group's first fix (and no gap in between) form one group, matched as one state at the
    group's centroid and mean time. A fix flagged ``alone`` starts a new group (the first and
    last fix of a continuous stretch are states of their own: a centroid there would cut the
    ends of the track short by half a group).

    Returns per fix its group (-1 for invalid fixes) and per group the centroid, mean, first
    and last time and gap segment.
    """
    n = fx.shape[0]
    grp = np.full(n, -1, np.int64)
    gx = np.empty(n)
    gy = np.empty(n)
    gt = np.empty(n)
    t0 = np.empty(n)
    t1 = np.empty(n)
    gid = np.empty(n, np.int64)
    ng = -1
    first = -1
    cnt = 0
    seg = 0
    s2 = spacing_m * spacing_m
    for i in range(n):
        if not valid[i]:
            continue
        if gap_before[i]:
            seg += 1
        if (
            first >= 0
            and not gap_before[i]
            and not alone[i]
            and ts[i] - ts[first] < max_span_s
            and (fx[i] - fx[first]) ** 2 + (fy[i] - fy[first]) ** 2 <= s2
        ):
            cnt += 1
            gx[ng] += fx[i]
            gy[ng] += fy[i]
            gt[ng] += ts[i]
            t1[ng] = ts[i]
        else:
            if ng >= 0:
                gx[ng] /= cnt
                gy[ng] /= cnt
                gt[ng] /= cnt
            ng += 1
            first = i
            cnt = 1
            gx[ng] = fx[i]
            gy[ng] = fy[i]
            gt[ng] = ts[i]
            t0[ng] = ts[i]
            t1[ng] = ts[i]
            gid[ng] = seg
        grp[i] = ng
    if ng >= 0:
        gx[ng] /= cnt
        gy[ng] /= cnt
        gt[ng] /= cnt
    ng += 1
    return grp, gx[:ng], gy[:ng], gt[:ng], t0[:ng], t1[:ng], gid[:ng]


@nb.njit(cache=True)
def _ch_dist(s, t, g, w, e_d):  # type: ignore[no-untyped-def]
    """Length (m) of the fastest path ``s -> t`` in the packed hierarchy ``g`` (inf if none),
    using the workspace buffer ``w`` (left clean). Metres are summed over the CH edges of the
    up-down path (shortcuts carry the length of the path they stand for): no unpacking."""
    o = _ch._G_OFF
    f_ptr = g[g[o] : g[o + 1]]
    f_to = g[g[o + 1] : g[o + 2]]
    f_e = g[g[o + 2] : g[o + 3]]
    b_ptr = g[g[o + 3] : g[o + 4]]
    b_to = g[g[o + 4] : g[o + 5]]
    b_e = g[g[o + 5] : g[o + 6]]
    e_tail = g[g[o + 6] : g[o + 7]]
    e_head = g[g[o + 7] : g[o + 8]]
    f_w = g[g[o + 10] : g[o + 11]].view(np.float64)
    b_w = g[g[o + 11] : g[o + 12]].view(np.float64)
    df = w[w[_ch._W_DF] : w[_ch._W_DF + 1]].view(np.float64)
    db = w[w[_ch._W_DB] : w[_ch._W_DB + 1]].view(np.float64)
    hk1 = w[w[_ch._W_HK1] : w[_ch._W_HK1 + 1]].view(np.float64)
    hk2 = w[w[_ch._W_HK2] : w[_ch._W_HK2 + 1]].view(np.float64)
    pf = w[w[_ch._W_PF] : w[_ch._W_PF + 1]]
    pb = w[w[_ch._W_PB] : w[_ch._W_PB + 1]]
    touched = w[w[_ch._W_TOUCHED] : w[_ch._W_TOUCHED + 1]]
    hv1 = w[w[_ch._W_HV1] : w[_ch._W_HV1 + 1]]
    hv2 = w[w[_ch._W_HV2] : w[_ch._W_HV2 + 1]]
    best, meet, nt = _ch._query(
        s, t, f_ptr, f_to, f_w, f_e, b_ptr, b_to, b_w, b_e,
        df, db, pf, pb, touched, hk1, hv1, hk2, hv2,
    )  # fmt: skip
    total = np.inf
    if meet >= 0:
        total = 0.0
        x = meet
        while x != s:
            e = pf[x]
            total += e_d[e]
            x = e_tail[e]
        x = meet
        while x != t:
            e = pb[x]
            total += e_d[e]
            x = e_head[e]
    _ch._reset(nt, touched, df, db, pf, pb)
    return total


@nb.njit(cache=True)
def _transitions(  # type: ignore[no-untyped-def]
    i, p, fx, fy, ft, cptr, c_edge, c_off, c_dist, score, bp, td,
    edge_u, edge_v, edge_len, node_x, node_y, g, w, e_d, cache,
    inv2s2, beta, max_speed, slack_m, max_excess, backtrack_m,
):  # fmt: skip
    """Viterbi step from the candidates of fix ``p`` to those of fix ``i``: writes the score,
    back-pointer and route distance of every candidate of ``i``; False if none is reachable."""
    n_nodes = node_x.shape[0]
    a0 = cptr[i]
    a1 = cptr[i + 1]
    b0 = cptr[p]
    b1 = cptr[p + 1]
    dt = ft[i] - ft[p]
    gc = np.sqrt((fx[i] - fx[p]) ** 2 + (fy[i] - fy[p]) ** 2)
    limit = min(max(dt, 0.0) * max_speed + slack_m, gc + max_excess)
    # previous candidates by decreasing score: a pair whose score minus the least transition
    # cost its straight-line lower bound allows cannot beat the best found so far is skipped
    # before any route query (branch and bound; the result is the same)
    order = np.argsort(-score[b0:b1]) + b0
    any_ok = False
    for b in range(a0, a1):
        best = -np.inf
        bb = -1
        bd = 0.0
        eb = c_edge[b]
        ob = c_off[b]
        y = edge_u[eb]
        for a in order:
            sa = score[a]
            if sa == -np.inf or sa <= best:
                break  # sorted: no later one can do better
            ea = c_edge[a]
            oa = c_off[a]
            if ea == eb and ob >= oa - backtrack_m:
                d = max(ob - oa, 0.0)
            else:
                x = edge_v[ea]
                d = edge_len[ea] - oa + ob
                if x != y:
                    lb = d + np.sqrt((node_x[x] - node_x[y]) ** 2 + (node_y[x] - node_y[y]) ** 2)
                    if lb > limit or sa - max(lb - gc, 0.0) / beta <= best:
                        continue
                    key = x * n_nodes + y
                    nd = cache.get(key, -1.0)
                    if nd < 0.0:
                        nd = _ch_dist(x, y, g, w, e_d)
                        cache[key] = nd
                    d += nd
            if d > limit:
                continue
            v = sa - abs(d - gc) / beta
            if v > best:
                best = v
                bb = a
                bd = d
        if bb >= 0:
            score[b] = best - c_dist[b] * c_dist[b] * inv2s2
            bp[b] = bb
            td[b] = bd
            any_ok = True
        else:
            score[b] = -np.inf
    return any_ok


@nb.njit(cache=True)
def _best(score, b0, b1):  # type: ignore[no-untyped-def]
    best_a = b0
    for a in range(b0, b1):
        if score[a] > score[best_a]:
            best_a = a
    return best_a


@nb.njit(cache=True)
def _viterbi(  # type: ignore[no-untyped-def]
    steps, fx, fy, ft, first_t, last_t, gap_id, cptr, c_edge, c_off, c_dist,
    edge_u, edge_v, edge_len, node_x, node_y, g, w, e_d, cache,
    sigma, beta, max_speed, slack_m, max_excess, backtrack_m, max_gap_s, max_outliers,
):  # fmt: skip
    """Viterbi over the kept fixes ``steps`` (input indices, increasing).

    Candidates of input fix ``i`` are ``cptr[i] .. cptr[i + 1]``. When no candidate of a fix
    is reachable from the last state, the states before it are tried (the last one was the
    outlier), then the fix itself is left out (it is the outlier); after ``max_outliers``
    fixes left out in a row the track is split. Returns the best last candidate of every
    piece with the reason of the break after it, the back-pointer and the route distance
    from it of every candidate (-1 / 0 at a piece start).
    """
    nc = c_edge.shape[0]
    score = np.full(nc, -np.inf)
    bp = np.full(nc, -1, np.int64)
    td = np.zeros(nc)
    ns = steps.shape[0]
    end_cand = np.empty(ns + 1, np.int64)
    reason = np.empty(ns + 1, np.int64)
    npieces = 0
    inv2s2 = 0.5 / (sigma * sigma)
    hist = np.full(max_outliers + 1, -1, np.int64)  # recent states, hist[0] the last
    nh = 0
    skipped = 0
    for si in range(ns):
        i = steps[si]
        a0 = cptr[i]
        a1 = cptr[i + 1]
        if a0 == a1:
            continue
        brk = 0
        if nh > 0:
            p = hist[0]
            if gap_id[i] != gap_id[p]:
                brk = _GAP
            elif first_t[i] - last_t[p] > max_gap_s:  # unmatched fixes in between
                brk = _OFF_ROAD
            else:
                ok = False
                for h in range(nh):
                    q = hist[h]
                    if h > 0 and (gap_id[i] != gap_id[q] or first_t[i] - last_t[q] > max_gap_s):
                        break
                    ok = _transitions(
                        i, q, fx, fy, ft, cptr, c_edge, c_off, c_dist, score, bp, td,
                        edge_u, edge_v, edge_len, node_x, node_y, g, w, e_d, cache,
                        inv2s2, beta, max_speed, slack_m, max_excess, backtrack_m,
                    )  # fmt: skip
                    if ok:
                        break
                if not ok:
                    skipped += 1
                    if skipped <= max_outliers:
                        continue  # an outlier: leave it unmatched, keep the last state
                    brk = _NO_ROUTE
        if brk:
            p = hist[0]
            end_cand[npieces] = _best(score, cptr[p], cptr[p + 1])
            reason[npieces] = brk
            npieces += 1
            nh = 0
        if nh == 0:
            for b in range(a0, a1):
                score[b] = -c_dist[b] * c_dist[b] * inv2s2
                bp[b] = -1
                td[b] = 0.0
        skipped = 0
        for h in range(min(nh, max_outliers), 0, -1):
            hist[h] = hist[h - 1]
        hist[0] = i
        nh = min(nh + 1, max_outliers + 1)
    if nh > 0:
        p = hist[0]
        end_cand[npieces] = _best(score, cptr[p], cptr[p + 1])
        reason[npieces] = 0
        npieces += 1
    return end_cand[:npieces], reason[:npieces], bp, td


@nb.njit(cache=True)
def _assemble(  # type: ignore[no-untyped-def]
    end_cand, bp, td, c_fix, c_edge, c_off, edge_u, edge_v, n_fix, g, w, backtrack_m
):
    """Backtrack every piece and unpack its edges from the hierarchy.

    Returns per input fix the chosen candidate and piece (-1 when not a matched state), the
    concatenated edges of all pieces with a pointer per piece, the first and last offsets of
    every piece and its length.
    """
    chosen = np.full(n_fix, -1, np.int64)
    piece = np.full(n_fix, -1, np.int64)
    state_pos = np.full(n_fix, -1, np.int64)
    npc = end_cand.shape[0]
    eptr = np.zeros(npc + 1, np.int64)
    edges = np.empty(64, np.int64)
    ne = 0
    first_off = np.empty(npc)
    last_off = np.empty(npc)
    length = np.zeros(npc)
    out_e = w[w[_ch._W_OUT_E] : w[_ch._W_OUT_E + 1]]
    seq = np.empty(64, np.int64)
    for pi in range(npc):
        # chain of candidates, backwards
        k = 0
        c = end_cand[pi]
        while c >= 0:
            if k >= seq.shape[0]:
                seq = _ch._grow(seq, 2 * k, 0)
            seq[k] = c
            k += 1
            c = bp[c]
        for j in range(k - 1, -1, -1):
            c = seq[j]
            chosen[c_fix[c]] = c
            piece[c_fix[c]] = pi
            if j < k - 1:
                length[pi] += td[c]
        c0 = seq[k - 1]
        first_off[pi] = c_off[c0]
        last_off[pi] = c_off[seq[0]]
        if ne + 1 > edges.shape[0]:
            edges = _ch._grow(edges, 2 * (ne + 1), 0)
        edges[ne] = c_edge[c0]
        state_pos[c_fix[c0]] = ne
        ne += 1
        for j in range(k - 2, -1, -1):
            a = seq[j + 1]
            b = seq[j]
            ea = c_edge[a]
            eb = c_edge[b]
            if ea == eb and c_off[b] >= c_off[a] - backtrack_m:
                state_pos[c_fix[b]] = ne - 1
                continue
            x = edge_v[ea]
            y = edge_u[eb]
            if x != y:
                cost, ids = _ch._route(x, y, g, w)
                m = len(ids) - 1
                if ne + m + 1 > edges.shape[0]:
                    edges = _ch._grow(edges, 2 * (ne + m + 1), 0)
                for q in range(m):
                    edges[ne] = out_e[q]
                    ne += 1
            if ne + 1 > edges.shape[0]:
                edges = _ch._grow(edges, 2 * (ne + 1), 0)
            edges[ne] = eb
            state_pos[c_fix[b]] = ne
            ne += 1
        eptr[pi + 1] = ne
    return chosen, piece, state_pos, edges[:ne], eptr, first_off, last_off, length


@nb.njit(cache=True)
def _fix_points(grp, fx, fy, g_prev, g_next, state_pos, edges, geom_ptr, gx, gy):  # type: ignore[no-untyped-def]
    """Matched point of every input fix: its projection onto the nearest of the matched path's
    edges from the state before its group's state to the state after it, in the same piece
    (``g_prev`` / ``g_next``, -1 at a piece's ends; a group's fixes lie on both sides of
    its centroid). Returns the point (UTM), distance and path position."""
    n = grp.shape[0]
    px = np.full(n, np.nan)
    py = np.full(n, np.nan)
    dist = np.full(n, np.nan)
    pos = np.full(n, -1, np.int64)
    for i in range(n):
        r = grp[i]
        if r < 0 or state_pos[r] < 0:
            continue
        q0 = state_pos[g_prev[r]] if g_prev[r] >= 0 else state_pos[r]
        q1 = state_pos[g_next[r]] if g_next[r] >= 0 else state_pos[r]
        x = fx[i]
        y = fy[i]
        best = np.inf
        for q in range(q0, q1 + 1):
            e = edges[q]
            for j in range(geom_ptr[e], geom_ptr[e + 1] - 1):
                x0 = gx[j]
                y0 = gy[j]
                dx = gx[j + 1] - x0
                dy = gy[j + 1] - y0
                l2 = dx * dx + dy * dy
                tt = 0.0
                if l2 > 0.0:
                    tt = min(max(((x - x0) * dx + (y - y0) * dy) / l2, 0.0), 1.0)
                qx = x0 + tt * dx
                qy = y0 + tt * dy
                d2 = (x - qx) ** 2 + (y - qy) ** 2
                if d2 < best:
                    best = d2
                    px[i] = qx
                    py[i] = qy
                    pos[i] = q
        dist[i] = np.sqrt(best)
    return px, py, dist, pos


@nb.njit(cache=True)
def _piece_xy(edges, eptr, first_off, last_off, geom_ptr, gx, gy, scale):  # type: ignore[no-untyped-def]
    """Geometry (UTM) of the pieces, the first and last edges trimmed at the matched offsets;
    NaN between pieces."""
    total = 0
    for e in edges:
        total += geom_ptr[e + 1] - geom_ptr[e] + 2
    total += eptr.shape[0]
    xs = np.empty(total)
    ys = np.empty(total)
    k = 0
    for pi in range(eptr.shape[0] - 1):
        if pi > 0:
            xs[k] = np.nan
            ys[k] = np.nan
            k += 1
        e0 = eptr[pi]
        e1 = eptr[pi + 1]
        for q in range(e0, e1):
            e = edges[q]
            lo = first_off[pi] / scale[e] if q == e0 else 0.0
            hi = last_off[pi] / scale[e] if q == e1 - 1 else np.inf
            if q == e0 and q == e1 - 1 and hi < lo:
                hi = lo
            acc = 0.0
            started = False
            for j in range(geom_ptr[e], geom_ptr[e + 1] - 1):
                x0 = gx[j]
                y0 = gy[j]
                dx = gx[j + 1] - x0
                dy = gy[j + 1] - y0
                seg = np.sqrt(dx * dx + dy * dy)
                a = acc
                b = acc + seg
                acc = b
                if b < lo:
                    continue
                if not started:
                    tt = (lo - a) / seg if seg > 0.0 else 0.0
                    tt = min(max(tt, 0.0), 1.0)
                    xs[k] = x0 + tt * dx
                    ys[k] = y0 + tt * dy
                    k += 1
                    started = True
                if b >= hi:
                    tt = (hi - a) / seg if seg > 0.0 else 1.0
                    tt = min(max(tt, 0.0), 1.0)
                    xs[k] = x0 + tt * dx
                    ys[k] = y0 + tt * dy
                    k += 1
                    break
                xs[k] = gx[j + 1]
                ys[k] = gy[j + 1]
                k += 1
    return xs[:k], ys[:k]


# --------------------------------------------------------------------------------------------
# per-graph index
# --------------------------------------------------------------------------------------------


class _Index:
    """What matching needs from a graph, prepared once: the snapping index and geometry in
    UTM, node positions, metres per hierarchy edge, and per thread a query workspace and a
    cache of node-to-node distances."""

    def __init__(self, graph: RoadGraph) -> None:
        # the graph's own snapping index (UTM transformer, STRtree over edge geometry)
        tr, tree, lines, node_xy = graph._snapper()
        self.tr = tr
        self.tree = tree
        xy = shapely.get_coordinates(lines)  # in geom_ptr order: one linestring per edge
        self.gx = np.ascontiguousarray(xy[:, 0])
        self.gy = np.ascontiguousarray(xy[:, 1])
        utm_len = shapely.length(lines)
        self.scale = np.where(utm_len > 0, graph.edge_length_m / np.maximum(utm_len, 1e-9), 1.0)
        self.node_x = np.ascontiguousarray(node_xy[:, 0])
        self.node_y = np.ascontiguousarray(node_xy[:, 1])
        self.geom_ptr = np.ascontiguousarray(graph.geom_ptr, np.int64)
        self.edge_u = np.ascontiguousarray(graph.edge_u, np.int64)
        self.edge_v = np.ascontiguousarray(graph.edge_v, np.int64)
        self.edge_len = np.ascontiguousarray(graph.edge_length_m, np.float64)
        h = graph.hierarchy
        e_d = np.zeros(h.e_tail.shape[0])
        e_d[h.f_e] = h.f_d
        e_d[h.b_e] = h.b_d
        self.e_d = e_d
        self.hierarchy = h
        # an edge is "primary" unless it is the reverse twin (v -> u) of a lower-numbered edge
        m = graph.edge_count
        key = self.edge_u * (graph.node_count + 1) + self.edge_v
        rkey = self.edge_v * (graph.node_count + 1) + self.edge_u
        order = np.argsort(key)
        pos = np.clip(np.searchsorted(key[order], rkey), 0, max(m - 1, 0))
        twin = np.where(key[order][pos] == rkey, order[pos], -1) if m else np.empty(0, np.int64)
        self.primary = (twin < 0) | (np.arange(m) < twin)
        self._local = threading.local()

    def scratch(self) -> tuple[np.ndarray, np.ndarray, Any]:
        """(packed hierarchy, this thread's workspace buffer, this thread's distance cache)."""
        try:
            ws, cache = self._local.ws, self._local.cache
        except AttributeError:
            ws = self._local.ws = self.hierarchy.workspace()
            cache = self._local.cache = NbDict.empty(key_type=nbt.int64, value_type=nbt.float64)
        if len(cache) > _CACHE_LIMIT:  # a new dict: clear() pops item by item in Python
            cache = self._local.cache = NbDict.empty(key_type=nbt.int64, value_type=nbt.float64)
        return ws.graph, ws.buf, cache


_INDEXES: weakref.WeakKeyDictionary[RoadGraph, _Index] = weakref.WeakKeyDictionary()
_INDEX_LOCK = threading.Lock()


def _index(graph: RoadGraph) -> _Index:
    idx = _INDEXES.get(graph)
    if idx is None:
        with _INDEX_LOCK:
            idx = _INDEXES.get(graph)
            if idx is None:
                idx = _INDEXES[graph] = _Index(graph)
    return idx


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def _spikes(
    fx: np.ndarray, fy: np.ndarray, ts: np.ndarray, vi: np.ndarray, max_speed: float, slack: float
) -> np.ndarray:
    """Input indices of lone outliers among the valid fixes ``vi``: a fix that is farther from
    both its neighbours than the vehicle could drive in between (``max_speed`` × Δt +
    ``slack``) while the neighbours are close together — a jump and straight back. The
    Viterbi step alone may accept such a jump when the state before it is a group with an
    earlier mean time, and then drives to it and back (a loop of hundreds of metres)."""
    if vi.size < 3:
        return np.empty(0, np.int64)
    a, b, c = vi[:-2], vi[1:-1], vi[2:]
    d_ab = np.hypot(fx[b] - fx[a], fy[b] - fy[a])
    d_bc = np.hypot(fx[c] - fx[b], fy[c] - fy[b])
    d_ac = np.hypot(fx[c] - fx[a], fy[c] - fy[a])
    spike = (
        (d_ab > max_speed * (ts[b] - ts[a]) + slack)
        & (d_bc > max_speed * (ts[c] - ts[b]) + slack)
        & (d_ac < 0.5 * np.minimum(d_ab, d_bc))
    )
    return b[spike]


def estimate_sigma_m(nearest_dist_m: np.ndarray, *, min_sigma_m: float = 2.0) -> float:
    """GPS error from the distances of fixes to their nearest road: 1.4826 × median (the
    median absolute deviation of the perpendicular error, Newson & Krumm), at least
    ``min_sigma_m``."""
    d = nearest_dist_m[np.isfinite(nearest_dist_m)]
    if d.size == 0:
        return float(min_sigma_m)
    return float(max(MAD_TO_SIGMA * float(np.median(d)), min_sigma_m))


def match_track(
    graph: RoadGraph,
    lat: ArrayLike,
    lon: ArrayLike,
    t_s: ArrayLike,
    *,
    sigma_m: float | None = None,
    search_radius_m: float = 80.0,
    sigma_radius_factor: float = 5.0,
    min_search_radius_m: float = 30.0,
    max_candidates: int = 12,
    beta_m: float = 5.0,
    spacing_factor: float = 8.0,
    max_group_s: float = 10.0,
    max_gap_s: float = 90.0,
    max_speed_mps: float = 45.0,
    max_excess_m: float = 2000.0,
    backtrack_m: float | None = None,
    backtrack_factor: float = 4.0,
    max_outliers: int = 2,
    refine_sigma: float = 1.15,
) -> MatchedTrack:
    """Match one GPS track to the road graph (hidden-Markov model, Viterbi).

    Parameters
    ----------
    graph
        The road graph (its snapping index and hierarchy are reused).
    lat, lon
        Fixes, WGS 84 degrees (equal-length 1-D). NaN or out-of-range fixes stay unmatched.
    t_s
        Fix times, seconds on any clock (e.g. Unix time), non-decreasing.
    sigma_m
        GPS error (standard deviation), metres; ``None``: estimated from the track
        (:func:`estimate_sigma_m`).
    search_radius_m
        Largest distance from a fix to a candidate road, metres. The radius used is
        ``min(search_radius_m, max(min_search_radius_m, sigma_radius_factor * sigma))``.
    max_candidates
        Nearest roads kept per state (both directions of a two-way street are one road and
        two candidates).
    beta_m
        Scale of the exponential transition probability, metres.
    spacing_factor
        Consecutive fixes within ``spacing_factor * sigma`` of the first of them are one
        state at their centroid (stationary jitter, dense sampling: with white noise of
        sigma at 1 Hz the step between raw fixes is mostly noise), if they are less than
        ``max_group_s`` after the first (sparse fixes are states of their own).
    max_gap_s
        Time between fixes above which the track is split (a ``"gap"`` break).
    max_speed_mps
        Road distance between two states above ``dt * max_speed_mps + 2 * radius`` is
        infeasible.
    max_excess_m
        Road distance above the straight distance plus this is infeasible.
    backtrack_m
        Going back along the same edge by up to this is noise, not a loop; ``None``:
        ``backtrack_factor * sigma``.
    max_outliers
        States in a row with no feasible transition left unmatched before the track is split.
    refine_sigma
        When sigma is estimated: if the matched fixes' offsets give a sigma more than this
        factor above the first estimate, match again with it (in dense streets the nearest
        road is often not the driven one, so the first estimate is low for noisy tracks).

    Returns
    -------
    MatchedTrack

    Raises
    ------
    ValueError
        On arrays of different lengths or times that go backwards.
    """
    options = {
        "search_radius_m": search_radius_m, "sigma_radius_factor": sigma_radius_factor,
        "min_search_radius_m": min_search_radius_m, "max_candidates": max_candidates,
        "beta_m": beta_m, "spacing_factor": spacing_factor, "max_group_s": max_group_s,
        "max_gap_s": max_gap_s, "max_speed_mps": max_speed_mps, "max_excess_m": max_excess_m,
        "backtrack_m": backtrack_m, "backtrack_factor": backtrack_factor,
        "max_outliers": max_outliers,
    }  # fmt: skip
    first = _match(graph, lat, lon, t_s, sigma_m=sigma_m, **options)  # type: ignore[arg-type]
    if sigma_m is not None or not refine_sigma:
        return first
    sigma2 = estimate_sigma_m(first.fix_offset_m)
    if sigma2 <= refine_sigma * first.sigma_m:
        return first
    return _match(graph, lat, lon, t_s, sigma_m=sigma2, **options)  # type: ignore[arg-type]


def _match(
    graph: RoadGraph,
    lat: ArrayLike,
    lon: ArrayLike,
    t_s: ArrayLike,
    *,
    sigma_m: float | None,
    search_radius_m: float,
    sigma_radius_factor: float,
    min_search_radius_m: float,
    max_candidates: int,
    beta_m: float,
    spacing_factor: float,
    max_group_s: float,
    max_gap_s: float,
    max_speed_mps: float,
    max_excess_m: float,
    backtrack_m: float | None,
    backtrack_factor: float,
    max_outliers: int,
) -> MatchedTrack:
    la = np.ascontiguousarray(np.atleast_1d(np.asarray(lat, np.float64)))
    lo = np.ascontiguousarray(np.atleast_1d(np.asarray(lon, np.float64)))
    ts = np.ascontiguousarray(np.atleast_1d(np.asarray(t_s, np.float64)))
    n = la.shape[0]
    if la.ndim != 1 or lo.shape != la.shape or ts.shape != la.shape:
        raise ValueError("lat, lon and t_s must be 1-D arrays of equal length")
    if np.any(~np.isfinite(ts)) or (n > 1 and np.any(np.diff(ts) < 0)):
        raise ValueError("t_s must be finite and non-decreasing (sort the fixes by time first)")
    idx = _index(graph)
    valid = np.isfinite(la) & np.isfinite(lo) & (np.abs(la) <= 90) & (np.abs(lo) <= 180)
    fx, fy = idx.tr.transform(np.where(valid, lo, 0.0), np.where(valid, la, 0.0))
    fx = np.ascontiguousarray(fx, np.float64)
    fy = np.ascontiguousarray(fy, np.float64)
    vi = np.flatnonzero(valid)
    if sigma_m is None:  # nearest-road distances of (at most 500) fixes spread over the track
        spread = np.linspace(0, max(vi.shape[0] - 1, 0), min(vi.shape[0], 500))
        sample = vi[np.unique(spread.astype(np.int64))]
        # roads within the search radius, exact distances in numba (STRtree.query_nearest on
        # lines measured ~100 us per point, this ~5)
        sp = idx.tree.query(
            shapely.points(fx[sample], fy[sample]), predicate="dwithin", distance=search_radius_m
        )
        sd, _, _, _ = _project(
            sample[sp[0]].astype(np.int64), sp[1].astype(np.int64), fx, fy,
            idx.geom_ptr, idx.gx, idx.gy, idx.scale,
        )  # fmt: skip
        near = np.full(sample.shape[0], np.inf)
        np.minimum.at(near, sp[0], sd)
        sigma = estimate_sigma_m(near)
    else:
        sigma = float(sigma_m)
    radius = min(search_radius_m, max(min_search_radius_m, sigma_radius_factor * sigma))
    back_m = float(backtrack_m) if backtrack_m is not None else backtrack_factor * sigma
    valid[_spikes(fx, fy, ts, vi, max_speed_mps, 2.0 * radius)] = False
    vi = np.flatnonzero(valid)

    # gaps between valid fixes; states = groups of fixes close together
    gap_before = np.zeros(n, np.bool_)
    if vi.size > 1:
        gap_before[vi[1:]] = np.diff(ts[vi]) > max_gap_s
    # the first and last fix of every continuous stretch stay alone (and so does the fix
    # after a first one, which would otherwise join it)
    alone = np.zeros(n, np.bool_)
    if vi.size:
        starts = np.flatnonzero(np.r_[True, gap_before[vi[1:]]])
        ends = np.r_[starts[1:] - 1, vi.size - 1]
        alone[vi[ends]] = True
        after = starts + 1
        alone[vi[after[after < vi.size]]] = True
    grp, sx, sy, st, st0, st1, sgap = _group(
        fx, fy, ts, valid, gap_before, alone, spacing_factor * sigma, max_group_s
    )
    ns = sx.shape[0]

    # candidates for all states at once: STRtree, then exact projection (numba)
    pairs = idx.tree.query(shapely.points(sx, sy), predicate="dwithin", distance=radius)
    pf = pairs[0].astype(np.int64)
    pe = pairs[1].astype(np.int64)
    d, off, _, _ = _project(pf, pe, sx, sy, idx.geom_ptr, idx.gx, idx.gy, idx.scale)
    order = np.lexsort((d, pf))
    pf, pe, d, off = pf[order], pe[order], d[order], off[order]
    counts = np.bincount(pf, minlength=ns)
    start = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    # rank roads, not edges: both directions of a two-way street share one rank
    primary = idx.primary[pe].astype(np.int64)
    road_rank = np.cumsum(primary) - primary
    keep = (road_rank - road_rank[start[pf]]) < max_candidates
    pf, pe, d, off = pf[keep], pe[keep], d[keep], off[keep]
    cptr = np.concatenate(([0], np.cumsum(np.bincount(pf, minlength=ns)))).astype(np.int64)
    steps = np.flatnonzero(np.diff(cptr) > 0).astype(np.int64)

    g, w, cache = idx.scratch()
    end_cand, reason, bp, td = _viterbi(
        steps, sx, sy, st, st0, st1, sgap, cptr, pe, off, d,
        idx.edge_u, idx.edge_v, idx.edge_len, idx.node_x, idx.node_y, g, w, idx.e_d, cache,
        sigma, float(beta_m), float(max_speed_mps), 2.0 * radius, float(max_excess_m),
        back_m, float(max_gap_s), int(max_outliers),
    )  # fmt: skip
    chosen, piece, state_pos, edges, eptr, first_off, last_off, plen = _assemble(
        end_cand, bp, td, pf, pe, off, idx.edge_u, idx.edge_v, ns, g, w, back_m
    )
    # previous and next matched state of the same piece, per state
    matched = np.flatnonzero(chosen >= 0)
    g_prev = np.full(ns, -1, np.int64)
    g_next = np.full(ns, -1, np.int64)
    if matched.size > 1:
        same = piece[matched[1:]] == piece[matched[:-1]]
        g_next[matched[:-1][same]] = matched[1:][same]
        g_prev[matched[1:][same]] = matched[:-1][same]
    px, py, dist, pos = _fix_points(
        grp, fx, fy, g_prev, g_next, state_pos, edges, idx.geom_ptr, idx.gx, idx.gy
    )
    fix_piece = np.where(grp >= 0, piece[np.maximum(grp, 0)], -1)
    fix_piece[~np.isfinite(dist)] = -1
    return _result(
        idx, ts, px, py, dist, fix_piece, pos, pos_edges=edges, eptr=eptr,
        first_off=first_off, last_off=last_off, plen=plen, reason=reason, sigma=sigma,
    )  # fmt: skip


def _result(
    idx: _Index,
    ts: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    dist: np.ndarray,
    fix_piece: np.ndarray,
    pos: np.ndarray,
    *,
    pos_edges: np.ndarray,
    eptr: np.ndarray,
    first_off: np.ndarray,
    last_off: np.ndarray,
    plen: np.ndarray,
    reason: np.ndarray,
    sigma: float,
) -> MatchedTrack:
    n = ts.shape[0]
    m = np.isfinite(dist)
    fix_lon = np.full(n, np.nan)
    fix_lat = np.full(n, np.nan)
    if m.any():
        fix_lon[m], fix_lat[m] = idx.tr.transform(px[m], py[m], direction="INVERSE")
    xs, ys = _piece_xy(
        pos_edges, eptr, first_off, last_off, idx.geom_ptr, idx.gx, idx.gy, idx.scale
    )
    glon = np.full(xs.shape[0], np.nan)
    glat = np.full(xs.shape[0], np.nan)
    ok = np.isfinite(xs)
    if ok.any():
        glon[ok], glat[ok] = idx.tr.transform(xs[ok], ys[ok], direction="INVERSE")
    piece_edges = tuple(pos_edges[eptr[i] : eptr[i + 1]].copy() for i in range(eptr.shape[0] - 1))
    pieces = tuple(np.concatenate((idx.edge_u[pe[:1]], idx.edge_v[pe])) for pe in piece_edges)
    fix_edge = np.full(n, -1, np.int64)
    fix_edge[m] = pos_edges[pos[m]]
    breaks: list[Break] = []
    if m.any():
        fixes = np.flatnonzero(m)
        fp = fix_piece[fixes]
        last_of = fixes[np.searchsorted(fp, np.arange(len(piece_edges)), side="right") - 1]
        first_of = fixes[np.searchsorted(fp, np.arange(len(piece_edges)), side="left")]
        for p in range(len(piece_edges) - 1):
            a, b = int(last_of[p]), int(first_of[p + 1])
            breaks.append(Break(a, b, float(ts[a]), float(ts[b]), BREAK_REASONS[int(reason[p])]))
    return MatchedTrack(
        pieces=pieces,
        piece_edges=piece_edges,
        lat=glat,
        lon=glon,
        length_m=float(plen.sum()),
        fix_offset_m=dist,
        fix_lat=fix_lat,
        fix_lon=fix_lon,
        fix_edge=fix_edge,
        fix_piece=fix_piece,
        breaks=tuple(breaks),
        sigma_m=sigma,
    )
