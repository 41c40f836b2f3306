"""Compile a validated :class:`~raysynth.spec.scene.Scene` into flat arrays for the kernels.

``compile_scene`` resolves materials, class ids, mesh files and lights, bakes every analytic shape
into a canonical shape plus an affine matrix, moves triangles to world space, builds the BVH and
returns a :class:`CompiledScene`: the kernel-facing :class:`SceneArrays` (float32/int32,
C-contiguous; table layouts in ``raysynth.kernels.tags``) and the host-side metadata (camera
matrices, per-object records) that the writers need.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np

from .accel.bvh import build_bvh
from .accel.layout import pair_layout
from .assets.mesh_io import MeshFormatError, mesh_from_arrays, read_mesh
from .assets.procedural import make as make_procedural
from .errors import SceneError
from .kernels import tags as T
from .spec import scene as S


class SceneArrays(NamedTuple):
    """Everything the kernels read, as flat arrays (layouts in ``raysynth.kernels.tags``)."""

    bvh_boxes: np.ndarray      # (k, 16) float32 BVH records: boxes of both children (accel/layout.py)
    bvh_links: np.ndarray      # (k, 16) int32 view of the same records: child (offset, count) pairs
    prim_order: np.ndarray     # (P,) int32 leaf slot -> primitive
    prim_info: np.ndarray      # (P, 3) int32 [kind, index, object]
    shape_xform: np.ndarray    # (S, 24) float32 object->world and world->object 3x4
    shape_param: np.ndarray    # (S, 4) float32 [caps, canonical area, |det|, -]
    tri_geom: np.ndarray       # (T, 9) float32 world v0, e1, e2
    tri_normals: np.ndarray    # (T, 9) float32 world unit vertex normals n0, n1, n2
    obj_info: np.ndarray       # (O, 4) int32 [material, class, light, smooth]
    obj_xform: np.ndarray      # (O, 12) float32 world->object 3x4 of the user transform
    mat_params: np.ndarray     # (M, 16) float32 material table
    light_info: np.ndarray     # (L, 4) int32 [kind, ref, count, cdf offset]
    light_params: np.ndarray   # (L, 12) float32 radiance, vector, cos_max, two-sided, area
    light_cdf: np.ndarray      # (L,) float32 cumulative pick probabilities (last = 1)
    light_tri_cdf: np.ndarray  # (K,) float32 per-mesh-light cumulative triangle areas
    env: np.ndarray            # (16,) float32 environment
    camera: np.ndarray         # (24,) float32 camera
    settings: np.ndarray       # (8,) int64 [spp, max_depth, rr_depth, seed]


@dataclass
class CompiledScene:
    """Kernel arrays plus what the writers and label code need to know about the scene."""

    arrays: SceneArrays
    width: int
    height: int
    spp: int
    seed: int
    max_depth: int
    exposure: float
    K: np.ndarray                # (3, 3) float64 camera intrinsics, pixels
    world_to_camera: np.ndarray  # (4, 4) float64, OpenCV camera axes
    objects: list = field(default_factory=list)      # per-object dicts (meta.json)
    class_names: list = field(default_factory=list)  # index = class id; 0 = "background"

    @property
    def n_triangles(self) -> int:
        return int(self.arrays.tri_geom.shape[0])

    @property
    def n_primitives(self) -> int:
        return int(self.arrays.prim_info.shape[0])


# ----------------------------------------------------------------------------- transforms
def euler_matrix(degrees) -> np.ndarray:
    """R = Rz @ Ry @ Rx for angles in degrees about the world X, Y, Z axes. (3, 3) float64."""
    ax, ay, az = np.radians(np.asarray(degrees, dtype=np.float64))
    cx, sx, cy, sy, cz, sz = math.cos(ax), math.sin(ax), math.cos(ay), math.sin(ay), math.cos(az), math.sin(az)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def quaternion_matrix(q) -> np.ndarray:
    """Rotation matrix of the quaternion (w, x, y, z), normalized first. (3, 3) float64."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def transform_matrix(tf: S.Transform) -> np.ndarray:
    """Object->world matrix M = T @ R @ S (or the explicit matrix). (4, 4) float64."""
    if tf.matrix is not None:
        return np.array(tf.matrix, dtype=np.float64)
    m = np.eye(4)
    rot = quaternion_matrix(tf.quaternion) if tf.quaternion is not None else euler_matrix(tf.rotate)
    m[:3, :3] = rot @ np.diag(np.asarray(tf.scale, dtype=np.float64))
    m[:3, 3] = tf.translate
    return m


