"""The traversal layout of a BVH: one 64-byte record per interior node, holding both children.

``build_bvh`` writes a plain depth-first tree (one box per node). Traversal instead wants, at
each step, the boxes of *both* children of the node it stands on, and wants them in one cache
line. ``pair_layout`` converts the tree into records of 16 words (64 bytes, one cache line when
the array is 64-byte aligned)::

    words 0..5    box of child A (min xyz, max xyz), float32
    words 6..11   box of child B
    words 12, 13  child A: (offset, count) int32
    words 14, 15  child B: (offset, count) int32

A child with ``count > 0`` is a leaf: primitives ``prim_order[offset:offset + count]``. A child
with ``count == 0`` is interior: ``offset`` is its record index. ``count == -1`` marks an absent
child (only in a one-leaf tree, whose root record holds the leaf as child A). Leaves get no
record of their own, so a tree with n leaves has n - 1 records (1 if n == 1). Record 0 is the
root. The float32 and int32 arrays returned are two views of the same memory.
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


def _aligned_empty(rows: int) -> np.ndarray:
    """(rows, 16) float32 zeros whose first byte is 64-byte aligned."""
    raw = np.zeros(rows * RECORD_WORDS + 16, dtype=np.float32)
    shift = (-raw.ctypes.data % 64) // 4
    return raw[shift:shift + rows * RECORD_WORDS].reshape(rows, RECORD_WORDS)


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
    records_f = _aligned_empty(n_records)
    records_i = records_f.view(np.int32)
    _fill(node_bounds, node_info, record_of, records_f, records_i)
    return records_f, records_i
