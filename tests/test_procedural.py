"""Procedural meshes (raysynth.assets.procedural) and their scene-file hookup.

Truths checked independently of the generators: topology after merging equal positions (every
edge in exactly two triangles, each directed edge once, Euler characteristic 2 - 2 genus),
trimesh's watertightness and signed volume against closed-form volumes (exact for prisms,
pyramids and Platonic solids; converging with resolution for curved shapes), normals against the
face normals and the analytic surface normals, the documented bounds, determinism, and a tiny
render whose centre depth matches the geometry.
"""
from __future__ import annotations

import inspect
import math
import typing

import numpy as np
import pytest
import trimesh

import raysynth
from raysynth.assets import procedural as P
from raysynth.assets.mesh_io import Mesh
from raysynth.errors import SceneError
from raysynth.spec import scene as S
from raysynth.spec.load import parse_scene

# kind -> (small parameters for fast tests, genus)
CLOSED = {
    "icosphere": ({"subdivisions": 2}, 0),
    "uv_sphere": ({"segments": 12, "rings": 7}, 0),
    "torus": ({"segments": 16, "sides": 9}, 1),
    "cylinder": ({"segments": 11, "stacks": 3}, 0),
    "cone": ({"segments": 13, "stacks": 2}, 0),
    "capsule": ({"segments": 10, "rings": 3}, 0),
    "torus_knot": ({"segments": 90, "sides": 7}, 1),
    "blob": ({"subdivisions": 2, "seed": 5}, 0),
    "tetrahedron": ({}, 0),
    "cube": ({}, 0),
    "octahedron": ({}, 0),
    "dodecahedron": ({}, 0),
    "icosahedron": ({}, 0),
}
PLATONIC = ("tetrahedron", "cube", "octahedron", "dodecahedron", "icosahedron")


