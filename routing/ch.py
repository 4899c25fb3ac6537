"""Contraction hierarchies (CH): preprocessing, point-to-point queries and many-to-many tables.

Pure module: numpy arrays in, numpy arrays out, no I/O.

Why hand-written, and why numba
-------------------------------
We measured the libraries that install here as wheels for Python 3.11 (see ``docs/routing.md``).
``pandana`` 0.8 has a C++ CH, but it rebuilds the hierarchy on every start (it cannot be saved)
and pulls in pandas, scikit-learn and PyTables; ``networkit``, ``igraph`` and
``scipy.sparse.csgraph`` offer only plain or bidirectional Dijkstra, whose per-query work grows
with the graph. A CH answers a query in a 100,000-node road graph by settling a few hundred
nodes, and it is plain arrays that we store next to the graph. Written in pure Python the query
loop would spend ~1 us per heap operation, which eats most of the gain on small graphs, so the
search loops are compiled with numba (``cache=True``: compiled once per machine, kept in
``__pycache__``).

Algorithm
---------
Geisberger et al., "Contraction Hierarchies: Faster and Simpler Hierarchical Routing in Road
Networks" (WEA 2008). Node order by lazily updated priority = edge difference + 2 × contracted
neighbours; witness searches are Dijkstra runs limited by the shortcut cost and a settled-node
cap (a capped search may add a superfluous shortcut, never a wrong one). Queries are
bidirectional upward Dijkstra with stall-on-demand; tables use the bucket algorithm of Knopp et
al. (ALENEX 2007). Each CH edge keeps its two children, so paths unpack to original edges, and
carries the length (metres) of the path it stands for, so distances along the fastest path need
no unpacking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numba as nb
import numpy as np

INF = np.inf

# --------------------------------------------------------------------------------------------
# binary min-heap on parallel arrays (key, item), growable; lazy deletion by the callers
# --------------------------------------------------------------------------------------------


@nb.njit(cache=True, inline="always")
def _heap_push(hk, hv, size, key, item):  # type: ignore[no-untyped-def]
    if size >= hk.shape[0]:
        nk = np.empty(hk.shape[0] * 2, hk.dtype)
        nv = np.empty(hv.shape[0] * 2, hv.dtype)
        nk[:size] = hk[:size]
        nv[:size] = hv[:size]
        hk = nk
        hv = nv
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if hk[parent] <= key:
            break
        hk[i] = hk[parent]
        hv[i] = hv[parent]
        i = parent
    hk[i] = key
    hv[i] = item
    return hk, hv, size + 1


@nb.njit(cache=True, inline="always")
def _heap_push_fixed(hk, hv, size, key, item):  # type: ignore[no-untyped-def]
    """:func:`_heap_push` into heaps known to be large enough: no reallocation, so the
    compiled query keeps no array references to count (measurably faster on small graphs)."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if hk[parent] <= key:
            break
        hk[i] = hk[parent]
        hv[i] = hv[parent]
        i = parent
    hk[i] = key
    hv[i] = item
    return size + 1


@nb.njit(cache=True, inline="always")
def _heap_pop(hk, hv, size):  # type: ignore[no-untyped-def]
    key = hk[0]
    item = hv[0]
    size -= 1
    if size > 0:
        lk = hk[size]
        lv = hv[size]
        i = 0
        while True:
            child = 2 * i + 1
            if child >= size:
                break
            if child + 1 < size and hk[child + 1] < hk[child]:
                child += 1
            if hk[child] >= lk:
                break
            hk[i] = hk[child]
            hv[i] = hv[child]
            i = child
        hk[i] = lk
        hv[i] = lv
    return key, item, size


# --------------------------------------------------------------------------------------------
# preprocessing
# --------------------------------------------------------------------------------------------


@nb.njit(cache=True)
def _grow(a, size, fill):  # type: ignore[no-untyped-def]
    b = np.full(size, fill, a.dtype)
    b[: a.shape[0]] = a
    return b


@nb.njit(cache=True, inline="always")
def _prune(first, nxt, ends, node, contracted):  # type: ignore[no-untyped-def]
    """Unlink the edges of ``node``'s list whose other end is contracted.

    Searches skip such edges anyway, so the hierarchy comes out the same; but late nodes'
    lists fill with them (every shortcut stays linked), and scanning them dominated the
    turn-aware contraction.
    """
    prev = -1
    e = first[node]
    while e >= 0:
        after = nxt[e]
        if contracted[ends[e]]:
            if prev < 0:
                first[node] = after
            else:
                nxt[prev] = after
        else:
            prev = e
        e = after


