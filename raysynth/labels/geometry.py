"""Exact projective geometry of scene objects: amodal boxes, 3D boxes, poses and keypoints.

Everything here is computed from the compiled scene alone (camera ``K``, ``world_to_camera``,
the per-object matrices), in float64, not from rendered pixels. Camera space follows OpenCV
(x right, y down, z forward); a camera point (X, Y, Z) projects to u = (K[0] . X) / Z,
v = (K[1] . X) / Z (K's last row is (0, 0, 1)); pixel (x, y) covers [x, x+1) x [y, y+1) and
boxes are [x, y, w, h] in those continuous coordinates.

Amodal boxes
------------
The box of the projection of the *whole* object (occluders ignored). Every shape is reduced to a
finite set of its own points that provably contains the points where u and v reach their
extremes, so the box is exact up to float64 rounding:

- box, quad, mesh (polytopes): their vertices (mesh vertices are recovered from the float32
  world triangles, ``tri_geom``, so they carry float32 rounding);
- sphere (an ellipsoid under a general affine ``shape_to_world``): the points where a plane
  through the camera centre containing the image line u = const (v = const) touches the
  ellipsoid; the tangency condition is a quadratic in u (the dual-quadric / dual-conic roots);
- disk rim, cylinder end circles (ellipses in 3D, x(t) = p + a cos t + b sin t): du/dt = 0
  reduces to A cos t + B sin t = C, solved in closed form; a cylinder is the convex hull of its
  two end circles (caps or not, the extent is the same).

Objects that reach the camera plane are clipped to z >= near (``NEAR_REL`` times the object's
size in camera space) and handled exactly as well: polytope edges are cut at the plane; curved
shapes add their section with the plane z = near (an ellipse at constant depth, so u is affine
along it) and the points where their rims cross it, and keep only candidates with z >= near.
Such boxes are clipped to the image and have no unclipped box; no dense sampling is needed.
"""
from __future__ import annotations

import math

import numpy as np

from ..kernels import tags as T

#: Clip plane z = NEAR_REL * (object size in camera space) for objects reaching the camera plane.
NEAR_REL = 1e-6
#: Keypoint rays stop at distance * (1 - VISIBILITY_RTOL): a surface within that relative
#: distance of the keypoint (its own surface, when the keypoint lies on it) does not occlude it.
VISIBILITY_RTOL = 1e-4

_BOX_EDGES = [(i, i | bit) for i in range(8) for bit in (1, 2, 4) if not i & bit]  # 12 edges
_UNIT_CORNERS = np.array([[1.0 if i & 4 else -1.0, 1.0 if i & 2 else -1.0, 1.0 if i & 1 else -1.0]
                          for i in range(8)])


