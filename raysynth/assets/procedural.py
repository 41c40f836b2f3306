"""Procedural triangle meshes: spheres, tori, cylinders, cones, capsules, torus knots, noise blobs,
height-field terrain and the five Platonic solids.

Pure NumPy and deterministic: the same parameters always give bit-identical arrays (the noise is
an integer hash of lattice coordinates and the seed, not a random-number stream).

Conventions (every generator)
-----------------------------
- Object space, centred at the origin; with the default parameters the mesh fits in the cube
  ``[-1, 1]^3`` (unit "radius"), so that scene transforms scale it.
- Axis of symmetry (cylinder, cone, capsule, torus, torus knot, sphere poles) and terrain "up"
  are **+z**, like the scene's analytic ``cylinder``, ``quad`` and ``disk``.
- Faces are counter-clockwise seen from outside: face normals point out of closed meshes (up,
  +z, for the terrain).
- Results are :class:`ProceduralMesh` records: ``vertices`` float64 (n, 3), ``faces`` int64
  (m, 3), unit outward ``normals`` float64 (n, 3) and texture coordinates ``uvs`` float64 (n, 2)
  in ``[0, 1]`` (``u`` around the axis, ``v`` up the axis; on ``icosphere`` and ``blob``
  triangles that straddle the seam ``u`` runs on past 1, below 1.5, for wrap-around sampling).
  :meth:`ProceduralMesh.to_mesh` converts to the renderer's
  :class:`~raysynth.assets.mesh_io.Mesh` (float32 / int32).
- Vertices are split where the texture coordinates or the normals are discontinuous: the ``u``
  seam (``u = 0`` and ``u = 1`` at angle 0), the poles (one vertex per adjacent triangle, each
  with its own ``u``), the rims of cylinder and cone caps, and every corner of the flat-shaded
  Platonic solids (each polygon has its own vertices, normals equal to the polygon normal).
  Merging equal positions gives a closed 2-manifold for every closed kind (all but ``terrain``
  and an uncapped ``cylinder`` / ``cone``); the split copies have bit-identical positions.

Use :func:`make` (``make("torus", major=0.6, minor=0.2)``) to build any kind by name; the names
are the keys of :data:`GENERATORS` and the ``kind`` values of the scene file's
``procedural`` meshes.
"""
from __future__ import annotations

import inspect
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from .mesh_io import Mesh, mesh_from_arrays

__all__ = [
    "GENERATORS",
    "ProceduralMesh",
    "blob",
    "capsule",
    "cone",
    "cube",
    "cylinder",
    "dodecahedron",
    "icosahedron",
    "icosphere",
    "make",
    "noise3",
    "octahedron",
    "tetrahedron",
    "terrain",
    "torus",
    "torus_knot",
    "uv_sphere",
]

_TAU = 2.0 * math.pi


# --------------------------------------------------------------------------------------
# result type
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ProceduralMesh:
    """A generated triangle mesh (read-only arrays).

    Attributes
    ----------
    kind : str
        Generator name, e.g. ``'torus'`` (a key of :data:`GENERATORS`).
    vertices : numpy.ndarray, shape (n, 3), float64
        Object-space positions.
    faces : numpy.ndarray, shape (m, 3), int64
        Triangle vertex indices, counter-clockwise seen from outside (the front).
    normals : numpy.ndarray, shape (n, 3), float64
        Unit outward vertex normals (the analytic surface normal where there is one, else the
        area-weighted mean of the adjacent face normals).
    uvs : numpy.ndarray, shape (n, 2), float64
        Texture coordinates in ``[0, 1]`` (``u < 1.5`` for the icosphere and blob, see
        :func:`icosphere`).
    params : Mapping[str, Any]
        Every generator argument, defaults included.
    """

    kind: str
    vertices: np.ndarray
    faces: np.ndarray
    normals: np.ndarray
    uvs: np.ndarray
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_vertices(self) -> int:
        """int: Number of vertices ``n``."""
        return int(self.vertices.shape[0])

    @property
    def n_faces(self) -> int:
        """int: Number of triangles ``m``."""
        return int(self.faces.shape[0])

    def to_mesh(self) -> Mesh:
        """The renderer's :class:`~raysynth.assets.mesh_io.Mesh`: float32 vertices, normals
        and uvs, int32 faces, one group named after ``kind``, source ``'<procedural KIND>'``."""
        return mesh_from_arrays(
            self.vertices, self.faces, normals=self.normals, uvs=self.uvs,
            group_names=(self.kind,), source=f"<procedural {self.kind}>",
        )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"ProceduralMesh({self.kind}({args}): {self.n_vertices} vertices, {self.n_faces} triangles)"


def _result(kind: str, params: Mapping[str, Any], vertices, faces, normals, uvs) -> ProceduralMesh:
    """Pack arrays into a read-only ProceduralMesh (float64 / int64, C-contiguous, unit normals)."""
    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int64)
    n = np.asarray(normals, dtype=np.float64)
    n = np.ascontiguousarray(n / np.linalg.norm(n, axis=1, keepdims=True))
    uv = np.ascontiguousarray(uvs, dtype=np.float64)
    for a in (v, f, n, uv):
        a.flags.writeable = False
    return ProceduralMesh(kind, v, f, n, uv, dict(params))


# --------------------------------------------------------------------------------------
# parameter checks (one-line ValueError messages)
# --------------------------------------------------------------------------------------


