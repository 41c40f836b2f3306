"""Label layers of analytic shapes against an independent float64 numpy ray caster.

Every scene is rendered tiny (spp=1, max_depth=1) through :func:`raysynth.render`. For every
pixel the ray through its centre is rebuilt from ``meta['camera']`` (K and world_to_camera) and
intersected in float64 with numpy intersectors written here (they share no code with
``raysynth.kernels``; object transforms come from scipy's rotations, not raysynth's).

Pixels whose centre ray passes within ``EDGE_EPS`` (in the shape's canonical, unit-size space) of
a silhouette or crease of any object are excluded from the comparison: there the float32 kernel
may legitimately pick the other side. The margin is computed analytically per shape (distance
from the ray line to sphere silhouette, box/quad edges, disk and cylinder rims, cylinder side
silhouette). Everywhere else instance and class ids must be equal, depth and distance within
1e-4 relative, camera-space normals within 1e-3, world positions within 1e-4 of the distance.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import raysynth

EDGE_EPS = 1e-4     # canonical-space distance to a silhouette below which a pixel is ambiguous
DEPTH_RTOL = 1e-4
NORMAL_ATOL = 1e-3
MAX_EXCLUDED = 0.08  # excluded pixels, fraction of the image (keeps the test from being vacuous)


# ------------------------------------------------------------------------ reference geometry
def object_to_world(tf: dict) -> np.ndarray:
    """4x4 object->world matrix of a transform dict, built with scipy (M = T R S or matrix)."""
    if "matrix" in tf:
        return np.array(tf["matrix"], dtype=np.float64)
    if "quaternion" in tf:
        w, x, y, z = tf["quaternion"]
        rot = Rotation.from_quat([x, y, z, w]).as_matrix()  # scipy: scalar last, normalizes
    else:
        # lower-case "xyz" = extrinsic: about world X, then Y, then Z, i.e. R = Rz Ry Rx
        rot = Rotation.from_euler("xyz", tf.get("rotate", (0, 0, 0)), degrees=True).as_matrix()
    scale = np.broadcast_to(np.asarray(tf.get("scale", 1.0), dtype=np.float64), (3,))
    m = np.eye(4)
    m[:3, :3] = rot @ np.diag(scale)
    m[:3, 3] = tf.get("translate", (0, 0, 0))
    return m


def canonical_diag(obj: dict) -> np.ndarray:
    """Scale that maps the unit-size canonical shape to the object's own size."""
    kind = obj["type"]
    if kind == "sphere":
        return np.full(3, obj.get("radius", 1.0))
    if kind == "box":
        return np.asarray(obj.get("size", (1, 1, 1)), dtype=np.float64) / 2
    if kind == "quad":
        sx, sy = obj.get("size", (1, 1))
        return np.array([sx / 2, sy / 2, 1.0])
    if kind == "disk":
        r = obj.get("radius", 1.0)
        return np.array([r, r, 1.0])
    assert kind == "cylinder"
    r, h = obj.get("radius", 0.5), obj.get("height", 1.0)
    return np.array([r, r, h / 2])


def _dot(a, b):
    return np.einsum("ij,ij->i", a, b)


def _line_segment_distance(o, d, p0, p1):
    """Distance from each line o + t d (N rays) to the segment p0-p1."""
    e = p1 - p0
    w = o - p0
    a = _dot(d, d)
    b = d @ e
    c = e @ e
    dw = _dot(d, w)
    ew = w @ e
    den = a * c - b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(den > 1e-14 * a * c, (a * ew - b * dw) / den, 0.0)
    s = np.clip(s, 0.0, 1.0)
    t = (s * b - dw) / a
    diff = w + t[:, None] * d - s[:, None] * e
    return np.linalg.norm(diff, axis=1)


