"""The vector slab test (``raysynth._simd.entry_distances``) against the scalar one it stands
in for (``kernels.traverse._enter_child``), bit for bit, on random wide records: absent
children (+inf, -inf boxes), flat boxes, origins inside, on a bound and outside, direction
components of exactly zero (reciprocal +-1e30), tmax from 0 to huge; the vector test of a
triangle block (``_simd.closest_in_triangle_block``) against the scalar watertight test of each
of its triangles in turn; and the traversal built with the scalar tests finds the same hits as
the one the renderer and RayCaster use."""
from __future__ import annotations

import numba
import numpy as np

from raysynth import _simd
from raysynth.accel.layout import WIDE_WORDS, WIDTH
from raysynth.compile import triangle_blocks
from raysynth.kernels.intersect import intersect_triangle_sheared, ray_shear
from raysynth.kernels import tags as T
from raysynth.kernels.traverse import _enter_child, _inverse_direction, _make_trace_hit, _near_far_columns, trace_hit
from raysynth.render import prepare

F32 = np.float32


@numba.njit(cache=True)
def _both(boxes, origins, dirs, tmaxs, rows, out_vector, out_scalar, out_mask, out_order):
    for i in range(origins.shape[0]):
        ix, iy, iz = _inverse_direction((dirs[i, 0], dirs[i, 1], dirs[i, 2]))
        cols = _near_far_columns(ix, iy, iz)
        row = np.uint64(rows[i])
        t_all = _simd.entry_distances(boxes, row, origins[i, 0], origins[i, 1], origins[i, 2], ix, iy, iz, cols,
                                      tmaxs[i])
        entered = _simd.entered_mask(t_all)
        for c in range(WIDTH):
            out_vector[i, c] = _simd.lane(t_all, c)
            out_mask[i, c] = (entered >> c) & 1
        # the set bits, lowest first, as the traversal walks them
        k = 0
        while entered != 0:
            out_order[i, k] = _simd.lowest_bit(entered)
            entered = entered & (entered - np.uint32(1))
            k += 1
        for c in range(WIDTH):
            out_scalar[i, c] = _enter_child(boxes, row, np.uint64(c), origins[i, 0], origins[i, 1], origins[i, 2],
                                            ix, iy, iz, cols, tmaxs[i])


@numba.njit(cache=True)
def _block_both(blocks, geom, first, count, origins, dirs, tmaxs, out_vector, out_scalar):
    """Per ray i and block i: (t, lane, u, v) of the vector test, and of the scalar test of
    the block's triangles in order (the first of the smallest t)."""
    for i in range(origins.shape[0]):
        shear = ray_shear((origins[i, 0], origins[i, 1], origins[i, 2]), (dirs[i, 0], dirs[i, 1], dirs[i, 2]))
        t, lane, u, v = _simd.closest_in_triangle_block(blocks, np.uint64(WIDTH * i), count[i], shear, tmaxs[i])
        out_vector[i, 0], out_vector[i, 1], out_vector[i, 2], out_vector[i, 3] = t, F32(lane), u, v
        best = (F32(-1.0), F32(0.0), F32(0.0), F32(0.0))
        bound = tmaxs[i]
        for k in range(count[i]):
            tk, uk, vk = intersect_triangle_sheared(geom, np.uint64(first[i] + k), shear, bound)
            if tk > F32(0.0):
                best = (tk, F32(k), uk, vk)
                bound = tk
        out_scalar[i, 0], out_scalar[i, 1], out_scalar[i, 2], out_scalar[i, 3] = best