def _int(name: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")
    return value


def _float(name: str, value: Any, lo: float | None = None, hi: float | None = None,
           lo_open: bool = False, hi_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo:g}, got {value:g}")
    if hi is not None and (value >= hi if hi_open else value > hi):
        raise ValueError(f"{name} must be {'<' if hi_open else '<='} {hi:g}, got {value:g}")
    return value


_MAX_SEGMENTS = 4096   # segments / rings / stacks / sides / resolution
_MAX_SUBDIVISIONS = 8  # icosphere: 10 * 4**8 + 2 = 655362 vertices
_MAX_OCTAVES = 8
_MAX_SEED = (1 << 63) - 1


# --------------------------------------------------------------------------------------
# noise
# --------------------------------------------------------------------------------------

_M64 = (1 << 64) - 1
_HASH_MUL = tuple(np.uint64(c) for c in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9))


def _lattice_values(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, salt: int) -> np.ndarray:
    """Hash integer lattice points to values in ``[-1, 1)`` (splitmix64 finaliser)."""
    h = (ix.view(np.uint64) * _HASH_MUL[0]) ^ (iy.view(np.uint64) * _HASH_MUL[1]) \
        ^ (iz.view(np.uint64) * _HASH_MUL[2]) ^ np.uint64(salt)
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) * (2.0 / 2.0**53) - 1.0


def _value_noise(p: np.ndarray, salt: int) -> np.ndarray:
    """Value noise at points ``p`` (k, 3): quintic-smoothed trilinear blend of lattice values."""
    cell = np.floor(p)
    f = p - cell
    w = f * f * f * (f * (f * 6.0 - 15.0) + 10.0)  # C2 fade, 0 -> 0, 1 -> 1
    i = cell.astype(np.int64)
    out = np.zeros(p.shape[0])
    for dx in (0, 1):
        wx = w[:, 0] if dx else 1.0 - w[:, 0]
        for dy in (0, 1):
            wy = w[:, 1] if dy else 1.0 - w[:, 1]
            for dz in (0, 1):
                wz = w[:, 2] if dz else 1.0 - w[:, 2]
                out += wx * wy * wz * _lattice_values(i[:, 0] + dx, i[:, 1] + dy, i[:, 2] + dz, salt)
    return out


def noise3(points: Any, seed: int = 0, octaves: int = 1) -> np.ndarray:
    """Smooth deterministic 3D fractal value noise.

    Parameters
    ----------
    points : array_like, shape (k, 3) or (3,)
        Sample positions; the lattice spacing of the first octave is 1.
    seed : int
        Any integer in ``[0, 2**63)``; each seed gives an unrelated field.
    octaves : int
        Number of octaves in ``[1, 8]``; octave ``o`` has frequency ``2**o`` and weight ``0.5**o``.

    Returns
    -------
    numpy.ndarray, shape (k,) (or a float for one point), float64
        Values in ``[-1, 1]`` (the weighted mean of the octaves; each octave is a convex blend
        of lattice values in ``[-1, 1)``), twice continuously differentiable in ``points``.
    """
    seed = _int("seed", seed, 0, _MAX_SEED)
    octaves = _int("octaves", octaves, 1, _MAX_OCTAVES)
    p = np.asarray(points, dtype=np.float64)
    single = p.ndim == 1
    p = np.atleast_2d(p)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points must have shape (k, 3), got {np.shape(points)}")
    total = np.zeros(p.shape[0])
    weight = 0.0
    for o in range(octaves):
        salt = (seed * 0xD6E8FEB86659FD93 + o * 0x632BE59BD9B4E019) & _M64
        a = 0.5**o
        total += a * _value_noise(p * 2.0**o, salt)
        weight += a
    total /= weight
    return float(total[0]) if single else total


# --------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------


def _grid_faces(rows: int, cols: int, offset: int = 0) -> np.ndarray:
    """Triangles of a (rows + 1) x (cols + 1) vertex grid (row-major, ``index = r * (cols + 1) + c``).

    Each cell ``a=(r, c)``, ``d=(r, c+1)``, ``b=(r+1, c)``, ``e=(r+1, c+1)`` gives ``(a, d, e)``
    and ``(a, e, b)``: the front is the side that ``d/dc x d/dr`` points to. Shape (2 rows cols, 3).
    """
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    a = (r * (cols + 1) + c).reshape(-1) + offset
    d, b = a + 1, a + cols + 1
    e = b + 1
    return np.stack([np.stack([a, d, e], 1), np.stack([a, e, b], 1)], 1).reshape(-1, 3)