@nb.njit(cache=True)
def _witness(  # type: ignore[no-untyped-def]
    src,
    avoid,
    max_w,
    settle_limit,
    out_first,
    out_next,
    e_head,
    e_w,
    contracted,
    dist,
    touched,
    hk,
    hv,
):
    """Dijkstra from ``src`` in the remaining graph without ``avoid``; leaves ``dist`` set."""
    n_touched = 0
    dist[src] = 0.0
    touched[n_touched] = src
    n_touched += 1
    size = 0
    hk, hv, size = _heap_push(hk, hv, size, 0.0, src)
    settled = 0
    while size > 0:
        k, u, size = _heap_pop(hk, hv, size)
        if k > dist[u]:
            continue
        if k > max_w:
            break
        settled += 1
        if settled > settle_limit:
            break
        e = out_first[u]
        while e >= 0:
            x = e_head[e]
            if x != avoid and not contracted[x]:
                nd = k + e_w[e]
                if nd < dist[x]:
                    if dist[x] == INF:
                        touched[n_touched] = x
                        n_touched += 1
                    dist[x] = nd
                    hk, hv, size = _heap_push(hk, hv, size, nd, x)
            e = out_next[e]
    return n_touched, hk, hv


@nb.njit(cache=True)
def _simulate(  # type: ignore[no-untyped-def]
    v,
    limit,
    in_first,
    in_next,
    out_first,
    out_next,
    e_tail,
    e_head,
    e_w,
    contracted,
    dist,
    touched,
    hk,
    hv,
):
    """Edge difference of contracting ``v``: shortcuts needed minus edges removed."""
    shortcuts = 0
    n_in = 0
    n_out = 0
    f = out_first[v]
    while f >= 0:
        if not contracted[e_head[f]]:
            n_out += 1
        f = out_next[f]
    e = in_first[v]
    while e >= 0:
        u = e_tail[e]
        if not contracted[u]:
            n_in += 1
            wu = e_w[e]
            max_w = -1.0  # no candidate yet (zero-cost arcs are allowed)
            f = out_first[v]
            while f >= 0:
                x = e_head[f]
                if not contracted[x] and x != u and wu + e_w[f] > max_w:
                    max_w = wu + e_w[f]
                f = out_next[f]
            if max_w >= 0.0:
                nt, hk, hv = _witness(
                    u,
                    v,
                    max_w,
                    limit,
                    out_first,
                    out_next,
                    e_head,
                    e_w,
                    contracted,
                    dist,
                    touched,
                    hk,
                    hv,
                )
                f = out_first[v]
                while f >= 0:
                    x = e_head[f]
                    if not contracted[x] and x != u and dist[x] > wu + e_w[f]:
                        shortcuts += 1
                    f = out_next[f]
                for i in range(nt):
                    dist[touched[i]] = INF
        e = in_next[e]
    return shortcuts - n_in - n_out, hk, hv


