"""Bounding volume hierarchy (BVH) construction on the host, flattened for traversal kernels.

Binned surface-area-heuristic (SAH) build in the style of pbrt (Pharr, Jakob, Humphreys,
*Physically Based Rendering*, 4th ed., section 7.3 "Bounding Volume Hierarchies"):

1. centroids are binned into ``n_bins`` equal bins along the axis of largest centroid extent;
2. the ``n_bins - 1`` planes between bins are scored with
   ``cost = traversal_cost + (n_left * A_left + n_right * A_right) / A_node`` (intersection
   cost 1 per primitive, so a leaf costs ``n``; ``traversal_cost`` defaults to 1/8, pbrt-v3's
   value), the first of equal minima wins;
3. a node becomes a leaf when ``n <= max_leaf_size`` and ``n <= best split cost``; otherwise it
   is split at the best plane;
4. if all centroids coincide no plane separates them: a leaf when ``n <= max_leaf_size``, else
   the primitive list is cut in the middle (so leaves never exceed ``max_leaf_size``).

``A`` is the surface area of a box; where a node's box has zero area (all its primitives on one
line) the summed edge length is used instead, so such inputs still split evenly. Centroids and
SAH sums are computed in float64 (no overflow or underflow for any finite float32 input); node
boxes are exact float32 unions of the primitive boxes below them.

The tree is built iteratively (explicit stack) and written depth-first: the first child of an
interior node is the next node. Primitive records are scattered between two buffers at each
split (branch-free, sequential). For large inputs the top of the tree is built first; the
subtrees below it are built concurrently on Python threads (the compiled code releases the GIL)
with a static longest-first assignment, then stitched back in depth-first order. Every subtree
is built by the same serial code from the same data, so the output is bit-identical for any
number of threads and identical to a fully serial build.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numba
import numpy as np

from raysynth._jit import host_jit

#: Default SAH cost of visiting an interior node, relative to one primitive intersection
#: (pbrt-v3's value; a leaf of n primitives costs n).
TRAVERSAL_COST = 0.125

#: Below this many primitives the build runs single-threaded (thread start-up costs more).
_PARALLEL_MIN_PRIMS = 32768
#: Subtrees handed to threads hold at most ``max(this, n // (16 * threads))`` primitives.
_MIN_TASK_PRIMS = 4096


class BVH(NamedTuple):
    """Flattened BVH, depth-first.

    Attributes
    ----------
    node_bounds : ndarray, shape (m, 6), float32
        Box of each node: ``min x, min y, min z, max x, max y, max z``. It is the exact union
        of the boxes of the primitives below the node.
    node_info : ndarray, shape (m, 3), int32
        ``[offset, count, axis]`` per node. Interior node (``count == 0``): the first child is
        the next node (index + 1), ``offset`` is the index of the second child, ``axis``
        (0, 1, 2) is the split axis (the first child holds the smaller centroids). Leaf
        (``count > 0``): primitives ``prim_order[offset:offset + count]``; ``axis`` is 0.
    prim_order : ndarray, shape (n,), int32
        Leaf slot -> original primitive index (a permutation of ``0..n-1``).
    """

    node_bounds: np.ndarray
    node_info: np.ndarray
    prim_order: np.ndarray


# ---------------------------------------------------------------------------------------------
# Compiled helpers. Primitives live in 8-word records ``[min xyz, max xyz, index, 0]`` (float32,
# the index as int32 bits) in one flat array ``R`` holding two buffers of n records; record
# ``g`` starts at ``R[8 g]``; buffer ``c`` holds records ``c n .. c n + n - 1``. A split scatters
# a node's records into the other buffer. ``R64`` / ``RI`` are int64 / int32 views of ``R``.
# Hot loops index with uint64 (no negative-index wraparound code: ~2x faster).
# ---------------------------------------------------------------------------------------------

_U0 = np.uint64(0)
_U1 = np.uint64(1)
_U2 = np.uint64(2)
_U3 = np.uint64(3)
_U4 = np.uint64(4)
_U6 = np.uint64(6)
_U8 = np.uint64(8)


@host_jit
def _measure(x0, y0, z0, x1, y1, z1, use_len):
    """SAH measure of a box in float64: half surface area, or summed edge length."""
    dx = np.float64(x1) - np.float64(x0)
    dy = np.float64(y1) - np.float64(y0)
    dz = np.float64(z1) - np.float64(z0)
    if use_len:
        return dx + dy + dz
    return dx * dy + dy * dz + dz * dx


@host_jit
def _cen2(R, f, ax):
    """Twice the centroid of the record at float offset ``f`` along ``ax`` (float64: exact)."""
    return np.float64(R[f + ax]) + np.float64(R[f + ax + _U3])


@host_jit
def _bin_of(c, cmin, scale, last):
    """Bin of doubled centroid ``c`` (the one formula for binning and scattering)."""
    b = np.uint64((c - cmin) * scale)
    return last if b > last else b


@host_jit
def _centroid_bounds(R, g0, g1):
    """Bounds of the doubled centroids of records ``g0:g1``: (min xyz, max xyz)."""
    c0 = c1 = c2 = np.inf
    d0 = d1 = d2 = -np.inf
    for g in range(g0, g1):
        f = np.uint64(g) * _U8
        x = _cen2(R, f, _U0)
        y = _cen2(R, f, _U1)
        z = _cen2(R, f, _U2)
        c0 = min(c0, x)
        c1 = min(c1, y)
        c2 = min(c2, z)
        d0 = max(d0, x)
        d1 = max(d1, y)
        d2 = max(d2, z)
    return c0, c1, c2, d0, d1, d2


@host_jit
def _box_bounds(R, g0, g1, out):
    """Union of the boxes of records ``g0:g1`` into ``out`` (6,) float32."""
    for k in range(3):
        out[k] = np.inf
        out[3 + k] = -np.inf
    for g in range(g0, g1):
        f = np.uint64(g) * _U8
        for k in range(3):
            out[k] = min(out[k], R[f + np.uint64(k)])
            out[3 + k] = max(out[3 + k], R[f + np.uint64(k) + _U3])


@host_jit
def _bin_records(R, g0, g1, axis, cmin, scale, bb, bc):
    """Count records ``g0:g1`` per centroid bin and grow each bin's box (bb, bc reset here)."""
    n_bins = bc.shape[0]
    for b in range(n_bins):
        bc[b] = 0
        for k in range(3):
            bb[b, k] = np.inf
            bb[b, 3 + k] = -np.inf
    ax = np.uint64(axis)
    last = np.uint64(n_bins - 1)
    for g in range(g0, g1):
        f = np.uint64(g) * _U8
        b = _bin_of(_cen2(R, f, ax), cmin, scale, last)
        bc[b] += 1
        for k in range(3):
            bb[b, k] = min(bb[b, k], R[f + np.uint64(k)])
            bb[b, 3 + k] = max(bb[b, 3 + k], R[f + np.uint64(k) + _U3])