def _ring(segments: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of ``2 pi j / segments`` for ``j = 0..segments``; the last equals the first
    exactly (the u seam)."""
    phi = _TAU * np.arange(segments + 1) / segments
    cos, sin = np.cos(phi), np.sin(phi)
    cos[-1], sin[-1] = cos[0], sin[0]
    return cos, sin


def _compact(vertices, faces, *attrs):
    """Drop vertices that no face uses; returns (vertices, faces, *attrs) renumbered."""
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.reshape(-1)] = True
    new_index = np.cumsum(used) - 1
    return (vertices[used], new_index[faces], *(a[used] for a in attrs))


def _lathe(r: np.ndarray, z: np.ndarray, nr: np.ndarray, nz: np.ndarray, v: np.ndarray,
           segments: int):
    """Surface of revolution about +z of a profile ordered from bottom to top.

    Parameters
    ----------
    r, z : numpy.ndarray, shape (k,)
        Profile radius (>= 0; only the first and last may be 0, a pole) and height.
    nr, nz : numpy.ndarray, shape (k,)
        Outward profile normal (radial and z parts).
    v : numpy.ndarray, shape (k,)
        Texture coordinate ``v`` of each profile row.
    segments : int
        Divisions around the axis.

    Returns
    -------
    vertices (n, 3), faces (m, 3), normals (n, 3), uvs (n, 2)
        Rows of ``segments + 1`` vertices (``u = j / segments``, seam column duplicated). A pole
        row gets one vertex per adjacent triangle, at ``u = (j + 1/2) / segments``, with the
        normal of that angle; pole rows make one triangle per segment instead of two.
    """
    k = len(r)
    cos, sin = _ring(segments)
    u = np.arange(segments + 1) / segments
    cos = np.tile(cos, (k, 1))
    sin = np.tile(sin, (k, 1))
    uu = np.tile(u, (k, 1))
    for row, shift in ((0, 0.5), (k - 1, -0.5)):  # poles: the angle of the adjacent triangle
        if r[row] == 0.0:
            uu[row] = (np.arange(segments + 1) + shift) / segments
            cos[row], sin[row] = np.cos(_TAU * uu[row]), np.sin(_TAU * uu[row])
    rr, zz = r[:, None], np.broadcast_to(z[:, None], cos.shape)
    verts = np.stack([rr * cos, rr * sin, zz], axis=-1).reshape(-1, 3)
    verts[:, :2][np.repeat(r == 0.0, segments + 1)] = 0.0  # exact poles (also -0.0 -> 0.0)
    norms = np.stack([nr[:, None] * cos, nr[:, None] * sin,
                      np.broadcast_to(nz[:, None], cos.shape)], axis=-1).reshape(-1, 3)
    uvs = np.stack([uu, np.broadcast_to(v[:, None], uu.shape)], axis=-1).reshape(-1, 2)
    faces = _grid_faces(k - 1, segments).reshape(k - 1, segments, 2, 3)
    keep = np.ones((k - 1, segments, 2), dtype=bool)
    if r[0] == 0.0:
        keep[0, :, 0] = False      # (a, d, e) has a == d at the bottom pole
    if r[-1] == 0.0:
        keep[-1, :, 1] = False     # (a, e, b) has e == b at the top pole
    faces = faces[keep]
    verts, faces, norms, uvs = _compact(verts, faces, norms, uvs)
    return verts, faces, norms, uvs


def _disk(radius: float, z: float, segments: int, up: bool):
    """A flat cap at height ``z``: centre vertex plus a ring (positions equal to :func:`_lathe`'s
    ring of the same radius), facing +z when ``up`` else -z; planar uvs in ``[0, 1]^2``."""
    cos, sin = _ring(segments)
    cos, sin = cos[:-1], sin[:-1]
    verts = np.concatenate([[[0.0, 0.0, z]], np.stack([radius * cos, radius * sin,
                                                       np.full(segments, z)], axis=1)])
    s = 1.0 if up else -1.0
    norms = np.tile([0.0, 0.0, s], (segments + 1, 1))
    uvs = np.concatenate([[[0.5, 0.5]], np.stack([0.5 + 0.5 * cos, 0.5 + 0.5 * s * sin], axis=1)])
    j = np.arange(segments)
    a, b = 1 + j, 1 + (j + 1) % segments
    faces = np.stack([np.zeros(segments, dtype=np.int64), a, b] if up else
                     [np.zeros(segments, dtype=np.int64), b, a], axis=1)
    return verts, faces, norms, uvs


def _concat(*parts):
    """Concatenate (vertices, faces, normals, uvs) parts, offsetting the face indices."""
    verts, faces, norms, uvs = [], [], [], []
    offset = 0
    for v, f, n, uv in parts:
        verts.append(v)
        faces.append(f + offset)
        norms.append(n)
        uvs.append(uv)
        offset += len(v)
    return (np.concatenate(verts), np.concatenate(faces), np.concatenate(norms),
            np.concatenate(uvs))


def _area_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted mean of the adjacent face normals per vertex, shape (n, 3), unit length."""
    tri = vertices[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 * area
    out = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(out, faces[:, k], fn)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _orient_outward(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Flip triangles whose normal points towards the origin (only for convex, centred shapes)."""
    tri = vertices[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    flip = np.einsum("ij,ij->i", fn, tri.sum(axis=1)) < 0
    faces = faces.copy()
    faces[flip] = faces[flip][:, ::-1]
    return faces


def _icosahedron_points() -> np.ndarray:
    """The 12 unit icosahedron vertices with one vertex at each pole (0, 0, +-1), shape (12, 3)."""
    zr, rr = 1.0 / math.sqrt(5.0), 2.0 / math.sqrt(5.0)
    k = np.arange(5)
    up = np.stack([rr * np.cos(_TAU * k / 5), rr * np.sin(_TAU * k / 5), np.full(5, zr)], 1)
    lo = np.stack([rr * np.cos(_TAU * (k + 0.5) / 5), rr * np.sin(_TAU * (k + 0.5) / 5),
                   np.full(5, -zr)], 1)
    return np.concatenate([[[0.0, 0.0, 1.0]], up, lo, [[0.0, 0.0, -1.0]]])


def _icosahedron_faces() -> np.ndarray:
    """The 20 triangles of :func:`_icosahedron_points`, counter-clockwise from outside."""
    k = np.arange(5)
    u, un = 1 + k, 1 + (k + 1) % 5
    lo, lon = 6 + k, 6 + (k + 1) % 5
    faces = np.concatenate([
        np.stack([np.zeros(5, np.int64), u, un], 1),
        np.stack([u, lo, un], 1),
        np.stack([un, lo, lon], 1),
        np.stack([np.full(5, 11), lon, lo], 1),
    ])
    return _orient_outward(_icosahedron_points(), faces)


def _subdivided_icosahedron(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit-sphere geodesic mesh: every level splits each triangle into 4 (edge midpoints
    pushed to the sphere). Returns shared-vertex (welded) ``(10 * 4**s + 2, 3)`` points and
    ``(20 * 4**s, 3)`` faces."""
    verts = _icosahedron_points()
    faces = _icosahedron_faces()
    for _ in range(subdivisions):
        edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
        edges.sort(axis=1)
        uniq, inv = np.unique(edges, axis=0, return_inverse=True)
        mid = verts[uniq[:, 0]] + verts[uniq[:, 1]]
        mid /= np.linalg.norm(mid, axis=1, keepdims=True)
        m = len(faces)
        inv = inv.reshape(-1) + len(verts)
        ab, bc, ca = inv[:m], inv[m:2 * m], inv[2 * m:]
        a, b, c = faces[:, 0], faces[:, 1], faces[:, 2]
        faces = np.concatenate([np.stack([a, ab, ca], 1), np.stack([b, bc, ab], 1),
                                np.stack([c, ca, bc], 1), np.stack([ab, bc, ca], 1)])
        verts = np.concatenate([verts, mid])
    return verts, faces


def _split_sphere_uvs(directions: np.ndarray, faces: np.ndarray):
    """Equirectangular uvs for a welded sphere-like mesh, splitting vertices at the seam and poles.

    ``u = atan2(y, x) / 2 pi`` in ``[0, 1)``, ``v = 1/2 + asin(z) / pi``. Triangles that cross
    the seam (corner ``u`` spread > 1/2) use ``u + 1`` for their small-``u`` corners (so ``u``
    may exceed 1 there); a pole vertex (x = y = 0) takes the mean ``u`` of its triangle's other
    two corners.

    Returns
    -------
    source : numpy.ndarray, shape (n',), int64
        Welded vertex index of each split vertex (to copy positions and normals).
    faces : numpy.ndarray, shape (m, 3), int64
        Triangles over the split vertices.
    uvs : numpy.ndarray, shape (n', 2), float64
    """
    d = directions
    u = np.arctan2(d[:, 1], d[:, 0]) / _TAU
    u = np.where(u < 0.0, u + 1.0, u) + 0.0
    v = 0.5 + np.arcsin(np.clip(d[:, 2], -1.0, 1.0)) / math.pi
    pole = (d[:, 0] == 0.0) & (d[:, 1] == 0.0)
    cu = u[faces]
    cpole = pole[faces]
    masked = np.where(cpole, np.nan, cu)
    spread = np.nanmax(masked, axis=1) - np.nanmin(masked, axis=1)
    wrap = (spread > 0.5)[:, None] & (cu < 0.5) & ~cpole
    cu = cu + wrap
    others = np.where(cpole, 0.0, cu).sum(axis=1) / np.maximum((~cpole).sum(axis=1), 1)
    cu = np.where(cpole, others[:, None], cu)
    keys = np.stack([faces.reshape(-1).astype(np.float64), cu.reshape(-1)], axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    source = uniq[:, 0].astype(np.int64)
    uvs = np.stack([uniq[:, 1], v[source]], axis=1)
    return source, inv.reshape(faces.shape).astype(np.int64), uvs


# --------------------------------------------------------------------------------------
# spheres
# --------------------------------------------------------------------------------------


def icosphere(subdivisions: int = 3) -> ProceduralMesh:
    """Geodesic unit sphere: a subdivided icosahedron (nearly uniform triangles).

    Parameters
    ----------
    subdivisions : int
        Levels of 1-to-4 subdivision, ``0..8``; 0 is the icosahedron (smooth-shaded).
        ``20 * 4**subdivisions`` triangles.

    Returns
    -------
    ProceduralMesh
        Vertices on the unit sphere (a vertex at each pole ``(0, 0, +-1)``), normals equal to the
        positions, equirectangular uvs: ``u`` = azimuth / 2 pi, ``v`` = 1/2 + latitude / pi.
        The seam (azimuth 0, the +x side) cuts through triangles, so the vertices of triangles
        that straddle it get ``u + 1`` (values up to 1.5, for wrap-around sampling); pole
        vertices are split per triangle.
    """
    subdivisions = _int("subdivisions", subdivisions, 0, _MAX_SUBDIVISIONS)
    dirs, faces = _subdivided_icosahedron(subdivisions)
    src, faces, uvs = _split_sphere_uvs(dirs, faces)
    return _result("icosphere", {"subdivisions": subdivisions}, dirs[src], faces, dirs[src], uvs)


def uv_sphere(segments: int = 32, rings: int = 16) -> ProceduralMesh:
    """Latitude-longitude unit sphere with poles on the z axis.

    Parameters
    ----------
    segments : int
        Divisions around the z axis (longitude), ``3..4096``.
    rings : int
        Divisions from pole to pole (latitude), ``2..4096``; ring ``k`` is at polar angle
        ``pi k / rings``.

    Returns
    -------
    ProceduralMesh
        ``2 * segments * (rings - 1)`` triangles; normals equal to the positions;
        ``u = longitude / 2 pi``, ``v`` = 0 at the south pole to 1 at the north pole.
    """
    segments = _int("segments", segments, 3, _MAX_SEGMENTS)
    rings = _int("rings", rings, 2, _MAX_SEGMENTS)
    theta = math.pi * np.arange(rings + 1) / rings  # from the south pole up
    r, z = np.sin(theta), -np.cos(theta)
    r[0] = r[-1] = 0.0
    z[0], z[-1] = -1.0, 1.0
    v, f, n, uv = _lathe(r, z, r, z, np.arange(rings + 1) / rings, segments)
    return _result("uv_sphere", {"segments": segments, "rings": rings}, v, f, n, uv)


# --------------------------------------------------------------------------------------
# surfaces of revolution
# --------------------------------------------------------------------------------------


def cylinder(radius: float = 1.0, height: float = 2.0, segments: int = 32, stacks: int = 1,
             caps: bool = True) -> ProceduralMesh:
    """Cylinder along z from ``-height/2`` to ``+height/2``.

    Parameters
    ----------
    radius : float
        Radius (> 0).
    height : float
        Length along z (> 0).
    segments : int
        Divisions around the axis, ``3..4096``.
    stacks : int
        Divisions of the side along the axis, ``1..4096``.
    caps : bool
        Close both ends with flat disks (triangle fans around a centre vertex). Without caps
        the mesh is an open tube (its front is the outside).

    Returns
    -------
    ProceduralMesh
        Side normals radial, cap normals ``+-z`` (rim vertices split between side and caps).
        Side uvs: ``u`` around, ``v`` up; cap uvs: planar, the disk inscribed in ``[0, 1]^2``.
        The enclosed volume is ``segments/2 sin(2 pi/segments) radius^2 height`` (prism over
        the inscribed polygon).
    """
    radius = _float("radius", radius, 0.0, lo_open=True)
    height = _float("height", height, 0.0, lo_open=True)
    segments = _int("segments", segments, 3, _MAX_SEGMENTS)
    stacks = _int("stacks", stacks, 1, _MAX_SEGMENTS)
    if not isinstance(caps, (bool, np.bool_)):
        raise ValueError(f"caps must be true or false, got {caps!r}")
    t = np.arange(stacks + 1) / stacks
    z = -0.5 * height + height * t
    z[-1] = 0.5 * height
    parts = [_lathe(np.full(stacks + 1, radius), z, np.ones(stacks + 1), np.zeros(stacks + 1),
                    t, segments)]
    if caps:
        parts += [_disk(radius, -0.5 * height, segments, up=False),
                  _disk(radius, 0.5 * height, segments, up=True)]
    params = {"radius": radius, "height": height, "segments": segments, "stacks": stacks,
              "caps": bool(caps)}
    return _result("cylinder", params, *_concat(*parts))


def cone(radius: float = 1.0, height: float = 2.0, segments: int = 32, stacks: int = 1,
         cap: bool = True) -> ProceduralMesh:
    """Cone along z: base disk of ``radius`` at ``z = -height/2``, apex at ``z = +height/2``.

    Parameters
    ----------
    radius : float
        Base radius (> 0).
    height : float
        Base-to-apex length (> 0).
    segments : int
        Divisions around the axis, ``3..4096``.
    stacks : int
        Divisions of the side along the axis, ``1..4096``.
    cap : bool
        Close the base with a flat disk.

    Returns
    -------
    ProceduralMesh
        Side normals are the exact cone normals ``(height cos a, height sin a, radius)`` (unit);
        the apex has one vertex per side triangle, with the normal at that triangle's mid angle.
        Volume ``segments/6 sin(2 pi/segments) radius^2 height`` (pyramid over the inscribed
        polygon).
    """
    radius = _float("radius", radius, 0.0, lo_open=True)
    height = _float("height", height, 0.0, lo_open=True)
    segments = _int("segments", segments, 3, _MAX_SEGMENTS)
    stacks = _int("stacks", stacks, 1, _MAX_SEGMENTS)
    if not isinstance(cap, (bool, np.bool_)):
        raise ValueError(f"cap must be true or false, got {cap!r}")
    t = np.arange(stacks + 1) / stacks
    r = radius * (1.0 - t)
    r[-1] = 0.0
    z = -0.5 * height + height * t
    z[-1] = 0.5 * height
    slant = math.hypot(height, radius)
    parts = [_lathe(r, z, np.full(stacks + 1, height / slant), np.full(stacks + 1, radius / slant),
                    t, segments)]
    if cap:
        parts.append(_disk(radius, -0.5 * height, segments, up=False))
    params = {"radius": radius, "height": height, "segments": segments, "stacks": stacks,
              "cap": bool(cap)}
    return _result("cone", params, *_concat(*parts))


def capsule(radius: float = 0.5, height: float = 2.0, segments: int = 32,
            rings: int = 8) -> ProceduralMesh:
    """Capsule along z: a cylinder with hemispherical ends, total length ``height``.

    Parameters
    ----------
    radius : float
        Radius of the cylinder and the hemispheres (> 0).
    height : float
        Total length along z, tips included; ``height >= 2 radius`` (equal: a sphere).
    segments : int
        Divisions around the axis, ``3..4096``.
    rings : int
        Latitude divisions of each hemisphere, ``1..4096``.

    Returns
    -------
    ProceduralMesh
        Smooth normals everywhere; ``v`` is the arc length along the profile, 0 at the bottom
        tip to 1 at the top. Exact volume ``pi r^2 (height - 2 r) + 4/3 pi r^3``.
    """
    radius = _float("radius", radius, 0.0, lo_open=True)
    height = _float("height", height, 0.0, lo_open=True)
    segments = _int("segments", segments, 3, _MAX_SEGMENTS)
    rings = _int("rings", rings, 1, _MAX_SEGMENTS)
    if height < 2.0 * radius:
        raise ValueError(f"height must be >= 2 * radius = {2 * radius:g}, got {height:g}")
    half = 0.5 * height - radius  # half length of the straight part
    lat = 0.5 * math.pi * np.arange(rings + 1) / rings  # 0 .. pi/2
    c, s = np.cos(lat), np.sin(lat)
    c[-1], s[-1] = 0.0, 1.0
    # bottom hemisphere from the tip to the equator, then the top one from the equator up
    nr = np.concatenate([c[::-1], c])
    nz = np.concatenate([-s[::-1], s])
    z = np.concatenate([-half - radius * s[::-1], half + radius * s])
    if half == 0.0:  # a sphere: one equator row
        nr, nz, z = np.delete(nr, rings), np.delete(nz, rings), np.delete(z, rings)
    r = radius * nr
    r[0] = r[-1] = 0.0
    z[0], z[-1] = -0.5 * height, 0.5 * height
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(r), np.diff(z)))])
    v, f, n, uv = _lathe(r, z, nr, nz, arc / arc[-1], segments)
    params = {"radius": radius, "height": height, "segments": segments, "rings": rings}
    return _result("capsule", params, v, f, n, uv)