@nb.njit(cache=True)
def _build(n, tail0, head0, w0, d0, settle_sim, settle_real):  # type: ignore[no-untyped-def]
    m0 = tail0.shape[0]
    cap = max(16, 3 * m0)
    e_tail = np.empty(cap, np.int32)
    e_head = np.empty(cap, np.int32)
    e_w = np.empty(cap, np.float64)
    e_d = np.empty(cap, np.float64)
    e_c1 = np.full(cap, -1, np.int64)
    e_c2 = np.full(cap, -1, np.int64)
    out_next = np.full(cap, -1, np.int64)
    in_next = np.full(cap, -1, np.int64)
    out_first = np.full(n, -1, np.int64)
    in_first = np.full(n, -1, np.int64)
    for e in range(m0):
        u = tail0[e]
        v = head0[e]
        e_tail[e] = u
        e_head[e] = v
        e_w[e] = w0[e]
        e_d[e] = d0[e]
        out_next[e] = out_first[u]
        out_first[u] = e
        in_next[e] = in_first[v]
        in_first[v] = e
    m = m0

    contracted = np.zeros(n, np.bool_)
    deleted_nb = np.zeros(n, np.int64)
    rank = np.full(n, -1, np.int64)
    dist = np.full(n, INF)
    touched = np.empty(n, np.int64)
    hk = np.empty(64, np.float64)
    hv = np.empty(64, np.int64)
    in_nodes = np.empty(16, np.int64)
    in_edges = np.empty(16, np.int64)
    out_nodes = np.empty(16, np.int64)
    out_edges = np.empty(16, np.int64)

    prio = np.zeros(n, np.float64)
    pk = np.empty(n + 16, np.float64)
    pv = np.empty(n + 16, np.int64)
    psize = 0
    for v in range(n):
        ed, hk, hv = _simulate(
            v,
            settle_sim,
            in_first,
            in_next,
            out_first,
            out_next,
            e_tail,
            e_head,
            e_w,
            contracted,
            dist,
            touched,
            hk,
            hv,
        )
        prio[v] = float(ed)
        pk, pv, psize = _heap_push(pk, pv, psize, prio[v], v)

    mark = np.full(n, -1, np.int64)
    order = 0
    while psize > 0:
        k, v, psize = _heap_pop(pk, pv, psize)
        if contracted[v] or k != prio[v]:
            continue
        # gather live neighbours
        n_in = 0
        e = in_first[v]
        while e >= 0:
            u = e_tail[e]
            if not contracted[u]:
                if n_in >= in_nodes.shape[0]:
                    in_nodes = _grow(in_nodes, 2 * n_in, -1)
                    in_edges = _grow(in_edges, 2 * n_in, -1)
                in_nodes[n_in] = u
                in_edges[n_in] = e
                n_in += 1
            e = in_next[e]
        n_out = 0
        e = out_first[v]
        while e >= 0:
            x = e_head[e]
            if not contracted[x]:
                if n_out >= out_nodes.shape[0]:
                    out_nodes = _grow(out_nodes, 2 * n_out, -1)
                    out_edges = _grow(out_edges, 2 * n_out, -1)
                out_nodes[n_out] = x
                out_edges[n_out] = e
                n_out += 1
            e = out_next[e]
        # add the shortcuts u -> x that have no witness
        for a in range(n_in):
            u = in_nodes[a]
            wu = e_w[in_edges[a]]
            max_w = -1.0  # no candidate yet (zero-cost arcs are allowed)
            for b in range(n_out):
                if out_nodes[b] != u:
                    c = wu + e_w[out_edges[b]]
                    if c > max_w:
                        max_w = c
            if max_w < 0.0:
                continue
            nt, hk, hv = _witness(
                u,
                v,
                max_w,
                settle_real,
                out_first,
                out_next,
                e_head,
                e_w,
                contracted,
                dist,
                touched,
                hk,
                hv,
            )
            for b in range(n_out):
                x = out_nodes[b]
                if x == u:
                    continue
                c = wu + e_w[out_edges[b]]
                if dist[x] <= c:
                    continue
                f = out_first[u]
                found = -1
                while f >= 0:
                    if e_head[f] == x:
                        found = f
                        break
                    f = out_next[f]
                if found >= 0:
                    if c >= e_w[found]:
                        continue
                    if found >= m0:  # a shortcut: it now stands for the cheaper path
                        e_w[found] = c
                        e_d[found] = e_d[in_edges[a]] + e_d[out_edges[b]]
                        e_c1[found] = in_edges[a]
                        e_c2[found] = out_edges[b]
                        continue
                    # an original edge slower than the path through v: a parallel shortcut
                    # (overwriting the edge's weight would unpack to the edge, not the path)
                if m >= e_tail.shape[0]:
                    newcap = 2 * m
                    e_tail = _grow(e_tail, newcap, 0)
                    e_head = _grow(e_head, newcap, 0)
                    e_w = _grow(e_w, newcap, 0.0)
                    e_d = _grow(e_d, newcap, 0.0)
                    e_c1 = _grow(e_c1, newcap, -1)
                    e_c2 = _grow(e_c2, newcap, -1)
                    out_next = _grow(out_next, newcap, -1)
                    in_next = _grow(in_next, newcap, -1)
                e_tail[m] = u
                e_head[m] = x
                e_w[m] = c
                e_d[m] = e_d[in_edges[a]] + e_d[out_edges[b]]
                e_c1[m] = in_edges[a]
                e_c2[m] = out_edges[b]
                out_next[m] = out_first[u]
                out_first[u] = m
                in_next[m] = in_first[x]
                in_first[x] = m
                m += 1
            for i in range(nt):
                dist[touched[i]] = INF
        contracted[v] = True
        rank[v] = order
        order += 1
        # neighbours: one more contracted neighbour, and a fresh edge difference
        for a in range(n_in + n_out):
            y = in_nodes[a] if a < n_in else out_nodes[a - n_in]
            if contracted[y] or mark[y] == v:
                continue
            mark[y] = v
            deleted_nb[y] += 1
            _prune(out_first, out_next, e_head, y, contracted)
            _prune(in_first, in_next, e_tail, y, contracted)
            ed, hk, hv = _simulate(
                y,
                settle_sim,
                in_first,
                in_next,
                out_first,
                out_next,
                e_tail,
                e_head,
                e_w,
                contracted,
                dist,
                touched,
                hk,
                hv,
            )
            p = float(ed) + 2.0 * deleted_nb[y]
            if p != prio[y]:
                prio[y] = p
                if psize >= pk.shape[0]:
                    pk = _grow(pk, 2 * psize, 0.0)
                    pv = _grow(pv, 2 * psize, 0)
                pk, pv, psize = _heap_push(pk, pv, psize, p, y)
    return rank, e_tail[:m], e_head[:m], e_w[:m], e_d[:m], e_c1[:m], e_c2[:m]


@nb.njit(cache=True)
def _csr(n, keys, others, w, d):  # type: ignore[no-untyped-def]
    """Group edges by ``keys``: (ptr, other end, weight, metres, CH edge id)."""
    m = keys.shape[0]
    ptr = np.zeros(n + 1, np.int64)
    for i in range(m):
        ptr[keys[i] + 1] += 1
    for i in range(n):
        ptr[i + 1] += ptr[i]
    fill = ptr[:-1].copy()
    to = np.empty(m, np.int32)
    ww = np.empty(m, np.float64)
    dd = np.empty(m, np.float64)
    ee = np.empty(m, np.int64)
    for i in range(m):
        k = keys[i]
        j = fill[k]
        fill[k] += 1
        to[j] = others[i]
        ww[j] = w[i]
        dd[j] = d[i]
    # edge ids in the same order
    fill = ptr[:-1].copy()
    for i in range(m):
        k = keys[i]
        ee[fill[k]] = i
        fill[k] += 1
    return ptr, to, ww, dd, ee


