"""BVH traversal (``raysynth.kernels.traverse.trace``) against brute force.

Random scenes (hundreds of analytic shapes with random Euler / quaternion / sheared-matrix
transforms, exact duplicates, flat axis-aligned shapes, nested shapes sharing one centre, and
inline triangle meshes) are compiled with :func:`raysynth.render.prepare`. Small ``njit``
wrappers then trace many rays through the BVH (closest hit and any hit) and through every
primitive in turn (``intersect_prim``), for origins inside and outside the scene, axis-aligned
directions with exactly zero components, and origins lying exactly on the planes of BVH node
boxes (read from the wide records of ``raysynth.accel.layout``).

Closest hit: the same t, bit for bit (``intersect_prim`` computes t from the same float32
inputs), and the same primitive, also where several are hit at exactly the same t (the lower
row wins, whatever order the traversal meets them in). Any hit: hit / no hit agrees with brute force for
random tmax, and the reported hit lies in (0, tmax).
Also: rays leaving a sphere or box outward from an ``offset_origin`` never hit it again.
"""
from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from raysynth.accel.layout import WIDE_LINKS, WIDTH
from raysynth.kernels import tags as T
from raysynth.kernels.intersect import intersect_prim, surface_at
from raysynth.kernels.traverse import trace
from raysynth.kernels.vecmath import dot, madd, neg, offset_origin, origin_offset
from raysynth.render import prepare

BIG = np.float32(3.0e38)
F32 = np.float32


# ------------------------------------------------------------------------ compiled wrappers
@numba.njit(cache=True)
def _trace_many(scene, ros, rds, tmaxs, any_hit, out_t, out_prim):
    stack = np.zeros(T.STACK_SIZE, dtype=np.int32)
    stack_t = np.zeros(T.STACK_SIZE, dtype=np.float32)
    for i in range(ros.shape[0]):
        ro = (ros[i, 0], ros[i, 1], ros[i, 2])
        rd = (rds[i, 0], rds[i, 1], rds[i, 2])
        t, prim, _, _ = trace(scene, ro, rd, tmaxs[i], stack, stack_t, any_hit)
        out_t[i] = t
        out_prim[i] = prim


@numba.njit(cache=True)
def _brute_many(scene, ros, rds, tmaxs, out_t, out_prim):
    """Closest hit in (0, tmax) over every primitive, in index order."""
    n_prims = scene.prim_info.shape[0]
    for i in range(ros.shape[0]):
        ro = (ros[i, 0], ros[i, 1], ros[i, 2])
        rd = (rds[i, 0], rds[i, 1], rds[i, 2])
        best = tmaxs[i]
        best_prim = -1
        for p in range(n_prims):
            t, _, _ = intersect_prim(scene, p, ro, rd, best)
            if t > F32(0.0):
                best = t
                best_prim = p
        out_t[i] = best if best_prim >= 0 else F32(-1.0)
        out_prim[i] = best_prim


@numba.njit(cache=True)
def _count_hits_at(scene, ros, rds, ts, bounds, out_count):
    """Number of primitives ray i hits at exactly t = ts[i] (bounds[i]: the float above ts[i])."""
    for i in range(ros.shape[0]):
        ro = (ros[i, 0], ros[i, 1], ros[i, 2])
        rd = (rds[i, 0], rds[i, 1], rds[i, 2])
        n = 0
        for p in range(scene.prim_info.shape[0]):
            t, _, _ = intersect_prim(scene, p, ro, rd, bounds[i])
            if t == ts[i]:
                n += 1
        out_count[i] = n


@numba.njit(cache=True)
def _prim_t(scene, prims, ros, rds, tmaxs, out_t):
    """t of ray i against primitive prims[i] alone (-1 when it misses in (0, tmax))."""
    for i in range(ros.shape[0]):
        ro = (ros[i, 0], ros[i, 1], ros[i, 2])
        rd = (rds[i, 0], rds[i, 1], rds[i, 2])
        t, _, _ = intersect_prim(scene, prims[i], ro, rd, tmaxs[i])
        out_t[i] = t