_CANONICAL_KIND = {"sphere": T.SPHERE, "box": T.BOX, "quad": T.QUAD, "disk": T.DISK, "cylinder": T.CYLINDER}


def _canonical_scale(obj) -> np.ndarray:
    """Diagonal that maps the canonical shape (unit radius / [-1, 1] extents) to the object's size."""
    if obj.type == "sphere":
        return np.array([obj.radius] * 3)
    if obj.type == "box":
        return np.asarray(obj.size, dtype=np.float64) / 2
    if obj.type == "quad":
        return np.array([obj.size[0] / 2, obj.size[1] / 2, 1.0])
    if obj.type == "disk":
        return np.array([obj.radius, obj.radius, 1.0])
    return np.array([obj.radius, obj.radius, obj.height / 2])  # cylinder


def _object_bounds(obj) -> list:
    """Object-space axis-aligned bounds [[x, y, z] min, [x, y, z] max] of an analytic shape
    (before the user transform; flat shapes have zero thickness along z)."""
    half = _canonical_scale(obj).copy()
    if obj.type in ("quad", "disk"):
        half[2] = 0.0
    return [(-half).tolist(), half.tolist()]


def _canonical_area(kind: int, caps: bool) -> float:
    return {
        T.SPHERE: 4 * math.pi,
        T.BOX: 24.0,
        T.QUAD: 4.0,
        T.DISK: math.pi,
        T.CYLINDER: 4 * math.pi + (2 * math.pi if caps else 0.0),
    }[kind]


def _analytic_half_extent(kind: int, lin: np.ndarray) -> np.ndarray:
    """Half extent per world axis of the canonical shape mapped by the 3x3 matrix `lin` (tight)."""
    if kind == T.SPHERE:
        return np.sqrt((lin ** 2).sum(axis=1))
    if kind == T.BOX:
        return np.abs(lin).sum(axis=1)
    if kind == T.QUAD:
        return np.abs(lin[:, 0]) + np.abs(lin[:, 1])
    if kind == T.DISK:
        return np.sqrt(lin[:, 0] ** 2 + lin[:, 1] ** 2)
    return np.abs(lin[:, 2]) + np.sqrt(lin[:, 0] ** 2 + lin[:, 1] ** 2)  # cylinder


def _pad_bounds(lo: np.ndarray, hi: np.ndarray):
    """float64 bounds -> float32 bounds padded outward (covers float32 rounding in the kernels)."""
    pad = 1e-6 * np.maximum(np.abs(lo), np.abs(hi)).max(axis=-1, keepdims=True) + 1e-12
    lo32 = np.nextafter((lo - pad).astype(np.float32), np.float32(-np.inf))
    hi32 = np.nextafter((hi + pad).astype(np.float32), np.float32(np.inf))
    return lo32, hi32


def _luminance(c) -> float:
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