def _rim_margin(o, d, z):
    """Margin of the crossing of the plane at height z against the unit circle, as a
    distance perpendicular to the ray (in-plane distance times sin of the crossing angle)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (z - o[:, 2]) / d[:, 2]
        x = o[:, 0] + t * d[:, 0]
        y = o[:, 1] + t * d[:, 1]
        m = np.abs(np.hypot(x, y) - 1.0) * np.abs(d[:, 2]) / np.linalg.norm(d, axis=1)
    return np.where(np.isfinite(m), m, 0.0)


def _first_positive(*ts):
    """Smallest positive entry per ray among candidate arrays (inf where none)."""
    best = np.full(ts[0].shape, np.inf)
    for t in ts:
        best = np.where((t > 0) & (t < best), t, best)
    return best


def isect_sphere(o, d):
    a = _dot(d, d)
    b = _dot(o, d)
    c = _dot(o, o) - 1.0
    disc = b * b - a * c
    sq = np.sqrt(np.maximum(disc, 0.0))
    t0 = np.where(disc >= 0, (-b - sq) / a, -1.0)
    t1 = np.where(disc >= 0, (-b + sq) / a, -1.0)
    t = _first_positive(t0, t1)
    n = o + np.where(np.isfinite(t), t, 0.0)[:, None] * d
    closest = o - (b / a)[:, None] * d
    margin = np.abs(np.linalg.norm(closest, axis=1) - 1.0)
    return t, n, margin


_CUBE_CORNERS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
_CUBE_EDGES = [(i, j) for i in range(8) for j in range(i + 1, 8)
               if np.sum(_CUBE_CORNERS[i] != _CUBE_CORNERS[j]) == 1]
assert len(_CUBE_EDGES) == 12


def isect_box(o, d):
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d
        ta = (-1.0 - o) * inv
        tb = (1.0 - o) * inv
    lo = np.minimum(ta, tb)
    hi = np.maximum(ta, tb)
    t_near = lo.max(axis=1)
    t_far = hi.min(axis=1)
    near_axis = lo.argmax(axis=1)
    far_axis = hi.argmin(axis=1)
    hit = (t_near <= t_far) & (t_far > 0)
    outside = t_near > 0
    t = np.where(hit, np.where(outside, t_near, t_far), np.inf)
    axis = np.where(outside, near_axis, far_axis)
    rows = np.arange(len(o))
    sign = np.sign(d[rows, axis]) * np.where(outside, -1.0, 1.0)  # entering: against d
    n = np.zeros_like(o)
    n[rows, axis] = sign
    margin = np.min([_line_segment_distance(o, d, _CUBE_CORNERS[i], _CUBE_CORNERS[j])
                     for i, j in _CUBE_EDGES], axis=0)
    return t, n, margin


def _plane_hit(o, d):
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -o[:, 2] / d[:, 2]
    t = np.where(np.isfinite(t) & (t > 0), t, np.inf)
    p = o + np.where(np.isfinite(t), t, 0.0)[:, None] * d
    return t, p


def isect_quad(o, d):
    t, p = _plane_hit(o, d)
    t = np.where((np.abs(p[:, 0]) <= 1) & (np.abs(p[:, 1]) <= 1), t, np.inf)
    n = np.tile([0.0, 0.0, 1.0], (len(o), 1))
    corners = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], dtype=np.float64)
    margin = np.min([_line_segment_distance(o, d, corners[k], corners[(k + 1) % 4]) for k in range(4)], axis=0)
    return t, n, margin


def isect_disk(o, d):
    t, p = _plane_hit(o, d)
    t = np.where(p[:, 0] ** 2 + p[:, 1] ** 2 <= 1, t, np.inf)
    n = np.tile([0.0, 0.0, 1.0], (len(o), 1))
    return t, n, _rim_margin(o, d, 0.0)


def isect_cylinder(o, d, caps):
    a = d[:, 0] ** 2 + d[:, 1] ** 2
    b = o[:, 0] * d[:, 0] + o[:, 1] * d[:, 1]
    c = o[:, 0] ** 2 + o[:, 1] ** 2 - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        disc = b * b - a * c
        sq = np.sqrt(np.maximum(disc, 0.0))
        roots = [np.where((disc >= 0) & (a > 0), (-b - sq) / a, -1.0),
                 np.where((disc >= 0) & (a > 0), (-b + sq) / a, -1.0)]
    roots = [np.where(np.abs(o[:, 2] + r * d[:, 2]) <= 1, r, -1.0) for r in roots]
    t_side = _first_positive(*roots)
    t_caps = []
    if caps:
        for zc in (1.0, -1.0):
            with np.errstate(divide="ignore", invalid="ignore"):
                tc = (zc - o[:, 2]) / d[:, 2]
            pc = o + np.where(np.isfinite(tc), tc, 0.0)[:, None] * d
            t_caps.append(np.where(np.isfinite(tc) & (pc[:, 0] ** 2 + pc[:, 1] ** 2 <= 1), tc, -1.0))
    t = _first_positive(t_side, *t_caps)
    p = o + np.where(np.isfinite(t), t, 0.0)[:, None] * d
    n = np.zeros_like(o)
    side = np.isfinite(t) & (t == t_side)
    rho = np.hypot(p[:, 0], p[:, 1])
    n[side, 0] = p[side, 0] / rho[side]
    n[side, 1] = p[side, 1] / rho[side]
    if caps:
        n[~side & (t == t_caps[0]), 2] = 1.0
        n[~side & (t == t_caps[1]), 2] = -1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rho_min = np.abs(o[:, 0] * d[:, 1] - o[:, 1] * d[:, 0]) / np.sqrt(a)
    side_margin = np.where(np.isfinite(rho_min), np.abs(rho_min - 1.0), np.inf)
    margin = np.minimum(side_margin, np.minimum(_rim_margin(o, d, 1.0), _rim_margin(o, d, -1.0)))
    return t, n, margin


def intersect_object(obj: dict, origin: np.ndarray, dirs: np.ndarray):
    """World-space (t, unit world normal, canonical margin) of unit rays against one object."""
    m = object_to_world(obj.get("transform", {}))
    lin = m[:3, :3] @ np.diag(canonical_diag(obj))
    inv = np.linalg.inv(lin)
    o = np.broadcast_to((origin - m[:3, 3]) @ inv.T, dirs.shape).copy()
    d = dirs @ inv.T   # t is the same parameter in world and canonical space
    kind = obj["type"]
    if kind == "sphere":
        t, n, margin = isect_sphere(o, d)
    elif kind == "box":
        t, n, margin = isect_box(o, d)
    elif kind == "quad":
        t, n, margin = isect_quad(o, d)
    elif kind == "disk":
        t, n, margin = isect_disk(o, d)
    else:
        t, n, margin = isect_cylinder(o, d, obj.get("caps", True))
    n_world = n @ inv          # inverse transpose of the canonical->world map
    n_world /= np.maximum(np.linalg.norm(n_world, axis=1, keepdims=True), 1e-300)
    return t, n_world, margin


def reference(scene: dict, meta: dict):
    """Float64 labels for every pixel centre, from the camera matrices in meta."""
    h, w = meta["height"], meta["width"]
    K = np.array(meta["camera"]["K"], dtype=np.float64)
    w2c = np.array(meta["camera"]["world_to_camera"], dtype=np.float64)
    rot = w2c[:3, :3]
    origin = -rot.T @ w2c[:3, 3]
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    pix = np.stack([jj, ii, np.ones_like(jj)], axis=-1).reshape(-1, 3)
    d_cam = pix @ np.linalg.inv(K).T
    d_cam /= np.linalg.norm(d_cam, axis=1, keepdims=True)
    d_world = d_cam @ rot  # rot.T @ d for each row

    n_rays = len(d_world)
    best_t = np.full(n_rays, np.inf)
    second_t = np.full(n_rays, np.inf)
    inst = np.zeros(n_rays, dtype=np.int64)
    normal = np.zeros((n_rays, 3))
    inside = np.zeros(n_rays, dtype=bool)
    margin = np.full(n_rays, np.inf)
    for k, obj in enumerate(scene["objects"]):
        t, n, mg = intersect_object(obj, origin, d_world)
        margin = np.minimum(margin, mg)
        closer = t < best_t
        second_t = np.where(closer, best_t, np.minimum(second_t, t))
        best_t = np.where(closer, t, best_t)
        inst = np.where(closer, k + 1, inst)
        normal = np.where(closer[:, None], n, normal)
        inside = np.where(closer, _dot(n, d_world) > 0, inside)
    hit = np.isfinite(best_t)
    # camera-space normal facing the camera
    n_cam = normal @ rot.T
    facing = np.sign(-_dot(n_cam, d_cam))
    n_cam *= np.where(facing == 0, 1.0, facing)[:, None]
    # two surfaces at (nearly) the same distance are ambiguous as well
    with np.errstate(invalid="ignore"):
        tie = hit & (second_t - best_t < DEPTH_RTOL * best_t)
    ambiguous = (margin < EDGE_EPS) | tie
    t0 = np.where(hit, best_t, 0.0)
    return {
        "instance": inst.reshape(h, w),
        "distance": t0.reshape(h, w),
        "depth": (t0 * d_cam[:, 2]).reshape(h, w),
        "normals": np.where(hit[:, None], n_cam, 0.0).reshape(h, w, 3),
        "position": np.where(hit[:, None], origin + t0[:, None] * d_world, 0.0).reshape(h, w, 3),
        "cos_axis": d_cam[:, 2].reshape(h, w),
        "ambiguous": ambiguous.reshape(h, w),
        "back_face": (hit & inside).reshape(h, w),   # the outward normal faces away from the camera
        "origin": origin,
    }


# ------------------------------------------------------------------------ scenes
def _camera(position, look_at=(0, 0, 0), up=(0, 1, 0), fov=40.0, width=32, height=24, **extra):
    return {"position": list(position), "look_at": list(look_at), "up": list(up), "fov": fov,
            "width": width, "height": height, **extra}


SCENES = {
    "sphere_euler_nonuniform": {
        "camera": _camera((0.6, 1.1, 4.0)),
        "objects": [{"type": "sphere", "radius": 0.8, "label": "ball",
                     "transform": {"translate": [0.15, -0.1, 0.2], "rotate": [30, 45, 60], "scale": [1.5, 0.7, 1.0]}}],
    },
    "box_quaternion": {
        "camera": _camera((1.5, 2.0, 3.5)),
        "objects": [{"type": "box", "size": [1.2, 0.8, 1.6], "label": "crate",
                     "transform": {"quaternion": [0.9, 0.3, -0.2, 0.25], "scale": [1.1, 0.9, 1.3],
                                   "translate": [0.1, 0.0, -0.2]}}],
    },
    "quads_front_and_back": {
        "camera": _camera((0.3, 0.8, 4.0)),
        "objects": [
            {"type": "quad", "size": [1.4, 1.0], "transform": {"translate": [-0.8, 0.1, 0.0], "rotate": [-20, 25, 10]}},
            # faces away from the camera: seen from behind, normal still reported facing the camera
            {"type": "quad", "size": [1.0, 1.6], "label": "back",
             "transform": {"translate": [0.8, -0.1, -0.3], "rotate": [0, 160, 15], "scale": [1.0, 0.8, 2.0]}},
        ],
    },
    "disks": {
        "camera": _camera((-0.5, 1.5, 3.5)),
        "objects": [
            {"type": "disk", "radius": 0.7, "transform": {"translate": [-0.7, 0, 0], "rotate": [-50, 20, 0]}},
            {"type": "disk", "radius": 0.6, "transform": {"translate": [0.8, 0.1, 0.1], "quaternion": [0.2, 0.0, 1.0, 0.3],
                                                          "scale": [1.4, 0.8, 1.0]}},
        ],
    },
    "cylinder_capped": {
        "camera": _camera((0.8, 1.6, 3.6)),
        "objects": [{"type": "cylinder", "radius": 0.5, "height": 1.6, "caps": True,
                     "transform": {"rotate": [70, 0, 35], "scale": [1.2, 0.9, 1.0]}}],
    },
    "cylinder_open_sheared_matrix": {
        "camera": _camera((0.4, 1.2, 3.8)),
        "objects": [{"type": "cylinder", "radius": 0.6, "height": 1.4, "caps": False,
                     # axis tilted towards the camera so that the inner wall is visible; sheared
                     "transform": {"matrix": [[0.9, 0.2, 0.7, 0.05],
                                              [0.0, 0.9, 0.3, -0.1],
                                              [-0.6, 0.1, 0.8, 0.0],
                                              [0.0, 0.0, 0.0, 1.0]]}}],
    },
    "mixed_intrinsics": {
        # explicit intrinsics (fx != fy, off-centre principal point) and a tilted up vector
        "camera": _camera((1.0, 2.2, 6.5), look_at=(0.1, 0.0, 0.0), up=(0.25, 1.0, -0.1), width=32, height=32,
                          intrinsics={"fx": 38.0, "fy": 35.0, "cx": 15.2, "cy": 17.1}),
        "classes": ["round", "square"],
        "objects": [
            {"type": "sphere", "radius": 0.6, "label": "round",
             "transform": {"translate": [-0.4, 0.2, 1.2], "rotate": [10, 20, 30], "scale": [1.0, 1.3, 0.8]}},
            {"type": "box", "size": [1.0, 1.0, 1.0], "label": "square",
             "transform": {"translate": [0.3, 0.0, -0.3], "quaternion": [0.8, 0.1, 0.5, -0.2], "scale": [1.6, 1.0, 0.9]}},
            {"type": "cylinder", "radius": 0.35, "height": 1.2, "caps": True,
             "transform": {"translate": [1.7, 0.3, 0.4], "rotate": [80, 10, -20]}},
            {"type": "disk", "radius": 0.5, "label": "round",
             "transform": {"translate": [-1.7, -0.6, 0.3], "rotate": [-60, -30, 0]}},
            {"type": "quad", "size": [5.0, 4.0], "label": "square",
             "transform": {"translate": [0.0, -1.2, -0.5], "rotate": [-90, 0, 0]}},
            {"type": "cylinder", "radius": 0.3, "height": 0.8, "caps": False,
             "transform": {"matrix": [[0.9, 0.2, 0.0, -1.6],
                                      [0.0, 0.3, 1.0, 0.9],
                                      [0.1, -1.0, 0.3, -0.6],
                                      [0.0, 0.0, 0.0, 1.0]]}},
        ],
    },
}


#: scenes in which some visible surfaces face away from the camera (the open cylinder's inner
#: wall, quads and disks seen from behind): their normals must still be reported facing it
BACK_FACES_EXPECTED = {"quads_front_and_back", "disks", "cylinder_open_sheared_matrix"}


def _with_settings(scene: dict, **camera_extra) -> dict:
    scene = copy.deepcopy(scene)
    scene["render"] = {"spp": 1, "max_depth": 1, "seed": 3}
    scene["camera"].update(camera_extra)
    scene.setdefault("lights", [{"type": "environment", "color": [0.5, 0.6, 0.7]}])
    return scene


def _check_labels(scene: dict, out: dict, ref: dict) -> None:
    meta = out["meta"]
    ok = ~ref["ambiguous"]
    frac = 1.0 - ok.mean()
    assert frac <= MAX_EXCLUDED, f"{frac:.1%} of the pixels are near silhouettes; the test would be weak"

    # every object is visible on unambiguous pixels (so each intersector is exercised)
    for k in range(1, len(scene["objects"]) + 1):
        assert ((ref["instance"] == k) & ok).sum() >= 4, f"object {k - 1} covers too few pixels in the reference"

    inst = out["instance"]
    bad = ok & (inst != ref["instance"])
    assert not bad.any(), (
        f"instance mismatch at {np.argwhere(bad)[:5].tolist()}: got {inst[bad][:5]}, want {ref['instance'][bad][:5]}"
    )
    # class ids follow the per-object records of meta
    class_of = np.array([0] + [o["class_id"] for o in meta["objects"]])
    np.testing.assert_array_equal(out["class"][ok], class_of[ref["instance"][ok]])
    labels = [o.get("label") for o in scene["objects"]]
    names = meta["classes"]
    for o, label in zip(meta["objects"], labels):
        assert names[str(o["class_id"])] == (label if label is not None else "background")

    hit = ok & (ref["instance"] > 0)
    miss = ok & (ref["instance"] == 0)
    for layer in ("depth", "distance"):
        np.testing.assert_allclose(out[layer][hit], ref[layer][hit], rtol=DEPTH_RTOL, atol=0, err_msg=layer)
        assert (out[layer][miss] == 0).all(), f"{layer} must be 0 on background pixels"
    np.testing.assert_allclose(out["normals"][hit], ref["normals"][hit], rtol=0, atol=NORMAL_ATOL, err_msg="normals")
    assert (out["normals"][miss] == 0).all()
    np.testing.assert_allclose(np.linalg.norm(out["normals"][hit], axis=-1), 1.0, atol=1e-5)
    err = np.linalg.norm(out["position"][hit].astype(np.float64) - ref["position"][hit], axis=-1)
    assert (err <= DEPTH_RTOL * ref["distance"][hit]).all(), f"position error up to {err.max():.3g}"
    assert (out["position"][miss] == 0).all()

    # depth is the distance projected on the optical axis (on every pixel, from the layers alone)
    np.testing.assert_allclose(out["depth"], out["distance"] * ref["cos_axis"], rtol=3e-6, atol=0)


def _check_camera_meta(scene: dict, meta: dict) -> None:
    """world_to_camera is a rigid OpenCV pose of the scene camera; objects' matrices match."""
    cam = scene["camera"]
    w2c = np.array(meta["camera"]["world_to_camera"])
    rot = w2c[:3, :3]
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    np.testing.assert_allclose(-rot.T @ w2c[:3, 3], cam["position"], atol=1e-12)
    fwd = np.subtract(cam["look_at"], cam["position"])
    np.testing.assert_allclose(rot[2], fwd / np.linalg.norm(fwd), atol=1e-12)
    up = np.asarray(cam["up"], dtype=np.float64)
    assert abs(rot[0] @ up) < 1e-12          # x (right) is perpendicular to up
    assert rot[1] @ up < 0                     # y points down
    K = np.array(meta["camera"]["K"])
    if "intrinsics" in cam:
        k = cam["intrinsics"]
        np.testing.assert_allclose(K, [[k["fx"], 0, k["cx"]], [0, k["fy"], k["cy"]], [0, 0, 1]])
    else:
        fy = 0.5 * cam["height"] / np.tan(np.radians(cam["fov"]) / 2)
        np.testing.assert_allclose(K, [[fy, 0, cam["width"] / 2], [0, fy, cam["height"] / 2], [0, 0, 1]])
    for obj, rec in zip(scene["objects"], meta["objects"]):
        np.testing.assert_allclose(rec["object_to_world"], object_to_world(obj.get("transform", {})), atol=1e-12)