def torus(major: float = 0.7, minor: float = 0.3, segments: int = 48,
          sides: int = 24) -> ProceduralMesh:
    """Ring torus around the z axis.

    Parameters
    ----------
    major : float
        Distance from the centre to the middle of the tube (> 0).
    minor : float
        Tube radius, ``0 < minor < major``. Fits ``[-1, 1]^3`` when ``major + minor <= 1``.
    segments : int
        Divisions around the z axis, ``3..4096``.
    sides : int
        Divisions around the tube, ``3..4096``.

    Returns
    -------
    ProceduralMesh
        Genus 1. Position ``((R + r cos b) cos a, (R + r cos b) sin a, r sin b)``, normal
        ``(cos b cos a, cos b sin a, sin b)``, uv ``(a / 2 pi, b / 2 pi)``; volume
        ``2 pi^2 R r^2`` in the limit.
    """
    major = _float("major", major, 0.0, lo_open=True)
    minor = _float("minor", minor, 0.0, lo_open=True)
    segments = _int("segments", segments, 3, _MAX_SEGMENTS)
    sides = _int("sides", sides, 3, _MAX_SEGMENTS)
    if not minor < major:
        raise ValueError(f"minor must be < major = {major:g}, got {minor:g}")
    ca, sa = _ring(segments)   # rows: around the z axis
    cb, sb = _ring(sides)      # cols: around the tube
    ca, sa = ca[:, None], sa[:, None]
    cb, sb = cb[None, :], sb[None, :]
    normals = np.stack(np.broadcast_arrays(cb * ca, cb * sa, sb), axis=-1).reshape(-1, 3)
    w = major + minor * cb
    verts = np.stack(np.broadcast_arrays(w * ca, w * sa, minor * sb), axis=-1).reshape(-1, 3)
    uu, vv = np.meshgrid(np.arange(segments + 1) / segments, np.arange(sides + 1) / sides,
                         indexing="ij")
    uvs = np.stack([uu, vv], axis=-1).reshape(-1, 2)
    # rows: angle a, cols: angle b; the grid's front d/dcol x d/drow is (+z) x (+y) = -x at
    # a = b = 0 (inward), so reverse the winding
    faces = _grid_faces(segments, sides)[:, ::-1]
    params = {"major": major, "minor": minor, "segments": segments, "sides": sides}
    return _result("torus", params, verts, faces, normals, uvs)