# ----------------------------------------------------------------------------- small helpers
def _project(K: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """(n, 3) camera points with z > 0 -> (n, 2) pixel coordinates."""
    return (pts @ K[:2].T) / pts[:, 2:3]


def _camera_affine(compiled, to_world) -> tuple[np.ndarray, np.ndarray]:
    """Centre c (3,) and linear part L (3, 3) of the map canonical/object -> camera."""
    m = compiled.world_to_camera @ np.asarray(to_world, dtype=np.float64)
    return m[:3, 3].copy(), m[:3, :3].copy()


def _trig_roots(a: float, b: float, c: float) -> list:
    """Angles t with a cos t + b sin t = c. Without a solution the closest angle(s) come back:
    callers only use the angles to pick points on a curve, so extra ones are harmless."""
    r = math.hypot(a, b)
    if r == 0.0:
        return [0.0]
    phi = math.atan2(b, a)
    delta = math.acos(max(-1.0, min(1.0, c / r)))
    return [phi + delta, phi - delta]


def _quadratic_roots(a: float, b: float, c: float) -> list:
    """Finite real roots of a x^2 + b x + c (stable form); a negative discriminant is taken as 0."""
    sq = math.sqrt(max(b * b - 4.0 * a * c, 0.0))
    q = -0.5 * (b + math.copysign(sq, b))
    roots = []
    if a != 0.0:
        roots.append(q / a)
    if q != 0.0:
        roots.append(c / q)
    return [r for r in roots if math.isfinite(r)]


def _ellipse_angles(K: np.ndarray, p, a, b, near: float) -> np.ndarray:
    """Angles on the 3D ellipse x(t) = p + a cos t + b sin t (camera space) that include every
    extreme of u(t) and v(t) and the crossings of the plane z = near.

    With u = N/D, N = n0 + na cos t + nb sin t, D = pz + az cos t + bz sin t, du/dt = 0 is
    A cos t + B sin t + C = 0 with A = nb pz - n0 bz, B = n0 az - na pz, C = nb az - na bz.
    """
    angles = [0.0]
    for row in K[:2]:
        n0, na, nb = row @ p, row @ a, row @ b
        angles += _trig_roots(nb * p[2] - n0 * b[2], n0 * a[2] - na * p[2], na * b[2] - nb * a[2])
    angles += _trig_roots(a[2], b[2], near - p[2])
    return np.asarray(angles)


def _ellipse_points(p, a, b, angles) -> np.ndarray:
    return p + np.cos(angles)[:, None] * a + np.sin(angles)[:, None] * b


def _ortho_basis(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors orthogonal to n and to each other."""
    n = n / np.linalg.norm(n)
    helper = np.eye(3)[int(np.argmin(np.abs(n)))]
    e1 = np.cross(n, helper)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(n, e1)


def _clip_polytope(verts: np.ndarray, edges: np.ndarray, near: float) -> np.ndarray:
    """Vertices with z >= near plus the points where edges cross z = near. (n, 3) camera."""
    keep = [verts[verts[:, 2] >= near]]
    p0, p1 = verts[edges[:, 0]], verts[edges[:, 1]]
    cross = (p0[:, 2] < near) != (p1[:, 2] < near)
    if cross.any():
        p0, p1 = p0[cross], p1[cross]
        s = (near - p0[:, 2]) / (p1[:, 2] - p0[:, 2])
        pts = p0 + s[:, None] * (p1 - p0)
        pts[:, 2] = near
        keep.append(pts)
    return np.concatenate(keep)


# ----------------------------------------------------------------------------- shapes
def _ellipsoid_points(K, c, L, near) -> list:
    """Candidate extreme points of the ellipsoid x = c + L s, |s| = 1, clipped to z >= near."""
    pts = []
    w = np.array([0.0, 0.0, 1.0])
    q = L.T @ w
    for row in K[:2]:
        # plane (row - u w) . x = 0 touches the ellipsoid iff ((row - u w) . c)^2 = |L^T (row - u w)|^2
        alpha, p = row @ c, L.T @ row
        for u in _quadratic_roots(c[2] ** 2 - q @ q, -2.0 * (alpha * c[2] - p @ q), alpha ** 2 - p @ p):
            n = row - u * w
            m = L.T @ n
            norm_m = np.linalg.norm(m)
            if norm_m > 0.0:
                pts.append(c - np.sign(n @ c) * (L @ m) / norm_m)  # tangent point s = -sign(n.c) m/|m|
    # section by the plane z = near: the circle {|s| = 1, q . s = d} mapped by L
    d, qq = near - c[2], q @ q
    if d * d < qq:
        radius = math.sqrt(1.0 - d * d / qq)
        e1, e2 = _ortho_basis(q)
        p, a, b = c + L @ (q * d / qq), radius * (L @ e1), radius * (L @ e2)
        pts.extend(_ellipse_points(p, a, b, _ellipse_angles(K, p, a, b, near)))
    return pts


def _cylinder_points(K, c, L, near, caps_only: bool) -> list:
    """Candidates of the cylinder x = c + L (cos t, sin t, h), |h| <= 1 (or of the disk h = 0)."""
    pts = []
    ends = (0.0,) if caps_only else (-1.0, 1.0)
    for h in ends:
        p = c + h * L[:, 2]
        pts.extend(_ellipse_points(p, L[:, 0], L[:, 1], _ellipse_angles(K, p, L[:, 0], L[:, 1], near)))
    l22 = L[2, 2]
    if not caps_only and abs(l22) > 1e-12 * np.linalg.norm(L):
        # section of the side by z = near: h(t) = h0 - (L20 cos t + L21 sin t) / L22, kept where |h| <= 1
        h0 = (near - c[2]) / l22
        a = L[:, 0] - L[:, 2] * (L[2, 0] / l22)
        b = L[:, 1] - L[:, 2] * (L[2, 1] / l22)
        p = c + h0 * L[:, 2]
        angles = _ellipse_angles(K, p, a, b, near)
        h = h0 - (L[2, 0] * np.cos(angles) + L[2, 1] * np.sin(angles)) / l22
        pts.extend(_ellipse_points(p, a, b, angles[np.abs(h) <= 1.0]))
    return pts


def _mesh_triangles(compiled, index: int) -> np.ndarray:
    """World triangles (m, 3, 3) of a mesh object, read from ``tri_geom`` (v0, v1, v2); an
    instanced mesh's object-space triangles are mapped by the object's object_to_world."""
    inst = compiled.arrays.inst_info
    hit = np.flatnonzero(inst[:, T.INST_OBJECT] == index) if len(inst) else np.zeros(0, dtype=np.int64)
    if len(hit):
        first, count = int(inst[hit[0], T.INST_FIRST_TRI]), int(inst[hit[0], T.INST_TRI_COUNT])
        g = compiled.arrays.tri_geom[first:first + count].astype(np.float64)
    else:
        info = compiled.arrays.prim_info
        rows = info[(info[:, T.PRIM_KIND] == T.TRIANGLE) & (info[:, T.PRIM_OBJECT] == index), T.PRIM_INDEX]
        g = compiled.arrays.tri_geom[rows].astype(np.float64)
    tri = g.reshape(-1, 3, 3)
    if len(hit):
        m = np.asarray(compiled.objects[index]["object_to_world"], dtype=np.float64)
        tri = tri @ m[:3, :3].T + m[:3, 3]
    return tri


def _extreme_points(compiled, index: int):
    """Points of the object (camera space, z >= near) containing the extremes of u and v.

    Returns (pts (n, 3), z_min, z_max, near): the object's camera-depth range and clip depth."""
    obj = compiled.objects[index]
    kind = obj["type"]
    K = np.asarray(compiled.K, dtype=np.float64)
    if kind == "mesh":
        tri = _mesh_triangles(compiled, index)
        verts = tri.reshape(-1, 3) @ compiled.world_to_camera[:3, :3].T + compiled.world_to_camera[:3, 3]
        if len(verts) == 0:
            return np.zeros((0, 3)), math.inf, -math.inf, 0.0
        near = NEAR_REL * float(np.abs(verts).max())
        z_min, z_max = float(verts[:, 2].min()), float(verts[:, 2].max())
        if z_min < near:
            m = len(tri)
            idx = np.arange(3 * m).reshape(m, 3)
            edges = np.concatenate([idx[:, [0, 1]], idx[:, [1, 2]], idx[:, [2, 0]]])
            verts = _clip_polytope(verts, edges, near)
        return verts, z_min, z_max, near

    c, L = _camera_affine(compiled, obj["shape_to_world"])
    near = NEAR_REL * (float(np.linalg.norm(c)) + float(np.linalg.norm(L)))
    lz = L[2]
    if kind in ("box", "quad"):
        corners = _UNIT_CORNERS if kind == "box" else np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0.0]])
        edges = np.array(_BOX_EDGES) if kind == "box" else np.array([[0, 1], [1, 2], [2, 3], [3, 0]])
        verts = c + corners @ L.T
        z_min, z_max = float(verts[:, 2].min()), float(verts[:, 2].max())
        pts = _clip_polytope(verts, edges, near) if z_min < near else verts
        return pts, z_min, z_max, near
    if kind == "sphere":
        half = float(np.linalg.norm(lz))
        pts = _ellipsoid_points(K, c, L, near)
    elif kind == "disk":
        half = math.hypot(lz[0], lz[1])
        pts = _cylinder_points(K, c, L, near, caps_only=True)
    elif kind == "cylinder":
        half = abs(lz[2]) + math.hypot(lz[0], lz[1])
        pts = _cylinder_points(K, c, L, near, caps_only=False)
    else:
        raise ValueError(f"objects[{index}]: unknown type {kind!r}")
    pts = np.asarray(pts, dtype=np.float64).reshape(-1, 3)
    pts = pts[pts[:, 2] >= 0.5 * near]  # section points sit at z = near up to rounding
    return pts, float(c[2] - half), float(c[2] + half), near


