"""Tests of the BVH build (raysynth.accel.bvh): layout, bounds, degenerate inputs, determinism,
SAH quality and agreement of a reference traversal with brute force."""
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import raysynth.accel.bvh as bvh_mod
from raysynth.accel.bvh import BVH, TRAVERSAL_COST, build_bvh, bvh_stats


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def random_boxes(rng, n, extent=100.0, size=None):
    """Uniformly placed boxes, edge ~ the mean spacing (like a triangle soup); float32."""
    if size is None:
        size = extent / np.cbrt(n)
    c = rng.random((n, 3)) * extent
    s = rng.random((n, 3)) * size
    return (c - s / 2).astype(np.float32), (c + s / 2).astype(np.float32)


def walk(bvh):
    """Depth-first walk from the root (first child, then second). Returns visit order and, per
    node, the sorted original primitive indices below it."""
    info = bvh.node_info
    order, prims = [], {}
    stack = [(0, False)]
    post = []
    while stack:
        i, done = stack.pop()
        if done:
            post.append(i)
            continue
        order.append(i)
        off, cnt, _ = (int(v) for v in info[i])
        if cnt > 0:
            prims[i] = np.sort(bvh.prim_order[off:off + cnt])
        else:
            stack.append((i, True))
            stack.append((off, False))
            stack.append((i + 1, False))
    for i in post:
        prims[i] = np.sort(np.concatenate((prims[i + 1], prims[int(info[i, 0])])))
    return order, prims


def check_bvh(bvh, lo, hi, max_leaf):
    """Every structural invariant the traversal kernel relies on."""
    nb, info, order = bvh
    n = len(lo)
    # dtypes, shapes, contiguity
    assert isinstance(bvh, BVH)
    assert nb.dtype == np.float32 and info.dtype == np.int32 and order.dtype == np.int32
    assert nb.ndim == 2 and nb.shape[1] == 6 and info.shape == (len(nb), 3)
    assert order.shape == (n,)
    assert nb.flags.c_contiguous and info.flags.c_contiguous and order.flags.c_contiguous
    m = len(info)
    assert 1 <= m <= 2 * n - 1
    assert np.isfinite(nb).all()
    # depth-first layout: interior first child = index + 1, second child after it, leaves valid
    off, cnt, axis = info[:, 0], info[:, 1], info[:, 2]
    leaf = cnt > 0
    inner = ~leaf
    assert (cnt >= 0).all()
    assert ((axis >= 0) & (axis <= 2)).all()
    assert (off[inner] > np.nonzero(inner)[0] + 1).all() and (off[inner] < m).all()
    assert (off[leaf] >= 0).all() and (off[leaf] + cnt[leaf] <= n).all()
    # leaves bounded
    assert cnt[leaf].max() <= max_leaf, "leaf larger than max_leaf_size"
    # the walk from the root visits every node exactly once, in index order (preorder)
    visit, prims = walk(bvh)
    assert visit == list(range(m)), "layout is not a depth-first preorder of all nodes"
    # leaf slot ranges tile 0..n-1; prim_order is a permutation: every primitive exactly once
    starts = np.sort(off[leaf])
    sizes = cnt[leaf][np.argsort(off[leaf])]
    assert starts[0] == 0 and (starts[1:] == starts[:-1] + sizes[:-1]).all()
    assert starts[-1] + sizes[-1] == n
    assert (np.sort(order) == np.arange(n)).all()
    # bounds: each node's box is exactly the union of its primitives' boxes (float32) ...
    for i in range(m):
        p = prims[i]
        assert (nb[i, :3] == lo[p].min(axis=0)).all() and (nb[i, 3:] == hi[p].max(axis=0)).all()
    # ... so it contains its children's boxes
    c1 = np.nonzero(inner)[0] + 1
    c2 = off[inner]
    for c in (c1, c2):
        assert (nb[inner, :3] <= nb[c, :3]).all() and (nb[inner, 3:] >= nb[c, 3:]).all()
    return prims