# --------------------------------------------------------------------------------------------
# queries
# --------------------------------------------------------------------------------------------


@nb.njit(cache=True, inline="always")
def _query(  # type: ignore[no-untyped-def]
    s,
    t,
    f_ptr,
    f_to,
    f_w,
    f_e,
    b_ptr,
    b_to,
    b_w,
    b_e,
    df,
    db,
    pf,
    pb,
    touched,
    hk1,
    hv1,
    hk2,
    hv2,
):
    """Bidirectional upward search. Returns (cost, meeting node, n_touched).

    The heaps must hold one entry per upward edge plus one (a node's edges are relaxed once).
    """
    df[s] = 0.0
    touched[0] = s
    nt = 1
    if t != s:
        touched[1] = t
        nt = 2
    db[t] = 0.0
    pb[t] = -1
    s1 = 0
    s2 = 0
    s1 = _heap_push_fixed(hk1, hv1, s1, 0.0, s)
    s2 = _heap_push_fixed(hk2, hv2, s2, 0.0, t)
    best = INF
    meet = -1
    while s1 > 0 or s2 > 0:
        forward = s1 > 0 and (s2 == 0 or hk1[0] <= hk2[0])
        if forward:
            k, u, s1 = _heap_pop(hk1, hv1, s1)
            if k > df[u]:
                continue
            if k >= best:
                s1 = 0
                continue
            if db[u] < INF and k + db[u] < best:
                best = k + db[u]
                meet = u
            # stall-on-demand: a higher node reaches u more cheaply
            stalled = False
            for j in range(b_ptr[u], b_ptr[u + 1]):
                x = b_to[j]
                if df[x] + b_w[j] < k:
                    stalled = True
                    break
            if stalled:
                continue
            for j in range(f_ptr[u], f_ptr[u + 1]):
                x = f_to[j]
                nd = k + f_w[j]
                if nd < df[x]:
                    if df[x] == INF and db[x] == INF:
                        touched[nt] = x
                        nt += 1
                    df[x] = nd
                    pf[x] = f_e[j]
                    s1 = _heap_push_fixed(hk1, hv1, s1, nd, x)
        else:
            k, u, s2 = _heap_pop(hk2, hv2, s2)
            if k > db[u]:
                continue
            if k >= best:
                s2 = 0
                continue
            if df[u] < INF and k + df[u] < best:
                best = k + df[u]
                meet = u
            stalled = False
            for j in range(f_ptr[u], f_ptr[u + 1]):
                x = f_to[j]
                if db[x] + f_w[j] < k:
                    stalled = True
                    break
            if stalled:
                continue
            for j in range(b_ptr[u], b_ptr[u + 1]):
                x = b_to[j]
                nd = k + b_w[j]
                if nd < db[x]:
                    if df[x] == INF and db[x] == INF:
                        touched[nt] = x
                        nt += 1
                    db[x] = nd
                    pb[x] = b_e[j]
                    s2 = _heap_push_fixed(hk2, hv2, s2, nd, x)
    return best, meet, nt


@nb.njit(cache=True, inline="always")
def _reset(nt, touched, df, db, pf, pb):  # type: ignore[no-untyped-def]
    for i in range(nt):
        x = touched[i]
        df[x] = INF
        db[x] = INF
        pf[x] = -1
        pb[x] = -1


@nb.njit(cache=True, inline="always")
def _upward_space(  # type: ignore[no-untyped-def]
    s,
    ptr,
    to,
    w,
    d,
    stall_ptr,
    stall_to,
    stall_w,
    dist,
    dm,
    touched,
    hk,
    hv,
    out_node,
    out_dur,
    out_m,
):
    """Full upward search from ``s`` with stall-on-demand.

    Writes settled, non-stalled nodes with their costs to ``out_*`` and returns their count.
    Leaves ``dist``/``dm`` clean. Every buffer is presized (heaps: one entry per upward edge
    plus one, since a node's edges are relaxed once; ``out_*``: one per node), so the loop
    never reallocates: growable heaps returned from each push cost reference counting that
    made a search of ~25 nodes 4x slower (measured on Moscow's turn-aware hierarchy).
    """
    nt = 1
    dist[s] = 0.0
    dm[s] = 0.0
    touched[0] = s
    size = _heap_push_fixed(hk, hv, 0, 0.0, s)
    no = 0
    while size > 0:
        k, u, size = _heap_pop(hk, hv, size)
        if k > dist[u]:
            continue
        stalled = False
        for j in range(stall_ptr[u], stall_ptr[u + 1]):
            if dist[stall_to[j]] + stall_w[j] < k:
                stalled = True
                break
        if stalled:
            continue
        out_node[no] = u
        out_dur[no] = k
        out_m[no] = dm[u]
        no += 1
        for j in range(ptr[u], ptr[u + 1]):
            x = to[j]
            nd = k + w[j]
            if nd < dist[x]:
                if dist[x] == INF:
                    touched[nt] = x
                    nt += 1
                dist[x] = nd
                dm[x] = dm[u] + d[j]
                size = _heap_push_fixed(hk, hv, size, nd, x)
    for i in range(nt):
        dist[touched[i]] = INF
    return no


