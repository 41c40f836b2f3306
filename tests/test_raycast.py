"""``raysynth.RayCaster`` against an independent float64 brute force and against the renderer.

Brute force: every ray against every triangle with Moller-Trumbore in float64 numpy (no raysynth
code). Near triangle edges the float32 kernel and the float64 reference may disagree on which of
two neighbouring triangles is hit, so a reported hit must be a hit of that triangle in float64
within a small barycentric margin, at the same t, and no triangle may be hit clearly nearer; a
reported miss must have no clear float64 hit. Rays aimed exactly at vertices and edge midpoints
(grazing the shared edges) of closed meshes must hit: a ray through a shared edge may not slip
between the two triangles.

The renderer's own hits: the distance layer of a rendered mesh equals RayCaster's t along the
same pixel-centre rays.
"""
from __future__ import annotations

import numpy as np
import pytest

import raysynth
from raysynth.assets import procedural as P
from raysynth.errors import RaysynthError

EDGE_MARGIN = 1e-5   # barycentric margin within which float32 and float64 may disagree
T_REL = 2e-5         # relative tolerance of hit distances between float32 and float64 ...
D_ABS = 2e-6         # ... plus float32 rounding of coordinates (meshes here are ~2 units wide)


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def brute_force(vertices, faces, origins, directions):
    """float64 (t, u, v) of every ray against every triangle: each (n_rays, n_tris); t = inf
    where the ray's line misses the triangle's plane or points away from it."""
    v = np.asarray(vertices, np.float64)
    v0, v1, v2 = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    e1, e2 = v1 - v0, v2 - v0
    o = np.asarray(origins, np.float64)[:, None, :]
    d = np.asarray(directions, np.float64)[:, None, :]
    p = np.cross(d, e2[None])
    det = np.einsum("ntk,tk->nt", p, e1)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / det
        s = o - v0[None]
        u = np.einsum("ntk,ntk->nt", s, p) * inv
        q = np.cross(s, e1[None])
        w = np.einsum("ntk,ntk->nt", d, q) * inv
        t = np.einsum("tk,ntk->nt", e2, q) * inv
    t = np.where(np.isfinite(t) & (t > 0), t, np.inf)
    return t, u, w


def check_closest(vertices, faces, origins, directions, t, index):
    """Assert RayCaster's closest hits (t, index) are consistent with the float64 brute force."""
    bt, bu, bv = brute_force(vertices, faces, origins, directions)
    with np.errstate(invalid="ignore"):   # NaN barycentrics (ray parallel to the plane) are no hit
        inside = (bu >= EDGE_MARGIN) & (bv >= EDGE_MARGIN) & (bu + bv <= 1 - EDGE_MARGIN)
        loose = (bu >= -EDGE_MARGIN) & (bv >= -EDGE_MARGIN) & (bu + bv <= 1 + EDGE_MARGIN)
    clear_t = np.where(inside, bt, np.inf).min(axis=1)      # nearest hit well inside a triangle
    rows = np.arange(len(origins))
    hit = index >= 0
    # a miss: no triangle is hit clearly
    assert np.isinf(clear_t[~hit]).all(), f"{np.isfinite(clear_t[~hit]).sum()} rays missed a clear hit"
    # a hit: that triangle is hit in float64 (within the margin) at the same t ...
    k = index[hit]
    assert loose[rows[hit], k].all()
    length = np.linalg.norm(np.asarray(directions, np.float64), axis=1)[hit]
    np.testing.assert_allclose(t[hit] * length, bt[rows[hit], k] * length, rtol=T_REL, atol=D_ABS)
    # ... and nothing is hit clearly nearer
    assert (t[hit] * length <= clear_t[hit] * length * (1 + T_REL) + D_ABS).all()


@pytest.fixture(scope="module")
def meshes():
    torus = P.torus(major=1.0, minor=0.35, segments=24, sides=12)
    sphere = P.icosphere(subdivisions=2)
    return {"torus": (torus.vertices, torus.faces), "icosphere": (sphere.vertices, sphere.faces)}