def torus_knot(p: int = 2, q: int = 3, radius: float = 0.12, segments: int = 256,
               sides: int = 16) -> ProceduralMesh:
    """Tube around a ``(p, q)`` torus knot.

    The centre curve is ``s ((2 + cos q t) cos p t, (2 + cos q t) sin p t, sin q t)``,
    ``t`` in ``[0, 2 pi)``, with ``s = (1 - radius) / 3`` so that the tube fits ``[-1, 1]^3``.
    It winds ``p`` times around the z axis and ``q`` times through the hole.

    Parameters
    ----------
    p, q : int
        Coprime winding numbers, each ``1..64`` (not coprime would trace a link, not a knot).
    radius : float
        Tube radius, ``0 < radius < 0.5``. Large radii with large ``p``, ``q`` make the tube
        intersect itself (the mesh stays a closed manifold, but its volume is then not the
        enclosed one).
    segments : int
        Divisions along the curve, ``3..65536``.
    sides : int
        Divisions around the tube, ``3..4096``.

    Returns
    -------
    ProceduralMesh
        Genus 1. The tube frame is ``B = unit(c' x c)``, ``N = B x unit(c')`` (periodic in ``t``);
        normals are ``cos b N + sin b B``; uv ``(t / 2 pi, b / 2 pi)``. Volume close to
        ``pi radius^2 * length(curve)``.
    """
    p = _int("p", p, 1, 64)
    q = _int("q", q, 1, 64)
    if math.gcd(p, q) != 1:
        raise ValueError(f"p and q must be coprime, got p={p}, q={q} (gcd {math.gcd(p, q)})")
    radius = _float("radius", radius, 0.0, 0.5, lo_open=True, hi_open=True)
    segments = _int("segments", segments, 3, 16 * _MAX_SEGMENTS)
    sides = _int("sides", sides, 3, _MAX_SEGMENTS)
    s = (1.0 - radius) / 3.0
    t = _TAU * np.arange(segments + 1) / segments
    cq, sq, cp, sp = np.cos(q * t), np.sin(q * t), np.cos(p * t), np.sin(p * t)
    w = 2.0 + cq
    c = s * np.stack([w * cp, w * sp, sq], axis=1)
    dc = s * np.stack([-q * sq * cp - p * w * sp, -q * sq * sp + p * w * cp, q * cq], axis=1)
    tan = dc / np.linalg.norm(dc, axis=1, keepdims=True)
    b = np.cross(tan, c)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    n = np.cross(b, tan)
    c[-1], n[-1], b[-1] = c[0], n[0], b[0]  # exact seam
    cb, sb = _ring(sides)
    ring = cb[None, :, None] * n[:, None, :] + sb[None, :, None] * b[:, None, :]  # (seg+1, sides+1, 3)
    verts = (c[:, None, :] + radius * ring).reshape(-1, 3)
    uu, vv = np.meshgrid(np.arange(segments + 1) / segments, np.arange(sides + 1) / sides,
                         indexing="ij")
    uvs = np.stack([uu, vv], axis=-1).reshape(-1, 2)
    # cols run along B (at b = 0), rows along the tangent: B x T = N, outward
    faces = _grid_faces(segments, sides)
    params = {"p": p, "q": q, "radius": radius, "segments": segments, "sides": sides}
    return _result("torus_knot", params, verts, faces, ring.reshape(-1, 3), uvs)


