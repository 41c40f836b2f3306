"""Non-overlapping object placement: convex colliders, a GJK distance, ground and volume poses.

Every placed object is represented by a convex :class:`Collider` in world space:

- analytic primitives exactly (sphere, box, cylinder, and the flat disk and quad);
- meshes conservatively, by the box of their object-space bounds (``kind="box"`` with an offset
  between the box centre and the mesh origin), which contains the mesh.

Two colliders are separated by at least ``gap`` when the GJK distance between them (a certified
lower bound, within ``GJK_TOL`` of the true Euclidean distance) is at least ``gap``. The ground
is the half-space y <= 0: "ground" mode rests every object on it exactly (the lowest point of its
collider at y = 0), "volume" mode keeps whole objects inside an axis-aligned box that lies above it.

Rotations are unit quaternions (w, x, y, z); ``quat_matrix`` is the renderer's own
``compile.quaternion_matrix``, so the placed pose is exactly the rendered one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from ..compile import quaternion_matrix as quat_matrix  # the renderer's own formula
from ..errors import SceneError

#: Absolute tolerance of :func:`gjk_distance` (scene units).
GJK_TOL = 1e-7
#: Shapes with exact support functions.
COLLIDER_KINDS = ("sphere", "box", "cylinder", "disk", "quad")
_TINY = 1e-300


# ----------------------------------------------------------------------------- rotations
def quat_mul(a, b) -> np.ndarray:
    """Hamilton product a * b: the rotation b followed by a."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.array([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ])


def quat_axis_angle(axis, degrees: float) -> np.ndarray:
    """Quaternion of a rotation by `degrees` about the unit `axis`."""
    half = math.radians(degrees) / 2
    return np.array([math.cos(half), *(math.sin(half) * np.asarray(axis, dtype=np.float64))])


def random_quat(rng: np.random.Generator) -> np.ndarray:
    """A uniformly distributed rotation (normalized Gaussian 4-vector), with w >= 0."""
    q = rng.standard_normal(4)
    q /= max(np.linalg.norm(q), _TINY)
    return -q if q[0] < 0 else q


# ----------------------------------------------------------------------------- colliders
@dataclass
class Collider:
    """A convex shape in world space.

    kind : "sphere" (dims = [radius]), "box" (half extents [hx, hy, hz]), "cylinder" ([radius,
        half height], axis = local z), "disk" ([radius], in local z = 0), "quad" (half extents
        [hx, hy], in local z = 0)
    center : (3,) world position of the shape's centre
    rotation : (3, 3) local -> world rotation
    """

    kind: str
    dims: np.ndarray
    center: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self):
        if self.kind not in COLLIDER_KINDS:
            raise ValueError(f"unknown collider kind {self.kind!r}")
        self.dims = np.asarray(self.dims, dtype=np.float64)
        self.center = np.asarray(self.center, dtype=np.float64)
        self.rotation = np.asarray(self.rotation, dtype=np.float64)

    # -- exact geometry
    def local_support(self, d: np.ndarray) -> np.ndarray:
        """Farthest point of the shape along the local direction d (local coordinates)."""
        k, p = self.kind, self.dims
        if k == "sphere":
            n = math.sqrt(d @ d)
            return d * (p[0] / n) if n > _TINY else np.array([p[0], 0.0, 0.0])
        if k == "box":
            return np.where(d >= 0, p, -p)
        if k == "quad":
            return np.array([p[0] if d[0] >= 0 else -p[0], p[1] if d[1] >= 0 else -p[1], 0.0])
        n = math.hypot(d[0], d[1])
        rim = np.array([d[0] * p[0] / n, d[1] * p[0] / n]) if n > _TINY else np.array([p[0], 0.0])
        if k == "disk":
            return np.array([rim[0], rim[1], 0.0])
        return np.array([rim[0], rim[1], p[1] if d[2] >= 0 else -p[1]])  # cylinder

    def support(self, d: np.ndarray) -> np.ndarray:
        """Farthest world point of the shape along the world direction d."""
        return self.center + self.rotation @ self.local_support(self.rotation.T @ d)

    def half_extents(self) -> np.ndarray:
        """Half size of the world axis-aligned bounding box (exact for every kind)."""
        r, p = self.rotation, self.dims
        if self.kind == "sphere":
            return np.full(3, p[0])
        if self.kind == "box":
            return np.abs(r) @ p
        if self.kind == "quad":
            return np.abs(r[:, 0]) * p[0] + np.abs(r[:, 1]) * p[1]
        rim = p[0] * np.sqrt(r[:, 0] ** 2 + r[:, 1] ** 2)
        return rim if self.kind == "disk" else rim + np.abs(r[:, 2]) * p[1]

    @property
    def bounding_radius(self) -> float:
        """Radius of a ball about `center` that contains the shape."""
        p = self.dims
        if self.kind in ("sphere", "disk"):
            return float(p[0])
        if self.kind == "cylinder":
            return float(math.hypot(p[0], p[1]))
        return float(np.linalg.norm(p))

    @property
    def inner_radius(self) -> float:
        """Radius of a ball about `center` inside the shape (0 for flat shapes)."""
        if self.kind in ("disk", "quad"):
            return 0.0
        return float(min(self.dims)) if self.kind != "cylinder" else float(min(self.dims[0], self.dims[1]))

    @property
    def volume(self) -> float:
        p = self.dims
        return {"sphere": lambda: 4 / 3 * math.pi * p[0] ** 3, "box": lambda: 8 * float(np.prod(p)),
                "cylinder": lambda: 2 * math.pi * p[0] ** 2 * p[1]}.get(self.kind, lambda: 0.0)()