@nb.njit(cache=True)
def _many_to_many(  # type: ignore[no-untyped-def]
    n,
    sources,
    targets,
    f_ptr,
    f_to,
    f_w,
    f_d,
    b_ptr,
    b_to,
    b_w,
    b_d,
):
    ns = sources.shape[0]
    nt_ = targets.shape[0]
    dur = np.full((ns, nt_), INF)
    met = np.full((ns, nt_), INF)
    dist = np.full(n, INF)
    dm = np.zeros(n)
    touched = np.empty(n, np.int64)
    heap = max(f_to.shape[0], b_to.shape[0]) + 2
    hk = np.empty(heap, np.float64)
    hv = np.empty(heap, np.int64)
    sp_node = np.empty(n, np.int64)
    sp_dur = np.empty(n, np.float64)
    sp_m = np.empty(n, np.float64)
    # backward spaces of all targets -> buckets
    b_node = np.empty(1024, np.int64)
    b_tgt = np.empty(1024, np.int64)
    b_dur = np.empty(1024, np.float64)
    b_m = np.empty(1024, np.float64)
    nb_ = 0
    for j in range(nt_):
        cnt = _upward_space(
            targets[j],
            b_ptr,
            b_to,
            b_w,
            b_d,
            f_ptr,
            f_to,
            f_w,
            dist,
            dm,
            touched,
            hk,
            hv,
            sp_node,
            sp_dur,
            sp_m,
        )
        if nb_ + cnt > b_node.shape[0]:
            cap = 2 * (nb_ + cnt)
            b_node = _grow(b_node, cap, 0)
            b_tgt = _grow(b_tgt, cap, 0)
            b_dur = _grow(b_dur, cap, 0.0)
            b_m = _grow(b_m, cap, 0.0)
        for i in range(cnt):
            b_node[nb_] = sp_node[i]
            b_tgt[nb_] = j
            b_dur[nb_] = sp_dur[i]
            b_m[nb_] = sp_m[i]
            nb_ += 1
    # bucket index by node (counting sort)
    bptr = np.zeros(n + 1, np.int64)
    for i in range(nb_):
        bptr[b_node[i] + 1] += 1
    for i in range(n):
        bptr[i + 1] += bptr[i]
    fill = bptr[:-1].copy()
    s_tgt = np.empty(nb_, np.int64)
    s_dur = np.empty(nb_, np.float64)
    s_m = np.empty(nb_, np.float64)
    for i in range(nb_):
        k = fill[b_node[i]]
        fill[b_node[i]] += 1
        s_tgt[k] = b_tgt[i]
        s_dur[k] = b_dur[i]
        s_m[k] = b_m[i]
    for i in range(ns):
        cnt = _upward_space(
            sources[i],
            f_ptr,
            f_to,
            f_w,
            f_d,
            b_ptr,
            b_to,
            b_w,
            dist,
            dm,
            touched,
            hk,
            hv,
            sp_node,
            sp_dur,
            sp_m,
        )
        for a in range(cnt):
            u = sp_node[a]
            du = sp_dur[a]
            mu = sp_m[a]
            for k in range(bptr[u], bptr[u + 1]):
                j = s_tgt[k]
                c = du + s_dur[k]
                if c < dur[i, j]:
                    dur[i, j] = c
                    met[i, j] = mu + s_m[k]
    return dur, met


#: sections of the packed query buffer (one int64 array per hierarchy; float sections hold
#: float64 bit patterns and are read through ``.view(np.float64)``)
_SECTIONS = (
    "f_ptr", "f_to", "f_e", "b_ptr", "b_to", "b_e", "e_tail", "e_head", "e_c1", "e_c2",
    "f_w", "b_w", "f_d", "b_d",
)  # fmt: skip
_FLOAT_SECTIONS = frozenset({"f_w", "b_w", "f_d", "b_d"})
_NARROW = frozenset({"f_to", "b_to", "e_tail", "e_head"})  # saved as int32
#: packed buffer header: node count, original edge count, then section offsets
_G_N, _G_M0, _G_OFF = 0, 1, 2

#: regions of a workspace buffer (int64; the first four hold float64), in order, and their sizes
#: in terms of n (nodes), nf / nb (upward / downward CH edges)
_W_DF, _W_DB, _W_HK1, _W_HK2 = 0, 1, 2, 3  # distances and heap keys (float64)
_W_PF, _W_PB, _W_TOUCHED, _W_HV1, _W_HV2 = 4, 5, 6, 7, 8  # parent edges, touched nodes, heap items
_W_CHPATH, _W_STACK, _W_OUT_E, _W_OUT_N, _W_LABELS = 9, 10, 11, 12, 13
_W_REGIONS = 14