# --------------------------------------------------------------------------------------
# noise shapes
# --------------------------------------------------------------------------------------


def blob(amplitude: float = 0.3, frequency: float = 1.5, seed: int = 0, octaves: int = 3,
         subdivisions: int = 4) -> ProceduralMesh:
    """A lumpy sphere: an icosphere pushed in and out along its radii by smooth noise.

    The surface is ``r(d) d`` for unit directions ``d`` with
    ``r(d) = (1 + amplitude * noise3(frequency * d, seed, octaves)) / (1 + amplitude)``, so the
    radius lies in ``[(1 - amplitude) / (1 + amplitude), 1]``: star-shaped around the origin,
    never self-intersecting, inside the unit sphere.

    Parameters
    ----------
    amplitude : float
        Relative bump height, ``0 <= amplitude < 1`` (0: the unit icosphere).
    frequency : float
        Noise frequency (> 0): lattice cells per unit length, sampled on the unit sphere;
        1 to 3 gives a few large lumps.
    seed : int
        Noise seed, ``0 <= seed < 2**63``.
    octaves : int
        Fractal octaves, ``1..8``.
    subdivisions : int
        Icosphere level, ``0..8``.

    Returns
    -------
    ProceduralMesh
        Area-weighted vertex normals of the displaced surface; uvs as :func:`icosphere`.
    """
    amplitude = _float("amplitude", amplitude, 0.0, 1.0, hi_open=True)
    frequency = _float("frequency", frequency, 0.0, lo_open=True)
    seed = _int("seed", seed, 0, _MAX_SEED)
    octaves = _int("octaves", octaves, 1, _MAX_OCTAVES)
    subdivisions = _int("subdivisions", subdivisions, 0, _MAX_SUBDIVISIONS)
    dirs, faces = _subdivided_icosahedron(subdivisions)
    r = (1.0 + amplitude * noise3(frequency * dirs, seed, octaves)) / (1.0 + amplitude)
    verts = dirs * r[:, None]
    normals = _area_normals(verts, faces)
    src, faces, uvs = _split_sphere_uvs(dirs, faces)
    params = {"amplitude": amplitude, "frequency": frequency, "seed": seed, "octaves": octaves,
              "subdivisions": subdivisions}
    return _result("blob", params, verts[src], faces, normals[src], uvs)