# ----------------------------------------------------------------------------- materials
def _material_row(mat) -> np.ndarray:
    row = np.zeros(T.MAT_COLUMNS, dtype=np.float32)
    if mat.type == "diffuse":
        row[T.MAT_KIND] = T.DIFFUSE
        row[T.MAT_COLOR:T.MAT_COLOR + 3] = mat.albedo
        if mat.checker is not None:
            row[T.MAT_COLOR:T.MAT_COLOR + 3] = mat.checker.color_a
            row[T.MAT_COLOR_B:T.MAT_COLOR_B + 3] = mat.checker.color_b
            row[T.MAT_CHECKER_SCALE] = mat.checker.scale
    elif mat.type == "conductor":
        row[T.MAT_KIND] = T.CONDUCTOR
        row[T.MAT_COLOR:T.MAT_COLOR + 3] = mat.color
        row[T.MAT_ROUGHNESS] = mat.roughness
    elif mat.type == "dielectric":
        row[T.MAT_KIND] = T.DIELECTRIC
        row[T.MAT_COLOR:T.MAT_COLOR + 3] = mat.color
        row[T.MAT_IOR] = mat.ior
    else:
        row[T.MAT_KIND] = T.EMISSIVE
        row[T.MAT_COLOR:T.MAT_COLOR + 3] = mat.albedo
        row[T.MAT_EMISSION:T.MAT_EMISSION + 3] = np.asarray(mat.radiance) * mat.intensity
        row[T.MAT_TWO_SIDED] = 1.0 if mat.two_sided else 0.0
    return row


# ----------------------------------------------------------------------------- camera
def camera_matrices(cam: S.Camera, width: int, height: int):
    """Intrinsics K (3, 3) and world->camera (4, 4) in OpenCV axes (x right, y down, z forward)."""
    pos = np.asarray(cam.position, dtype=np.float64)
    forward = np.asarray(cam.look_at, dtype=np.float64) - pos
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(cam.up, dtype=np.float64))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rot = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    w2c = np.eye(4)
    w2c[:3, :3] = rot
    w2c[:3, 3] = -rot @ pos
    if cam.intrinsics is not None:
        sx, sy = width / cam.width, height / cam.height
        k = cam.intrinsics
        fx, fy, cx, cy = k.fx * sx, k.fy * sy, k.cx * sx, k.cy * sy
    else:
        fy = 0.5 * height / math.tan(math.radians(cam.fov) / 2)
        fx, cx, cy = fy, width / 2, height / 2
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    return K, w2c


# ----------------------------------------------------------------------------- meshes
def _load_mesh(obj: S.Mesh, index: int, base_dir: Optional[Path]):
    where = f"objects[{index}]"
    if obj.procedural is not None:
        spec = obj.procedural.model_dump()
        try:
            return make_procedural(spec.pop("kind"), **spec).to_mesh()
        except (ValueError, MeshFormatError) as err:
            raise SceneError(f"{where}.procedural: {err}") from None
    try:
        if obj.file is not None:
            path = Path(obj.file)
            if not path.is_absolute():
                path = (base_dir or Path.cwd()) / path
            return read_mesh(path)
        return mesh_from_arrays(obj.vertices, obj.faces, normals=obj.normals)
    except MeshFormatError as err:
        field_name = "file" if obj.file is not None else "vertices"
        raise SceneError(f"{where}.{field_name}: {err}") from None