def slab_hits(o, inv, lo, hi):
    """Ray (origin o, 1 / direction inv) vs boxes, float64, t >= 0: boolean per box."""
    t0 = (lo - o) * inv
    t1 = (hi - o) * inv
    tmin = np.minimum(t0, t1).max(axis=-1)
    tmax = np.maximum(t0, t1).min(axis=-1)
    return tmax >= np.maximum(tmin, 0.0)


def traverse(bvh, o, inv):
    """Reference traversal in the kernel's layout: set of primitives whose boxes a ray hits."""
    nb = bvh.node_bounds.astype(np.float64)
    info = bvh.node_info
    lo, hi = nb[:, :3], nb[:, 3:]
    found, stack = set(), [0]
    while stack:
        i = stack.pop()
        if not slab_hits(o, inv, lo[i], hi[i]):
            continue
        off, cnt, _ = info[i]
        if cnt > 0:
            found.update(int(p) for p in bvh.prim_order[off:off + cnt])
        else:
            stack.append(int(off))
            stack.append(i + 1)
    return found


def median_split_tree(lo, hi, max_leaf):
    """Object-median split tree (largest centroid extent), same layout, for SAH comparisons."""
    cent = (lo.astype(np.float64) + hi) / 2
    nodes_b, nodes_i, slots = [], [], []

    def build(idx):
        node = len(nodes_b)
        nodes_b.append(np.concatenate((lo[idx].min(axis=0), hi[idx].max(axis=0))))
        nodes_i.append([len(slots), len(idx), 0])
        if len(idx) <= max_leaf:
            slots.extend(idx)
            return node
        ext = np.ptp(cent[idx], axis=0)
        ax = int(np.argmax(ext))
        idx = idx[np.argsort(cent[idx, ax], kind="stable")]
        half = len(idx) // 2
        build(idx[:half])
        second = build(idx[half:])
        nodes_i[node] = [second, 0, ax]
        return node

    build(np.arange(len(lo)))
    return BVH(np.array(nodes_b, np.float32), np.array(nodes_i, np.int32),
               np.array(slots, np.int32))


# ---------------------------------------------------------------------------------------------
# structure on random and generated inputs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,max_leaf,n_bins", [(2, 4, 16), (500, 4, 16), (3000, 1, 8),
                                               (2000, 8, 2), (1500, 3, 32)])
def test_invariants_random_boxes(n, max_leaf, n_bins):
    rng = np.random.default_rng(n)
    lo, hi = random_boxes(rng, n)
    bvh = build_bvh(lo, hi, max_leaf_size=max_leaf, n_bins=n_bins)
    check_bvh(bvh, lo, hi, max_leaf)


@st.composite
def box_sets(draw):
    """Small integer grids scaled to many magnitudes: many duplicates, flat and point boxes."""
    n = draw(st.integers(1, 48))
    base = draw(hnp.arrays(np.int64, (n, 3), elements=st.integers(-4, 4)))
    ext = draw(hnp.arrays(np.int64, (n, 3), elements=st.integers(0, 3)))
    scale = draw(st.sampled_from([1e-30, 1e-3, 1.0, 1e6, 1e30, 3e37]))
    shift = draw(st.sampled_from([0.0, 1e6, -2e7]))
    lo = (base * scale + shift).astype(np.float32)
    hi = ((base + ext) * scale + shift).astype(np.float32)
    max_leaf = draw(st.integers(1, 6))
    n_bins = draw(st.sampled_from([2, 3, 16]))
    return lo, hi, max_leaf, n_bins


@settings(max_examples=150, deadline=None)
@given(box_sets())
def test_invariants_generated(case):
    lo, hi, max_leaf, n_bins = case
    bvh = build_bvh(lo, hi, max_leaf_size=max_leaf, n_bins=n_bins)
    check_bvh(bvh, lo, hi, max_leaf)