@pytest.mark.parametrize("name", sorted(SCENES))
def test_labels_match_float64_reference(name):
    scene = _with_settings(SCENES[name])
    out = raysynth.render(scene)
    _check_camera_meta(scene, out["meta"])
    ref = reference(scene, out["meta"])
    if name in BACK_FACES_EXPECTED:
        front = (ref["instance"] > 0) & ~ref["back_face"] & ~ref["ambiguous"]
        back = ref["back_face"] & ~ref["ambiguous"]
        assert front.sum() >= 10 and back.sum() >= 10, (front.sum(), back.sum())
    _check_labels(scene, out, ref)


def test_reference_margin_is_needed_only_near_silhouettes():
    """Sanity check of the reference itself: a ray straight at the centre of each canonical
    shape hits with a large margin; a ray just outside the silhouette misses with a small one."""
    o = np.array([[0.0, 0.0, 5.0], [0.0, 1.0 + 1e-6, 5.0]])
    d = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]])
    for fn in (isect_sphere, isect_box, isect_quad, isect_disk, lambda a, b: isect_cylinder(a, b, True)):
        t, n, margin = fn(o, d)
        assert np.isfinite(t[0]) and not np.isfinite(t[1])
        np.testing.assert_allclose(n[0], [0, 0, 1])
        assert margin[0] > 0.5 and margin[1] < 1e-5
    # open cylinder seen along its axis: the ray goes through without hitting
    t, _, _ = isect_cylinder(o[:1], d[:1], False)
    assert not np.isfinite(t[0])


