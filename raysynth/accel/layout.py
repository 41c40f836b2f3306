"""The traversal layout of a BVH: paired-child records, then 8-wide records.

``build_bvh`` writes a plain depth-first tree (one box per node). ``pair_layout`` converts it
into records of 16 words (64 bytes), one per interior node, holding both children::

    words 0..5    box of child A (min xyz, max xyz), float32
    words 6..11   box of child B
    words 12, 13  child A: (offset, count) int32
    words 14, 15  child B: (offset, count) int32

A child with ``count > 0`` is a leaf: primitives ``prim_order[offset:offset + count]``. A child
with ``count == 0`` is interior: ``offset`` is its record index. ``count == -1`` marks an absent
child (only in a one-leaf tree, whose root record holds the leaf as child A). Leaves get no
record of their own, so a tree with n leaves has n - 1 records (1 if n == 1). Record 0 is the
root. The float32 and int32 arrays returned are two views of the same memory. The compiler
edits this form (instance links, bottom-level trees appended to one table).

``wide_layout`` then collapses the paired records into the records the kernels traverse:
``WIDTH`` (8) children per 256-byte record, their bounds stored axis by axis, so one visit tests
eight boxes as one vector test and a tree is about a third as deep (fewer, larger steps;
4-wide records measured against 8-wide ones in benchmarks/README.md).
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .._jit import host_jit, parallel_host_jit

RECORD_WORDS = 16
CHILD_A = 0
CHILD_B = 6
LINK_A = 12
LINK_B = 14


@host_jit
def _number_records(node_info, record_of):
    """record_of[n] = record of interior node n (depth-first order), -1 for leaves. Returns the
    number of records."""
    k = 0
    for n in range(node_info.shape[0]):
        if node_info[n, 1] == 0:
            record_of[n] = k
            k += 1
        else:
            record_of[n] = -1
    return k


@parallel_host_jit
def _fill(node_bounds, node_info, record_of, words_f, words_i):
    """Write one record per interior node (record_of maps node -> record, -1 for leaves); the
    records are independent, one node per ``prange`` iteration."""
    m = node_info.shape[0]
    for n in prange(m):
        r = record_of[n]
        if r < 0:
            continue
        children = (np.int64(n + 1), np.int64(node_info[n, 0]))
        for side in range(2):
            c = children[side]
            base = 6 * side
            for k in range(6):
                words_f[r, base + k] = node_bounds[c, k]
            link = 12 + 2 * side
            if node_info[c, 1] > 0:
                words_i[r, link] = node_info[c, 0]
                words_i[r, link + 1] = node_info[c, 1]
            else:
                words_i[r, link] = record_of[c]
                words_i[r, link + 1] = 0


def _aligned_empty(rows: int, words: int = RECORD_WORDS, zeroed: bool = True) -> np.ndarray:
    """(rows, words) float32 whose first byte is 64-byte aligned: zeros, or (``zeroed=False``)
    left unset for a caller that writes every word."""
    raw = (np.zeros if zeroed else np.empty)(rows * words + 16, dtype=np.float32)
    shift = (-raw.ctypes.data % 64) // 4
    return raw[shift:shift + rows * words].reshape(rows, words)


def pair_layout(node_bounds: np.ndarray, node_info: np.ndarray):
    """Convert a depth-first BVH into paired-child records.

    Parameters
    ----------
    node_bounds : (m, 6) float32, node_info : (m, 3) int32
        The output of :func:`raysynth.accel.bvh.build_bvh`.

    Returns
    -------
    records_f : (k, 16) float32 child boxes (64-byte aligned)
    records_i : (k, 16) int32 view of the same memory, for the links
    """
    record_of = np.empty(len(node_info), dtype=np.int64)
    n_records = _number_records(node_info, record_of)
    if n_records == 0:  # a single leaf: wrap it as child A of a root record
        records_f = _aligned_empty(1)
        records_i = records_f.view(np.int32)
        records_f[0, CHILD_A:CHILD_A + 6] = node_bounds[0]
        records_i[0, LINK_A:LINK_A + 2] = node_info[0, :2]
        records_i[0, LINK_B:LINK_B + 2] = (0, -1)
        return records_f, records_i
    records_f = _aligned_empty(n_records, zeroed=False)   # _fill writes all 16 words of each
    records_i = records_f.view(np.int32)
    _fill(node_bounds, node_info, record_of, records_f, records_i)
    return records_f, records_i


# ------------------------------------------------------------------------- wide (8-child) records
#: Children per wide record (the lanes of the traversal's vector slab test).
WIDTH = 8
#: Words per wide record: 6 * WIDTH float32 child bounds + WIDTH (offset, count) int32 links
#: (256 bytes).
WIDE_WORDS = 8 * WIDTH
#: Column of the first link word: child c's (offset, count) are words LINKS + 2c, LINKS + 2c + 1.
WIDE_LINKS = 6 * WIDTH
#: A subtree of at most this many primitives in contiguous slots may become one leaf ...
LEAF_MERGE = 4
#: ... when the surface area heuristic says so, with the visit of a record costing this many
#: primitive intersections (a wide visit tests its boxes as one vector test: about one
#: triangle's work).
MERGE_VISIT_COST = 1.0


@host_jit
def _box_area(x0, y0, z0, x1, y1, z1):
    dx = np.float64(x1) - np.float64(x0)
    dy = np.float64(y1) - np.float64(y0)
    dz = np.float64(z1) - np.float64(z0)
    return dx * dy + dy * dz + dz * dx


@host_jit
def _slot_area(rec_f, r, side):
    """Surface area of the box of child ``side`` of paired record r."""
    b = 6 * side
    return _box_area(rec_f[r, b], rec_f[r, b + 1], rec_f[r, b + 2], rec_f[r, b + 3], rec_f[r, b + 4], rec_f[r, b + 5])


@host_jit
def _mergeable(rec_f, rec_i, n_binary, first, total, leaf_merge, visit_cost):
    """For each binary record, first[r] / total[r] = the slots of its subtree if that subtree
    should become one leaf; total[r] = 0 otherwise. It should when it holds only leaves, in
    contiguous slots, at most ``leaf_merge`` primitives, and intersecting them all costs no more
    than walking the subtree (SAH: a leaf of n costs n A, a record ``visit_cost`` A plus its
    children, A = surface area). Children come after their parents in the table, so one
    backward sweep sees them first."""
    cost = np.zeros(n_binary, dtype=np.float64)   # SAH cost of walking each record's subtree
    for r in range(n_binary - 1, -1, -1):
        total[r] = 0
        area = _box_area(min(rec_f[r, 0], rec_f[r, 6]), min(rec_f[r, 1], rec_f[r, 7]), min(rec_f[r, 2], rec_f[r, 8]),
                         max(rec_f[r, 3], rec_f[r, 9]), max(rec_f[r, 4], rec_f[r, 10]), max(rec_f[r, 5], rec_f[r, 11]))
        cost[r] = visit_cost * area
        ok = rec_i[r, 15] >= 0
        f0 = n0 = f1 = n1 = 0
        for side in range(2):
            offset = rec_i[r, 12 + 2 * side]
            count = rec_i[r, 13 + 2 * side]
            child_area = _slot_area(rec_f, r, side)
            f, n = 0, 0
            if count > 0:
                f, n = offset, count
                cost[r] += count * child_area
            elif count == 0 and offset >= 0:
                cost[r] += cost[offset]
                if total[offset] > 0:
                    f, n = first[offset], total[offset]
                else:
                    ok = False
            else:
                ok = False
            if side == 0:
                f0, n0 = f, n
            else:
                f1, n1 = f, n
        if ok and f0 + n0 == f1 and n0 + n1 <= leaf_merge and (n0 + n1) * area <= cost[r]:
            first[r] = f0
            total[r] = n0 + n1
            cost[r] = (n0 + n1) * area


@host_jit
def _widen(rec_f, rec_i, roots, first, total, open_leaf_subtrees, out_f, out_i, root_of, depth_of):
    """Collapse binary records into wide ones, tree by tree (``roots``: binary root records).

    A wide record starts from the two children of a binary record and repeatedly replaces its
    interior child of largest surface area by that child's two children, up to WIDTH; a
    mergeable subtree (``_mergeable``) is opened too while there is room, with
    ``open_leaf_subtrees`` (its parts then cost a lane of the vector box test each instead of a
    primitive test; measured faster when leaves are tested one primitive at a time). Children
    still mergeable subtrees when the record is full become leaves. Wide records are numbered
    depth-first with the children of one record consecutive. Returns the number of wide
    records; root_of[j] is the wide record of roots[j], depth_of[w] the depth of wide record w
    in its tree."""
    n_out = 0
    todo = np.empty(out_f.shape[0], dtype=np.int32)        # binary record of each wide one
    wide_stack = np.empty(out_f.shape[0], dtype=np.int32)  # wide records still to fill
    slot_r = np.empty(WIDTH, dtype=np.int64)               # children of one wide record as
    slot_s = np.empty(WIDTH, dtype=np.int64)               # (binary record, side 0 / 1)
    for j in range(roots.shape[0]):
        root_of[j] = n_out
        depth_of[n_out] = 0
        wide_stack[0] = n_out
        todo[n_out] = roots[j]
        n_out += 1
        height = 1
        while height > 0:
            height -= 1
            w = wide_stack[height]
            r = todo[w]
            # gather up to WIDTH children
            n = 0
            for side in range(2):
                if rec_i[r, 13 + 2 * side] >= 0:
                    slot_r[n] = r
                    slot_s[n] = side
                    n += 1
            while n < WIDTH:
                best = -1
                best_area = -1.0
                for k in range(n):
                    offset = rec_i[slot_r[k], 12 + 2 * slot_s[k]]
                    count = rec_i[slot_r[k], 13 + 2 * slot_s[k]]
                    if count == 0 and offset >= 0 and (open_leaf_subtrees or total[offset] == 0):
                        area = _slot_area(rec_f, slot_r[k], slot_s[k])
                        if area > best_area:
                            best_area = area
                            best = k
                if best < 0:
                    break
                child = rec_i[slot_r[best], 12 + 2 * slot_s[best]]
                slot_r[best] = child
                slot_s[best] = 0
                slot_r[n] = child
                slot_s[n] = 1
                n += 1
            # write the wide record: absent children get an empty box and count -1
            for c in range(WIDTH):
                if c >= n:
                    for a in range(3):
                        out_f[w, WIDTH * a + c] = np.inf
                        out_f[w, 3 * WIDTH + WIDTH * a + c] = -np.inf
                    out_i[w, WIDE_LINKS + 2 * c] = 0
                    out_i[w, WIDE_LINKS + 1 + 2 * c] = -1
                    continue
                br = slot_r[c]
                b = 6 * slot_s[c]
                for a in range(3):
                    out_f[w, WIDTH * a + c] = rec_f[br, b + a]
                    out_f[w, 3 * WIDTH + WIDTH * a + c] = rec_f[br, b + 3 + a]
                offset = rec_i[br, 12 + 2 * slot_s[c]]
                count = rec_i[br, 13 + 2 * slot_s[c]]
                if count == 0 and offset >= 0:
                    if total[offset] > 0:     # a small subtree: one leaf
                        out_i[w, WIDE_LINKS + 2 * c] = first[offset]
                        out_i[w, WIDE_LINKS + 1 + 2 * c] = total[offset]
                    else:                     # interior: a new wide record
                        todo[n_out] = offset
                        depth_of[n_out] = depth_of[w] + 1
                        out_i[w, WIDE_LINKS + 2 * c] = n_out
                        out_i[w, WIDE_LINKS + 1 + 2 * c] = 0
                        n_out += 1
                else:                         # leaf, instance link (offset <= -2)
                    out_i[w, WIDE_LINKS + 2 * c] = offset
                    out_i[w, WIDE_LINKS + 1 + 2 * c] = count
            # visit this record's new children next (the last one first: depth-first order)
            for c in range(n - 1, -1, -1):
                child = out_i[w, WIDE_LINKS + 2 * c]
                if out_i[w, WIDE_LINKS + 1 + 2 * c] == 0 and child >= 0:
                    wide_stack[height] = child
                    height += 1
    return n_out


def wide_layout(records_i: np.ndarray, roots, leaf_merge: int = LEAF_MERGE, merge_visit_cost: float = MERGE_VISIT_COST,
                open_leaf_subtrees: bool = True) -> tuple:
    """Convert paired-child records (:func:`pair_layout`, possibly several trees in one table,
    with instance links) into :data:`WIDTH`-wide records of :data:`WIDE_WORDS` words (256 bytes)::

        words 0..7    min x of children 0..7       words 24..31  max x of children 0..7
        words 8..15   min y                        words 32..39  max y
        words 16..23  min z                        words 40..47  max z
        words 48..63  (offset, count) int32 per child, as in the paired records

    A child with ``count > 0`` is a leaf (``prim_order[offset:offset + count]``), ``count == 0``
    an interior child (``offset`` is its wide record) or, with ``offset <= -2``, an instance
    link; ``count == -1`` an absent child, whose box is empty (+inf, -inf) so no ray enters it.
    Leaf-only subtrees of at most ``leaf_merge`` (7 at most) primitives become one leaf where
    the surface area heuristic prefers it (see ``_mergeable``, a record's visit costing
    ``merge_visit_cost`` primitive tests) and, with ``open_leaf_subtrees``, their record has no
    room left for their parts.

    Parameters
    ----------
    records_i : (k, 16) int32 paired records (the float32 view holds the boxes)
    roots : sequence of int, the root record of each tree in the table (record 0 first)

    Returns
    -------
    wide_f : (w, WIDE_WORDS) float32 records (64-byte aligned); wide_i : int32 view of them
    wide_roots : (len(roots),) int64 wide record of each root
    max_depth : (len(roots),) int64 deepest wide record of each tree (root depth 0)
    """
    records_i = np.ascontiguousarray(records_i, dtype=np.int32)
    records_f = records_i.view(np.float32)
    roots = np.asarray(roots, dtype=np.int64)
    k = len(records_i)
    first = np.empty(k, dtype=np.int32)   # both written for every record by _mergeable
    total = np.empty(k, dtype=np.int32)
    _mergeable(records_f, records_i, k, first, total, leaf_merge, merge_visit_cost)
    # room for k records (an upper bound), not zero-filled: pages never written take no memory
    out_f = _aligned_empty(k, WIDE_WORDS, zeroed=False)
    out_i = out_f.view(np.int32)
    root_of = np.zeros(len(roots), dtype=np.int64)
    depth_of = np.empty(k, dtype=np.int32)   # written for every wide record made
    n = _widen(records_f, records_i, roots, first, total, open_leaf_subtrees, out_f, out_i, root_of, depth_of)
    # the traversal stack packs a leaf as first slot * 8 + count in an int32 (kernels/traverse.py)
    links = out_i[:n, WIDE_LINKS:]
    offsets, counts = links[:, 0::2], links[:, 1::2]
    if n and (counts.max() > 7 or offsets[counts > 0].max(initial=0) >= 2**28 or -offsets.min() >= 2**28):
        raise ValueError("wide_layout: a leaf of more than 7 primitives, or more than 2**28 primitives or instances")
    ends = list(root_of[1:]) + [n]
    max_depth = np.array([depth_of[a:b].max() for a, b in zip(root_of, ends)], dtype=np.int64)
    wide_f = out_f[:n]
    return wide_f, wide_f.view(np.int32), root_of, max_depth