# ----------------------------------------------------------------------------- public API
def amodal_box(compiled, index: int) -> dict:
    """Exact image extent of the whole object ``index`` (occluders ignored).

    Returns
    -------
    dict with
        bbox_amodal : (4,) float64 [x, y, w, h], pixels, clipped to [0, W] x [0, H];
            [0, 0, 0, 0] when the projection misses [0, W) x [0, H) or nothing is in front
        bbox_amodal_unclipped : (4,) float64 [x, y, w, h], or None when the object reaches the
            camera plane (its projection is unbounded) or lies behind it
        truncated : bool, the projection extends beyond the image, or the object reaches or lies
            behind the camera plane
        in_front : bool, some part of the object is in front of the camera (z > near)
    """
    pts, z_min, z_max, near = _extreme_points(compiled, index)
    zero = np.zeros(4)
    if z_max <= near or len(pts) == 0:
        return {"bbox_amodal": zero, "bbox_amodal_unclipped": None, "truncated": True, "in_front": False}
    uv = _project(np.asarray(compiled.K, dtype=np.float64), pts)
    (x0, y0), (x1, y1) = uv.min(axis=0), uv.max(axis=0)
    w, h = float(compiled.width), float(compiled.height)
    crossing = z_min < near
    unclipped = None if crossing else np.array([x0, y0, x1 - x0, y1 - y0])
    truncated = bool(crossing or x0 < 0 or y0 < 0 or x1 > w or y1 > h)
    if x1 < 0 or y1 < 0 or x0 >= w or y0 >= h:
        clipped = zero
    else:
        cx0, cy0 = max(x0, 0.0), max(y0, 0.0)
        clipped = np.array([cx0, cy0, min(x1, w) - cx0, min(y1, h) - cy0])
    return {"bbox_amodal": clipped, "bbox_amodal_unclipped": unclipped, "truncated": truncated, "in_front": True}