def test_thin_lens_keeps_centre_ray_labels():
    """With an aperture the label layers still come from the pinhole ray through the pixel
    centre; only rgb (and coverage) change with the defocus blur."""
    base = SCENES["mixed_intrinsics"]
    pinhole = raysynth.render(_with_settings(base), spp=16)
    lens_scene = _with_settings(base, aperture_radius=0.25, focus_distance=2.0)
    lens = raysynth.render(lens_scene, spp=16)
    ref = reference(lens_scene, lens["meta"])
    _check_labels(lens_scene, lens, ref)
    ok = ~ref["ambiguous"]
    for layer in ("instance", "class"):
        np.testing.assert_array_equal(lens[layer][ok], pinhole[layer][ok], err_msg=layer)
    for layer in ("depth", "distance", "normals", "position", "albedo"):
        np.testing.assert_allclose(lens[layer][ok], pinhole[layer][ok], rtol=1e-5, atol=1e-6, err_msg=layer)
    # ... while the defocus really happened: far more pixels mix several instances
    mixed_lens = (lens["coverage"] < 1).sum()
    mixed_pin = (pinhole["coverage"] < 1).sum()
    assert mixed_lens > 1.5 * mixed_pin + 10, (mixed_lens, mixed_pin)
    assert np.abs(lens["rgb"] - pinhole["rgb"]).max() > 0.1