def random_rays(vertices, rng, n=700):
    """Rays of several families: from outside aimed into the mesh, from inside in random
    directions, axis-aligned (two direction components exactly 0), and with unnormalized
    directions of random length."""
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    centre, radius = (lo + hi) / 2, np.linalg.norm(hi - lo)
    o_out = centre + 1.5 * radius * _unit(rng.normal(size=(n, 3)))
    d_out = centre + (hi - lo) / 2 * rng.uniform(-1, 1, (n, 3)) - o_out
    o_in = centre + (hi - lo) / 2 * rng.uniform(-0.9, 0.9, (n, 3))
    d_in = _unit(rng.normal(size=(n, 3))) * rng.uniform(0.01, 50.0, (n, 1))
    o_ax = centre + (hi - lo) / 2 * rng.uniform(-1.2, 1.2, (n, 3))
    d_ax = np.zeros((n, 3))
    d_ax[np.arange(n), rng.integers(3, size=n)] = rng.choice([-1.0, 1.0], n)
    origins = np.concatenate([o_out, o_in, o_ax]).astype(np.float32)
    directions = np.concatenate([d_out, d_in, d_ax]).astype(np.float32)
    return origins, directions


@pytest.mark.parametrize("name", ["torus", "icosphere"])
def test_closest_hit_matches_brute_force(meshes, name):
    vertices, faces = meshes[name]
    origins, directions = random_rays(vertices, np.random.default_rng(3))
    t, index, u, v = raysynth.RayCaster(vertices, faces).intersect_closest(origins, directions)
    assert t.dtype == np.float32 and index.dtype == np.int32 and t.shape == index.shape == (len(origins),)
    assert 0.2 < (index >= 0).mean() < 0.95   # both hits and misses are exercised
    assert ((t > 0) == (index >= 0)).all() and (t[index < 0] == -1).all()
    check_closest(vertices, faces, origins, directions, t, index)
    # u, v are the barycentrics of the hit triangle: they rebuild the hit point
    hit = index >= 0
    tri = vertices[faces[index[hit]]]
    point = tri[:, 0] + u[hit, None] * (tri[:, 1] - tri[:, 0]) + v[hit, None] * (tri[:, 2] - tri[:, 0])
    np.testing.assert_allclose(point, origins[hit] + t[hit, None] * directions[hit], atol=2e-5)


def vertex_normals(vertices, faces):
    """(n, 3) unit area-weighted vertex normals (outward for these closed, outward-wound meshes)."""
    n = np.cross(vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]])
    out = np.zeros_like(vertices)
    for corner in range(3):
        np.add.at(out, faces[:, corner], n)
    return _unit(out)


@pytest.mark.parametrize("name", ["torus", "icosphere"])
def test_rays_through_vertices_and_edges_hit(meshes, name):
    """Grazing rays, aimed from outside exactly at every vertex and edge midpoint of a closed
    mesh (the float32 ray passes through the float32 point): each must hit the surface at that
    point (t = 1) or before it, never slip through the shared edges to the far side."""
    vertices, faces = meshes[name]
    rng = np.random.default_rng(7)
    normals = vertex_normals(vertices, faces)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    targets = np.concatenate([vertices, vertices[edges].mean(axis=1)]).astype(np.float32)
    outward = np.concatenate([normals, _unit(normals[edges].sum(axis=1))])
    caster = raysynth.RayCaster(vertices, faces)
    for _ in range(3):   # from half a unit outside, up to ~30 degrees off the normal
        out = _unit(outward + 0.5 * _unit(rng.normal(size=targets.shape)))
        origins = (targets + 0.5 * out).astype(np.float32)
        directions = targets - origins
        t, index, _, _ = caster.intersect_closest(origins, directions)
        check_closest(vertices, faces, origins, directions, t, index)
        assert (index >= 0).all(), f"{(index < 0).sum()} grazing rays missed"
        late = t > 1 + 1e-5
        assert not late.any(), f"{late.sum()} of {len(t)} grazing rays slipped through to the far side"


