"""Exact projective geometry of the labels (raysynth.labels.geometry) against independent references.

- Amodal boxes: a sphere's box from the 2D tangent-line closed form (planes X = k Z through the
  camera centre at distance r from the centre); ellipsoids, disks and cylinders from 100k samples
  of their exact silhouette curves (the ellipsoid's contour generator s . o = 1 in canonical
  space; rims of disks and cylinders), which must match to 1e-3 px and lie inside the box, and
  random surface samples, which must lie inside; polytopes from their projected corners.
- Rendered instance masks of unoccluded objects: every pixel centre inside the amodal box, each
  side touched within one pixel.
- Truncation, objects behind the camera and objects crossing the camera plane (closed-form
  clipped extents with an identity camera: a floor seen from above it, a sphere and a cylinder
  beside the camera centre, a sphere around the camera).
- Poses vs scipy Rotation for Euler, quaternion and matrix transforms; shear and mirrors.
- Keypoints in front of, behind and beside an occluding quad, on a box's back face, outside the
  image and behind the camera: COCO v = 2, 1, 2, 1, 0, 0 as set up analytically.

Images are 64 x 48, spp 1; references use the scene's own camera definition (K, world_to_camera)
and matrices built here with scipy, never the code under test.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import raysynth
from raysynth.labels import geometry as G
from raysynth.render import prepare

W, H = 64, 48
INTR = {"fx": 60.0, "fy": 55.0, "cx": 30.5, "cy": 25.0}
FX, FY, CX, CY = INTR["fx"], INTR["fy"], INTR["cx"], INTR["cy"]
CAM_POS = [0.7, 1.1, 8.0]
GENERIC_CAM = {"position": CAM_POS, "look_at": [0.2, -0.1, 0.0], "up": [0, 1, 0]}
IDENTITY_CAM = {"position": [0, 0, 0], "look_at": [0, 0, 1], "up": [0, -1, 0]}  # camera = world axes
N_SAMPLES = 100_000


def make_scene(objects, camera=GENERIC_CAM):
    cam = dict(camera, width=W, height=H, intrinsics=INTR)
    return prepare({"camera": cam, "render": {"spp": 1, "max_depth": 1}, "objects": objects,
                    "lights": [{"type": "environment"}]})


def identity_scene(objects):
    compiled = make_scene(objects, IDENTITY_CAM)
    assert np.allclose(compiled.world_to_camera, np.eye(4), atol=1e-12)
    return compiled


def rotation(rotate=None, quat=None) -> np.ndarray:
    """Scene rotations with scipy: Euler degrees about world X, Y, Z (extrinsic 'xyz'), or (w, x, y, z)."""
    if quat is not None:
        w, x, y, z = quat
        return Rotation.from_quat([x, y, z, w]).as_matrix()
    return Rotation.from_euler("xyz", rotate or [0, 0, 0], degrees=True).as_matrix()


def trs(translate, rotate=None, quat=None, scale=(1, 1, 1)) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rotation(rotate, quat) @ np.diag(scale)
    m[:3, 3] = translate
    return m


def to_image(compiled, world):
    """Reference pinhole projection of (n, 3) world points: (n, 2) pixels and camera z."""
    cam = world @ compiled.world_to_camera[:3, :3].T + compiled.world_to_camera[:3, 3]
    uv = cam @ compiled.K.T
    return uv[:, :2] / uv[:, 2:3], cam[:, 2]


def apply(m, pts):
    return pts @ m[:3, :3].T + m[:3, 3]


def extent(uv):
    return np.concatenate([uv.min(axis=0), uv.max(axis=0)])  # x0, y0, x1, y1


def box_extent(box):
    x, y, w, h = box
    return np.array([x, y, x + w, y + h])


def circle(n=N_SAMPLES):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.cos(t), np.sin(t)


def assert_matches_samples(compiled, index, silhouette_world, surface_world=None, tol=1e-3):
    """The unclipped box equals the silhouette samples' extent to `tol` px and contains all samples."""
    box = G.amodal_box(compiled, index)
    ext = box_extent(box["bbox_amodal_unclipped"])
    uv, z = to_image(compiled, silhouette_world)
    assert (z > 0).all()
    np.testing.assert_allclose(ext, extent(uv), atol=tol)
    for pts in (silhouette_world, surface_world):
        if pts is not None:
            uv, _ = to_image(compiled, pts)
            assert (uv >= ext[:2] - 1e-9).all() and (uv <= ext[2:] + 1e-9).all()
    return box