@host_jit
def _scatter(R, R64, g0, g1, d0, axis, cmin, scale, n_bins, best):
    """Copy records ``g0:g1`` to ``d0..``: bins <= best from the front up, the rest from the
    back down (no branches). Returns the number sent to the front."""
    ax = np.uint64(axis)
    last = np.uint64(n_bins - 1)
    split = np.uint64(best)
    left = np.uint64(d0)
    right = np.uint64(d0 + (g1 - g0) - 1)
    for g in range(g0, g1):
        go_left = _bin_of(_cen2(R, np.uint64(g) * _U8, ax), cmin, scale, last) <= split
        src = np.uint64(g) * _U4
        dst = (left if go_left else right) * _U4
        for k in range(4):
            R64[dst + np.uint64(k)] = R64[src + np.uint64(k)]
        left += _U1 if go_left else _U0
        right -= _U0 if go_left else _U1
    return np.int64(left) - d0


@host_jit
def _union_bins(bb, bc, b0, b1, out):
    """Union of the boxes of the non-empty bins ``b0:b1`` into ``out`` (6,) float32; returns
    their primitive count."""
    for k in range(3):
        out[k] = np.inf
        out[3 + k] = -np.inf
    cnt = 0
    for b in range(b0, b1):
        if bc[b] > 0:
            cnt += bc[b]
            for k in range(3):
                out[k] = min(out[k], bb[b, k])
                out[3 + k] = max(out[3 + k], bb[b, 3 + k])
    return cnt