def weld(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices whose positions agree to 1e-9; returns (unique positions, faces)."""
    key = np.round(vertices, 9) + 0.0
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    return uniq, inv.reshape(-1)[faces]


def face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = vertices[faces]
    return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])


def tm_volume(mesh: P.ProceduralMesh) -> float:
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=True)
    assert tm.is_watertight and tm.is_winding_consistent
    return float(tm.volume)


# --------------------------------------------------------------------------- topology
@pytest.mark.parametrize("kind", CLOSED)
def test_closed_meshes_are_closed_oriented_manifolds(kind):
    params, genus = CLOSED[kind]
    mesh = P.make(kind, **params)
    v, f = weld(mesh.vertices, mesh.faces)
    # no triangle collapses when equal positions merge (no degenerate triangles)
    assert (f[:, 0] != f[:, 1]).all() and (f[:, 1] != f[:, 2]).all() and (f[:, 2] != f[:, 0]).all()
    assert (np.linalg.norm(face_normals(v, f), axis=1) > 1e-12).all()
    directed = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    # consistent orientation: each directed edge once, and its reverse exists
    d_uniq, d_count = np.unique(directed, axis=0, return_counts=True)
    assert (d_count == 1).all(), f"{kind}: a directed edge is used twice (flipped or non-manifold)"
    undirected, u_count = np.unique(np.sort(directed, axis=1), axis=0, return_counts=True)
    assert (u_count == 2).all(), f"{kind}: edges not shared by exactly two triangles"
    euler = len(np.unique(f)) - len(undirected) + len(f)
    assert len(np.unique(f)) == len(v)
    assert euler == 2 - 2 * genus, f"{kind}: V - E + F = {euler}"


@pytest.mark.parametrize("kind", CLOSED)
def test_trimesh_agrees_watertight_outward(kind):
    params, genus = CLOSED[kind]
    mesh = P.make(kind, **params)
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=True)
    assert tm.is_watertight and tm.is_winding_consistent
    assert tm.volume > 0, f"{kind}: negative volume (inward winding)"
    assert tm.euler_number == 2 - 2 * genus


def test_open_shapes_are_open_where_documented():
    for mesh, boundary_loops in ((P.cylinder(segments=8, caps=False), 2), (P.cone(segments=8, cap=False), 1)):
        tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=True)
        assert not tm.is_watertight
        v, f = weld(mesh.vertices, mesh.faces)
        edges, count = np.unique(np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1),
                                 axis=0, return_counts=True)
        assert (count[count != 2] == 1).all() and (count == 1).sum() == 8 * boundary_loops


def test_terrain_is_an_upward_grid():
    res, height = 9, 0.4
    mesh = P.terrain(resolution=res, height=height, seed=3)
    assert mesh.n_vertices == (res + 1) ** 2 and mesh.n_faces == 2 * res * res
    v, f = mesh.vertices, mesh.faces
    edges, count = np.unique(np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1),
                             axis=0, return_counts=True)
    assert (count <= 2).all() and (count == 1).sum() == 4 * res  # the square's border
    assert len(v) - len(edges) + len(f) == 1  # a disk
    np.testing.assert_allclose(np.sort(np.unique(v[:, 0])), np.linspace(-1, 1, res + 1), atol=1e-12)
    assert np.abs(v[:, 2]).max() <= height and np.ptp(v[:, 2]) > 0.05
    assert (face_normals(v, f)[:, 2] > 0).all(), "terrain front must face +z"
    assert (mesh.normals[:, 2] > 0).all()
    # heights follow the documented formula
    expect = height * P.noise3(np.column_stack([1.5 * v[:, :2], np.zeros(len(v))]), 3, 4)
    np.testing.assert_allclose(v[:, 2], expect, atol=1e-15)
    flat = P.terrain(resolution=4, height=0.0)
    assert (flat.vertices[:, 2] == 0).all() and np.allclose(flat.normals, [0, 0, 1])


# --------------------------------------------------------------------------- volumes
def _converges(errors: list[float], final: float) -> None:
    """Relative volume errors at doubling resolutions shrink at second order (about 4x per step)."""
    errs = np.abs(errors)
    assert (errs[1:] < 0.35 * errs[:-1]).all(), f"error does not shrink quadratically with resolution: {errs}"
    assert errs[-1] < final, f"final relative error {errs[-1]:.2e} >= {final}"


def test_sphere_volumes_converge_to_four_thirds_pi():
    exact = 4.0 / 3.0 * math.pi
    _converges([tm_volume(P.icosphere(s)) / exact - 1 for s in range(0, 5)], 3e-3)
    _converges([tm_volume(P.uv_sphere(n, n // 2)) / exact - 1 for n in (8, 16, 32, 64, 128)], 3e-3)
    # an inscribed polyhedron is smaller than the sphere
    assert tm_volume(P.icosphere(3)) < exact and tm_volume(P.uv_sphere(40, 20)) < exact


def test_torus_volume_converges_to_two_pi_squared_r_r2():
    R, r = 0.6, 0.25
    exact = 2 * math.pi**2 * R * r * r
    _converges([tm_volume(P.torus(R, r, 4 * n, 2 * n)) / exact - 1 for n in (4, 8, 16, 32)], 3e-3)


def test_cylinder_and_cone_volumes_are_exact_prisms_and_pyramids():
    r, h = 0.8, 1.7
    for n in (3, 7, 32, 257):
        polygon = 0.5 * n * math.sin(2 * math.pi / n) * r * r  # area of the inscribed n-gon
        assert tm_volume(P.cylinder(r, h, n, stacks=2)) == pytest.approx(polygon * h, rel=1e-12)
        assert tm_volume(P.cone(r, h, n, stacks=3)) == pytest.approx(polygon * h / 3, rel=1e-12)
    _converges([tm_volume(P.cylinder(r, h, n)) / (math.pi * r * r * h) - 1 for n in (8, 32, 128)], 1e-3)
    _converges([tm_volume(P.cone(r, h, n)) / (math.pi * r * r * h / 3) - 1 for n in (8, 32, 128)], 1e-3)


def test_capsule_volume_converges():
    r, h = 0.4, 1.9
    exact = math.pi * r * r * (h - 2 * r) + 4 / 3 * math.pi * r**3
    _converges([tm_volume(P.capsule(r, h, 4 * n, n)) / exact - 1 for n in (2, 4, 8, 16)], 5e-3)
    sphere = P.capsule(0.5, 1.0, 32, 8)  # height == 2 radius: a sphere
    assert tm_volume(sphere) == pytest.approx(4 / 3 * math.pi * 0.125, rel=0.02)
    assert sphere.n_faces == P.uv_sphere(32, 16).n_faces


def test_torus_knot_volume_is_tube_area_times_curve_length():
    p, q, rho = 2, 3, 0.1
    s = (1 - rho) / 3
    t = np.linspace(0.0, 2 * math.pi, 400001)[:-1]
    # derivative of the documented centre curve, written out independently
    w, dw = 2 + np.cos(q * t), -q * np.sin(q * t)
    dc = s * np.stack([dw * np.cos(p * t) - p * w * np.sin(p * t), dw * np.sin(p * t) + p * w * np.cos(p * t),
                       q * np.cos(q * t)], axis=1)
    length = np.linalg.norm(dc, axis=1).mean() * 2 * math.pi
    exact = math.pi * rho * rho * length  # Pappus for a tube thinner than its curvature radius
    _converges([tm_volume(P.torus_knot(p, q, rho, 32 * n, 4 * n)) / exact - 1 for n in (2, 4, 8, 16)], 3e-3)


def test_blob_volume_matches_the_integral_of_its_radius():
    amp, freq, seed, octaves = 0.35, 2.0, 11, 2
    # V = integral over directions of r^3 / 3, by midpoint quadrature in (theta, phi)
    nt, nphi = 600, 1200
    th = (np.arange(nt) + 0.5) * math.pi / nt
    ph = (np.arange(nphi) + 0.5) * 2 * math.pi / nphi
    T, F = np.meshgrid(th, ph, indexing="ij")
    d = np.stack([np.sin(T) * np.cos(F), np.sin(T) * np.sin(F), np.cos(T)], -1).reshape(-1, 3)
    r = (1 + amp * P.noise3(freq * d, seed, octaves)) / (1 + amp)
    exact = float((r**3 / 3 * np.sin(T).reshape(-1)).sum() * (math.pi / nt) * (2 * math.pi / nphi))
    errs = [tm_volume(P.blob(amp, freq, seed, octaves, s)) / exact - 1 for s in (2, 3, 4, 5)]
    _converges(errs, 2e-3)
    mesh = P.blob(amp, freq, seed, octaves, 3)
    radii = np.linalg.norm(mesh.vertices, axis=1)
    assert radii.max() <= 1 and radii.min() >= (1 - amp) / (1 + amp)
    assert np.ptp(radii) > 0.1, "blob is not lumpy"


@pytest.mark.parametrize("kind", PLATONIC)
def test_platonic_solids(kind):
    sqrt3, sqrt5 = math.sqrt(3), math.sqrt(5)
    # (polygons, corners per polygon, distinct vertices, edge length, volume) for circumradius 1
    a_dod = 4 / (sqrt3 * (1 + sqrt5))
    a_ico = 1 / math.sin(2 * math.pi / 5)
    table = {
        "tetrahedron": (4, 3, 4, math.sqrt(8 / 3), 8 * sqrt3 / 27),
        "cube": (6, 4, 8, 2 / sqrt3, 8 / (3 * sqrt3)),
        "octahedron": (8, 3, 6, math.sqrt(2), 4 / 3),
        "dodecahedron": (12, 5, 20, a_dod, (15 + 7 * sqrt5) / 4 * a_dod**3),
        "icosahedron": (20, 3, 12, a_ico, 5 * (3 + sqrt5) / 12 * a_ico**3),
    }
    n_poly, k, n_vert, edge, volume = table[kind]
    mesh = P.make(kind)
    assert mesh.n_faces == n_poly * (k - 2) and mesh.n_vertices == n_poly * k  # split per face
    np.testing.assert_allclose(np.linalg.norm(mesh.vertices, axis=1), 1.0, atol=1e-12)
    v, f = weld(mesh.vertices, mesh.faces)
    assert len(v) == n_vert
    tri = mesh.vertices[mesh.faces]
    lengths = np.linalg.norm(tri[:, [1, 2, 0]] - tri, axis=2).reshape(-1)
    assert lengths.min() == pytest.approx(edge, rel=1e-12)  # the shortest chords are the edges
    if k == 3:
        np.testing.assert_allclose(lengths, edge, rtol=1e-12)
    assert tm_volume(mesh) == pytest.approx(volume, rel=1e-9)
    # flat shading: each corner's normal is its triangle's unit normal
    fn = face_normals(mesh.vertices, mesh.faces)
    fn /= np.linalg.norm(fn, axis=1, keepdims=True)
    for c in range(3):
        np.testing.assert_allclose(mesh.normals[mesh.faces[:, c]], fn, atol=1e-12)
    # all triangles of one polygon are coplanar: n_poly distinct face normals
    assert len(np.unique(np.round(fn, 9), axis=0)) == n_poly


# --------------------------------------------------------------------------- normals, bounds, attributes
ALL_SMALL = {**{k: p for k, (p, _) in CLOSED.items()}, "terrain": {"resolution": 12}}


@pytest.mark.parametrize("kind", ALL_SMALL)
def test_normals_point_outward(kind):
    mesh = P.make(kind, **ALL_SMALL[kind])
    np.testing.assert_allclose(np.linalg.norm(mesh.normals, axis=1), 1.0, atol=1e-12)
    fn = face_normals(mesh.vertices, mesh.faces)
    fn /= np.linalg.norm(fn, axis=1, keepdims=True)
    for c in range(3):
        dots = np.einsum("ij,ij->i", mesh.normals[mesh.faces[:, c]], fn)
        assert dots.min() > 0, f"{kind}: a vertex normal faces away from its triangle ({dots.min():.3f})"


def test_analytic_normals():
    for mesh in (P.icosphere(2), P.uv_sphere(10, 6)):
        np.testing.assert_allclose(mesh.normals, mesh.vertices, atol=1e-12)
    R, r = 0.65, 0.2
    mesh = P.torus(R, r, 12, 8)
    ring = mesh.vertices.copy()
    ring[:, 2] = 0
    ring = R * ring / np.linalg.norm(ring, axis=1, keepdims=True)  # nearest point on the centre circle
    np.testing.assert_allclose(mesh.normals, (mesh.vertices - ring) / r, atol=1e-12)
    mesh = P.cone(0.5, 2.0, 16)
    side = np.abs(mesh.normals[:, 2] + 1) > 1e-9  # not the base cap
    # the side normals are perpendicular to the slant line from the apex to the base rim
    rad = mesh.normals[side, :2]
    rad /= np.linalg.norm(rad, axis=1, keepdims=True)
    slant = np.column_stack([0.5 * rad, np.full(len(rad), -2.0)])
    np.testing.assert_allclose(np.einsum("ij,ij->i", mesh.normals[side], slant), 0.0, atol=1e-12)
    # every side normal (the split apex vertices included) points at the azimuth u * 2 pi
    turns = mesh.uvs[side, 0] - np.arctan2(rad[:, 1], rad[:, 0]) / (2 * math.pi)
    np.testing.assert_allclose(turns, np.round(turns), atol=1e-9)
    assert (mesh.vertices[side, 2] == 1.0).sum() == 16  # one apex vertex per side triangle
    mesh = P.torus_knot(segments=64, sides=8)  # tube normals: offset of each vertex from the curve
    off = mesh.vertices - (mesh.vertices - 0.12 * mesh.normals)
    np.testing.assert_allclose(np.linalg.norm(off, axis=1), 0.12, atol=1e-12)


@pytest.mark.parametrize("kind", P.GENERATORS)
def test_defaults_fit_the_unit_cube_and_types(kind):
    mesh = P.make(kind)
    assert isinstance(mesh, P.ProceduralMesh) and mesh.kind == kind
    assert mesh.vertices.dtype == np.float64 and mesh.vertices.shape == (mesh.n_vertices, 3)
    assert mesh.faces.dtype == np.int64 and mesh.faces.shape == (mesh.n_faces, 3)
    assert mesh.normals.dtype == np.float64 and mesh.normals.shape == mesh.vertices.shape
    assert mesh.uvs.dtype == np.float64 and mesh.uvs.shape == (mesh.n_vertices, 2)
    assert np.abs(mesh.vertices).max() <= 1.0 + 1e-12
    assert np.abs(mesh.vertices).max() > 0.5  # not needlessly small
    assert np.allclose(mesh.vertices.mean(axis=0), 0.0, atol=0.35)  # roughly centred
    assert mesh.uvs.min() >= 0.0 and mesh.uvs[:, 1].max() <= 1.0
    # u continues past 1 on icosphere triangles that straddle the seam (documented)
    assert mesh.uvs[:, 0].max() <= (1.5 if kind in ("icosphere", "blob") else 1.0)
    assert mesh.faces.min() >= 0 and mesh.faces.max() < mesh.n_vertices
    assert len(np.unique(mesh.faces)) == mesh.n_vertices, "unused vertices"
    assert not mesh.vertices.flags.writeable
    converted = mesh.to_mesh()
    assert isinstance(converted, Mesh)
    assert converted.vertices.dtype == np.float32 and converted.faces.dtype == np.int32
    assert converted.uvs is not None and converted.normals is not None
    assert converted.group_names == (kind,)
    np.testing.assert_array_equal(converted.faces, mesh.faces)


def test_symmetric_shapes_are_centred():
    for mesh in (P.icosphere(2), P.uv_sphere(), P.torus(), P.cylinder(), P.capsule(), P.cube(),
                 P.octahedron(), P.dodecahedron(), P.icosahedron()):
        lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
        np.testing.assert_allclose(lo, -hi, atol=1e-12)
    lo, hi = P.cone(0.5, 1.5).vertices.min(axis=0), P.cone(0.5, 1.5).vertices.max(axis=0)
    assert lo[2] == -0.75 and hi[2] == 0.75


def test_uv_seams_are_split_not_wrapped():
    """No triangle's u spans more than half the texture (the seam is split, not wrapped back)."""
    for mesh in (P.icosphere(3), P.uv_sphere(), P.torus(), P.cylinder(caps=False), P.cone(cap=False),
                 P.capsule(), P.blob(subdivisions=3), P.torus_knot(segments=64)):
        u = mesh.uvs[mesh.faces, 0]
        assert (np.ptp(u, axis=1) < 0.25).all(), mesh.kind
        # u follows the azimuth (or the curve parameter) up to whole turns
        if mesh.kind != "torus_knot":
            v = mesh.vertices
            off_axis = np.hypot(v[:, 0], v[:, 1]) > 1e-9
            az = np.arctan2(v[off_axis, 1], v[off_axis, 0]) / (2 * math.pi)
            turns = mesh.uvs[off_axis, 0] - az
            np.testing.assert_allclose(turns, np.round(turns), atol=1e-9)


def test_counts_follow_the_documented_formulas():
    for s in range(4):
        assert P.icosphere(s).n_faces == 20 * 4**s
    assert P.uv_sphere(9, 5).n_faces == 2 * 9 * 4
    assert P.torus(segments=7, sides=5).n_faces == 2 * 7 * 5
    assert P.cylinder(segments=6, stacks=2).n_faces == 6 * 4 + 2 * 6
    assert P.cylinder(segments=6, stacks=2, caps=False).n_faces == 6 * 4


# --------------------------------------------------------------------------- determinism and noise
@pytest.mark.parametrize("kind", P.GENERATORS)
def test_deterministic(kind):
    a, b = P.make(kind, **ALL_SMALL.get(kind, {})), P.make(kind, **ALL_SMALL.get(kind, {}))
    for name in ("vertices", "faces", "normals", "uvs"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), name


def test_seed_changes_noise_shapes():
    assert not np.array_equal(P.blob(seed=1, subdivisions=2).vertices, P.blob(seed=2, subdivisions=2).vertices)
    assert not np.array_equal(P.terrain(seed=1, resolution=8).vertices, P.terrain(seed=2, resolution=8).vertices)


def test_noise3_is_bounded_smooth_and_seeded():
    rng = np.random.default_rng(0)
    pts = rng.uniform(-20, 20, size=(20000, 3))
    for octaves in (1, 3, 8):
        n = P.noise3(pts, seed=7, octaves=octaves)
        assert n.min() >= -1 and n.max() <= 1
        assert n.std() > 0.1 and abs(n.mean()) < 0.05
    # smooth: a tiny step changes the value by at most (gradient bound) * step; octave o has
    # frequency 2**o and each value-noise octave has gradient < 2 * 1.875 * sqrt(3)
    h = 1e-6
    step = rng.normal(size=pts.shape)
    step = h * step / np.linalg.norm(step, axis=1, keepdims=True)
    diff = np.abs(P.noise3(pts + step, 7, 3) - P.noise3(pts, 7, 3))
    bound = 2 * 1.875 * math.sqrt(3) * sum(0.5**o * 2**o for o in range(3)) / sum(0.5**o for o in range(3))
    assert diff.max() <= bound * h * 1.01
    # continuous with a continuous gradient across lattice cell faces (x integer): the one-sided
    # difference quotients on both sides agree (a trilinear blend would have a kink there)
    face = np.column_stack([rng.integers(-5, 5, 200).astype(float), rng.uniform(-5, 5, (200, 2))])
    ex = np.array([1.0, 0.0, 0.0])
    h = 1e-5
    left = (P.noise3(face, 1) - P.noise3(face - h * ex, 1)) / h
    right = (P.noise3(face + h * ex, 1) - P.noise3(face, 1)) / h
    assert np.abs(left - right).max() < 1e-3
    # ... and so does the second derivative (C2; a cubic smoothstep would jump by 12 * value steps)
    h = 1e-4
    left2 = (P.noise3(face, 1) - 2 * P.noise3(face - h * ex, 1) + P.noise3(face - 2 * h * ex, 1)) / h**2
    right2 = (P.noise3(face + 2 * h * ex, 1) - 2 * P.noise3(face + h * ex, 1) + P.noise3(face, 1)) / h**2
    assert np.abs(left2 - right2).max() < 0.05
    inside = face + 0.37 * ex  # sanity: the noise does vary along x inside the cells
    assert np.abs((P.noise3(inside + h * ex, 1) - P.noise3(inside, 1)) / h).max() > 0.1
    assert not np.allclose(P.noise3(pts[:100], 1), P.noise3(pts[:100], 2))
    assert P.noise3([0.3, 0.2, 0.1], 4) == P.noise3(np.array([[0.3, 0.2, 0.1]]), 4)[0]


# --------------------------------------------------------------------------- bad parameters
@pytest.mark.parametrize("call, words", [
    (lambda: P.icosphere(-1), "subdivisions"),
    (lambda: P.icosphere(1.5), "subdivisions"),
    (lambda: P.icosphere(True), "subdivisions"),
    (lambda: P.uv_sphere(2, 4), "segments"),
    (lambda: P.uv_sphere(8, 1), "rings"),
    (lambda: P.torus(0.3, 0.5), "minor"),
    (lambda: P.torus(float("nan"), 0.1), "major"),
    (lambda: P.cylinder(radius=-1), "radius"),
    (lambda: P.cylinder(caps="yes"), "caps"),
    (lambda: P.cone(height=0), "height"),
    (lambda: P.capsule(0.6, 1.0), "height"),
    (lambda: P.torus_knot(2, 4), "coprime"),
    (lambda: P.torus_knot(radius=0.5), "radius"),
    (lambda: P.blob(amplitude=1.0), "amplitude"),
    (lambda: P.blob(seed=-1), "seed"),
    (lambda: P.terrain(resolution=0), "resolution"),
    (lambda: P.make("pyramid"), "unknown procedural mesh kind 'pyramid'"),
    (lambda: P.make("torus", radius=1.0), "unknown parameter(s) radius"),
    (lambda: P.make("cube", size=2), "unknown parameter(s) size"),
])
def test_bad_parameters_raise_one_line_value_errors(call, words):
    with pytest.raises(ValueError) as info:
        call()
    msg = str(info.value)
    assert words in msg and "\n" not in msg


# --------------------------------------------------------------------------- scene files
def _procedural_kinds() -> dict[str, type]:
    (union, *_) = typing.get_args(S.Procedural)
    return {m.model_fields["kind"].default: m for m in typing.get_args(union)}


def test_scene_models_match_the_generators():
    models = _procedural_kinds()
    assert set(models) == set(P.GENERATORS)
    for kind, model in models.items():
        sig = inspect.signature(P.GENERATORS[kind]).parameters
        fields = {k: f for k, f in model.model_fields.items() if k != "kind"}
        assert set(fields) == set(sig), kind
        for name, f in fields.items():
            assert f.default == sig[name].default, f"{kind}.{name}: scene default {f.default} != {sig[name].default}"
            assert f.description, f"{kind}.{name} has no description"
        assert model.model_config.get("extra") == "forbid"


def scene(procedural: dict, **mesh) -> dict:
    return {
        "camera": {"position": [0, 0, 5], "look_at": [0, 0, 0], "width": 16, "height": 12, "fov": 30},
        "render": {"spp": 1},
        "objects": [{"type": "mesh", "label": "thing", "procedural": procedural, **mesh}],
        "lights": [{"type": "environment"}],
    }


def test_procedural_scene_renders_with_the_object_visible():
    layers = raysynth.render(scene({"kind": "icosphere", "subdivisions": 5}))
    inst, depth = layers["instance"], layers["depth"]
    assert inst.shape == (12, 16)
    assert (inst == 1).sum() >= 20 and (inst == 0).any()
    # the camera looks straight at the north-pole vertex (0, 0, 1): centre depth ~ 5 - 1
    centre = depth[5:7, 7:9]
    assert np.all(np.abs(centre - 4.0) < 0.01), centre
    # object-space bounds recorded from the generated mesh
    bounds = np.asarray(layers["meta"]["objects"][0]["bounds_object"])
    np.testing.assert_allclose(bounds, [[-1, -1, -1], [1, 1, 1]], atol=1e-6)


def test_procedural_torus_hole_is_empty():
    # a torus seen along its axis: the hole in the middle shows the background
    layers = raysynth.render(scene({"kind": "torus", "major": 0.7, "minor": 0.3}))
    inst = layers["instance"]
    assert inst[5:7, 7:9].max() == 0 and (inst == 1).sum() >= 20


def test_scene_accepts_every_kind_with_defaults():
    for kind in P.GENERATORS:
        parsed = parse_scene(scene({"kind": kind}))
        assert parsed.objects[0].procedural.kind == kind


@pytest.mark.parametrize("procedural, extra, words", [
    ({"kind": "icosphere", "subdivisions": -1}, {}, ["subdivisions", "greater than or equal to 0"]),
    ({"kind": "pyramid"}, {}, ["procedural", "unknown type 'pyramid'", "icosphere"]),
    ({"kind": "torus", "radius": 1}, {}, ["radius", "unknown field"]),
    ({"kind": "torus", "major": 0.2, "minor": 0.5}, {}, ["minor must be < major"]),
    ({"kind": "capsule", "radius": 1.2}, {}, ["height must be >= 2 * radius"]),
    ({"kind": "torus_knot", "p": 2, "q": 4}, {}, ["coprime"]),
    ({"kind": "blob", "amplitude": 1.5}, {}, ["amplitude"]),
    ({"kind": "torus"}, {"file": "x.obj"}, ["give only one of", "file, procedural"]),
    ({"kind": "torus"}, {"vertices": [[0, 0, 0]], "faces": [[0, 0, 0]]}, ["vertices/faces, procedural"]),
])
def test_bad_procedural_scenes_give_one_line_errors(procedural, extra, words):
    with pytest.raises(SceneError) as info:
        parse_scene(scene(procedural, **extra), "s.json")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("s.json: objects[0]")
    for w in words:
        assert w in msg, msg


def test_mesh_without_any_source_names_procedural():
    data = scene({"kind": "torus"})
    del data["objects"][0]["procedural"]
    with pytest.raises(SceneError, match="`procedural`"):
        parse_scene(data)


def test_bundled_demo_has_a_procedural_mesh(scenes_dir):
    import json

    data = json.loads((scenes_dir / "mesh_demo.json").read_text())
    kinds = [o["procedural"]["kind"] for o in data["objects"] if "procedural" in o]
    assert kinds == ["torus"]
    parse_scene(data)