def terrain(size: float = 2.0, resolution: int = 64, height: float = 0.3,
            frequency: float = 1.5, octaves: int = 4, seed: int = 0) -> ProceduralMesh:
    """Height-field patch: a square grid in the xy plane lifted along +z by fractal noise.

    ``z(x, y) = height * noise3((frequency x, frequency y, 0), seed, octaves)`` over
    ``[-size/2, size/2]^2``, so ``|z| <= height``. An open surface; its front faces +z.

    Parameters
    ----------
    size : float
        Edge length of the square (> 0); 2 spans ``[-1, 1]^2``.
    resolution : int
        Grid cells per edge, ``1..4096``: ``(resolution + 1)^2`` vertices,
        ``2 resolution^2`` triangles.
    height : float
        Maximum ``|z|`` (>= 0).
    frequency : float
        Noise features per unit length (> 0).
    octaves : int
        Fractal octaves, ``1..8``.
    seed : int
        Noise seed, ``0 <= seed < 2**63``.

    Returns
    -------
    ProceduralMesh
        Area-weighted vertex normals (all with ``z > 0``); ``uv = (x, y) / size + 1/2``.
    """
    size = _float("size", size, 0.0, lo_open=True)
    resolution = _int("resolution", resolution, 1, _MAX_SEGMENTS)
    height = _float("height", height, 0.0)
    frequency = _float("frequency", frequency, 0.0, lo_open=True)
    octaves = _int("octaves", octaves, 1, _MAX_OCTAVES)
    seed = _int("seed", seed, 0, _MAX_SEED)
    t = np.arange(resolution + 1) / resolution
    yy, xx = np.meshgrid(size * (t - 0.5), size * (t - 0.5), indexing="ij")  # rows: y, cols: x
    xy = np.stack([xx.reshape(-1), yy.reshape(-1)], axis=1)
    z = height * noise3(np.column_stack([frequency * xy, np.zeros(len(xy))]), seed, octaves)
    verts = np.column_stack([xy, z])
    faces = _grid_faces(resolution, resolution)  # d/dcol x d/drow = x x y = +z
    normals = _area_normals(verts, faces)
    uu, vv = np.meshgrid(t, t, indexing="xy")
    uvs = np.stack([uu.reshape(-1), vv.reshape(-1)], axis=1)
    params = {"size": size, "resolution": resolution, "height": height, "frequency": frequency,
              "octaves": octaves, "seed": seed}
    return _result("terrain", params, verts, faces, normals, uvs)


# --------------------------------------------------------------------------------------
# Platonic solids (flat-shaded, circumradius 1)
# --------------------------------------------------------------------------------------