def _workspace_sizes(n: int, nf: int, nb_: int) -> list[int]:
    # a search pushes at most one heap entry per upward edge plus the start node
    return [n, n, nf + 2, nb_ + 2, n, n, n, nf + 2, nb_ + 2, n, 2 * n + 2, n, n + 1, n]


@nb.njit(cache=True)
def _route(s, t, g, w):  # type: ignore[no-untyped-def]
    """One point-to-point query on the packed graph ``g`` with the workspace ``w``.

    Returns ``(cost, ids)``: ``ids`` is a new list of the ``k + 1`` path nodes' labels (OSM
    ids), and the ``k`` original edge ids and ``k + 1`` node indices are written to the output
    regions of ``w``. ``ids`` is empty when ``t`` is unreachable (``cost`` is ``inf``) or when
    ``s`` or ``t`` is not a node index (``cost`` is NaN).

    Two buffers and two integers in, nothing allocated but the list: on a small graph numba's
    per-argument unboxing and any allocation cost as much as the search itself (each array
    argument ~0.05 us, each int ~0.02 us). The list is presized and filled here; numba boxes
    it faster than ``ndarray.tolist`` of a slice (measured: 0.42 vs 0.58 us for 8 ids).
    """
    n = g[_G_N]
    labels = w[w[_W_LABELS] : w[_W_LABELS + 1]]
    if s < 0 or s >= n or t < 0 or t >= n:
        return np.nan, [labels[0]] * 0
    m0 = g[_G_M0]
    o = _G_OFF
    f_ptr = g[g[o] : g[o + 1]]
    f_to = g[g[o + 1] : g[o + 2]]
    f_e = g[g[o + 2] : g[o + 3]]
    b_ptr = g[g[o + 3] : g[o + 4]]
    b_to = g[g[o + 4] : g[o + 5]]
    b_e = g[g[o + 5] : g[o + 6]]
    e_tail = g[g[o + 6] : g[o + 7]]
    e_head = g[g[o + 7] : g[o + 8]]
    e_c1 = g[g[o + 8] : g[o + 9]]
    e_c2 = g[g[o + 9] : g[o + 10]]
    f_w = g[g[o + 10] : g[o + 11]].view(np.float64)
    b_w = g[g[o + 11] : g[o + 12]].view(np.float64)
    df = w[w[_W_DF] : w[_W_DF + 1]].view(np.float64)
    db = w[w[_W_DB] : w[_W_DB + 1]].view(np.float64)
    hk1 = w[w[_W_HK1] : w[_W_HK1 + 1]].view(np.float64)
    hk2 = w[w[_W_HK2] : w[_W_HK2 + 1]].view(np.float64)
    pf = w[w[_W_PF] : w[_W_PF + 1]]
    pb = w[w[_W_PB] : w[_W_PB + 1]]
    touched = w[w[_W_TOUCHED] : w[_W_TOUCHED + 1]]
    hv1 = w[w[_W_HV1] : w[_W_HV1 + 1]]
    hv2 = w[w[_W_HV2] : w[_W_HV2 + 1]]
    best, meet, nt = _query(
        s,
        t,
        f_ptr,
        f_to,
        f_w,
        f_e,
        b_ptr,
        b_to,
        b_w,
        b_e,
        df,
        db,
        pf,
        pb,
        touched,
        hk1,
        hv1,
        hk2,
        hv2,
    )
    if meet < 0:
        _reset(nt, touched, df, db, pf, pb)
        return best, [labels[0]] * 0
    chpath = w[w[_W_CHPATH] : w[_W_CHPATH + 1]]
    stack = w[w[_W_STACK] : w[_W_STACK + 1]]
    out_e = w[w[_W_OUT_E] : w[_W_OUT_E + 1]]
    out_n = w[w[_W_OUT_N] : w[_W_OUT_N + 1]]
    nc = 0
    x = meet
    while x != s:  # forward half, collected backwards
        e = pf[x]
        chpath[nc] = e
        nc += 1
        x = e_tail[e]
    i, j = 0, nc - 1
    while i < j:
        chpath[i], chpath[j] = chpath[j], chpath[i]
        i += 1
        j -= 1
    x = meet
    while x != t:
        e = pb[x]
        chpath[nc] = e
        nc += 1
        x = e_head[e]
    _reset(nt, touched, df, db, pf, pb)
    k = 0
    out_n[0] = s
    for i in range(nc):
        sp = 1
        stack[0] = chpath[i]
        while sp > 0:
            sp -= 1
            e = stack[sp]
            if e < m0:
                out_e[k] = e
                k += 1
                out_n[k] = e_head[e]
            else:
                stack[sp] = e_c2[e]
                stack[sp + 1] = e_c1[e]
                sp += 2
    ids = [labels[s]] * (k + 1)  # presized: appending costs more
    for i in range(1, k + 1):
        ids[i] = labels[out_n[i]]
    return best, ids


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------