# ----------------------------------------------------------------------------- GJK
def _closest_on_simplex(points: list) -> tuple[np.ndarray, list]:
    """Closest point to the origin of the convex hull of 1-4 points, and the smallest subset of
    the points whose hull contains it (Johnson's sub-algorithm by enumeration of faces).

    The closest point lies in the relative interior of one face, where it equals the origin's
    projection onto that face's affine hull with positive barycentric weights; among the faces
    with such a projection the closest point has the smallest norm.
    """
    pts = np.asarray(points)
    n = len(pts)
    scale = max(float(np.abs(pts).max()), _TINY)
    best, best_sq, best_idx = None, math.inf, None
    for mask in range(1, 1 << n):
        idx = [i for i in range(n) if mask >> i & 1]
        q = pts[idx]
        if len(idx) == 1:
            x = q[0]
        else:
            d = q[1:] - q[0]
            gram = d @ d.T
            if abs(np.linalg.det(gram)) <= 1e-12 * scale ** (2 * len(d)):
                continue  # degenerate face: its relative interior is covered by smaller faces
            mu = np.linalg.solve(gram, -(d @ q[0]))
            if mu.min() < -1e-12 or mu.sum() > 1 + 1e-12:
                continue  # the projection is outside this face
            x = q[0] + mu @ d
        sq = float(x @ x)
        if sq < best_sq - 1e-15 * scale * scale or (best is not None and sq <= best_sq and len(idx) < len(best_idx)):
            best, best_sq, best_idx = x, sq, idx
    return best, [points[i] for i in best_idx]


def gjk_distance(a: Collider, b: Collider, tol: float = GJK_TOL, max_iter: int = 200) -> float:
    """Euclidean distance between two convex colliders (0 when they touch or overlap).

    Gilbert-Johnson-Keerthi on the Minkowski difference A - B. Each iteration has an upper bound
    ``|v|`` (v: the closest point of the current simplex) and a lower bound ``v.w / |v|`` (w: the
    support point along -v) of the distance; the returned value is the lower bound once the two
    are within `tol`, so it never exceeds the true distance (conservative for overlap tests).
    A sphere is handled as its centre plus a margin, which keeps sphere distances exact.
    """
    margin = 0.0
    sa, sb = a.support, b.support
    if a.kind == "sphere":
        margin += a.dims[0]
        sa = lambda d: a.center  # noqa: E731
    if b.kind == "sphere":
        margin += b.dims[0]
        sb = lambda d: b.center  # noqa: E731

    def support(d):
        return sa(d) - sb(-d)

    v = a.center - b.center
    if v @ v < 1e-30:
        v = support(np.array([1.0, 0.0, 0.0]))
    simplex: list = []
    lower = 0.0
    for _ in range(max_iter):
        vv = float(v @ v)
        if vv <= (0.1 * tol) ** 2:
            return 0.0  # the origin is (within tolerance) in A - B
        norm_v = math.sqrt(vv)
        w = support(-v)
        lower = max(lower, float(v @ w) / norm_v)
        if norm_v - lower <= tol:
            break
        if any(float((w - p) @ (w - p)) <= 1e-24 * max(vv, 1.0) for p in simplex):
            break  # no progress: w is already a vertex
        simplex.append(w)
        v, simplex = _closest_on_simplex(simplex)
        if len(simplex) == 4:
            return 0.0  # the origin is inside the tetrahedron
    return max(0.0, lower - margin)


def separated(a: Collider, b: Collider, gap: float) -> bool:
    """True when a and b are at least `gap` apart (and not touching when gap is 0)."""
    dist_c = float(np.linalg.norm(a.center - b.center))
    if dist_c >= a.bounding_radius + b.bounding_radius + gap + 1e-9:
        return True  # bounding balls are apart
    if dist_c < a.inner_radius + b.inner_radius + gap:
        return False  # inscribed balls already overlap
    return gjk_distance(a, b) >= max(gap, 1e-6)


# ----------------------------------------------------------------------------- placement
@dataclass
class Item:
    """One object to place.

    kind, dims : its collider in local coordinates (scaled; see :class:`Collider`)
    origin_offset : local position of the object's origin relative to the collider centre
        (non-zero for meshes, whose collider is the box of their bounds)
    entry : index of the pool entry it comes from (for error messages)
    up : local axis that points up in ground mode ("+x" ... "-z", or "random" for any of the six),
        for meshes; None: the shape's own resting poses
    """

    kind: str
    dims: Sequence[float]
    entry: int
    origin_offset: np.ndarray = field(default_factory=lambda: np.zeros(3))
    up: Optional[str] = None