def _flat_polyhedron(kind: str, points: np.ndarray, face_dirs: np.ndarray) -> ProceduralMesh:
    """Flat-shaded convex polyhedron with vertices ``points`` (on the unit sphere) and one
    polygon per outward direction in ``face_dirs``: the points of maximal ``dot(p, dir)``.

    Each polygon gets its own vertices (sorted counter-clockwise about its outward normal), the
    polygon normal, uvs on the regular polygon inscribed in ``[0, 1]^2``, and is fanned into
    triangles from its first corner.
    """
    verts, faces, norms, uvs = [], [], [], []
    for d in face_dirs:
        dots = points @ d
        idx = np.flatnonzero(dots >= dots.max() - 1e-9)
        poly = points[idx]
        centre = poly.mean(axis=0)
        normal = centre / np.linalg.norm(centre)
        e1 = poly[0] - centre
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(normal, e1)
        ang = np.arctan2((poly - centre) @ e2, (poly - centre) @ e1)
        poly = poly[np.argsort(ang, kind="stable")]
        k = len(poly)
        base = sum(len(v) for v in verts)
        verts.append(poly)
        norms.append(np.tile(normal, (k, 1)))
        a = _TAU * np.arange(k) / k
        uvs.append(np.stack([0.5 + 0.5 * np.cos(a), 0.5 + 0.5 * np.sin(a)], axis=1))
        j = np.arange(1, k - 1)
        faces.append(np.stack([np.full(k - 2, base), base + j, base + j + 1], axis=1))
    return _result(kind, {}, np.concatenate(verts), np.concatenate(faces), np.concatenate(norms),
                   np.concatenate(uvs))


def _tetra_points() -> np.ndarray:
    return np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float64) / math.sqrt(3.0)


def _cube_points() -> np.ndarray:
    s = np.array([-1.0, 1.0])
    g = np.stack(np.meshgrid(s, s, s, indexing="ij"), axis=-1).reshape(-1, 3)
    return g / math.sqrt(3.0)


def _octa_points() -> np.ndarray:
    return np.concatenate([np.eye(3), -np.eye(3)])


def _dodeca_points() -> np.ndarray:
    p = _icosahedron_points()
    c = p[_icosahedron_faces()].mean(axis=1)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def tetrahedron() -> ProceduralMesh:
    """Regular tetrahedron inscribed in the unit sphere (vertices ``(+-1, +-1, +-1) / sqrt 3``
    with an even number of minus signs): 4 triangles, edge ``sqrt(8/3)``, volume
    ``8 sqrt(3) / 27``. Flat-shaded: 12 vertices (3 per face)."""
    return _flat_polyhedron("tetrahedron", _tetra_points(), -_tetra_points())


def cube() -> ProceduralMesh:
    """Cube inscribed in the unit sphere (vertices ``(+-1, +-1, +-1) / sqrt 3``, axis-aligned):
    6 squares as 12 triangles, edge ``2 / sqrt 3``, volume ``8 / (3 sqrt 3)``. Flat-shaded:
    24 vertices (4 per face)."""
    return _flat_polyhedron("cube", _cube_points(), _octa_points())


def octahedron() -> ProceduralMesh:
    """Regular octahedron with vertices ``+-x, +-y, +-z`` (circumradius 1): 8 triangles,
    edge ``sqrt 2``, volume ``4/3``. Flat-shaded: 24 vertices (3 per face)."""
    return _flat_polyhedron("octahedron", _octa_points(), _cube_points())


def dodecahedron() -> ProceduralMesh:
    """Regular dodecahedron inscribed in the unit sphere (the dual of :func:`icosahedron`):
    12 pentagons as 36 triangles, edge ``4 / (sqrt 3 (1 + sqrt 5))``, volume
    ``(15 + 7 sqrt 5) / 4 edge^3``. Flat-shaded: 60 vertices (5 per face)."""
    return _flat_polyhedron("dodecahedron", _dodeca_points(), _icosahedron_points())


def icosahedron() -> ProceduralMesh:
    """Regular icosahedron inscribed in the unit sphere with vertices at the poles ``(0, 0, +-1)``:
    20 triangles, edge ``1 / sin(2 pi / 5)``, volume ``5 (3 + sqrt 5) / 12 edge^3``.
    Flat-shaded: 60 vertices (3 per face); :func:`icosphere` with 0 subdivisions is the smooth
    one."""
    return _flat_polyhedron("icosahedron", _icosahedron_points(), _dodeca_points())


# --------------------------------------------------------------------------------------
# by name
# --------------------------------------------------------------------------------------

GENERATORS: Mapping[str, Callable[..., ProceduralMesh]] = {
    "icosphere": icosphere,
    "uv_sphere": uv_sphere,
    "torus": torus,
    "cylinder": cylinder,
    "cone": cone,
    "capsule": capsule,
    "torus_knot": torus_knot,
    "blob": blob,
    "terrain": terrain,
    "tetrahedron": tetrahedron,
    "cube": cube,
    "octahedron": octahedron,
    "dodecahedron": dodecahedron,
    "icosahedron": icosahedron,
}
"""Generator name -> function; the names are the scene file's ``procedural.kind`` values."""


def make(kind: str, **params: Any) -> ProceduralMesh:
    """Build a procedural mesh by name: ``make("torus", major=0.6)`` is ``torus(major=0.6)``.

    Raises
    ------
    ValueError
        One line: an unknown ``kind``, an unknown parameter, or a bad parameter value.
    """
    fn = GENERATORS.get(kind) if isinstance(kind, str) else None
    if fn is None:
        raise ValueError(f"unknown procedural mesh kind {kind!r} (expected one of {', '.join(GENERATORS)})")
    try:
        inspect.signature(fn).bind(**params)
    except TypeError:
        known = ", ".join(inspect.signature(fn).parameters) or "none"
        bad = ", ".join(sorted(set(params) - set(inspect.signature(fn).parameters)))
        raise ValueError(f"{kind}: unknown parameter(s) {bad} (known: {known})") from None
    return fn(**params)