def box_3d(compiled, index: int) -> dict:
    """The object-space bounding box of object ``index`` and its 8 corners.

    Corner i takes x max when bit 2 of i is set (else x min), y max for bit 1, z max for bit 0.

    Returns
    -------
    dict with
        object : (2, 3) float64, [min xyz, max xyz] in object space (``bounds_object``)
        world : (8, 3) float64 corners in world space (via ``object_to_world``)
        camera : (8, 3) float64 corners in camera space (OpenCV axes)
        image : (8, 2) float64 pixel projections; NaN for corners at or behind the camera plane
    """
    obj = compiled.objects[index]
    bounds = np.asarray(obj["bounds_object"], dtype=np.float64)
    corners = np.where(_UNIT_CORNERS > 0, bounds[1], bounds[0])
    m = np.asarray(obj["object_to_world"], dtype=np.float64)
    world = corners @ m[:3, :3].T + m[:3, 3]
    w2c = compiled.world_to_camera
    cam = world @ w2c[:3, :3].T + w2c[:3, 3]
    image = np.full((8, 2), np.nan)
    front = cam[:, 2] > 0
    image[front] = _project(np.asarray(compiled.K, dtype=np.float64), cam[front])
    return {"object": bounds, "world": world, "camera": cam, "image": image}


def _polar_rotation(a: np.ndarray) -> np.ndarray:
    """Rotation factor U V^T of the polar decomposition a = R P (det a > 0)."""
    u, _, vt = np.linalg.svd(a)
    return u @ vt