def test_traversal_matches_brute_force():
    rng = np.random.default_rng(7)
    n = 600
    lo, hi = random_boxes(rng, n, extent=10.0, size=1.0)
    lo[::7, 2] = hi[::7, 2]  # some flat quads
    bvh = build_bvh(lo, hi, max_leaf_size=3)
    lo64, hi64 = lo.astype(np.float64), hi.astype(np.float64)
    n_hit = 0
    for _ in range(300):
        o = rng.uniform(-2.0, 12.0, 3)
        # aim at a random box (plus jitter) so that rays hit several boxes
        k = rng.integers(n)
        d = (lo64[k] + hi64[k]) / 2 - o + rng.normal(size=3) * 0.3
        d[np.abs(d) < 1e-3] = 1e-3  # no zero components: no 0 * inf in the slab test
        inv = 1.0 / d
        brute = set(np.nonzero(slab_hits(o, inv, lo64, hi64))[0].tolist())
        assert traverse(bvh, o, inv) == brute
        n_hit += len(brute)
    assert n_hit > 600  # the rays do hit things


# ---------------------------------------------------------------------------------------------
# degenerate inputs
# ---------------------------------------------------------------------------------------------


def test_single_primitive():
    lo = np.array([[1.0, 2.0, 3.0]], np.float32)
    hi = np.array([[1.0, 5.0, 3.5]], np.float32)
    bvh = build_bvh(lo, hi)
    assert bvh.node_info.tolist() == [[0, 1, 0]]
    assert bvh.node_bounds.tolist() == [[1.0, 2.0, 3.0, 1.0, 5.0, 3.5]]
    assert bvh.prim_order.tolist() == [0]


@pytest.mark.parametrize("n,max_leaf", [(1, 4), (3, 4), (4, 4), (5, 4), (37, 4), (64, 1)])
def test_identical_primitives(n, max_leaf):
    lo = np.tile(np.float32([1, 2, 3]), (n, 1))
    hi = np.tile(np.float32([2, 2, 4]), (n, 1))
    bvh = build_bvh(lo, hi, max_leaf_size=max_leaf)
    check_bvh(bvh, lo, hi, max_leaf)
    leaf = bvh.node_info[:, 1] > 0
    if n <= max_leaf:
        assert len(bvh.node_info) == 1
    else:
        # cut in the middle: balanced
        assert bvh_stats(bvh)["max_depth"] <= int(np.ceil(np.log2(n / max_leaf))) + 1
        assert bvh.node_info[leaf, 1].min() >= max_leaf // 2


def test_identical_centroids_different_sizes():
    n = 50
    r = np.linspace(0.0, 5.0, n, dtype=np.float32)[:, None]
    lo, hi = (5 - r) * np.ones(3, np.float32), (5 + r) * np.ones(3, np.float32)
    bvh = build_bvh(lo, hi, max_leaf_size=2)
    check_bvh(bvh, lo, hi, 2)


@pytest.mark.parametrize("flat_axes", [(0,), (1,), (2,), (0, 1), (0, 1, 2)])
def test_flat_boxes(flat_axes):
    rng = np.random.default_rng(3)
    lo, hi = random_boxes(rng, 800)
    for ax in flat_axes:
        lo[:, ax] = 0.25 if len(flat_axes) > 1 else lo[:, ax]
        hi[:, ax] = lo[:, ax]
    bvh = build_bvh(lo, hi)
    check_bvh(bvh, lo, hi, 4)
    assert np.isfinite(bvh_stats(bvh)["sah_cost"])


def test_points_on_a_line_split_evenly():
    # zero-area boxes everywhere: the SAH falls back to edge length and still halves the line
    n = 4096
    x = np.arange(n, dtype=np.float32)
    lo = np.zeros((n, 3), np.float32)
    lo[:, 0] = x
    bvh = build_bvh(lo, lo.copy(), max_leaf_size=1)
    check_bvh(bvh, lo, lo, 1)
    assert bvh_stats(bvh)["max_depth"] <= 2 * np.log2(n)


@pytest.mark.parametrize("center,size", [(1e6, 0.5), (1e6, 1e-3), (-3e7, 10.0), (1e30, 1e28),
                                         (0.0, 1e-30), (1e-35, 1e-38), (3e38, 1e36)])