# ----------------------------------------------------------------------------- compile
def compile_scene(
    scene: S.Scene,
    base_dir: Optional[Path] = None,
    *,
    spp: Optional[int] = None,
    seed: Optional[int] = None,
    width: Optional[int] = None,
    height: Optional[int] = None,
    max_depth: Optional[int] = None,
) -> CompiledScene:
    """Turn a validated scene into kernel arrays and metadata.

    Parameters
    ----------
    scene : Scene (validated)
    base_dir : folder that relative mesh paths are resolved against (the scene file's folder)
    spp, seed, width, height, max_depth : optional overrides of the scene's settings
    """
    settings = scene.render
    spp = settings.spp if spp is None else int(spp)
    seed = settings.seed if seed is None else int(seed)
    max_depth = settings.max_depth if max_depth is None else int(max_depth)
    width = scene.camera.width if width is None else int(width)
    height = scene.camera.height if height is None else int(height)
    for name, value, lo, hi in (("spp", spp, 1, 1 << 20), ("seed", seed, 0, (1 << 63) - 1),
                                ("width", width, 1, 16384), ("height", height, 1, 16384),
                                ("max_depth", max_depth, 1, 1024)):
        if not lo <= value <= hi:
            raise SceneError(f"{name}: must be in [{lo}, {hi}] (got {value})")

    # ---- materials: named ones first, inline ones appended per object
    mat_rows = []
    named_material = {}
    for name, mat in scene.materials.items():
        named_material[name] = len(mat_rows)
        mat_rows.append(_material_row(mat))

    # ---- class ids: fixed list, or labels in order of first appearance
    class_names = ["background"]
    if scene.classes is not None:
        class_names += list(scene.classes)
    else:
        for obj in scene.objects:
            if obj.label is not None and obj.label not in class_names[1:]:
                class_names.append(obj.label)
    class_id = {name: i for i, name in enumerate(class_names) if i > 0}

    # ---- objects: analytic shapes and triangles
    prim_rows, shape_xf, shape_par = [], [], []
    bounds_lo, bounds_hi = [], []
    tri_chunks, tri_normal_chunks = [], []
    n_tris = 0
    obj_info = np.zeros((len(scene.objects), 4), dtype=np.int32)
    obj_xform = np.zeros((len(scene.objects), 12), dtype=np.float32)
    objects_meta = []
    emitters = []  # (object index, material, kind, ref, extra)
    for i, obj in enumerate(scene.objects):
        m_user = transform_matrix(obj.transform)
        w_user = np.linalg.inv(m_user)
        mat = scene.materials[obj.material] if isinstance(obj.material, str) else obj.material
        if isinstance(obj.material, str):
            mat_row = named_material[obj.material]
        else:
            mat_row = len(mat_rows)
            mat_rows.append(_material_row(mat))
        obj_info[i] = (mat_row, class_id.get(obj.label, 0), -1, 0)
        obj_xform[i] = w_user[:3, :4].reshape(-1)
        meta = {
            "instance_id": i + 1,
            "class_id": class_id.get(obj.label, 0),
            "class_name": obj.label,
            "name": obj.name,
            "type": obj.type,
            "object_to_world": m_user.tolist(),
        }

        if obj.type == "mesh":
            mesh = _load_mesh(obj, i, base_dir)
            verts = mesh.vertices.astype(np.float64) @ m_user[:3, :3].T + m_user[:3, 3]
            tri = verts[mesh.faces]  # (m, 3, 3)
            v0 = tri[:, 0]
            geom = np.concatenate([v0, tri[:, 1] - v0, tri[:, 2] - v0], axis=1).astype(np.float32)
            if mesh.normals is not None and obj.smooth:
                normals = mesh.normals.astype(np.float64) @ w_user[:3, :3]  # inverse transpose
                normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)
                tri_normal_chunks.append(normals[mesh.faces].reshape(-1, 9).astype(np.float32))
                obj_info[i, T.OBJ_SMOOTH] = 1
            else:
                tri_normal_chunks.append(np.zeros((len(geom), 9), dtype=np.float32))
            lo, hi = _pad_bounds(tri.min(axis=1), tri.max(axis=1))
            count = len(geom)
            prim_rows.append(np.stack([
                np.full(count, T.TRIANGLE), np.arange(n_tris, n_tris + count), np.full(count, i)
            ], axis=1))
            tri_chunks.append(geom)
            bounds_lo.append(lo)
            bounds_hi.append(hi)
            areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - v0, tri[:, 2] - v0), axis=1)
            meta["triangles"] = int(count)
            meta["bounds_object"] = [mesh.vertices.min(axis=0).tolist(), mesh.vertices.max(axis=0).tolist()]
            emitters.append((i, mat, T.LIGHT_MESH, n_tris, areas))
            n_tris += count
        else:
            kind = _CANONICAL_KIND[obj.type]
            caps = bool(getattr(obj, "caps", False))
            m_shape = m_user.copy()
            m_shape[:3, :3] = m_user[:3, :3] @ np.diag(_canonical_scale(obj))
            w_shape = np.linalg.inv(m_shape)
            det = abs(np.linalg.det(m_shape[:3, :3]))
            meta["shape_to_world"] = m_shape.tolist()
            meta["bounds_object"] = _object_bounds(obj)
            s = len(shape_xf)
            shape_xf.append(np.concatenate([m_shape[:3, :4].reshape(-1), w_shape[:3, :4].reshape(-1)]))
            shape_par.append([1.0 if caps else 0.0, _canonical_area(kind, caps), det, 0.0])
            ext = _analytic_half_extent(kind, m_shape[:3, :3])
            lo, hi = _pad_bounds((m_shape[:3, 3] - ext)[None], (m_shape[:3, 3] + ext)[None])
            prim = sum(len(r) for r in prim_rows)
            prim_rows.append(np.array([[kind, s, i]]))
            bounds_lo.append(lo)
            bounds_hi.append(hi)
            # world area for light power: canonical area times the mean area stretch (approx.)
            emitters.append((i, mat, T.LIGHT_SHAPE, prim, _canonical_area(kind, caps) * det ** (2 / 3)))
        if obj.keypoints is not None:
            meta["keypoints_object"] = [list(map(float, k)) for k in obj.keypoints]
        objects_meta.append(meta)

    prim_info = np.ascontiguousarray(np.concatenate(prim_rows).astype(np.int32))
    lo_all = np.concatenate(bounds_lo).astype(np.float32)
    hi_all = np.concatenate(bounds_hi).astype(np.float32)
    bvh = build_bvh(lo_all, hi_all)
    scene_lo = lo_all.min(axis=0).astype(np.float64)
    scene_hi = hi_all.max(axis=0).astype(np.float64)
    scene_radius = 0.5 * float(np.linalg.norm(scene_hi - scene_lo)) + 1e-6

    # ---- lights: emissive objects, then point / directional / environment
    light_info, light_params, light_power, tri_cdfs = [], [], [], []
    cdf_offset = 0
    for i, mat, kind, ref, extra in emitters:
        if mat.type != "emissive":
            continue
        radiance = np.asarray(mat.radiance, dtype=np.float64) * mat.intensity
        if not radiance.any():
            continue
        params = np.zeros(T.LP_COLUMNS)
        params[T.LP_RADIANCE:T.LP_RADIANCE + 3] = radiance
        params[T.LP_TWO_SIDED] = 1.0 if mat.two_sided else 0.0
        sides = 2.0 if mat.two_sided else 1.0
        if kind == T.LIGHT_MESH:
            areas = extra
            total = float(areas.sum())
            if total <= 0:
                continue
            params[T.LP_AREA] = total
            cdf = np.cumsum(areas) / total
            cdf[-1] = 1.0
            light_info.append([T.LIGHT_MESH, ref, len(areas), cdf_offset])
            tri_cdfs.append(cdf)
            cdf_offset += len(areas)
            area = total
        else:
            light_info.append([T.LIGHT_SHAPE, ref, 1, 0])
            area = extra
        obj_info[i, T.OBJ_LIGHT] = len(light_params)
        light_params.append(params)
        light_power.append(_luminance(radiance) * area * math.pi * sides)

    env = np.zeros(T.ENV_COLUMNS, dtype=np.float32)
    env[T.ENV_LIGHT] = -1
    for light in scene.lights:
        params = np.zeros(T.LP_COLUMNS)
        if light.type == "point":
            intensity = np.asarray(light.intensity, dtype=np.float64)
            params[T.LP_RADIANCE:T.LP_RADIANCE + 3] = intensity
            params[T.LP_VECTOR:T.LP_VECTOR + 3] = light.position
            info, power = [T.LIGHT_POINT, 0, 0, 0], 4 * math.pi * _luminance(intensity)
        elif light.type == "directional":
            towards = -np.asarray(light.direction, dtype=np.float64)
            towards /= np.linalg.norm(towards)
            irradiance = np.asarray(light.irradiance, dtype=np.float64)
            params[T.LP_VECTOR:T.LP_VECTOR + 3] = towards
            if light.angular_radius > 0:
                cos_max = math.cos(math.radians(light.angular_radius))
                # a disc of uniform radiance L gives irradiance E = L * pi * sin^2(radius)
                params[T.LP_RADIANCE:T.LP_RADIANCE + 3] = irradiance / (math.pi * (1 - cos_max * cos_max))
                params[T.LP_COS_MAX] = cos_max
            else:
                params[T.LP_RADIANCE:T.LP_RADIANCE + 3] = irradiance
                params[T.LP_COS_MAX] = 1.0
            info, power = [T.LIGHT_DIRECTIONAL, 0, 0, 0], _luminance(irradiance) * math.pi * scene_radius ** 2
        else:
            if light.type == "environment":
                env[T.ENV_KIND] = T.ENV_CONSTANT
                env[T.ENV_COLOR:T.ENV_COLOR + 3] = np.asarray(light.color) * light.intensity
                mean = np.asarray(light.color) * light.intensity
            else:
                env[T.ENV_KIND] = T.ENV_SKY
                env[T.ENV_COLOR:T.ENV_COLOR + 3] = np.asarray(light.zenith) * light.intensity
                env[T.ENV_HORIZON:T.ENV_HORIZON + 3] = np.asarray(light.horizon) * light.intensity
                env[T.ENV_GROUND:T.ENV_GROUND + 3] = np.asarray(light.ground) * light.intensity
                up = np.asarray(light.up, dtype=np.float64)
                env[T.ENV_UP:T.ENV_UP + 3] = up / np.linalg.norm(up)
                mean = (np.asarray(light.zenith) + np.asarray(light.horizon) + 2 * np.asarray(light.ground)) / 4 * light.intensity
            info, power = [T.LIGHT_ENVIRONMENT, 0, 0, 0], _luminance(mean) * 4 * math.pi ** 2 * scene_radius ** 2
            if power <= 0:
                continue
            env[T.ENV_LIGHT] = len(light_params)
        if power <= 0:
            continue
        light_info.append(info)
        light_params.append(params)
        light_power.append(power)

    power = np.asarray(light_power, dtype=np.float64)
    light_cdf = np.cumsum(power) / power.sum() if len(power) else np.zeros(0)
    if len(light_cdf):
        light_cdf[-1] = 1.0

    # ---- camera and settings
    K, w2c = camera_matrices(scene.camera, width, height)
    cam = np.zeros(T.CAM_COLUMNS, dtype=np.float32)
    cam[T.CAM_POS:T.CAM_POS + 3] = scene.camera.position
    cam[T.CAM_RIGHT:T.CAM_RIGHT + 3] = w2c[0, :3]
    cam[T.CAM_DOWN:T.CAM_DOWN + 3] = w2c[1, :3]
    cam[T.CAM_FORWARD:T.CAM_FORWARD + 3] = w2c[2, :3]
    cam[T.CAM_FX], cam[T.CAM_FY], cam[T.CAM_CX], cam[T.CAM_CY] = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    cam[T.CAM_APERTURE] = scene.camera.aperture_radius
    focus = scene.camera.focus_distance
    if focus is None:
        focus = float(np.linalg.norm(np.subtract(scene.camera.look_at, scene.camera.position)))
    cam[T.CAM_FOCUS] = focus
    cam[T.CAM_WIDTH], cam[T.CAM_HEIGHT] = width, height
    run = np.zeros(T.SET_COLUMNS, dtype=np.int64)
    run[T.SET_SPP], run[T.SET_MAX_DEPTH], run[T.SET_RR_DEPTH], run[T.SET_SEED] = spp, max_depth, settings.rr_depth, seed

    def f32(a, cols):
        return np.ascontiguousarray(np.asarray(a, dtype=np.float32).reshape(-1, cols))

    def i32(a, cols):
        return np.ascontiguousarray(np.asarray(a, dtype=np.int32).reshape(-1, cols))

    bvh_boxes, bvh_links = pair_layout(bvh.node_bounds, bvh.node_info)
    arrays = SceneArrays(
        bvh_boxes=bvh_boxes,
        bvh_links=bvh_links,
        prim_order=np.ascontiguousarray(bvh.prim_order, dtype=np.int32),
        prim_info=prim_info,
        shape_xform=f32(shape_xf, 24),
        shape_param=f32(shape_par, 4),
        tri_geom=f32(np.concatenate(tri_chunks) if tri_chunks else [], 9),
        tri_normals=f32(np.concatenate(tri_normal_chunks) if tri_normal_chunks else [], 9),
        obj_info=np.ascontiguousarray(obj_info),
        obj_xform=np.ascontiguousarray(obj_xform),
        mat_params=f32(mat_rows, T.MAT_COLUMNS),
        light_info=i32(light_info, 4),
        light_params=f32(light_params, T.LP_COLUMNS),
        light_cdf=np.ascontiguousarray(light_cdf, dtype=np.float32),
        light_tri_cdf=np.ascontiguousarray(np.concatenate(tri_cdfs) if tri_cdfs else np.zeros(0), dtype=np.float32),
        env=env,
        camera=cam,
        settings=run,
    )
    return CompiledScene(
        arrays=arrays, width=width, height=height, spp=spp, seed=seed, max_depth=max_depth,
        exposure=settings.exposure, K=K, world_to_camera=w2c, objects=objects_meta, class_names=class_names,
    )