def test_any_hit_agrees_with_closest_hit(meshes):
    vertices, faces = meshes["torus"]
    origins, directions = random_rays(vertices, np.random.default_rng(11))
    caster = raysynth.RayCaster(vertices, faces)
    t, index, _, _ = caster.intersect_closest(origins, directions)
    t_max = np.random.default_rng(12).uniform(0.0, 3.0, len(origins)).astype(np.float32) * np.abs(t).max()
    hit_any = caster.intersect_any(origins, directions, t_max=t_max)
    t_c, index_c, _, _ = caster.intersect_closest(origins, directions, t_max=t_max)
    assert ((index_c >= 0) == hit_any).all()
    assert ((index_c >= 0) == ((index >= 0) & (t < t_max))).all()
    np.testing.assert_array_equal(t_c[index_c >= 0], t[index_c >= 0])


def test_results_do_not_depend_on_threads(meshes):
    vertices, faces = meshes["icosphere"]
    origins, directions = random_rays(vertices, np.random.default_rng(5), n=2000)
    caster = raysynth.RayCaster(vertices, faces)
    one = caster.intersect_closest(origins, directions, threads=1)
    two = caster.intersect_closest(origins, directions, threads=2)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_wide_records_are_filled():
    """The renderer's widening opens interior children and, while a record has room, leaf-only
    subtrees: every record holds at least two children, and on a 9k-triangle torus 4.69 on
    average (3.88 when leaf-only subtrees were never opened; a visit tests all WIDTH lanes at
    once, so empty lanes are wasted work)."""
    from raysynth.accel.layout import WIDE_LINKS
    from raysynth.compile import triangle_scene_arrays

    torus = P.torus(major=1.0, minor=0.35, segments=96, sides=48)
    arrays, _ = triangle_scene_arrays(torus.vertices, torus.faces, blocks=False)
    children = (arrays.bvh_links[:, WIDE_LINKS + 1::2] >= 0).sum(axis=1)   # count -1: absent
    assert children.min() >= 2
    assert children.mean() > 4.3


def test_caster_blocks_hold_every_triangle_once():
    """The RayCaster's leaves are blocks of WIDTH rows: a leaf link points at a block's first
    row with 1..WIDTH - 1 triangles, each triangle of the mesh sits in exactly one used lane,
    with its corners component by component, and unused lanes map to no triangle."""
    from raysynth.accel.layout import WIDE_LINKS, WIDTH

    torus = P.torus(major=1.0, minor=0.35, segments=96, sides=48)
    caster = raysynth.RayCaster(torus.vertices, torus.faces)
    links = caster.arrays.bvh_links[:, WIDE_LINKS:]
    offsets, counts = links[:, 0::2], links[:, 1::2]
    leaf = counts > 0
    assert (offsets[leaf] % WIDTH == 0).all() and counts.max() <= WIDTH - 1
    assert counts[leaf].mean() > 3.0    # leaves of several triangles: one vector test each
    rows = (offsets[leaf][:, None] + np.arange(WIDTH)[None, :])[np.arange(WIDTH)[None, :] < counts[leaf][:, None]]
    assert len(np.unique(rows)) == len(rows) == len(torus.faces)
    used = np.zeros(len(caster.triangle_of_row), bool)
    used[rows] = True
    assert (caster.triangle_of_row[~used] == -1).all()
    assert np.array_equal(np.sort(caster.triangle_of_row[used]), np.arange(len(torus.faces)))
    blocks = caster.arrays.tri_geom.reshape(-1, 9, WIDTH)              # block, component, lane
    corners = np.asarray(torus.vertices, np.float32)[np.asarray(torus.faces)].reshape(-1, 9)
    block, lane = rows // WIDTH, rows % WIDTH
    np.testing.assert_array_equal(blocks[block, :, lane], corners[caster.triangle_of_row[rows]])