def test_extreme_coordinates(center, size):
    rng = np.random.default_rng(11)
    n = 700
    c = center + rng.uniform(-1, 1, (n, 3)) * size * 20
    s = rng.random((n, 3)) * size
    lo = np.clip(c - s, -3.4e38, 3.4e38).astype(np.float32)
    hi = np.clip(c + s, -3.4e38, 3.4e38).astype(np.float32)
    hi = np.maximum(lo, hi)
    bvh = build_bvh(lo, hi)
    check_bvh(bvh, lo, hi, 4)
    assert np.isfinite(bvh_stats(bvh)["sah_cost"])


def test_mixed_huge_and_tiny():
    rng = np.random.default_rng(5)
    lo_a, hi_a = random_boxes(rng, 300, extent=1e-20, size=1e-22)
    lo_b, hi_b = random_boxes(rng, 300, extent=1e30, size=1e28)
    lo, hi = np.concatenate((lo_a, -hi_b)), np.concatenate((hi_a, -lo_b))
    bvh = build_bvh(lo, hi)
    check_bvh(bvh, lo, hi, 4)


def test_float64_input_rounded_outward():
    rng = np.random.default_rng(9)
    lo64 = rng.random((400, 3)) * 10
    hi64 = lo64 + rng.random((400, 3)) * 1e-3
    bvh = build_bvh(lo64, hi64)
    _, prims = walk(bvh)
    for i in np.nonzero(bvh.node_info[:, 1] > 0)[0]:
        p = prims[i]
        assert (bvh.node_bounds[i, :3].astype(np.float64) <= lo64[p].min(axis=0)).all()
        assert (bvh.node_bounds[i, 3:].astype(np.float64) >= hi64[p].max(axis=0)).all()


@pytest.mark.parametrize("lo,hi,kw", [
    (np.zeros((0, 3)), np.zeros((0, 3)), {}),
    (np.zeros((4, 2)), np.ones((4, 2)), {}),
    (np.zeros((4, 3)), np.ones((5, 3)), {}),
    (np.full((4, 3), np.nan), np.ones((4, 3)), {}),
    (np.zeros((4, 3)), np.full((4, 3), np.inf), {}),
    (np.zeros((4, 3)), np.full((4, 3), 1e39), {}),
    (np.ones((4, 3)), np.zeros((4, 3)), {}),
    (np.zeros((4, 3)), np.ones((4, 3)), {"max_leaf_size": 0}),
    (np.zeros((4, 3)), np.ones((4, 3)), {"n_bins": 1}),
    (np.zeros((4, 3)), np.ones((4, 3)), {"traversal_cost": np.nan}),
])
def test_invalid_input_raises(lo, hi, kw):
    with pytest.raises(ValueError):
        build_bvh(lo, hi, **kw)


# ---------------------------------------------------------------------------------------------
# determinism
# ---------------------------------------------------------------------------------------------


def assert_same(a, b):
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


def test_deterministic_repeat():
    rng = np.random.default_rng(1)
    lo, hi = random_boxes(rng, 5000)
    assert_same(build_bvh(lo, hi), build_bvh(lo, hi))


def test_parallel_build_identical_to_serial(monkeypatch):
    """Forced task split (many small subtrees, 1..3 workers) gives the serial build's arrays."""
    rng = np.random.default_rng(2)
    n = 6000
    lo, hi = random_boxes(rng, n)
    lo[:50] = lo[50]  # a block of identical primitives crosses task boundaries
    hi[:50] = hi[50]
    ref = bvh_mod._build_arrays(lo, hi, 4, 16, TRAVERSAL_COST, 0, 1)
    calls = []
    real = bvh_mod._build
    monkeypatch.setattr(bvh_mod, "_build", lambda *a: calls.append(1) or real(*a))
    for workers, defer in [(1, 100), (2, 300), (3, 37), (2, 1)]:
        out = bvh_mod._build_arrays(lo, hi, 4, 16, TRAVERSAL_COST, defer, workers)
        assert_same(ref, out)
    assert len(calls) > 4 * 10  # the subtree tasks did run (one top build per case + tasks)