def triangle_scene_arrays(vertices: np.ndarray, faces: np.ndarray) -> SceneArrays:
    """SceneArrays holding only a triangle mesh (for ray casting, no materials or lights).

    Parameters
    ----------
    vertices : (n, 3) float world positions
    faces : (m, 3) int vertex indices; primitive i is triangle i
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    tri = vertices[faces]
    v0 = tri[:, 0]
    geom = np.ascontiguousarray(np.concatenate([v0, tri[:, 1] - v0, tri[:, 2] - v0], axis=1), dtype=np.float32)
    lo, hi = _pad_bounds(tri.min(axis=1), tri.max(axis=1))
    bvh = build_bvh(lo, hi)
    count = len(faces)
    prim_info = np.zeros((count, 3), dtype=np.int32)
    prim_info[:, T.PRIM_KIND] = T.TRIANGLE
    prim_info[:, T.PRIM_INDEX] = np.arange(count, dtype=np.int32)
    empty = lambda *shape, dt=np.float32: np.zeros(shape, dtype=dt)  # noqa: E731
    bvh_boxes, bvh_links = pair_layout(bvh.node_bounds, bvh.node_info)
    return SceneArrays(
        bvh_boxes=bvh_boxes, bvh_links=bvh_links,
        prim_order=np.ascontiguousarray(bvh.prim_order), prim_info=prim_info,
        shape_xform=empty(0, 24), shape_param=empty(0, 4), tri_geom=geom, tri_normals=empty(0, 9),
        obj_info=empty(1, 4, dt=np.int32), obj_xform=empty(1, 12), mat_params=empty(1, T.MAT_COLUMNS),
        light_info=empty(0, 4, dt=np.int32), light_params=empty(0, T.LP_COLUMNS), light_cdf=empty(0),
        light_tri_cdf=empty(0), env=empty(T.ENV_COLUMNS), camera=empty(T.CAM_COLUMNS),
        settings=empty(T.SET_COLUMNS, dt=np.int64),
    )