def test_precomputed_face_normals_are_the_per_hit_ones_bit_for_bit():
    """The compiler's face normals (shape_param, SP_FACES) against the per-hit computation they
    stand in for (xform_normal of the canonical normal, length, a scale by its reciprocal), on
    shapes with random rotations, shears, mirrors and scales."""
    import numba

    from raysynth.kernels import tags as T
    from raysynth.kernels.vecmath import length, scale, xform_normal
    from raysynth.render import prepare

    @numba.njit
    def per_hit(xf, out):
        for s in range(xf.shape[0]):
            for face in range(6):
                n = [np.float32(0.0), np.float32(0.0), np.float32(0.0)]
                n[face // 2] = np.float32(1.0) if face % 2 == 1 else np.float32(-1.0)
                w = xform_normal(xf, s, T.XF_TO_OBJECT, (n[0], n[1], n[2]))
                n_len = length(w)
                unit = scale(w, np.float32(1.0) / n_len)
                out[s, 4 * face:4 * face + 4] = (unit[0], unit[1], unit[2], n_len)

    rng = np.random.default_rng(2)
    objects = []
    for k in range(60):
        m = Rotation.random(random_state=k).as_matrix() @ np.diag(rng.choice([-1, 1], 3) * rng.uniform(0.2, 3, 3))
        m[0, 1] += rng.normal(0, 0.5)   # shear
        xf = np.eye(4)
        xf[:3, :3] = m
        xf[:3, 3] = rng.normal(0, 5, 3)
        objects.append({"type": ["box", "quad", "disk", "sphere"][k % 4], "transform": {"matrix": xf.tolist()}})
    arrays = prepare({"camera": {"width": 4, "height": 4}, "render": {"spp": 1}, "objects": objects}).arrays
    want = np.zeros((len(arrays.shape_xform), 24), np.float32)
    per_hit(arrays.shape_xform, want)
    got = arrays.shape_param[:, T.SP_FACES:T.SP_FACES + 24]
    assert got.shape == want.shape and len(got) == 60
    np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))   # signs of zeros too