#: arrays of a :class:`Hierarchy`, in the order they are saved
HIERARCHY_ARRAYS = (
    "rank", "e_tail", "e_head", "e_c1", "e_c2",
    "f_ptr", "f_to", "f_w", "f_d", "f_e",
    "b_ptr", "b_to", "b_w", "b_d", "b_e",
)  # fmt: skip


_ROUTE_ENTRY: Any = None


def _route_entry() -> Any:
    """The compiled :func:`_route` itself, without numba's per-call type dispatch.

    Dispatch costs ~0.2 us per call plus the type checks of every argument. Its one
    signature is fixed (two int64 and two packed int64 buffers), so we compile it once and
    keep the machine-code entry point; the dispatcher is the fallback.
    """
    global _ROUTE_ENTRY
    if _ROUTE_ENTRY is None:
        sig = (nb.int64, nb.int64, nb.int64[::1], nb.int64[::1])
        try:
            _route.compile(sig)
            _ROUTE_ENTRY = _route.overloads[sig].entry_point  # type: ignore[attr-defined]
        except (AttributeError, KeyError):  # numba internals moved: keep the dispatcher
            _ROUTE_ENTRY = _route
    return _ROUTE_ENTRY


class Workspace:
    """Scratch buffers of point-to-point queries for one thread (kept clean between queries).

    ``route(s, t, graph, buf)`` is the compiled query (see :func:`_route`); after a query
    that returned ``(cost, ids)`` with ``k = len(ids) - 1 >= 0`` the path is in
    ``out_edges[:k]`` (original edge ids) and ``out_nodes[:k + 1]`` (node indices) until the
    next query on this workspace; ``ids`` lists the nodes' labels (e.g. OSM ids).
    """

    __slots__ = ("route", "graph", "buf", "out_edges", "out_nodes")

    def __init__(self, graph: np.ndarray, nf: int, nb_: int, labels: np.ndarray | None) -> None:
        n = int(graph[_G_N])
        sizes = _workspace_sizes(n, nf, nb_)
        offsets = np.cumsum([_W_REGIONS + 1, *sizes])
        buf = np.full(int(offsets[-1]), -1, np.int64)
        buf[: _W_REGIONS + 1] = offsets
        buf[offsets[_W_DF] : offsets[_W_HK2 + 1]].view(np.float64)[:] = INF
        region = [buf[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
        region[_W_LABELS][:] = np.arange(n) if labels is None else labels
        self.route = _route_entry()
        self.graph = graph
        self.buf = buf
        self.out_edges = region[_W_OUT_E]
        self.out_nodes = region[_W_OUT_N]


@dataclass(frozen=True)
class PathResult:
    """One shortest path: cost (s), original edge ids and node indices in travel order."""

    duration_s: float
    edges: np.ndarray
    nodes: np.ndarray


@dataclass(frozen=True, eq=False)
class Hierarchy:
    """A contraction hierarchy over ``n`` nodes and ``m0`` original edges.

    Original edges keep their ids ``0 .. m0-1``; shortcuts follow. ``f_*`` is the upward graph
    by tail (CSR), ``b_*`` the upward graph of incoming edges by head: for node ``v`` it lists
    edges ``u -> v`` with ``rank[u] > rank[v]``.
    """

    n: int
    m0: int
    rank: np.ndarray
    e_tail: np.ndarray
    e_head: np.ndarray
    e_c1: np.ndarray
    e_c2: np.ndarray
    f_ptr: np.ndarray
    f_to: np.ndarray
    f_w: np.ndarray
    f_d: np.ndarray
    f_e: np.ndarray
    b_ptr: np.ndarray
    b_to: np.ndarray
    b_w: np.ndarray
    b_d: np.ndarray
    b_e: np.ndarray
    _packed: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # pack the query arrays into one int64 buffer (the float sections as float64 bit
        # patterns); the named fields become views into it
        parts = [np.asarray(getattr(self, k), np.float64 if k in _FLOAT_SECTIONS else np.int64)
                 for k in _SECTIONS]  # fmt: skip
        header = _G_OFF + len(_SECTIONS) + 1
        offsets = np.cumsum([header] + [a.shape[0] for a in parts])
        packed = np.empty(int(offsets[-1]), np.int64)
        packed[_G_N] = self.n
        packed[_G_M0] = self.m0
        packed[_G_OFF:header] = offsets
        for k, a, start, end in zip(_SECTIONS, parts, offsets[:-1], offsets[1:], strict=True):
            view = packed[start:end]
            if k in _FLOAT_SECTIONS:
                view = view.view(np.float64)
            view[:] = a
            object.__setattr__(self, k, view)
        object.__setattr__(self, "_packed", packed)

    @classmethod
    def build(
        cls,
        n: int,
        tail: np.ndarray,
        head: np.ndarray,
        cost: np.ndarray,
        length_m: np.ndarray,
        *,
        settle_limit: int = 100,
    ) -> Hierarchy:
        """Contract a directed graph.

        Parameters
        ----------
        n
            Node count; nodes are ``0 .. n-1``.
        tail, head
            Edge ends. At most one edge per ordered pair, no self-loops.
        cost
            Edge costs (seconds), not negative (the turn-aware graph's arcs into its target
            nodes cost 0).
        length_m
            Edge lengths (metres), carried along shortcuts.
        settle_limit
            Cap of the witness searches.
        """
        tail = np.ascontiguousarray(tail, np.int32)
        head = np.ascontiguousarray(head, np.int32)
        cost = np.ascontiguousarray(cost, np.float64)
        length_m = np.ascontiguousarray(length_m, np.float64)
        if np.any(tail == head):
            raise ValueError("self-loops are not allowed")
        if np.any(~(cost >= 0)):
            raise ValueError("edge costs must not be negative")
        rank, e_tail, e_head, e_w, e_d, e_c1, e_c2 = _build(
            n, tail, head, cost, length_m, max(20, settle_limit // 10), settle_limit
        )
        up = rank[e_tail] < rank[e_head]
        ids = np.arange(e_tail.shape[0])
        f_ptr, f_to, f_w, f_d, f_e = _csr(n, e_tail[up], e_head[up], e_w[up], e_d[up])
        f_e = ids[up][f_e]
        down = ~up
        b_ptr, b_to, b_w, b_d, b_e = _csr(n, e_head[down], e_tail[down], e_w[down], e_d[down])
        b_e = ids[down][b_e]
        return cls(
            n=int(n), m0=int(tail.shape[0]), rank=rank, e_tail=e_tail, e_head=e_head,
            e_c1=e_c1, e_c2=e_c2,
            f_ptr=f_ptr, f_to=f_to, f_w=f_w, f_d=f_d, f_e=f_e,
            b_ptr=b_ptr, b_to=b_to, b_w=b_w, b_d=b_d, b_e=b_e,
        )  # fmt: skip

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays to save (see :data:`HIERARCHY_ARRAYS`)."""
        return {
            name: getattr(self, name).astype(np.int32) if name in _NARROW else getattr(self, name)
            for name in HIERARCHY_ARRAYS
        }

    @classmethod
    def from_arrays(cls, n: int, m0: int, arrays: dict[str, np.ndarray]) -> Hierarchy:
        """Rebuild from :meth:`arrays` output."""
        return cls(n=int(n), m0=int(m0), **{k: arrays[k] for k in HIERARCHY_ARRAYS})

    @property
    def shortcut_count(self) -> int:
        return int(self.e_tail.shape[0] - self.m0)

    @property
    def nbytes(self) -> int:
        return int(self.rank.nbytes + self._packed.nbytes)

    def workspace(self, labels: np.ndarray | None = None) -> Workspace:
        """Fresh scratch buffers for :meth:`query` and :meth:`path` (one per thread).

        ``labels`` (``n`` int64, e.g. OSM node ids) are copied into the workspace; queries
        return the path's labels. Default: the node indices.
        """
        return Workspace(self._packed, self.f_to.shape[0], self.b_to.shape[0], labels)

    def query(self, s: int, t: int, ws: Workspace) -> tuple[float, list[int]]:
        """Lean query: ``(cost, labels)`` of the fastest path, ``labels`` being those of its
        ``k + 1`` nodes (see :meth:`workspace`); its edges are in ``ws.out_edges[:k]`` and its
        node indices in ``ws.out_nodes[:k + 1]`` until the next query on ``ws``. ``labels`` is
        empty (and ``cost`` infinite) when ``t`` is unreachable.

        Raises
        ------
        IndexError
            When ``s`` or ``t`` is not a node index (``0 <= s, t < n``).
        """
        res = ws.route(s, t, ws.graph, ws.buf)
        if not res[1] and res[0] != res[0]:  # NaN: refused index
            raise IndexError(f"node index out of range 0..{self.n - 1}: {s}, {t}")
        return res  # type: ignore[no-any-return]

    def path(self, s: int, t: int, ws: Workspace) -> PathResult | None:
        """Fastest path from node ``s`` to node ``t``, or None when ``t`` is unreachable."""
        cost, labels = self.query(s, t, ws)
        if not labels:
            return None
        k = len(labels) - 1
        return PathResult(
            duration_s=cost, edges=ws.out_edges[:k].copy(), nodes=ws.out_nodes[: k + 1].copy()
        )

    def table(self, sources: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Costs and metres of the fastest paths for every source × target (``inf`` if none)."""
        return _many_to_many(  # type: ignore[no-any-return]
            self.n,
            np.ascontiguousarray(sources, np.int64),
            np.ascontiguousarray(targets, np.int64),
            self.f_ptr, self.f_to, self.f_w, self.f_d,
            self.b_ptr, self.b_to, self.b_w, self.b_d,
        )  # fmt: skip