def pose(compiled, index: int) -> dict:
    """Camera-from-object pose of object ``index``: x_cam = R @ (scale * x_obj) + t.

    A = (world_to_camera @ object_to_world)[:3, :3] is split by the polar decomposition
    A = R P (R the rotation closest to A, P symmetric) and scale = diag(P), the least-squares
    scale for that R. For the scene format's T @ R @ S transforms this is exact; the shear of a
    general user ``matrix`` (off-diagonal P) is dropped. A mirroring matrix (det < 0) keeps R
    proper and gets one negative scale; a mirror can be put on any axis (R diag(1, -2, 1) =
    R' diag(-1, 2, 1) with R' = R diag(-1, -1, 1)), so it goes on the first axis, x, unless
    another axis leaves clearly less shear.

    Returns
    -------
    dict with R (3, 3) float64 proper rotation, t (3,) float64 scene units, scale (3,) float64
    """
    m = compiled.world_to_camera @ np.asarray(compiled.objects[index]["object_to_world"], dtype=np.float64)
    a, t = m[:3, :3], m[:3, 3].copy()
    flips = [np.ones(3)]
    if np.linalg.det(a) < 0:
        flips = [np.where(np.arange(3) == k, -1.0, 1.0) for k in range(3)]
    best, tie = None, 1e-9 * float(np.abs(a).sum())
    for f in flips:
        r = _polar_rotation(a * f)
        p = r.T @ (a * f)
        shear = float(np.abs(p - np.diag(np.diag(p))).sum())
        if best is None or shear < best[0] - tie:
            best = (shear, r, np.diag(p) * f)
    return {"R": best[1], "t": t, "scale": best[2].copy()}


def _keypoints_object(obj: dict) -> np.ndarray:
    """Object-space keypoints (K, 3): ``keypoints_object``, else the 8 bounding-box corners."""
    if obj.get("keypoints_object") is not None:
        return np.asarray(obj["keypoints_object"], dtype=np.float64).reshape(-1, 3)
    bounds = np.asarray(obj["bounds_object"], dtype=np.float64)
    return np.where(_UNIT_CORNERS > 0, bounds[1], bounds[0])


def _visibility(compiled, world: np.ndarray, owner: np.ndarray, instance_layer=None):
    """COCO visibility of world points (n, 3) that belong to objects ``owner`` (n,).

    Returns (camera (n, 3), image (n, 2) with NaN behind the camera, v (n,) int32)."""
    w2c = compiled.world_to_camera
    cam = world @ w2c[:3, :3].T + w2c[:3, 3]
    image = np.full((len(world), 2), np.nan)
    front = cam[:, 2] > 0
    image[front] = _project(np.asarray(compiled.K, dtype=np.float64), cam[front])
    with np.errstate(invalid="ignore"):
        inside = (front & (image[:, 0] >= 0) & (image[:, 0] < compiled.width)
                  & (image[:, 1] >= 0) & (image[:, 1] < compiled.height))
    v = np.zeros(len(world), dtype=np.int32)
    idx = np.flatnonzero(inside)
    if len(idx) == 0:
        return cam, image, v
    if instance_layer is not None:
        px = np.floor(image[idx]).astype(np.int64)
        seen = np.asarray(instance_layer)[px[:, 1], px[:, 0]]
        v[idx] = np.where(seen == owner[idx] + 1, 2, 1)
        return cam, image, v
    from ..backends.cpu import cast_rays  # Numba kernels, imported on use

    centre = -w2c[:3, :3].T @ w2c[:3, 3]
    d = world[idx] - centre
    dist = np.linalg.norm(d, axis=1)
    origins = np.ascontiguousarray(np.broadcast_to(centre, d.shape), dtype=np.float32)
    dirs = np.ascontiguousarray(d / dist[:, None], dtype=np.float32)
    _, _, hit_obj, _, _ = cast_rays(compiled.arrays, origins, dirs, t_max=dist * (1.0 - VISIBILITY_RTOL), few=True)
    v[idx] = np.where(hit_obj < 0, 2, 1)
    return cam, image, v