def test_triangle_block_test_is_the_scalar_one_bit_for_bit():
    """Random blocks of 1..WIDTH - 1 triangles (some sharing an edge with, or duplicating, the
    one before, so ties at equal t occur; some degenerate), rays aimed at a corner, an edge
    midpoint or the inside of one of them, axis-aligned or not, tmax from tiny to huge."""
    rng = np.random.default_rng(3)
    n = 6000
    count = rng.integers(1, WIDTH, n)
    first = np.concatenate([[0], np.cumsum(count)[:-1]])
    geom = rng.normal(0, 1, (count.sum(), 9)).astype(F32)
    shared = rng.random(len(geom)) < 0.3
    shared[first] = False
    geom[shared, 0:3] = geom[np.flatnonzero(shared) - 1, 3:6]   # share an edge with the one before
    geom[shared, 6:9] = geom[np.flatnonzero(shared) - 1, 6:9]
    same = (rng.random(len(geom)) < 0.05) & ~shared
    same[first] = False
    geom[same] = geom[np.flatnonzero(same) - 1]                # a duplicate: a tie everywhere on it
    flat = rng.random(len(geom)) < 0.03
    geom[flat, 6:9] = geom[flat, 3:6]                           # degenerate
    # aim at a point of one triangle of each block: a corner, an edge midpoint or inside
    pick = first + (rng.random(n) * count).astype(int)
    corners = geom[pick].reshape(n, 3, 3).astype(np.float64)
    w = rng.dirichlet([1, 1, 1], n)
    kind = rng.integers(0, 3, n)
    w[kind == 0] = np.eye(3)[rng.integers(0, 3, (kind == 0).sum())]
    w[kind == 1] = np.array([0.5, 0.5, 0.0])[np.argsort(rng.random(((kind == 1).sum(), 3)), axis=1)]
    target = np.einsum("nk,nkj->nj", w, corners)
    dirs = rng.normal(0, 1, (n, 3))
    axis = rng.random(n) < 0.2
    dirs[axis] = np.eye(3)[rng.integers(0, 3, axis.sum())] * rng.choice([-1, 1], (axis.sum(), 1))
    dirs = (dirs / np.linalg.norm(dirs, axis=1, keepdims=True)).astype(F32)
    origins = (target - 4.0 * dirs).astype(F32)
    tmaxs = np.exp(rng.uniform(np.log(1e-3), np.log(1e30), n)).astype(F32)
    blocks = triangle_blocks(geom, first, count)
    vector = np.zeros((n, 4), F32)
    scalar = np.zeros((n, 4), F32)
    _block_both(blocks, geom, first, count, origins, dirs, tmaxs, vector, scalar)
    hit = scalar[:, 0] > 0
    assert hit.mean() > 0.5 and (~hit).sum() > 100
    np.testing.assert_array_equal(vector[:, 0], scalar[:, 0])
    np.testing.assert_array_equal(vector[hit], scalar[hit])   # t, lane, u, v bit for bit
    # ties between lanes occurred (a hit lane followed by its duplicate); both took the lower
    lane = scalar[hit, 1].astype(int)
    next_row = np.minimum(first[hit] + lane + 1, len(geom) - 1)
    assert ((lane + 1 < count[hit]) & same[next_row]).sum() >= 20


def _random_records(rng, n):
    """(n, WIDE_WORDS) float32 wide records: boxes axis by axis, some children absent, some flat."""
    lo = rng.uniform(-2, 2, size=(n, 3, WIDTH)).astype(F32)
    size = rng.choice([1.0, 2.0, 4.0], size=(n, 1, WIDTH)) * np.ones((n, 3, WIDTH))
    size[rng.random((n, 3, WIDTH)) < 0.1] = 0.0    # flat along an axis
    size = size.astype(F32)
    hi = (lo + size).astype(F32)
    absent = rng.random((n, WIDTH)) < 0.2
    lo[np.broadcast_to(absent[:, None, :], lo.shape)] = np.inf
    hi[np.broadcast_to(absent[:, None, :], hi.shape)] = -np.inf
    records = np.zeros((n, WIDE_WORDS), dtype=F32)
    records[:, 0:3 * WIDTH] = lo.reshape(n, 3 * WIDTH)
    records[:, 3 * WIDTH:6 * WIDTH] = hi.reshape(n, 3 * WIDTH)
    return records