@numba.njit(cache=True)
def _leave_surface(scene, prims, aim_o, aim_d, dirs, out_self_prim, out_trace_prim, out_cos):
    """For ray k aimed at primitive prims[k]: take its hit point p and normal ng, then for each
    outward direction dirs[k, j] (flipped to the side of ng) start a ray at
    offset_origin(p, ng, dir); record its t against the same primitive and the primitive that
    the BVH finds first."""
    stack = np.zeros(T.STACK_SIZE, dtype=np.int32)
    stack_t = np.zeros(T.STACK_SIZE, dtype=np.float32)
    for k in range(prims.shape[0]):
        ro = (aim_o[k, 0], aim_o[k, 1], aim_o[k, 2])
        rd = (aim_d[k, 0], aim_d[k, 1], aim_d[k, 2])
        t, u, v = intersect_prim(scene, prims[k], ro, rd, BIG)
        if not t > F32(0.0):
            out_self_prim[k, :] = -2.0  # the aiming ray missed: not a test case
            continue
        p, ng, _, _, _ = surface_at(scene, prims[k], ro, rd, t, u, v)
        for j in range(dirs.shape[1]):
            d = (dirs[k, j, 0], dirs[k, j, 1], dirs[k, j, 2])
            c = d[0] * ng[0] + d[1] * ng[1] + d[2] * ng[2]
            if j % 2 == 1:
                # grazing: the tangent part of d plus a small normal part (0.1 ... 1e-4)
                s = F32(10.0) ** F32(-(1 + (j // 2) % 4))
                d = (d[0] + (s - c) * ng[0], d[1] + (s - c) * ng[1], d[2] + (s - c) * ng[2])
                c = d[0] * ng[0] + d[1] * ng[1] + d[2] * ng[2]
            if c < F32(0.0):
                d = (-d[0], -d[1], -d[2])
                c = -c
            out_cos[k, j] = c
            o = offset_origin(p, ng, d)
            t_self, _, _ = intersect_prim(scene, prims[k], o, d, BIG)
            out_self_prim[k, j] = t_self
            _, hit, _, _ = trace(scene, o, d, BIG, stack, stack_t, False)
            out_trace_prim[k, j] = hit


# ------------------------------------------------------------------------ random scenes
def _random_rotation(rng) -> dict:
    kind = rng.integers(4)
    if kind == 0:
        return {}
    if kind == 1:
        return {"rotate": rng.uniform(-180, 180, 3).tolist()}
    if kind == 2:
        return {"quaternion": rng.normal(size=4).tolist()}
    # axis-aligned quarter turns: bounds stay exactly flat / axis-aligned
    return {"rotate": (90.0 * rng.integers(-2, 3, 3)).tolist()}


def _random_transform(rng, centre) -> dict:
    if rng.random() < 0.15:
        # a general affine map (shear included) as an explicit matrix
        lin = Rotation.random(random_state=rng).as_matrix() @ np.diag(rng.uniform(0.3, 2.0, 3))
        lin = lin @ (np.eye(3) + np.triu(rng.uniform(-0.5, 0.5, (3, 3)), 1))
        m = np.eye(4)
        m[:3, :3] = lin
        m[:3, 3] = centre
        return {"matrix": m.tolist()}
    tf = {"translate": list(map(float, centre)), **_random_rotation(rng)}
    r = rng.random()
    if r < 0.4:
        tf["scale"] = rng.uniform(0.2, 3.0, 3).tolist()
    elif r < 0.6:
        tf["scale"] = float(rng.uniform(0.3, 2.0))
    return tf


def _random_shape(rng, centre) -> dict:
    kind = ["sphere", "box", "quad", "disk", "cylinder"][rng.integers(5)]
    obj = {"type": kind, "transform": _random_transform(rng, centre)}
    if kind == "sphere":
        obj["radius"] = float(rng.uniform(0.1, 2.0))
    elif kind == "box":
        obj["size"] = rng.uniform(0.05, 3.0, 3).tolist()
    elif kind == "quad":
        obj["size"] = rng.uniform(0.1, 4.0, 2).tolist()
    elif kind == "disk":
        obj["radius"] = float(rng.uniform(0.1, 2.0))
    else:
        obj["radius"] = float(rng.uniform(0.05, 1.5))
        obj["height"] = float(rng.uniform(0.1, 4.0))
        obj["caps"] = bool(rng.random() < 0.6)
    return obj


def _random_mesh(rng, centre, n_tris) -> dict:
    n_verts = max(3, n_tris // 2 + 3)
    verts = rng.uniform(-2.0, 2.0, (n_verts, 3))
    if rng.random() < 0.5:
        verts[:, 2] = np.round(verts[:, 2])  # many vertices on a few exact planes (flat boxes)
    faces = []
    while len(faces) < n_tris:
        f = rng.choice(n_verts, 3, replace=False)
        faces.append([int(x) for x in f])
    return {"type": "mesh", "vertices": verts.tolist(), "faces": faces,
            "transform": {"translate": list(map(float, centre)), **_random_rotation(rng)}}


def random_scene(seed: int, n_shapes: int = 320, n_meshes: int = 5, tris_per_mesh: int = 60) -> dict:
    rng = np.random.default_rng(seed)
    objects = []
    for _ in range(n_shapes):
        objects.append(_random_shape(rng, rng.normal(0.0, 6.0, 3)))
    for _ in range(n_meshes):
        objects.append(_random_mesh(rng, rng.normal(0.0, 6.0, 3), tris_per_mesh))
    # exact duplicates: ties at equal t
    for k in rng.choice(n_shapes, 6, replace=False):
        objects.append(dict(objects[k]))
    # nested shapes sharing one centre (identical centroids: the build cannot split them)
    c = rng.normal(0.0, 3.0, 3).tolist()
    for r in np.linspace(0.2, 3.0, 12):
        objects.append({"type": "sphere", "radius": float(r), "transform": {"translate": c}})
        objects.append({"type": "box", "size": [float(r)] * 3, "transform": {"translate": c}})
    # a big axis-aligned floor and wall made of two triangles each, and flat axis-aligned quads
    objects.append({"type": "mesh", "vertices": [[-30, -12, -30], [30, -12, -30], [30, -12, 30], [-30, -12, 30]],
                    "faces": [[0, 2, 1], [0, 3, 2]]})
    objects.append({"type": "mesh", "vertices": [[-30, -12, -15], [30, -12, -15], [30, 20, -15], [-30, 20, -15]],
                    "faces": [[0, 1, 2], [0, 2, 3]]})
    for _ in range(10):
        objects.append({"type": "quad", "size": rng.uniform(0.5, 3.0, 2).tolist(),
                        "transform": {"translate": np.round(rng.normal(0.0, 5.0, 3)).tolist(),
                                      "rotate": (90.0 * rng.integers(-1, 2, 3)).tolist()}})
    return {"camera": {"width": 4, "height": 4}, "render": {"spp": 1}, "objects": objects}


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def node_boxes(arrays) -> np.ndarray:
    """(m, 6) float32 boxes of every BVH node below the root (every present child of every wide
    record of ``raysynth.accel.layout``; an absent child has count -1)."""
    boxes, links = arrays.bvh_boxes, arrays.bvh_links
    out = []
    for c in range(WIDTH):
        present = links[:, WIDE_LINKS + 1 + 2 * c] >= 0
        out.append(boxes[present][:, [a * WIDTH + c for a in range(6)]])
    return np.concatenate(out)


def random_rays(arrays, seed: int, n: int = 1500):
    """(origins, directions) float32 of several families; returns also a family label."""
    rng = np.random.default_rng(seed)
    nb = node_boxes(arrays)
    lo = nb[:, :3].min(axis=0).astype(np.float64)
    hi = nb[:, 3:].max(axis=0).astype(np.float64)
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    radius = np.linalg.norm(half)
    ros, rds, fam = [], [], []

    def add(o, d, name):
        ros.append(np.asarray(o, dtype=np.float32))
        rds.append(np.asarray(d, dtype=np.float32))
        fam.extend([name] * len(o))

    # inside the scene, random directions of random length
    o = centre + half * rng.uniform(-1, 1, (n, 3))
    add(o, _unit(rng.normal(size=(n, 3))) * rng.uniform(0.05, 20.0, (n, 1)), "inside")
    # outside, aimed at random points of the scene
    o = centre + 1.5 * radius * _unit(rng.normal(size=(n, 3)))
    target = centre + half * rng.uniform(-1, 1, (n, 3))
    add(o, target - o, "outside")
    # axis-aligned directions: two components exactly zero
    o = centre + 1.2 * half * rng.uniform(-1, 1, (n, 3))
    d = np.zeros((n, 3))
    d[np.arange(n), rng.integers(3, size=n)] = rng.choice([-1.0, 1.0], n) * rng.uniform(0.1, 3.0, n)
    add(o, d, "axis")
    # one component exactly zero (and some tiny ones)
    d = rng.normal(size=(n, 3))
    d[np.arange(n), rng.integers(3, size=n)] = 0.0
    tiny = rng.random(n) < 0.2
    d[tiny, 0] = rng.choice([-1e-20, 1e-20], tiny.sum())
    add(centre + 1.2 * half * rng.uniform(-1, 1, (n, 3)), d, "planar")
    # origins exactly on a plane of a BVH node box (leaf planes are primitive bounds), moving
    # along the plane, into the box, or away from it
    nodes = rng.integers(len(nb), size=n)
    lo_n, hi_n = nb[nodes, :3].astype(np.float64), nb[nodes, 3:].astype(np.float64)
    o = lo_n + (hi_n - lo_n) * rng.uniform(0, 1, (n, 3))
    corner = rng.random((n, 3)) < 0.3  # some on edges and corners of the box too
    o = np.where(corner, np.where(rng.random((n, 3)) < 0.5, lo_n, hi_n), o)
    axis = rng.integers(3, size=n)
    side = rng.random(n) < 0.5
    o[np.arange(n), axis] = np.where(side, hi_n[np.arange(n), axis], lo_n[np.arange(n), axis])
    d = rng.normal(size=(n, 3))
    flat = rng.random(n) < 0.4
    d[flat, axis[flat]] = 0.0
    ax2 = rng.random(n) < 0.2
    d[ax2, (axis[ax2] + 1) % 3] = 0.0
    add(o.astype(np.float32), d, "on_plane")   # the bound values are float32 already: exact
    return np.concatenate(ros), np.concatenate(rds), np.array(fam)


@pytest.fixture(scope="module", params=[11, 12])
def compiled(request):
    scene = random_scene(request.param)
    cs = prepare(scene)
    arrays = cs.arrays
    assert arrays.prim_info.shape[0] > 600
    assert (arrays.prim_info[:, T.PRIM_KIND] == T.TRIANGLE).sum() > 300
    assert len(node_boxes(arrays)) > 200
    return request.param, arrays


def _run_bvh(arrays, ros, rds, tmaxs, any_hit):
    t = np.empty(len(ros), np.float32)
    prim = np.empty(len(ros), np.int32)
    _trace_many(arrays, ros, rds, tmaxs, any_hit, t, prim)
    return t, prim


def _run_brute(arrays, ros, rds, tmaxs):
    t = np.empty(len(ros), np.float32)
    prim = np.empty(len(ros), np.int32)
    _brute_many(arrays, ros, rds, tmaxs, t, prim)
    return t, prim


def _hits_at(arrays, ros, rds, ts):
    count = np.empty(len(ros), np.int32)
    _count_hits_at(arrays, ros, rds, ts, np.nextafter(ts, np.float32(np.inf)), count)
    return count


def _prim_t_of(arrays, prims, ros, rds, tmaxs):
    t = np.empty(len(ros), np.float32)
    _prim_t(arrays, prims.astype(np.int32), ros, rds, tmaxs, t)
    return t


@pytest.mark.parametrize("finite_tmax", [False, True])
def test_closest_hit_equals_brute_force(compiled, finite_tmax):
    seed, arrays = compiled
    ros, rds, fam = random_rays(arrays, seed)
    rng = np.random.default_rng(seed + 100)
    if finite_tmax:
        tmaxs = np.exp(rng.uniform(np.log(1e-3), np.log(60.0), len(ros))).astype(np.float32)
    else:
        tmaxs = np.full(len(ros), BIG, np.float32)
    t_bvh, p_bvh = _run_bvh(arrays, ros, rds, tmaxs, False)
    t_bf, p_bf = _run_brute(arrays, ros, rds, tmaxs)

    hit_bf = p_bf >= 0
    # enough hits and misses in every family that the comparison means something
    for name in np.unique(fam):
        sel = fam == name
        assert hit_bf[sel].sum() >= 50, f"family {name}: only {hit_bf[sel].sum()} hits"
        if not finite_tmax and name != "inside":
            assert (~hit_bf[sel]).sum() >= 20, f"family {name}: only {(~hit_bf[sel]).sum()} misses"

    miss_mismatch = np.flatnonzero((p_bvh >= 0) != hit_bf)
    assert len(miss_mismatch) == 0, (
        f"{len(miss_mismatch)} rays hit/miss differently from brute force, e.g. ray {miss_mismatch[0]} "
        f"({fam[miss_mismatch[0]]}: o={ros[miss_mismatch[0]].tolist()} d={rds[miss_mismatch[0]].tolist()}) "
        f"bvh prim {p_bvh[miss_mismatch[0]]} t={t_bvh[miss_mismatch[0]]}, brute prim {p_bf[miss_mismatch[0]]} "
        f"t={t_bf[miss_mismatch[0]]}"
    )
    assert (t_bvh[~hit_bf] == -1).all()
    h = hit_bf
    bad_t = np.flatnonzero(h & ~np.isclose(t_bvh, t_bf, rtol=1e-6, atol=0))
    assert len(bad_t) == 0, (
        f"{len(bad_t)} closest hits differ in t, e.g. ray {bad_t[0]} ({fam[bad_t[0]]}): bvh t={t_bvh[bad_t[0]]} "
        f"prim {p_bvh[bad_t[0]]}, brute t={t_bf[bad_t[0]]} prim {p_bf[bad_t[0]]}"
    )
    # the same t bit for bit, and the same primitive even at exact ties (the brute force keeps
    # the first of equal hits in row order; the traversal resolves ties to the lower row)
    assert np.array_equal(t_bvh[h], t_bf[h])
    other = np.flatnonzero(h & (p_bvh != p_bf))
    assert len(other) == 0, (
        f"{len(other)} rays report another primitive, e.g. ray {other[0]}: bvh prim {p_bvh[other[0]]}, "
        f"brute prim {p_bf[other[0]]} at t={t_bf[other[0]]}")
    # exact ties do occur among these rays (duplicated shapes, flat shapes seen edge-on)
    assert (_hits_at(arrays, ros[h], rds[h], t_bf[h]) >= 2).sum() >= 3
    assert (t_bvh[h] > 0).all() and (t_bvh[h] < tmaxs[h]).all()


def test_any_hit_agrees_with_brute_force(compiled):
    seed, arrays = compiled
    ros, rds, fam = random_rays(arrays, seed + 1000)
    rng = np.random.default_rng(seed + 200)
    # random tmax on a log scale (many shadow rays end before the first surface), some infinite
    tmaxs = np.exp(rng.uniform(np.log(1e-3), np.log(80.0), len(ros))).astype(np.float32)
    tmaxs[rng.random(len(ros)) < 0.2] = BIG
    t_any, p_any = _run_bvh(arrays, ros, rds, tmaxs, True)
    t_bf, p_bf = _run_brute(arrays, ros, rds, tmaxs)
    hit_bf = p_bf >= 0
    assert 0.2 < hit_bf.mean() < 0.8, hit_bf.mean()  # both outcomes well represented
    bad = np.flatnonzero((p_any >= 0) != hit_bf)
    assert len(bad) == 0, (
        f"{len(bad)} shadow rays disagree with brute force, e.g. ray {bad[0]} ({fam[bad[0]]}) "
        f"tmax={tmaxs[bad[0]]}: any-hit prim {p_any[bad[0]]}, brute prim {p_bf[bad[0]]} t={t_bf[bad[0]]}"
    )
    h = p_any >= 0
    assert ((t_any[h] > 0) & (t_any[h] < tmaxs[h])).all()
    assert (t_any[~h] == -1).all()
    # the reported hit is a real hit of the reported primitive, and never closer than the closest
    t_own = _prim_t_of(arrays, p_any[h], ros[h], rds[h], tmaxs[h])
    np.testing.assert_array_equal(t_own, t_any[h])
    assert (t_any[h] >= t_bf[h]).all()


def test_rays_leaving_convex_primitives_do_not_rehit_them(compiled):
    seed, arrays = compiled
    rng = np.random.default_rng(seed + 300)
    kinds = arrays.prim_info[:, T.PRIM_KIND]
    prims = np.flatnonzero((kinds == T.SPHERE) | (kinds == T.BOX)).astype(np.int32)
    assert len(prims) > 100
    # aim at each primitive's centre from a random direction, from far away and from close by
    xf = arrays.shape_xform[arrays.prim_info[prims, T.PRIM_INDEX]].astype(np.float64)
    centres = xf[:, [3, 7, 11]]
    # a random point of the canonical shape, mapped to world space, as the aiming target
    lin = xf[:, :12].reshape(-1, 3, 4)[:, :, :3]
    target = centres + np.einsum("kij,kj->ki", lin, rng.uniform(-0.5, 0.5, (len(prims), 3)))
    dist = np.where(rng.random(len(prims)) < 0.5, 50.0, 3.0)[:, None]
    aim_o = (target + dist * _unit(rng.normal(size=(len(prims), 3)))).astype(np.float32)
    aim_d = (target - aim_o).astype(np.float32)
    n_dirs = 24
    dirs = _unit(rng.normal(size=(len(prims), n_dirs, 3))).astype(np.float32)  # odd j: made grazing
    self_t = np.zeros((len(prims), n_dirs), np.float32)
    trace_prim = np.zeros((len(prims), n_dirs), np.int32)
    cos = np.zeros((len(prims), n_dirs), np.float32)
    _leave_surface(arrays, prims, aim_o, aim_d, dirs, self_t, trace_prim, cos)
    valid = self_t[:, 0] != -2.0
    assert valid.mean() > 0.9
    assert (cos[valid] < 1e-3).sum() > 100  # grazing departures are covered
    rehit = valid[:, None] & (self_t > 0)
    assert not rehit.any(), (
        f"{rehit.sum()} rays re-hit the primitive they left, e.g. prim {prims[np.argwhere(rehit)[0][0]]} "
        f"cos={cos[rehit][:5]} t={self_t[rehit][:5]}"
    )
    same = valid[:, None] & (trace_prim == prims[:, None])
    assert not same.any(), f"{same.sum()} traced rays report the primitive they left as their first hit"


def test_wide_records_hold_every_primitive_once_in_nested_boxes(compiled):
    """The wide records: every primitive slot lies in exactly one leaf, every child box holds
    the boxes of what lies below it, absent children have empty boxes, and the reported depth
    bounds the traversal stack."""
    from raysynth.compile import traversal_stack_needed

    _, arrays = compiled
    boxes, links = arrays.bvh_boxes.astype(np.float64), arrays.bvh_links
    n_slots = len(arrays.prim_order)
    seen = np.zeros(n_slots, dtype=np.int64)

    def child_box(r, c):
        return boxes[r, [a * WIDTH + c for a in range(3)]], boxes[r, [a * WIDTH + c for a in range(3, 6)]]

    stack, depth_max = [(0, 0)], 0
    while stack:
        r, depth = stack.pop()
        depth_max = max(depth_max, depth)
        for c in range(WIDTH):
            offset, count = links[r, WIDE_LINKS + 2 * c], links[r, WIDE_LINKS + 1 + 2 * c]
            lo, hi = child_box(r, c)
            if count < 0:
                assert (lo == np.inf).all() and (hi == -np.inf).all()
                continue
            assert (lo <= hi).all()
            if count > 0:
                seen[offset:offset + count] += 1
            else:
                assert offset > r   # children after their parent: the walk ends
                for k in range(WIDTH):
                    if links[offset, WIDE_LINKS + 1 + 2 * k] >= 0:
                        clo, chi = child_box(offset, k)
                        assert (lo <= clo).all() and (chi <= hi).all()
                stack.append((offset, depth + 1))
    assert (seen == 1).all()
    assert traversal_stack_needed([depth_max]) <= T.STACK_SIZE
    assert len(arrays.bvh_boxes) < n_slots / 2   # wide: far fewer records than binary nodes


def test_next_float_up_is_nextafter():
    """The traversal's tie bound is the float32 just above t, for every binade in use."""
    from raysynth.kernels.traverse import _next_float_up

    rng = np.random.default_rng(5)
    x = np.concatenate([2.0 ** np.arange(-100, 120), np.nextafter(2.0 ** np.arange(-99, 121), 0),
                        np.exp(rng.uniform(-60, 80, 20000))]).astype(np.float32)
    x = x[np.isfinite(x) & (x >= np.finfo(np.float32).tiny)]
    got = np.array([_next_float_up(v) for v in x], dtype=np.float32)
    np.testing.assert_array_equal(got, np.nextafter(x, np.float32(np.inf)))


@numba.njit(cache=True)
def _shadow_origins(ps, ngs, wis, entering, out_general, out_side):
    """offset_origin(p, ng, wi) and the path tracer's shadow origin, madd(p, ng_side,
    origin_offset(p)), for rays wi that pass its gate dot(wi, ng_side) > 0."""
    for k in range(ps.shape[0]):
        p = (ps[k, 0], ps[k, 1], ps[k, 2])
        ng = (ngs[k, 0], ngs[k, 1], ngs[k, 2])
        wi = (wis[k, 0], wis[k, 1], wis[k, 2])
        ng_side = ng if entering[k] else neg(ng)
        if dot(wi, ng_side) > F32(0.0):
            out_general[k] = offset_origin(p, ng, wi)
            out_side[k] = madd(p, ng_side, origin_offset(p))


def test_shadow_origin_is_offset_origin_bit_for_bit():
    """The path tracer offsets a shadow ray's origin along ng_side without looking at wi: for
    every wi its gate lets through, the same bits as offset_origin(p, ng, wi), grazing wi
    and both sides included."""
    rng = np.random.default_rng(11)
    n = 20000
    ps = (rng.normal(size=(n, 3)) * 10.0 ** rng.uniform(-3, 3, size=(n, 1))).astype(F32)
    ngs = rng.normal(size=(n, 3))
    ngs = (ngs / np.linalg.norm(ngs, axis=1, keepdims=True)).astype(F32)
    wis = rng.normal(size=(n, 3))
    wis[::2] -= (wis[::2] * ngs[::2]).sum(1, keepdims=True) * ngs[::2] * (1 - 1e-6)   # grazing
    wis = (wis / np.linalg.norm(wis, axis=1, keepdims=True)).astype(F32)
    entering = rng.integers(2, size=n).astype(np.bool_)
    general = np.full((n, 3), np.nan, dtype=F32)
    side = np.full((n, 3), np.nan, dtype=F32)
    _shadow_origins(ps, ngs, wis, entering, general, side)
    tested = ~np.isnan(general[:, 0])
    assert tested.sum() > n // 3
    assert np.array_equal(general[tested].view(np.uint32), side[tested].view(np.uint32))