@host_jit
def _best_split(bb, bc, n, use_len, cost):
    """Binned SAH: ``(p, cost)`` of the cheapest plane after bin p, cost = sum n_side A_side.

    A plane after an empty bin costs the same as the plane before it (which wins ties), so
    only planes after non-empty bins are scored.
    """
    n_bins = bc.shape[0]
    # Right-to-left sweep: n_right * A_right for the plane after bin p.
    x0 = y0 = z0 = np.float32(np.inf)
    x1 = y1 = z1 = np.float32(-np.inf)
    cnt = 0
    for p in range(n_bins - 2, -1, -1):
        b = p + 1
        if bc[b] > 0:
            cnt += bc[b]
            x0 = min(x0, bb[b, 0])
            y0 = min(y0, bb[b, 1])
            z0 = min(z0, bb[b, 2])
            x1 = max(x1, bb[b, 3])
            y1 = max(y1, bb[b, 4])
            z1 = max(z1, bb[b, 5])
        if bc[p] > 0 and cnt > 0:
            cost[p] = cnt * _measure(x0, y0, z0, x1, y1, z1, use_len)
    # Left-to-right sweep: + n_left * A_left; keep the first minimum.
    x0 = y0 = z0 = np.float32(np.inf)
    x1 = y1 = z1 = np.float32(-np.inf)
    cnt = 0
    best = -1
    best_cost = np.inf
    for p in range(n_bins - 1):
        if bc[p] > 0:
            cnt += bc[p]
            x0 = min(x0, bb[p, 0])
            y0 = min(y0, bb[p, 1])
            z0 = min(z0, bb[p, 2])
            x1 = max(x1, bb[p, 3])
            y1 = max(y1, bb[p, 4])
            z1 = max(z1, bb[p, 5])
            if cnt < n:
                c = cost[p] + cnt * _measure(x0, y0, z0, x1, y1, z1, use_len)
                if c < best_cost:
                    best_cost = c
                    best = p
    return best, best_cost


@host_jit
def _pack(lo, hi, R, RI, root):
    """Fill buffer 0 of ``R`` from (n, 3) bounds (the index goes in word 6 as int32 bits) and
    ``root`` (6,) with their union. Returns 0, or 1 for a non-finite value, 2 for lo > hi."""
    for k in range(3):
        root[k] = np.inf
        root[3 + k] = -np.inf
    for i in range(lo.shape[0]):
        for k in range(3):
            a = lo[i, k]
            b = hi[i, k]
            if not (np.isfinite(a) and np.isfinite(b)):
                return 1
            if a > b:
                return 2
            R[8 * i + k] = a
            R[8 * i + 3 + k] = b
            root[k] = min(root[k], a)
            root[3 + k] = max(root[3 + k], b)
        RI[8 * i + 6] = i
        RI[8 * i + 7] = 0
    return 0