def test_vector_slab_test_is_the_scalar_one_bit_for_bit():
    rng = np.random.default_rng(7)
    boxes = _random_records(rng, 64)
    n = 20000
    rows = rng.integers(0, len(boxes), n)
    origins = rng.uniform(-3, 3, size=(n, 3)).astype(F32)
    on_bound = rng.random(n) < 0.2            # origins exactly on a box's bound plane
    axis = rng.integers(0, 3, n)
    child = rng.integers(0, WIDTH, n)
    plane = boxes[rows, WIDTH * axis + child]
    origins[on_bound, axis[on_bound]] = np.where(np.isfinite(plane[on_bound]), plane[on_bound], 0.0)
    dirs = rng.normal(size=(n, 3))
    lo = boxes[rows, :3 * WIDTH].reshape(n, 3, WIDTH)
    hi = boxes[rows, 3 * WIDTH:6 * WIDTH].reshape(n, 3, WIDTH)
    with np.errstate(invalid="ignore"):        # absent children: inf + -inf
        centre = np.nan_to_num(0.5 * (lo[np.arange(n), :, child] + hi[np.arange(n), :, child]))
    aimed = rng.random(n) < 0.7                # most rays towards a child's box centre
    dirs[aimed] = centre[aimed] - origins[aimed] + 0.1 * dirs[aimed]
    dirs = dirs.astype(F32)
    dirs[rng.random((n, 3)) < 0.15] = 0.0     # exactly axis-parallel components
    dirs[np.all(dirs == 0, axis=1), 0] = 1.0
    tmaxs = rng.choice([0.0, 1e-3, 0.7, 5.0, 3.0e38], size=n).astype(F32)
    out_vector = np.empty((n, WIDTH), F32)
    out_scalar = np.empty((n, WIDTH), F32)
    out_mask = np.empty((n, WIDTH), np.int64)
    out_order = np.full((n, WIDTH), -1, np.int64)
    _both(boxes, origins, dirs, tmaxs, rows, out_vector, out_scalar, out_mask, out_order)
    assert np.array_equal(out_vector.view(np.uint32), out_scalar.view(np.uint32))
    entered = out_scalar >= 0
    assert 0.05 < entered.mean() < 0.9         # both outcomes well represented
    assert np.array_equal(out_mask.astype(bool), entered)
    # lowest_bit walks the entered children in increasing order, each once
    for i in range(0, n, 97):
        assert list(out_order[i][out_order[i] >= 0]) == list(np.flatnonzero(entered[i]))


_trace_hit_scalar = _make_trace_hit(True, False)


@numba.njit(cache=True)
def _trace_both(scene, ros, rds, out_vector, out_scalar):
    stack = np.zeros(T.STACK_SIZE, dtype=np.int32)
    stack_t = np.zeros(T.STACK_SIZE, dtype=np.float32)
    for i in range(ros.shape[0]):
        ro = (ros[i, 0], ros[i, 1], ros[i, 2])
        rd = (rds[i, 0], rds[i, 1], rds[i, 2])
        t, prim, inst, u, v = trace_hit(scene, ro, rd, F32(3.0e38), stack, stack_t, False)
        out_vector[i] = (t, F32(prim), F32(inst), u, v)
        t, prim, inst, u, v = _trace_hit_scalar(scene, ro, rd, F32(3.0e38), stack, stack_t, False)
        out_scalar[i] = (t, F32(prim), F32(inst), u, v)


def test_traversal_with_vector_slab_tests_finds_the_same_hits(scenes_dir):
    assert _simd.VECTOR_BOXES   # this process compiles the vector version
    arrays = prepare(scenes_dir / "mesh_demo.json", width=8, height=8).arrays
    rng = np.random.default_rng(3)
    n = 4000
    ros = rng.uniform(-3, 3, size=(n, 3)).astype(F32)
    rds = rng.normal(size=(n, 3)).astype(F32)
    rds[rng.random((n, 3)) < 0.1] = 0.0
    rds[np.all(rds == 0, axis=1), 1] = -1.0
    out_vector = np.empty((n, 5), F32)
    out_scalar = np.empty((n, 5), F32)
    _trace_both(arrays, ros, rds, out_vector, out_scalar)
    assert np.array_equal(out_vector.view(np.uint32), out_scalar.view(np.uint32))
    assert (out_vector[:, 1] >= 0).mean() > 0.3