def test_thread_count_does_not_change_result(monkeypatch):
    monkeypatch.setattr(bvh_mod, "_PARALLEL_MIN_PRIMS", 1000)
    monkeypatch.setattr(bvh_mod, "_MIN_TASK_PRIMS", 64)
    rng = np.random.default_rng(4)
    lo, hi = random_boxes(rng, 8000)
    old = numba.get_num_threads()
    try:
        results = []
        for t in sorted({1, 2, numba.config.NUMBA_NUM_THREADS}):
            if t <= numba.config.NUMBA_NUM_THREADS:
                numba.set_num_threads(t)
                results.append(build_bvh(lo, hi))
    finally:
        numba.set_num_threads(old)
    for r in results[1:]:
        assert_same(results[0], r)
    check_bvh(results[0], lo, hi, 4)


# ---------------------------------------------------------------------------------------------
# SAH quality and statistics
# ---------------------------------------------------------------------------------------------


def test_sah_beats_median_split():
    # measured: 4.04 vs 4.52 (uniform), 2.07 vs 3.12 (clustered)
    rng = np.random.default_rng(6)
    lo, hi = random_boxes(rng, 3000, size=1.0)
    # clustered input too, where the object median is poor
    lo2, hi2 = random_boxes(rng, 3000, size=0.5)
    lo2[:2500] *= 0.05
    hi2[:2500] *= 0.05
    for a, b in ((lo, hi), (lo2, hi2)):
        ours = bvh_stats(build_bvh(a, b, max_leaf_size=4))["sah_cost"]
        median = median_split_tree(a, b, 1)  # leaves of 1, like ours on such input
        check_bvh(median, a, b, 1)  # the reference tree is valid too
        assert ours < bvh_stats(median)["sah_cost"]


def test_two_clusters_split_at_root():
    rng = np.random.default_rng(8)
    lo_a, hi_a = random_boxes(rng, 40, extent=10.0, size=1.0)
    lo_b, hi_b = random_boxes(rng, 260, extent=10.0, size=1.0)
    lo_b[:, 0] += 100.0
    hi_b[:, 0] += 100.0
    lo, hi = np.concatenate((lo_a, lo_b)), np.concatenate((hi_a, hi_b))
    bvh = build_bvh(lo, hi)
    _, prims = walk(bvh)
    assert bvh.node_info[0, 1] == 0 and bvh.node_info[0, 2] == 0
    assert prims[1].tolist() == list(range(40))
    assert prims[int(bvh.node_info[0, 0])].tolist() == list(range(40, 300))


def test_bvh_stats_two_boxes():
    lo = np.float32([[0, 0, 0], [9, 0, 0]])
    hi = np.float32([[1, 1, 1], [10, 1, 1]])
    bvh = build_bvh(lo, hi)
    st_ = bvh_stats(bvh)
    assert (st_["nodes"], st_["leaves"], st_["interior"], st_["max_depth"]) == (3, 2, 1, 1)
    assert st_["mean_leaf_size"] == 1.0 and st_["max_leaf_size"] == 1
    # root half-area 10 + 1 + 10 = 21; each leaf 3
    assert st_["sah_cost"] == pytest.approx(TRAVERSAL_COST + 2 * 3 / 21)


def test_traversal_cost_controls_leaf_size():
    rng = np.random.default_rng(12)
    lo, hi = random_boxes(rng, 2000, size=30.0)  # heavily overlapping boxes
    small = bvh_stats(build_bvh(lo, hi, max_leaf_size=8, traversal_cost=0.0))
    big = bvh_stats(build_bvh(lo, hi, max_leaf_size=8, traversal_cost=4.0))
    assert big["nodes"] < small["nodes"]
    assert big["mean_leaf_size"] > small["mean_leaf_size"]