def keypoints_all(compiled, instance_layer=None) -> list:
    """:func:`keypoints` of every object, with one batched ray cast. List of dicts, one per object."""
    n = len(compiled.objects)
    obj_pts, world_pts = [], []
    for obj in compiled.objects:
        pts = _keypoints_object(obj)
        m = np.asarray(obj["object_to_world"], dtype=np.float64)
        obj_pts.append(pts)
        world_pts.append(pts @ m[:3, :3].T + m[:3, 3])
    counts = [len(p) for p in obj_pts]
    owner = np.repeat(np.arange(n), counts)
    world = np.concatenate(world_pts) if n else np.zeros((0, 3))
    cam, image, v = _visibility(compiled, world, owner, instance_layer)
    out, start = [], 0
    for i in range(n):
        s = slice(start, start + counts[i])
        out.append({"object": obj_pts[i], "world": world_pts[i], "camera": cam[s], "image": image[s], "v": v[s]})
        start += counts[i]
    return out


def keypoints(compiled, index: int, instance_layer=None) -> dict:
    """Keypoints of object ``index`` and their COCO visibility.

    The object-space keypoints are ``keypoints_object`` when the scene gives them, else the 8
    ``box_3d`` corners. v = 0 for points at or behind the camera plane or projecting outside
    [0, W) x [0, H); otherwise a ray from the camera centre towards the point decides: v = 2 when
    nothing is hit before distance * (1 - VISIBILITY_RTOL) (so a point on the object's own visible
    surface counts as visible), v = 1 when something is (another object, or the object itself).

    Parameters
    ----------
    instance_layer : optional (H, W) int32 instance layer of a render of this scene. When given,
        no rays are cast: v = 2 where the pixel containing the point shows this object, else 1.
        That is the masks' pixel-level view: it misjudges points near silhouettes and points
        hidden by the object's own front surface, so the ray test (default) is preferred.

    Returns
    -------
    dict with object (K, 3), world (K, 3), camera (K, 3) float64 scene units; image (K, 2)
    float64 pixels (NaN at or behind the camera plane); v (K,) int32 in {0, 1, 2}
    """
    obj = compiled.objects[index]
    pts = _keypoints_object(obj)
    m = np.asarray(obj["object_to_world"], dtype=np.float64)
    world = pts @ m[:3, :3].T + m[:3, 3]
    cam, image, v = _visibility(compiled, world, np.full(len(pts), index), instance_layer)
    return {"object": pts, "world": world, "camera": cam, "image": image, "v": v}


def _nan_to_none(a: np.ndarray) -> list:
    return [[None if not math.isfinite(x) else float(x) for x in row] for row in a]


def object_geometry(compiled) -> list:
    """The geometric fields of every object's labels record, as JSON-ready lists.

    Returns a list (one per object, in scene order) of dicts with ``bbox_amodal``,
    ``bbox_amodal_unclipped``, ``truncated``, ``in_front``, ``pose`` {R, t, scale}, ``bbox_3d``
    {object, world, camera, image} (image corners behind the camera are null) and ``keypoints``
    {object, world, image}: image rows [x, y, v] with v an int; rows behind the camera are
    [0, 0, 0], points in front but outside the image keep their projection with v = 0.
    """
    kps = keypoints_all(compiled)
    out = []
    for i in range(len(compiled.objects)):
        box = amodal_box(compiled, i)
        b3 = box_3d(compiled, i)
        p = pose(compiled, i)
        kp = kps[i]
        rows = [[0.0, 0.0, 0] if not np.isfinite(xy).all() else [float(xy[0]), float(xy[1]), int(v)]
                for xy, v in zip(kp["image"], kp["v"])]
        unclipped = box["bbox_amodal_unclipped"]
        out.append({
            "bbox_amodal": box["bbox_amodal"].tolist(),
            "bbox_amodal_unclipped": None if unclipped is None else unclipped.tolist(),
            "truncated": box["truncated"],
            "in_front": box["in_front"],
            "pose": {"R": p["R"].tolist(), "t": p["t"].tolist(), "scale": p["scale"].tolist()},
            "bbox_3d": {"object": b3["object"].tolist(), "world": b3["world"].tolist(),
                        "camera": b3["camera"].tolist(), "image": _nan_to_none(b3["image"])},
            "keypoints": {"object": kp["object"].tolist(), "world": kp["world"].tolist(), "image": rows},
        })
    return out