# ----------------------------------------------------------------------------- amodal boxes
@pytest.mark.parametrize("centre, radius", [([0.3, -0.4, 0.5], 0.9), ([-3.0, 2.0, -1.0], 1.4), ([4.2, -2.5, 1.0], 0.6)])
def test_sphere_box_closed_form_and_silhouette(centre, radius):
    compiled = make_scene([{"type": "sphere", "radius": radius, "transform": {"translate": centre}}])
    c = apply(compiled.world_to_camera, np.array([centre]))[0]
    ref = []
    for axis, f, pp in ((0, FX, CX), (1, FY, CY)):
        # plane X = k Z (or Y = k Z) tangent to the sphere: (C_axis - k C_z)^2 = r^2 (1 + k^2)
        k = np.roots([c[2] ** 2 - radius ** 2, -2 * c[axis] * c[2], c[axis] ** 2 - radius ** 2]).real
        ref.append(pp + f * np.sort(k))
    ref = np.array([ref[0][0], ref[1][0], ref[0][1], ref[1][1]])
    box = G.amodal_box(compiled, 0)
    np.testing.assert_allclose(box_extent(box["bbox_amodal_unclipped"]), ref, atol=1e-6)

    # the contour generator: points P with (P - C) . P = 0, a circle around C (1 - r^2/|C|^2)
    d2 = c @ c
    e1 = np.cross(c, [0, 0, 1.0]) if abs(c[2]) < 0.9 * np.sqrt(d2) else np.cross(c, [1.0, 0, 0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(c / np.sqrt(d2), e1)
    cos, sin = circle()
    ring = cos[:, None] * e1 + sin[:, None] * e2
    rim_cam = c * (1 - radius ** 2 / d2) + radius * np.sqrt(1 - radius ** 2 / d2) * ring
    rim_world = apply(np.linalg.inv(compiled.world_to_camera), rim_cam)
    assert_matches_samples(compiled, 0, rim_world)
    inside = ref[0] >= 0 and ref[1] >= 0 and ref[2] <= W and ref[3] <= H
    assert box["truncated"] == (not inside) and box["in_front"]


def test_scaled_rotated_ellipsoid_vs_contour_and_surface_samples():
    tf = {"translate": [-0.5, 0.6, 1.2], "rotate": [35, -50, 20], "scale": [1.7, 0.6, 1.1]}
    compiled = make_scene([{"type": "sphere", "radius": 0.8, "transform": tf}])
    m = trs(tf["translate"], tf["rotate"], scale=np.array(tf["scale"]) * 0.8)
    o = apply(np.linalg.inv(m), np.array([CAM_POS]))[0]  # camera centre in the unit sphere's space
    # contour generator on the unit sphere seen from o: s . o = 1, a circle around o / |o|^2
    n = o / np.linalg.norm(o)
    e1 = np.cross(n, [0, 1.0, 0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    cos, sin = circle()
    rim = o / (o @ o) + np.sqrt(1 - 1 / (o @ o)) * (cos[:, None] * e1 + sin[:, None] * e2)
    surface = np.random.default_rng(1).normal(size=(N_SAMPLES, 3))
    surface /= np.linalg.norm(surface, axis=1, keepdims=True)
    assert_matches_samples(compiled, 0, apply(m, rim), apply(m, surface))


def test_oblique_disk_and_cylinder_vs_rim_samples():
    disk_tf = {"translate": [-1.5, 0.4, 0.5], "rotate": [62, 25, -15], "scale": [1.4, 0.7, 1.0]}
    cyl_tf = {"translate": [1.6, -0.6, 0.2], "rotate": [-35, 50, 70], "scale": [1.0, 1.3, 0.8]}
    compiled = make_scene([
        {"type": "disk", "radius": 0.9, "transform": disk_tf},
        {"type": "cylinder", "radius": 0.5, "height": 1.6, "caps": False, "transform": cyl_tf},
    ])
    cos, sin = circle()
    rng = np.random.default_rng(2)
    zero = np.zeros_like(cos)
    m_disk = trs(disk_tf["translate"], disk_tf["rotate"], scale=np.array(disk_tf["scale"]) * [0.9, 0.9, 1])
    rad = np.sqrt(rng.random(N_SAMPLES))
    ang = rng.random(N_SAMPLES) * 2 * np.pi
    area = np.stack([rad * np.cos(ang), rad * np.sin(ang), np.zeros(N_SAMPLES)], axis=1)
    assert_matches_samples(compiled, 0, apply(m_disk, np.stack([cos, sin, zero], axis=1)), apply(m_disk, area))

    m_cyl = trs(cyl_tf["translate"], cyl_tf["rotate"], scale=np.array(cyl_tf["scale"]) * [0.5, 0.5, 0.8])
    rims = np.concatenate([np.stack([cos, sin, zero + h], axis=1) for h in (-1.0, 1.0)])
    side = np.stack([np.cos(ang), np.sin(ang), rng.uniform(-1, 1, N_SAMPLES)], axis=1)
    assert_matches_samples(compiled, 1, apply(m_cyl, rims), apply(m_cyl, side))


def test_polytopes_box_quad_mesh_vs_corners():
    box_tf = {"translate": [-1.8, 0.5, 0.0], "rotate": [30, -20, 65]}
    quad_tf = {"translate": [0.4, -1.0, 1.5], "quaternion": [0.8, 0.3, -0.4, 0.2]}
    mesh_tf = {"translate": [2.0, 1.0, -0.5], "rotate": [0, 45, 10], "scale": [1.2, 0.9, 1.5]}
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.2, 0.3, 1.0]])
    compiled = make_scene([
        {"type": "box", "size": [1.2, 0.8, 1.6], "transform": box_tf},
        {"type": "quad", "size": [1.5, 0.7], "transform": quad_tf},
        {"type": "mesh", "vertices": verts.tolist(), "faces": [[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
         "transform": mesh_tf},
    ])
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)
    box_corners = apply(trs(box_tf["translate"], box_tf["rotate"]), signs * [0.6, 0.4, 0.8])
    quad_corners = apply(trs(quad_tf["translate"], quat=quad_tf["quaternion"]), signs * [0.75, 0.35, 0.0])
    mesh_verts = apply(trs(mesh_tf["translate"], mesh_tf["rotate"], scale=mesh_tf["scale"]), verts)
    for i, (pts, tol) in enumerate([(box_corners, 1e-9), (quad_corners, 1e-9), (mesh_verts, 1e-4)]):
        ref = extent(to_image(compiled, pts)[0])
        box = G.amodal_box(compiled, i)
        np.testing.assert_allclose(box_extent(box["bbox_amodal_unclipped"]), ref, atol=tol)
        assert not box["truncated"]
        np.testing.assert_allclose(box["bbox_amodal"], box["bbox_amodal_unclipped"])


MASK_OBJECTS = [
    {"type": "sphere", "radius": 0.6, "transform": {"translate": [-2.4, 1.3, 0]}},
    {"type": "box", "size": [0.9, 0.7, 0.8], "transform": {"translate": [-0.6, 1.5, 0.3], "rotate": [25, 40, 10]}},
    {"type": "disk", "radius": 0.7, "transform": {"translate": [1.2, 1.4, 0], "rotate": [50, 20, 0]}},
    {"type": "cylinder", "radius": 0.4, "height": 1.0,
     "transform": {"translate": [3.1, 1.2, 0], "rotate": [60, 0, 30]}},
    {"type": "sphere", "radius": 0.5,
     "transform": {"translate": [-1.9, -1.3, 0], "rotate": [10, 30, 45], "scale": [1.6, 0.8, 1.1]}},
    {"type": "mesh", "vertices": [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.2, 0.3, 1.0]],
     "faces": [[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
     "transform": {"translate": [0.1, -1.8, 0], "quaternion": [0.9, 0.2, 0.3, -0.1], "scale": 1.3}},
    {"type": "quad", "size": [1.2, 0.9], "transform": {"translate": [2.4, -1.4, 0], "rotate": [-30, 20, 0]}},
]


def test_rendered_masks_lie_inside_amodal_boxes_and_touch_them():
    compiled = make_scene(MASK_OBJECTS)
    boxes = [G.amodal_box(compiled, i) for i in range(len(MASK_OBJECTS))]
    ext = [box_extent(b["bbox_amodal"]) for b in boxes]
    for i, b in enumerate(boxes):  # all inside the image and pairwise disjoint: nothing occludes
        assert not b["truncated"]
        for j in range(i):
            assert ext[i][2] < ext[j][0] or ext[j][2] < ext[i][0] or ext[i][3] < ext[j][1] or ext[j][3] < ext[i][1]
    instance = raysynth.render(compiled)["instance"]
    for i, (x0, y0, x1, y1) in enumerate(ext):
        ys, xs = np.nonzero(instance == i + 1)
        assert len(xs) > 4
        cx, cy = xs + 0.5, ys + 0.5  # the centre ray of each pixel hit the object
        assert cx.min() >= x0 and cx.max() <= x1 and cy.min() >= y0 and cy.max() <= y1
        # the mask's pixel box [xmin, xmax + 1] x [ymin, ymax + 1] touches every side within a pixel
        mask_box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        assert np.abs(mask_box - [x0, y0, x1, y1]).max() <= 1.0


def test_truncated_and_outside_objects():
    compiled = make_scene([
        {"type": "sphere", "radius": 0.8, "transform": {"translate": [0.2, -0.1, 0]}},  # centred: inside
        {"type": "box", "size": [1, 1, 1], "transform": {"translate": [-3.6, 0.6, 0]}},  # across the left border
        {"type": "sphere", "radius": 0.5, "transform": {"translate": [9.0, 0.0, 0]}},  # right of the image
    ])
    inside, half, outside = (G.amodal_box(compiled, i) for i in range(3))
    assert not inside["truncated"] and inside["in_front"]
    np.testing.assert_array_equal(inside["bbox_amodal"], inside["bbox_amodal_unclipped"])

    x, y, w, h = half["bbox_amodal_unclipped"]
    assert x < 0 < x + w < W and 0 < y and y + h < H
    assert half["truncated"] and half["in_front"]
    np.testing.assert_allclose(half["bbox_amodal"], [0, y, x + w, h])

    assert outside["bbox_amodal_unclipped"][0] > W
    assert outside["truncated"] and outside["in_front"]
    np.testing.assert_array_equal(outside["bbox_amodal"], [0, 0, 0, 0])


def test_object_behind_the_camera():
    compiled = identity_scene([{"type": "box", "size": [1, 1, 1], "transform": {"translate": [0, 0, -5]},
                                "keypoints": [[0, 0, 0], [0.5, 0.5, 0.5]]}])
    box = G.amodal_box(compiled, 0)
    assert not box["in_front"] and box["truncated"] and box["bbox_amodal_unclipped"] is None
    np.testing.assert_array_equal(box["bbox_amodal"], [0, 0, 0, 0])
    assert np.isnan(G.box_3d(compiled, 0)["image"]).all()
    kp = G.keypoints(compiled, 0)
    assert (kp["v"] == 0).all() and np.isnan(kp["image"]).all()


def test_objects_crossing_the_camera_plane():
    k_sphere = np.sqrt(3.0 ** 2 / 2.9 ** 2 - 1)  # plane X = k Z tangent to the sphere |P - (3, 0, 0)| = 2.9
    k_cyl = np.roots([0.5 ** 2 - 1.5 ** 2, -2 * 1.6 * 0.5, 1.6 ** 2 - 1.5 ** 2])  # circle (1.6, *, 0.5), r 1.5
    k_cyl = k_cyl[(k_cyl * 1.6 + 0.5) > 0][0]  # the tangent line whose touching point has Z > 0
    floor = [[-10, 1, -10], [10, 1, -10], [10, 1, 10], [-10, 1, 10]]
    compiled = identity_scene([
        # floor Y = 1 under the camera, Z in [-10, 10]: v from cy + fy / 10 down, u unbounded
        {"type": "quad", "size": [20, 20], "transform": {"translate": [0, 1, 0], "rotate": [90, 0, 0]}},
        {"type": "mesh", "vertices": floor, "faces": [[0, 1, 2], [0, 2, 3]]},
        # sphere beside the camera centre (outside it): u from cx + fx k up, v unbounded
        {"type": "sphere", "radius": 2.9, "transform": {"translate": [3, 0, 0]}},
        # vertical cylinder (axis Y) beside the camera: u from cx + fx k up
        {"type": "cylinder", "radius": 1.5, "height": 2,
         "transform": {"translate": [1.6, 0, 0.5], "rotate": [90, 0, 0]}},
        # horizontal disk Y = 0.8, Z in [-1, 3]: v from cy + 0.8 fy / 3 down
        {"type": "disk", "radius": 2, "transform": {"translate": [0, 0.8, 1], "rotate": [90, 0, 0]}},
        # sphere around the camera: the whole image
        {"type": "sphere", "radius": 3, "transform": {"translate": [0.5, 0.2, -0.4]}},
        # open pipe along Z under the camera (Y in [1, 3], Z in [-10, 10]): no rim reaches the
        # camera plane, only the side does; v from cy + fy / 10 (far rim top) down, u unbounded
        {"type": "cylinder", "radius": 1, "height": 20, "caps": False, "transform": {"translate": [0, 2, 0]}},
    ])
    expected = [
        [0, CY + FY / 10, W, H - CY - FY / 10],
        [0, CY + FY / 10, W, H - CY - FY / 10],
        [CX + FX * k_sphere, 0, W - CX - FX * k_sphere, H],
        [CX + FX * k_cyl, 0, W - CX - FX * k_cyl, H],
        [0, CY + 0.8 * FY / 3, W, H - CY - 0.8 * FY / 3],
        [0, 0, W, H],
        [0, CY + FY / 10, W, H - CY - FY / 10],
    ]
    for i, ref in enumerate(expected):
        box = G.amodal_box(compiled, i)
        assert box["in_front"] and box["truncated"] and box["bbox_amodal_unclipped"] is None, i
        np.testing.assert_allclose(box["bbox_amodal"], ref, atol=1e-4 if i == 1 else 1e-7, err_msg=str(i))
    # corners behind the camera project to NaN, the others to K X / Z
    b3 = G.box_3d(compiled, 0)
    behind = b3["camera"][:, 2] <= 0
    assert behind.sum() == 4 and np.isnan(b3["image"][behind]).all()
    front = b3["camera"][~behind]
    np.testing.assert_allclose(b3["image"][~behind], np.stack([CX + FX * front[:, 0] / front[:, 2],
                                                                CY + FY * front[:, 1] / front[:, 2]], axis=1))


# ----------------------------------------------------------------------------- 3D boxes and poses
def test_box_3d_corner_order_and_projection():
    tf = {"translate": [0.5, -0.2, 0.3], "rotate": [15, -25, 40], "scale": [1.1, 0.9, 1.3]}
    compiled = make_scene([{"type": "box", "size": [1.0, 0.6, 0.4], "transform": tf}])
    b3 = G.box_3d(compiled, 0)
    lo, hi = np.array([-0.5, -0.3, -0.2]), np.array([0.5, 0.3, 0.2])
    np.testing.assert_allclose(b3["object"], [lo, hi])
    corners = np.array([[hi[0] if i & 4 else lo[0], hi[1] if i & 2 else lo[1], hi[2] if i & 1 else lo[2]]
                        for i in range(8)])
    world = apply(trs(tf["translate"], tf["rotate"], scale=tf["scale"]), corners)
    np.testing.assert_allclose(b3["world"], world, atol=1e-12)
    uv, z = to_image(compiled, world)
    np.testing.assert_allclose(b3["camera"][:, 2], z, atol=1e-12)
    np.testing.assert_allclose(b3["image"], uv, atol=1e-9)


POSE_CASES = [
    ({"translate": [0.3, -1.0, 2.0], "rotate": [20, -70, 135], "scale": [1.5, 0.5, 2.0]}, None),
    ({"translate": [-2.0, 0.5, 0.1], "quaternion": [0.3, -0.5, 0.7, 0.2], "scale": [0.7, 1.2, 1.0]}, None),
    ({"matrix": trs([1, 2, 3], [80, 10, -45], scale=[2.0, 1.0, 0.5]).tolist()}, "trs"),
    ({"matrix": (trs([1, 2, 3], [10, 20, 30]) @ np.array(
        [[1, 0.4, 0, 0], [0, 1, 0.2, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])).tolist()}, "shear"),
    ({"matrix": trs([0, 1, 0], [30, 60, -20], scale=[1.0, -2.0, 0.5]).tolist()}, "mirror"),
]


@pytest.mark.parametrize("tf, kind", POSE_CASES)
def test_pose_rotation_translation_scale(tf, kind):
    compiled = make_scene([{"type": "box", "size": [1, 1, 1], "transform": tf}])
    p = G.pose(compiled, 0)
    R, t, s = p["R"], p["t"], p["scale"]
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0, abs=1e-12)
    if "matrix" in tf:
        m = np.array(tf["matrix"])
    else:
        m = trs(tf["translate"], tf.get("rotate"), tf.get("quaternion"), tf["scale"])
    full = compiled.world_to_camera @ m
    np.testing.assert_allclose(t, full[:3, 3], atol=1e-12)
    x = np.random.default_rng(3).normal(size=(50, 3))
    if kind == "shear":  # polar decomposition: R^T A symmetric positive definite, scale its diagonal
        p_mat = R.T @ full[:3, :3]
        np.testing.assert_allclose(p_mat, p_mat.T, atol=1e-12)
        assert (np.linalg.eigvalsh(p_mat) > 0).all()
        np.testing.assert_allclose(s, np.diag(p_mat), atol=1e-12)
        return
    np.testing.assert_allclose((s * x) @ R.T + t, apply(full, x), atol=1e-12)
    if kind is None:
        rot = rotation(tf.get("rotate"), tf.get("quaternion"))
        np.testing.assert_allclose(R, compiled.world_to_camera[:3, :3] @ rot, atol=1e-12)
        np.testing.assert_allclose(s, tf["scale"], atol=1e-12)
    if kind == "mirror":  # diag(1, -2, 0.5) = diag(-1, -1, 1) diag(-1, 2, 0.5): the mirror goes on x
        np.testing.assert_allclose(s, [-1.0, 2.0, 0.5], atol=1e-12)
        ref = compiled.world_to_camera[:3, :3] @ rotation([30, 60, -20]) @ np.diag([-1, -1, 1.0])
        np.testing.assert_allclose(R, ref, atol=1e-12)


# ----------------------------------------------------------------------------- keypoints
KP_BOX = [  # object space of a 4 x 2 x 1 box at (0, 0, 6); the camera is the world origin, looking +Z
    [-1, 0, -2.5],   # world (-1, 0, 3.5): in front of the quad, nothing between -> 2
    [-0.5, 0, -0.5],  # front face (-0.5, 0, 5.5): its ray crosses the quad at x = -0.36 -> 1
    [1, 0, -0.5],    # front face (1, 0, 5.5): its ray passes beside the quad -> 2
    [1, 0, 0.5],     # back face (1, 0, 6.5): hidden by the box's own front face -> 1
    [40, 0, 0],      # (40, 0, 6): projects at u = 430, outside the image -> 0
    [0, 0, -7],      # (0, 0, -1): behind the camera -> 0
]


def keypoint_scene():
    return identity_scene([
        {"type": "box", "size": [4, 2, 1], "transform": {"translate": [0, 0, 6]}, "keypoints": KP_BOX},
        {"type": "quad", "size": [1, 2], "transform": {"translate": [-0.5, 0, 4]}},  # X in [-1, 0], Z = 4
    ])


def test_keypoint_visibility_occluder_self_outside_behind():
    compiled = keypoint_scene()
    kp = G.keypoints(compiled, 0)
    assert kp["v"].tolist() == [2, 1, 2, 1, 0, 0]
    world = np.array(KP_BOX) + [0, 0, 6]
    np.testing.assert_allclose(kp["world"], world)
    front = world[:, 2] > 0
    np.testing.assert_allclose(kp["image"][front], np.stack([CX + FX * world[front, 0] / world[front, 2],
                                                             CY + FY * world[front, 1] / world[front, 2]], axis=1))
    assert np.isnan(kp["image"][~front]).all()

    batch = G.keypoints_all(compiled)
    assert batch[0]["v"].tolist() == kp["v"].tolist()
    # the quad's default keypoints are its bounding-box corners (flat: 4 distinct, each twice)
    np.testing.assert_allclose(batch[1]["object"][::2], [[-0.5, -1, 0], [-0.5, 1, 0], [0.5, -1, 0], [0.5, 1, 0]])

    # pixel-level mode reads the instance layer: B's pixel shows the quad, C's the box
    instance = raysynth.render(compiled)["instance"]
    v_pix = G.keypoints(compiled, 0, instance_layer=instance)["v"]
    assert v_pix[[1, 2, 4, 5]].tolist() == [1, 2, 0, 0]


def test_object_geometry_is_strict_json():
    compiled = keypoint_scene()
    geo = G.object_geometry(compiled)
    assert len(geo) == 2
    text = json.dumps(geo, allow_nan=False)  # no NaN / inf, only lists and scalars
    rec = json.loads(text)[0]
    assert set(rec) == {"bbox_amodal", "bbox_amodal_unclipped", "truncated", "in_front", "pose", "bbox_3d", "keypoints"}
    rows = rec["keypoints"]["image"]
    assert [r[2] for r in rows] == [2, 1, 2, 1, 0, 0] and rows[5] == [0.0, 0.0, 0]
    assert rows[4][0] == pytest.approx(CX + FX * 40 / 6)  # outside the image: projection kept, v = 0
    np.testing.assert_allclose(rec["bbox_amodal"], G.amodal_box(compiled, 0)["bbox_amodal"])
    assert len(rec["bbox_3d"]["image"]) == 8 and all(len(r) == 2 for r in rec["bbox_3d"]["image"])