@pytest.mark.parametrize("any_hit", [False, True])
def test_triangle_launcher_returns_the_general_launchers_hits(meshes, any_hit):
    """RayCaster tests a leaf's triangles as one vector test on its blocks; the general
    launcher, on the renderer's layout of the same mesh (other leaves), one primitive at a
    time through prim_order and prim_info: the same hits, triangle for triangle (ties too)."""
    from raysynth.backends.cpu import cast_rays
    from raysynth.compile import triangle_scene_arrays

    vertices, faces = meshes["torus"]
    origins, directions = random_rays(vertices, np.random.default_rng(17), n=1500)
    caster = raysynth.RayCaster(vertices, faces)
    arrays, triangle_of_row = triangle_scene_arrays(vertices, faces, blocks=False)
    t, row, _, u, v = cast_rays(arrays, origins, directions, any_hit=any_hit)
    index = np.where(row >= 0, triangle_of_row[np.maximum(row, 0)], row)
    if any_hit:
        np.testing.assert_array_equal(index >= 0, caster.intersect_any(origins, directions))
        return
    assert (index >= 0).mean() > 0.2
    for a, b in zip((t, index, u, v), caster.intersect_closest(origins, directions)):
        np.testing.assert_array_equal(a, b)


def test_distances_equal_the_renderers_hits(meshes):
    """The renderer's distance layer (pixel-centre ray, world units) is RayCaster's t along
    the same rays, wherever the renderer saw the mesh."""
    vertices, faces = meshes["torus"]
    w, h, f = 40, 30, 30.0
    scene = {"camera": {"position": [0.3, -0.2, 3.0], "look_at": [0, 0, 0], "up": [0, 1, 0], "width": w, "height": h,
                        "intrinsics": {"fx": f, "fy": f, "cx": w / 2, "cy": h / 2}},
             "render": {"spp": 1, "max_depth": 1},
             "objects": [{"type": "mesh", "vertices": vertices.tolist(), "faces": faces.tolist(),
                          "transform": {"rotate": [60, 0, 0]}}]}
    layers = raysynth.render(scene, labels=False)
    seen = layers["instance"] > 0
    assert 0.2 < seen.mean() < 0.9
    # world-space mesh and pixel-centre rays (camera looks down -z of its own frame)
    rx = np.deg2rad(60.0)
    rot = np.array([[1, 0, 0], [0, np.cos(rx), -np.sin(rx)], [0, np.sin(rx), np.cos(rx)]])
    world = vertices @ rot.T
    pos = np.array([0.3, -0.2, 3.0])
    forward = _unit(-pos)
    right = _unit(np.cross(forward, [0, 1, 0]))
    up = np.cross(right, forward)
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    cam = np.stack([(xs - w / 2) / f, -(ys - h / 2) / f, np.ones_like(xs)], -1)
    directions = _unit(cam[..., :1] * right + cam[..., 1:2] * up + cam[..., 2:] * forward).reshape(-1, 3)
    origins = np.broadcast_to(pos, directions.shape)
    t, index, _, _ = raysynth.RayCaster(world, faces).intersect_closest(origins, directions)
    t, index = t.reshape(h, w), index.reshape(h, w)
    both = seen & (index >= 0)
    assert both.sum() >= 0.98 * seen.sum()   # only silhouette pixels may flip (float32 rays)
    np.testing.assert_allclose(layers["distance"][both], t[both], rtol=1e-4)


def test_bad_input_is_one_clear_error():
    v = np.zeros((3, 3))
    with pytest.raises(RaysynthError, match="faces index"):
        raysynth.RayCaster(v, [[0, 1, 3]])
    caster = raysynth.RayCaster([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]])
    with pytest.raises(RaysynthError, match=r"shape \(n, 3\)"):
        caster.intersect_closest(np.zeros((4, 2)), np.zeros((4, 2)))