@host_jit
def _build(R, R64, RI, n_all, prim_order, start, end, buf0, root6, max_leaf, n_bins, trav,
           defer_max, node_bounds, node_info, task_i, task_b):
    """Build the subtree over slots ``start:end`` of buffer ``buf0``, depth-first.

    Leaves write their original indices to ``prim_order[start:end]``. Nodes are written from
    index 0 of ``node_bounds`` / ``node_info``; interior offsets are relative to that, leaf
    offsets are absolute slots. Nodes with at most ``defer_max`` primitives (``< 1``: none)
    become placeholders ``[task, -1, 0]`` recorded as ``task_i[task] = [start, end, node,
    buffer]`` and ``task_b[task] = box``. Returns ``(n_nodes, n_tasks)``.
    """
    # Explicit stack of pending nodes: [start, end, parent to patch or -1, buffer] and box.
    # Every entry owns >= 1 primitive, so n + 1 entries suffice (untouched pages cost nothing).
    st_i = np.empty((end - start + 1, 4), np.int64)
    st_b = np.empty((end - start + 1, 6), np.float32)
    bb = np.empty((n_bins, 6), np.float32)  # per bin box
    bc = np.empty(n_bins, np.int64)  # per bin count
    cost = np.empty(n_bins, np.float64)  # per plane right-side cost
    lb = np.empty(6, np.float32)
    rb = np.empty(6, np.float32)
    # typed values, not literals: a helper called with a constant is compiled once more for it
    not_len = np.bool_(False)
    bin0 = np.int64(0)

    st_i[0, 0] = start
    st_i[0, 1] = end
    st_i[0, 2] = -1
    st_i[0, 3] = buf0
    for k in range(6):
        st_b[0, k] = root6[k]
    sp = 1
    n_nodes = 0
    n_tasks = 0
    while sp > 0:
        # Pop a node, give it the next index, patch the parent's second-child offset.
        sp -= 1
        s = st_i[sp, 0]
        e = st_i[sp, 1]
        cb = st_i[sp, 3]
        if st_i[sp, 2] >= 0:
            node_info[st_i[sp, 2], 0] = n_nodes
        node = n_nodes
        n_nodes += 1
        for k in range(6):
            node_bounds[node, k] = st_b[sp, k]
        n = e - s
        g0 = cb * n_all + s  # first record of the node

        # Deferred subtree: placeholder, built later by a worker thread.
        if n <= defer_max:
            task_i[n_tasks, 0] = s
            task_i[n_tasks, 1] = e
            task_i[n_tasks, 2] = node
            task_i[n_tasks, 3] = cb
            for k in range(6):
                task_b[n_tasks, k] = st_b[sp, k]
            node_info[node, 0] = n_tasks
            node_info[node, 1] = -1
            node_info[node, 2] = 0
            n_tasks += 1
            continue

        mid = -1
        axis = 0
        child_buf = cb
        if n > 1:
            # Split axis: largest centroid extent.
            c0, c1, c2, d0, d1, d2 = _centroid_bounds(R, g0, g0 + n)
            ext = d0 - c0
            cmin = c0
            if d1 - c1 > ext:
                ext = d1 - c1
                cmin = c1
                axis = 1
            if d2 - c2 > ext:
                ext = d2 - c2
                cmin = c2
                axis = 2

            if ext <= 0.0:
                # All centroids coincide: leaf if small, else cut the list in the middle.
                axis = 0
                if n > max_leaf:
                    mid = s + n // 2
                    _box_bounds(R, g0, g0 + n // 2, lb)
                    _box_bounds(R, g0 + n // 2, g0 + n, rb)
            else:
                # Bin centroids, score the planes with the SAH.
                scale = n_bins / ext
                _bin_records(R, g0, g0 + n, axis, cmin, scale, bb, bc)
                nb = node_bounds[node]
                use_len = _measure(nb[0], nb[1], nb[2], nb[3], nb[4], nb[5], not_len) <= 0.0
                a_node = _measure(nb[0], nb[1], nb[2], nb[3], nb[4], nb[5], use_len)
                best, best_cost = _best_split(bb, bc, n, use_len, cost)
                # Leaf or split (a split exists: the first and last bins are non-empty).
                if n > max_leaf or trav + best_cost / a_node < n:
                    child_buf = 1 - cb
                    mid = s + _scatter(R, R64, g0, g0 + n, child_buf * n_all + s, axis, cmin,
                                       scale, n_bins, best)
                    if _union_bins(bb, bc, bin0, best + 1, lb) != mid - s:
                        raise RuntimeError("BVH build: partition disagrees with binning")
                    _union_bins(bb, bc, best + 1, n_bins, rb)

        if mid < 0:
            # Leaf: record the original primitive indices of its slots.
            node_info[node, 0] = s
            node_info[node, 1] = n
            node_info[node, 2] = 0
            for i in range(n):
                prim_order[s + i] = RI[np.uint64(g0 + i) * _U8 + _U6]
            continue

        # Interior: push the second child (patches our offset when popped), then the first.
        node_info[node, 1] = 0
        node_info[node, 2] = axis
        st_i[sp, 0] = mid
        st_i[sp, 1] = e
        st_i[sp, 2] = node
        st_i[sp, 3] = child_buf
        st_i[sp + 1, 0] = s
        st_i[sp + 1, 1] = mid
        st_i[sp + 1, 2] = -1
        st_i[sp + 1, 3] = child_buf
        for k in range(6):
            st_b[sp, k] = rb[k]
            st_b[sp + 1, k] = lb[k]
        sp += 2
    return n_nodes, n_tasks


@host_jit
def _copy_nodes(src_b, src_i, s0, dst_b, dst_i, d0, count, shift):
    """Copy ``count`` nodes from ``s0`` to ``d0``; interior offsets are moved by ``shift``."""
    for j in range(count):
        for k in range(6):
            dst_b[d0 + j, k] = src_b[s0 + j, k]
        interior = src_i[s0 + j, 1] == 0
        dst_i[d0 + j, 0] = src_i[s0 + j, 0] + (shift if interior else 0)
        dst_i[d0 + j, 1] = src_i[s0 + j, 1]
        dst_i[d0 + j, 2] = src_i[s0 + j, 2]


@host_jit
def _stitch_top(top_b, top_i, n_top, sizes):
    """Allocate the final node arrays and place the top nodes (placeholders excluded).

    Top node i moves to ``fin[i] = i +`` the nodes added by the placeholders before it, so the
    expanded tree stays depth-first. Returns ``(node_bounds, node_info, fin)``.
    """
    fin = np.empty(n_top, np.int64)
    shift = 0
    for i in range(n_top):
        fin[i] = i + shift
        if top_i[i, 1] < 0:
            shift += sizes[top_i[i, 0]] - 1
    m = n_top + shift
    node_bounds = np.empty((m, 6), np.float32)
    node_info = np.empty((m, 3), np.int32)
    for i in range(n_top):
        if top_i[i, 1] >= 0:
            _copy_nodes(top_b, top_i, i, node_bounds, node_info, fin[i], np.int64(1),
                        np.int64(0))
            if top_i[i, 1] == 0:
                node_info[fin[i], 0] = fin[top_i[i, 0]]
    return node_bounds, node_info, fin


def _build_arrays(lo, hi, max_leaf, n_bins, trav, defer_max, workers):
    """Validate and pack, build the top levels serially, deferred subtrees on ``workers``
    threads, then stitch. ``lo``, ``hi``: (n, 3) float32 C-contiguous, n >= 1.

    The compiled helpers release the GIL, so plain Python threads run them in parallel (no
    ``parallel=True`` compile cost). Returns ``(node_bounds, node_info, prim_order)``.
    """
    n = lo.shape[0]
    R = np.empty(16 * n, np.float32)  # two record buffers; the second is paged in when used
    R64 = R.view(np.int64)
    RI = R.view(np.int32)
    root = np.empty(6, np.float32)
    status = _pack(lo, hi, R, RI, root)
    if status == 1:
        raise ValueError("prim_lo / prim_hi contain NaN or inf (or values beyond float32 range)")
    if status == 2:
        raise ValueError("prim_lo must be <= prim_hi everywhere")
    prim_order = np.empty(n, np.int32)
    # Top levels (the whole tree when defer_max < 1). Untouched np.empty pages cost nothing.
    top_b = np.empty((2 * n, 6), np.float32)
    top_i = np.empty((2 * n, 3), np.int32)
    task_i = np.empty((n, 4), np.int64)
    task_b = np.empty((n, 6), np.float32)
    n_top, n_tasks = _build(R, R64, RI, n, prim_order, 0, n, 0, root, max_leaf, n_bins, trav,
                            defer_max, top_b, top_i, task_i, task_b)
    task_i = task_i[:n_tasks]
    task_b = task_b[:n_tasks]
    sizes = np.zeros(n_tasks, np.int64)
    if n_tasks == 0:
        # Serial build: the node arrays are final (C-contiguous leading slices, no copy).
        return top_b[:n_top], top_i[:n_top], prim_order

    # Static longest-first assignment of subtrees to workers (any assignment gives the same
    # nodes; this one balances the load).
    owner = np.empty(n_tasks, np.int64)
    load = np.zeros(workers, np.int64)
    for t in np.argsort(task_i[:, 0] - task_i[:, 1], kind="stable"):
        w = int(np.argmin(load))
        owner[t] = w
        load[w] += task_i[t, 1] - task_i[t, 0]
    sub_b = np.empty((2 * n, 6), np.float32)  # task t writes its nodes from 2 * start
    sub_i = np.empty((2 * n, 3), np.int32)
    no_b = np.empty((0, 6), np.float32)
    no_i = np.empty((0, 4), np.int64)

    def build_tasks(w):
        for t in np.nonzero(owner == w)[0]:
            s, e, _, c = (int(v) for v in task_i[t])
            sizes[t] = _build(R, R64, RI, n, prim_order, s, e, c, task_b[t], max_leaf, n_bins,
                              trav, -1, sub_b[2 * s:2 * e], sub_i[2 * s:2 * e], no_i, no_b)[0]

    def copy_tasks(w):
        for t in np.nonzero(owner == w)[0]:
            base = int(fin[task_i[t, 2]])
            _copy_nodes(sub_b, sub_i, 2 * int(task_i[t, 0]), node_bounds, node_info, base,
                        int(sizes[t]), base)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(build_tasks, range(workers)))
        node_bounds, node_info, fin = _stitch_top(top_b, top_i, n_top, sizes)
        list(pool.map(copy_tasks, range(workers)))
    return node_bounds, node_info, prim_order


# ---------------------------------------------------------------------------------------------
# Python API
# ---------------------------------------------------------------------------------------------


def _as_f32_bounds(a, name, round_down):
    """(n, 3) float32 C-contiguous (no copy if it already is); other real dtypes are converted
    with outward rounding so the boxes stay conservative."""
    a = np.asarray(a)
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n, 3), got {a.shape}")
    if a.dtype == np.float32:
        return np.ascontiguousarray(a)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    with np.errstate(over="ignore", invalid="ignore"):
        a32 = np.array(a, dtype=np.float32, order="C")
        wide = a.astype(np.float64)
        if round_down:
            bad = a32.astype(np.float64) > wide
            a32[bad] = np.nextafter(a32[bad], np.float32(-np.inf))
        else:
            bad = a32.astype(np.float64) < wide
            a32[bad] = np.nextafter(a32[bad], np.float32(np.inf))
    return a32