@dataclass
class Placed:
    """A placed item: its collider, the rotation quaternion and the world position of its origin."""

    item: Item
    collider: Collider
    quaternion: np.ndarray
    origin: np.ndarray


_FACE_UP = {  # quaternions turning a local axis to world +y
    "+y": np.array([1.0, 0.0, 0.0, 0.0]),
    "-y": quat_axis_angle((1, 0, 0), 180),
    "+x": quat_axis_angle((0, 0, 1), 90),
    "-x": quat_axis_angle((0, 0, 1), -90),
    "+z": quat_axis_angle((1, 0, 0), -90),
    "-z": quat_axis_angle((1, 0, 0), 90),
}
_FACES = tuple(_FACE_UP.values())


def ground_orientation(item: Item, rng: np.random.Generator, lying_fraction: float) -> np.ndarray:
    """A resting orientation on the plane y = 0, with a uniform random yaw about +y.

    sphere: any rotation; box: one of its six faces down; cylinder: upright (either cap down) or,
    with probability `lying_fraction`, on its side; disk and quad: front face up; meshes: the
    item's `up` axis up.
    """
    kind = item.kind
    if kind == "sphere" and item.up is None:
        return random_quat(rng)
    yaw = quat_axis_angle((0, 1, 0), rng.uniform(0.0, 360.0))
    if item.up is not None:
        base = _FACES[int(rng.integers(6))] if item.up == "random" else _FACE_UP[item.up]
    elif kind == "box":
        base = _FACES[int(rng.integers(6))]
    elif kind == "cylinder":
        if rng.random() < lying_fraction:  # axis horizontal, random roll about it
            base = quat_axis_angle((0, 0, 1), rng.uniform(0.0, 360.0))
        else:
            base = _FACE_UP["+z" if rng.random() < 0.5 else "-z"]
    else:  # disk, quad
        base = _FACE_UP["+z"]
    q = quat_mul(yaw, base)
    return -q if q[0] < 0 else q


def _area_text(area: np.ndarray, mode: str) -> str:
    size = area[:, 1] - area[:, 0]
    if mode == "ground":
        return f"{size[0]:g}x{size[2]:g} area"
    return f"{size[0]:g}x{size[1]:g}x{size[2]:g} volume"


def place_items(
    items: Sequence[Item],
    rng: np.random.Generator,
    *,
    mode: str,
    area: np.ndarray,
    min_gap: float,
    max_attempts: int,
    lying_fraction: float = 0.0,
    flat_offset: float = 0.0,
    obstacles: Sequence[Collider] = (),
    count_field: str = "count",
    source: str = "",
) -> list[Placed]:
    """Place every item without overlap; return them in the order given.

    mode : "ground" (rest on y = 0 with random yaw; flat shapes lie `flat_offset` above it) or
        "volume" (uniform random rotation and position)
    area : (3, 2) [[xmin, xmax], [ymin, ymax], [zmin, zmax]]; each whole collider stays inside
        (the y range only applies in volume mode)
    min_gap : least distance between any two colliders (obstacles included)
    max_attempts : random poses tried per item before giving up with a SceneError
    Items are placed largest first (by bounding radius; ties in the given order).
    """
    area = np.asarray(area, dtype=np.float64)
    order = sorted(range(len(items)), key=lambda i: -Collider(items[i].kind, items[i].dims).bounding_radius)
    placed: dict[int, Placed] = {}
    colliders: list[Collider] = list(obstacles)
    for n_done, i in enumerate(order):
        item = items[i]
        result = _place_one(item, rng, mode, area, min_gap, max_attempts, lying_fraction, flat_offset, colliders)
        if result is None:
            prefix = f"{source}: " if source else ""
            raise SceneError(
                f"{prefix}placement: could not place {len(items)} objects without overlap in a "
                f"{_area_text(area, mode)} after {max_attempts} attempts (placed {n_done}); "
                f"enlarge placement.area or lower objects[{item.entry}].{count_field}"
            )
        placed[i] = result
        colliders.append(result.collider)
    return [placed[i] for i in range(len(items))]


def _place_one(item, rng, mode, area, min_gap, max_attempts, lying_fraction, flat_offset, colliders):
    flat = item.kind in ("disk", "quad")
    for _ in range(max_attempts):
        q = ground_orientation(item, rng, lying_fraction) if mode == "ground" else random_quat(rng)
        rot = quat_matrix(q)
        col = Collider(item.kind, item.dims, np.zeros(3), rot)
        half = col.half_extents()
        lo, hi = area[:, 0] + half, area[:, 1] - half
        if np.any(lo > hi):
            continue  # this pose does not fit in the area
        centre = rng.uniform(lo, hi)
        if mode == "ground":
            centre[1] = half[1] + (flat_offset if flat else 0.0)
        col.center = centre
        if all(separated(col, other, min_gap) for other in colliders):
            origin = centre + rot @ np.asarray(item.origin_offset, dtype=np.float64)
            return Placed(item, col, q, origin)
    return None