def build_bvh(prim_lo, prim_hi, max_leaf_size=4, n_bins=16,
              traversal_cost=TRAVERSAL_COST) -> BVH:
    """Build a binned-SAH BVH over primitive bounding boxes.

    Parameters
    ----------
    prim_lo, prim_hi : array_like, shape (n, 3)
        World-space min / max corner of each primitive's box, ``n >= 1``, finite,
        ``prim_lo <= prim_hi``. float32 is used as is; other dtypes are converted to float32
        with outward rounding.
    max_leaf_size : int, optional
        Most primitives in a leaf (>= 1). Never exceeded: lists of primitives that share one
        centroid are cut in the middle. Default 4.
    n_bins : int, optional
        SAH bins per split (>= 2). Default 16.
    traversal_cost : float, optional
        SAH cost of an interior node relative to one primitive intersection (>= 0). Larger
        values give bigger leaves and fewer nodes. Default :data:`TRAVERSAL_COST` (0.125).

    Returns
    -------
    BVH
        ``node_bounds`` (m, 6) float32, ``node_info`` (m, 3) int32, ``prim_order`` (n,) int32,
        all C-contiguous, ``m <= 2 n - 1``. The result does not depend on the thread count.

    Raises
    ------
    ValueError
        On bad shapes, ``n == 0``, non-finite values, ``prim_lo > prim_hi`` or bad parameters.
    """
    lo = _as_f32_bounds(prim_lo, "prim_lo", round_down=True)
    hi = _as_f32_bounds(prim_hi, "prim_hi", round_down=False)
    if lo.shape != hi.shape:
        raise ValueError(f"prim_lo {lo.shape} and prim_hi {hi.shape} differ in shape")
    n = lo.shape[0]
    if n < 1:
        raise ValueError("need at least one primitive")
    if n > 2**30:
        raise ValueError("at most 2**30 primitives (node indices are int32)")
    if int(max_leaf_size) != max_leaf_size or max_leaf_size < 1:
        raise ValueError(f"max_leaf_size must be an integer >= 1, got {max_leaf_size}")
    if int(n_bins) != n_bins or n_bins < 2:
        raise ValueError(f"n_bins must be an integer >= 2, got {n_bins}")
    if not (np.isfinite(traversal_cost) and traversal_cost >= 0):
        raise ValueError(f"traversal_cost must be finite and >= 0, got {traversal_cost}")

    workers = numba.get_num_threads()
    if n < _PARALLEL_MIN_PRIMS or workers < 2:
        defer_max = 0
    else:
        defer_max = max(_MIN_TASK_PRIMS, n // (16 * workers))
    return BVH(*_build_arrays(lo, hi, int(max_leaf_size), int(n_bins), float(traversal_cost),
                              int(defer_max), workers))


def bvh_stats(bvh: BVH, traversal_cost=TRAVERSAL_COST) -> dict:
    """Summary statistics of a BVH (for benchmarks and tests).

    Parameters
    ----------
    bvh : BVH
        Output of :func:`build_bvh` (or any tree in the same layout).
    traversal_cost : float, optional
        Interior node cost used for ``sah_cost``. Default :data:`TRAVERSAL_COST`.

    Returns
    -------
    dict
        ``nodes``, ``leaves``, ``interior``, ``max_depth`` (root depth 0), ``mean_leaf_size``,
        ``max_leaf_size``, ``sah_cost``: ``sum_interior traversal_cost * A(node) / A(root) +
        sum_leaves count * A(leaf) / A(root)`` with ``A`` the surface area (summed edge
        length if the root has zero area; 1 for every node if the root is a point).
    """
    nb = bvh.node_bounds.astype(np.float64)
    info = bvh.node_info
    m = len(info)
    count = info[:, 1].astype(np.int64)
    leaf = count > 0
    d = nb[:, 3:] - nb[:, :3]
    area = d[:, 0] * d[:, 1] + d[:, 1] * d[:, 2] + d[:, 2] * d[:, 0]
    if area[0] <= 0.0:
        area = d.sum(axis=1)
    if area[0] <= 0.0:
        area = np.ones(m)
    rel = area / area[0]
    sah = float(traversal_cost * rel[~leaf].sum() + (count[leaf] * rel[leaf]).sum())
    # Depth by levels: children of interior node i are i + 1 and offset[i].
    depth = np.full(m, -1, np.int64)
    frontier = np.array([0])
    level = 0
    while len(frontier):
        if level > m:
            raise ValueError("node_info does not describe a tree")
        depth[frontier] = level
        inner = frontier[~leaf[frontier]]
        frontier = np.concatenate((inner + 1, info[inner, 0].astype(np.int64)))
        level += 1
    return {
        "nodes": m,
        "leaves": int(leaf.sum()),
        "interior": int(m - leaf.sum()),
        "max_depth": int(depth.max()),
        "mean_leaf_size": float(count[leaf].mean()),
        "max_leaf_size": int(count[leaf].max()),
        "sah_cost": sah,
    }
