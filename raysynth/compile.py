"""Compile a validated :class:`~raysynth.spec.scene.Scene` into flat arrays for the kernels.

``compile_scene`` resolves materials, class ids, mesh files and lights, bakes every analytic shape
into a canonical shape plus an affine matrix, moves triangles to world space, builds the BVH and
returns a :class:`CompiledScene`: the kernel-facing :class:`SceneArrays` (float32/int32,
C-contiguous; table layouts in ``raysynth.kernels.tags``) and the host-side metadata (camera
matrices, per-object records) that the writers need.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
from llvmlite import ir as llvm_ir
from numba import prange, types
from numba.extending import intrinsic

from ._jit import host_jit, parallel_host_jit
from .accel.bvh import build_bvh
from .accel.layout import WIDE_LINKS, WIDTH, _aligned_empty, pair_layout, wide_layout
from .errors import RaysynthError, SceneError
from .kernels import tags as T
from .textures import (TextureTable, diffuse_texture_columns, environment_image_columns, mesh_uses_mtl,
                       mtl_material_rows, triangle_uvs)
from .spec import scene as S


class SceneArrays(NamedTuple):
    """Everything the kernels read, as flat arrays (layouts in ``raysynth.kernels.tags``)."""

    bvh_boxes: np.ndarray      # (k, 64) float32 8-wide BVH records: child boxes (accel/layout.py)
    bvh_links: np.ndarray      # (k, 64) int32 view of the same records: child (offset, count) pairs
    prim_order: np.ndarray     # (P,) int32 leaf slot -> primitive
    prim_info: np.ndarray      # (P, 3) int32 [kind, index, object]
    shape_xform: np.ndarray    # (S, 24) float32 object->world and world->object 3x4
    shape_param: np.ndarray    # (S, SP_COLUMNS) float32 [caps, canonical area, |det|, -, face normals]
    tri_geom: np.ndarray       # (T, 9) float32 world corners v0, v1, v2
    tri_normals: np.ndarray    # (T, 9) float32 world unit vertex normals n0, n1, n2
    tri_part: np.ndarray       # (T,) int32 mesh part of each triangle (index into its object's parts)
    obj_info: np.ndarray       # (O, 4) int32 [material, class, light, smooth]
    obj_xform: np.ndarray      # (O, 12) float32 world->object 3x4 of the user transform
    inst_info: np.ndarray      # (I, 8) int32 mesh instances [root record, object, mirror, ...]
    inst_xform: np.ndarray     # (I, 24) float32 instance object->world and world->object 3x4
    mat_params: np.ndarray     # (M, 16) float32 material table
    light_info: np.ndarray     # (L, 4) int32 [kind, ref, count, cdf offset]
    light_params: np.ndarray   # (L, 12) float32 radiance, vector, cos_max, two-sided, area
    light_cdf: np.ndarray      # (L,) float32 cumulative pick probabilities (last = 1)
    light_tri_cdf: np.ndarray  # (K,) float32 per-mesh-light cumulative triangle areas
    env: np.ndarray            # (16,) float32 environment
    camera: np.ndarray         # (24,) float32 camera
    settings: np.ndarray       # (8,) int64 [spp, max_depth, rr_depth, seed]
    tex_info: np.ndarray       # (N, 8) int32 textures [kind, texel offset, width, height, wrap, octaves, seed]
    tex_params: np.ndarray     # (N, 8) float32 textures [uv scale, uv offset | cells, lacunarity, gain]
    texels: np.ndarray         # (K,) float32 linear RGB texels of every image (raysynth/textures.py)
    tri_uvs: np.ndarray        # (T, 6) float32 corner uvs per triangle; (0, 6) without image textures
    tri_material: np.ndarray   # (T,) int32 MTL material slot per triangle; (0,) when no object uses MTL
    obj_mtl: np.ndarray        # (O,) int32 material row of the object's MTL slot 0, -1 = not used


def empty_scene_arrays(**fields) -> SceneArrays:
    """A SceneArrays of empty tables (each of its field's dtype and number of dimensions), with
    the given ``fields`` in place of theirs.

    Its Numba type is that of every compiled scene's arrays (tested), so the launchers can be
    compiled for it before a scene exists (``backends.cpu.compile_ahead``)."""
    f32, i32 = np.float32, np.int32

    def empty(*shape, dtype=f32):
        return np.zeros(shape, dtype=dtype)

    boxes = _aligned_empty(0)
    tables = dict(
        bvh_boxes=boxes, bvh_links=boxes.view(i32), prim_order=empty(0, dtype=i32), prim_info=empty(0, 3, dtype=i32),
        shape_xform=empty(0, 24), shape_param=empty(0, T.SP_COLUMNS), tri_geom=empty(0, 9), tri_normals=empty(0, 9),
        tri_part=empty(0, dtype=i32), obj_info=empty(0, 4, dtype=i32), obj_xform=empty(0, 12),
        inst_info=empty(0, T.INST_COLUMNS, dtype=i32), inst_xform=empty(0, 24), mat_params=empty(0, T.MAT_COLUMNS),
        light_info=empty(0, 4, dtype=i32), light_params=empty(0, T.LP_COLUMNS), light_cdf=empty(0),
        light_tri_cdf=empty(0), env=empty(T.ENV_COLUMNS), camera=empty(T.CAM_COLUMNS),
        settings=empty(T.SET_COLUMNS, dtype=np.int64), tex_info=empty(0, T.TI_COLUMNS, dtype=i32),
        tex_params=empty(0, T.TP_COLUMNS), texels=empty(0), tri_uvs=empty(0, 6), tri_material=empty(0, dtype=i32),
        obj_mtl=empty(0, dtype=i32),
    )
    tables.update(fields)
    return SceneArrays(**tables)


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
    stack_needed: int = 0        # most traversal stack entries a ray may use (<= STACK_SIZE)

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


@intrinsic
def _f32_bits(typingctx, x):
    """The bits of float32 ``x`` as an int32."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], llvm_ir.IntType(32))
    return types.int32(types.float32), codegen


@intrinsic
def _f32_from_bits(typingctx, b):
    """The float32 whose bits are int32 ``b``."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], llvm_ir.FloatType())
    return types.float32(types.int32), codegen


@host_jit
def _next_down(x):
    """``np.nextafter(x, -inf)`` of float32 ``x`` as a step on its bits (no libm call)."""
    if x == np.float32(0.0):
        return _f32_from_bits(np.int32(-2147483647))   # -(smallest subnormal)
    if not x > np.float32(-np.inf):                     # -inf, nan
        return x
    return _f32_from_bits(_f32_bits(x) + (np.int32(-1) if x > np.float32(0.0) else np.int32(1)))


@host_jit
def _next_up(x):
    """``np.nextafter(x, inf)`` of float32 ``x`` as a step on its bits (no libm call)."""
    if x == np.float32(0.0):
        return _f32_from_bits(np.int32(1))               # smallest subnormal
    if not x < np.float32(np.inf):                       # inf, nan
        return x
    return _f32_from_bits(_f32_bits(x) + (np.int32(1) if x > np.float32(0.0) else np.int32(-1)))


@parallel_host_jit
def _triangle_geometry_kernel(vertices, faces, geom, lo, hi):
    """Fill ``geom`` (m, 9) float32 [v0, v1, v2] and ``lo``, ``hi`` (m, 3) float32 padded boxes
    of the triangles ``vertices[faces]``, one triangle per ``prange`` iteration: float64 gather
    and min/max, then :func:`_pad_bounds`'s maths. A vertex shared by several triangles is the
    same float32 value in each (what makes the watertight intersection watertight). Returns how many faces hold an index outside [-n, n) (their rows are
    left unwritten)."""
    n = vertices.shape[0]
    bad = 0
    for i in prange(faces.shape[0]):
        a = np.int64(faces[i, 0])
        b = np.int64(faces[i, 1])
        c = np.int64(faces[i, 2])
        if min(a, b, c) < -n or max(a, b, c) >= n:
            bad += 1
            continue
        # negative indices count from the end, as in NumPy
        ua = np.uint64(a + n if a < 0 else a)
        ub = np.uint64(b + n if b < 0 else b)
        uc = np.uint64(c + n if c < 0 else c)
        reach = 0.0   # max |coordinate| of the box corners: the pad's scale
        for k in range(3):
            p0 = np.float64(vertices[ua, k])
            p1 = np.float64(vertices[ub, k])
            p2 = np.float64(vertices[uc, k])
            geom[i, k] = np.float32(p0)
            geom[i, 3 + k] = np.float32(p1)
            geom[i, 6 + k] = np.float32(p2)
            reach = max(reach, abs(min(p0, p1, p2)), abs(max(p0, p1, p2)))
        pad = 1e-6 * reach + 1e-12
        for k in range(3):
            p0 = np.float64(vertices[ua, k])
            p1 = np.float64(vertices[ub, k])
            p2 = np.float64(vertices[uc, k])
            lo[i, k] = _next_down(np.float32(min(p0, p1, p2) - pad))
            hi[i, k] = _next_up(np.float32(max(p0, p1, p2) + pad))
    return bad


def triangle_geometry(vertices: np.ndarray, faces: np.ndarray):
    """Kernel rows and BVH boxes of the triangles ``vertices[faces]``.

    Parameters
    ----------
    vertices : (n, 3) real positions (used in float64)
    faces : (m, 3) integer vertex indices (negative ones count from the end, as in NumPy)

    Returns
    -------
    geom : (m, 9) float32 corners v0, v1, v2
    lo, hi : (m, 3) float32 triangle boxes padded outward by :func:`_pad_bounds`
    """
    vertices = np.asarray(vertices)
    if vertices.dtype not in (np.float32, np.float64):
        vertices = vertices.astype(np.float64)
    faces = np.asarray(faces)
    if faces.dtype not in (np.int32, np.int64):
        faces = faces.astype(np.int64)
    vertices = np.ascontiguousarray(vertices).reshape(-1, 3)
    faces = np.ascontiguousarray(faces).reshape(-1, 3)
    m = faces.shape[0]
    geom = np.empty((m, 9), np.float32)
    lo = np.empty((m, 3), np.float32)
    hi = np.empty((m, 3), np.float32)
    if _triangle_geometry_kernel(vertices, faces, geom, lo, hi):
        raise IndexError(f"faces: vertex index out of bounds for {vertices.shape[0]} vertices")
    return geom, lo, hi


def _luminance(c) -> float:
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


# ----------------------------------------------------------------------------- materials
def _material_row(mat, textures: Optional[TextureTable] = None, where: str = "") -> np.ndarray:
    """The mat_params row of a material; textures are added to ``textures`` (``where``: the
    material's field path, for errors)."""
    row = np.zeros(T.MAT_COLUMNS, dtype=np.float32)
    row[T.MAT_TEXTURE] = -1.0
    if mat.type == "diffuse":
        row[T.MAT_KIND] = T.DIFFUSE
        diffuse_texture_columns(row, mat, textures, where)
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
    # imported on use: scenes of analytic shapes only (and the CLI's start-up) skip them
    from .assets.mesh_io import MeshFormatError, mesh_from_arrays, read_mesh
    from .assets.procedural import make as make_procedural

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
        return mesh_from_arrays(obj.vertices, obj.faces, normals=obj.normals, face_groups=obj.parts,
                                group_names=None if obj.part_names is None else tuple(obj.part_names))
    except MeshFormatError as err:
        field_name = "file" if obj.file is not None else "vertices"
        raise SceneError(f"{where}.{field_name}: {err}") from None


def _mesh_digest(mesh) -> str:
    """Content hash of everything a mesh contributes to a render (geometry, attributes, labels)."""
    digest = hashlib.sha256()
    for a in (mesh.vertices, mesh.faces, mesh.normals, mesh.uvs, mesh.colors, mesh.face_groups,
              mesh.face_materials):
        digest.update(b"-" if a is None else f"{a.dtype}{a.shape}".encode() + np.ascontiguousarray(a).tobytes())
    digest.update(json.dumps([mesh.group_names, mesh.material_names, mesh.materials], sort_keys=True,
                             default=str).encode())
    return digest.hexdigest()


def _load_meshes(scene: S.Scene, base_dir: Optional[Path]):
    """Load every mesh of the scene once: (meshes, mesh_of) with mesh_of[object index] the index
    in ``meshes``. A file (by resolved path) or procedural spec is read once; meshes with the
    same content (``_mesh_digest``) are one entry, whatever their source."""
    meshes, mesh_of, by_source, by_digest = [], {}, {}, {}
    for i, obj in enumerate(scene.objects):
        if obj.type != "mesh":
            continue
        if obj.file is not None:
            path = Path(obj.file)
            key = ("file", str((path if path.is_absolute() else (base_dir or Path.cwd()) / path).resolve()))
        elif obj.procedural is not None:
            key = ("procedural", json.dumps(obj.procedural.model_dump(), sort_keys=True))
        else:
            key = None
        if key is not None and key in by_source:
            mesh_of[i] = by_source[key]
            continue
        mesh = _load_mesh(obj, i, base_dir)
        m = by_digest.setdefault(_mesh_digest(mesh), len(meshes))
        if m == len(meshes):
            meshes.append(mesh)
        if key is not None:
            by_source[key] = m
        mesh_of[i] = m
    return meshes, mesh_of


def _is_emissive(scene: S.Scene, obj) -> bool:
    mat = scene.materials[obj.material] if isinstance(obj.material, str) else obj.material
    return mat.type == "emissive"


def _instanced_meshes(scene: S.Scene, meshes, mesh_of, mode: str) -> set:
    """Indices of the meshes that get one shared object-space BVH (see ``render.instancing``).

    Emissive objects always get world-space copies (light sampling reads world triangles), so
    only non-emissive uses count. "auto": meshes with at least 2 such uses (a mesh used once is
    fastest flattened into the top-level BVH: no ray transform, tighter boxes)."""
    if mode == "never":
        return set()
    uses = np.zeros(len(meshes), dtype=np.int64)
    for i, m in mesh_of.items():
        if not _is_emissive(scene, scene.objects[i]):
            uses[m] += 1
    least = 1 if mode == "always" else 2
    return {m for m in range(len(meshes)) if uses[m] >= least}


class _BottomLevel(NamedTuple):
    """An instanced mesh's object-space triangles and BVH, before linking into the scene."""

    geom: np.ndarray       # (m, 9) float32 object-space corners v0, v1, v2
    normals: np.ndarray    # (m, 9) float32 object-space unit vertex normals (zeros: none)
    records: np.ndarray    # (k, 16) int32 paired-child records (links local to this tree)
    prim_order: np.ndarray  # (m,) int32 leaf slot -> triangle of this mesh
    cover_lo: np.ndarray   # (c, 3) float64 boxes that together cover the mesh (for world bounds)
    cover_hi: np.ndarray


def _bottom_level(mesh) -> _BottomLevel:
    geom, lo, hi = triangle_geometry(mesh.vertices, mesh.faces)
    if mesh.normals is not None:
        normals = mesh.normals[mesh.faces].reshape(-1, 9).astype(np.float32)
    else:
        normals = np.zeros((len(geom), 9), dtype=np.float32)
    bvh = build_bvh(lo, hi)
    records_f, _ = pair_layout(bvh.node_bounds, bvh.node_info)
    # the node boxes 4 levels down (or leaves above them) cover the mesh more tightly than its
    # root box does once rotated: their transformed corners give each instance's world box
    info, frontier, cover = bvh.node_info, [0], []
    for _ in range(4):
        nxt = []
        for n in frontier:
            if info[n, 1] > 0:
                cover.append(n)
            else:
                nxt += [n + 1, int(info[n, 0])]
        frontier = nxt
    cover = np.asarray(cover + frontier, dtype=np.int64)
    boxes = bvh.node_bounds[cover].astype(np.float64)
    return _BottomLevel(geom, normals, records_f.view(np.int32).copy(), np.asarray(bvh.prim_order, dtype=np.int32),
                        boxes[:, :3], boxes[:, 3:])


def _instance_bounds(bottom: _BottomLevel, m_user: np.ndarray):
    """float32 world box of a mesh instance: the transformed corners of the covering boxes,
    padded by 1e-5 of the box's size and position (the kernels map rays to object space in
    float32, so a hit found there may sit a rounding error outside the exact box)."""
    corners = np.stack(np.meshgrid([0, 1], [0, 1], [0, 1], indexing="ij"), axis=-1).reshape(8, 3)
    pts = np.where(corners[None] == 0, bottom.cover_lo[:, None], bottom.cover_hi[:, None]).reshape(-1, 3)
    world = pts @ m_user[:3, :3].T + m_user[:3, 3]
    lo, hi = world.min(axis=0), world.max(axis=0)
    pad = 1e-5 * (float(np.abs(world).max()) + float((hi - lo).max()))
    return _pad_bounds((lo - pad)[None], (hi + pad)[None])


def _instance_links(top_records: np.ndarray, top_order: np.ndarray, prim_info: np.ndarray, lo: np.ndarray,
                    hi: np.ndarray):
    """Top-level records in which every instance is a child link of its own, ``(-2 - instance, 0)``
    (traversal enters it like an interior child, see ``kernels/traverse.py``).

    A leaf holding instances (and maybe other primitives) becomes a chain of new records, one
    instance per level, the other primitives (moved to the front of the leaf's slots) as the
    last leaf. ``lo``/``hi`` are the primitives' float32 bounds. Returns (records_i, prim_order)."""
    order = top_order.copy()
    is_inst = prim_info[:, T.PRIM_KIND] == T.INSTANCE
    chains = []   # (record, link column, items); items: (lo, hi, offset, count)
    for r, side in zip(*np.nonzero(top_records[:, [13, 15]] > 0)):
        link = 12 + 2 * int(side)
        first, count = int(top_records[r, link]), int(top_records[r, link + 1])
        slots = order[first:first + count]
        if not is_inst[slots].any():
            continue
        rest, insts = slots[~is_inst[slots]], slots[is_inst[slots]]
        order[first:first + count] = np.concatenate([rest, insts])
        items = [(lo[p], hi[p], -2 - int(prim_info[p, T.PRIM_INDEX]), 0) for p in insts]
        if len(rest):
            items.append((lo[rest].min(axis=0), hi[rest].max(axis=0), first, len(rest)))
        chains.append((int(r), link, items))
    records = np.zeros((len(top_records) + sum(len(c[2]) - 1 for c in chains), 16), dtype=np.int32)
    records[:len(top_records)] = top_records
    boxes = records.view(np.float32)
    new = len(top_records)
    for r, link, items in chains:
        for k, (box_lo, box_hi, offset, count) in enumerate(items):
            if k == len(items) - 1:   # the last item takes the link itself
                records[r, link:link + 2] = (offset, count)
                break
            records[r, link:link + 2] = (new, 0)
            boxes[new, 0:3], boxes[new, 3:6] = box_lo, box_hi
            records[new, 12:14] = (offset, count)
            boxes[new, 6:9] = np.min([it[0] for it in items[k + 1:]], axis=0)
            boxes[new, 9:12] = np.max([it[1] for it in items[k + 1:]], axis=0)
            r, link, new = new, 14, new + 1
    return records, order


def traversal_stack_needed(depths) -> int:
    """Most traversal stack entries a ray may need (``kernels/traverse.py``): a visit pushes at
    most WIDTH children and descends into one, so <= WIDTH - 1 per level above + WIDTH; with
    instances, the top tree's depth, the level of the instance link and the deepest bottom tree
    add up.
    ``depths``: deepest wide record of each tree, the top level first (``wide_layout``)."""
    levels = int(depths[0]) + (1 + int(max(depths[1:])) if len(depths) > 1 else 0)
    return (WIDTH - 1) * levels + WIDTH


def _link_levels(top_records: np.ndarray, top_order: np.ndarray, n_top_prims: int, bottoms: list, first_tri: int):
    """One record table and prim order for the top level followed by every bottom-level tree.

    Returns (records_f, records_i, prim_order, prim_rows, roots, firsts): bottom-level leaves
    point at prim rows appended after the top level's (triangles with object -1); roots[j] and
    firsts[j] are the root record and first triangle row of bottoms[j]."""
    total = len(top_records) + sum(len(b.records) for b in bottoms)
    records_f = _aligned_empty(total)
    records_i = records_f.view(np.int32)
    records_i[:len(top_records)] = top_records
    orders, rows, roots, firsts = [top_order], [], [], []
    rec, prim, tri = len(top_records), n_top_prims, first_tri
    for b in bottoms:
        links = b.records.copy()
        for col in (12, 14):
            offset, count = links[:, col], links[:, col + 1]
            offset[count > 0] += prim      # leaf: slots in prim_order (slot = prim row here)
            offset[count == 0] += rec      # interior: record index
        records_i[rec:rec + len(links)] = links
        n = len(b.geom)
        orders.append(b.prim_order + prim)
        rows.append(np.stack([np.full(n, T.TRIANGLE), np.arange(tri, tri + n), np.full(n, -1)], axis=1))
        roots.append(rec)
        firsts.append(tri)
        rec, prim, tri = rec + len(links), prim + n, tri + n
    return records_f, records_i, np.concatenate(orders).astype(np.int32), rows, roots, firsts


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
    for name, value, lo, hi in (("spp", spp, 0, 1 << 20), ("seed", seed, 0, (1 << 63) - 1),
                                ("width", width, 1, 16384), ("height", height, 1, 16384),
                                ("max_depth", max_depth, 1, 1024)):
        if not lo <= value <= hi:
            raise SceneError(f"{name}: must be in [{lo}, {hi}] (got {value})")

    # ---- materials: named ones first, inline ones appended per object
    mat_rows = []
    named_material = {}
    textures = TextureTable(base_dir)
    for name, mat in scene.materials.items():
        named_material[name] = len(mat_rows)
        mat_rows.append(_material_row(mat, textures, f"materials.{name}"))

    # ---- class ids: fixed list, or labels in order of first appearance
    class_names = ["background"]
    if scene.classes is not None:
        class_names += list(scene.classes)
    else:
        for obj in scene.objects:
            if obj.label is not None and obj.label not in class_names[1:]:
                class_names.append(obj.label)
    class_id = {name: i for i, name in enumerate(class_names) if i > 0}

    # ---- meshes: each source loaded once; the same content used by several objects is instanced
    meshes, mesh_of = _load_meshes(scene, base_dir)
    instanced = _instanced_meshes(scene, meshes, mesh_of, settings.instancing)

    # ---- objects: analytic shapes, triangles and mesh instances
    prim_rows, shape_xf, shape_par = [], [], []
    bounds_lo, bounds_hi = [], []
    tri_chunks, tri_normal_chunks, tri_part_chunks = [], [], []
    tri_uv_chunks, tri_mtl_chunks = [], []   # corner uvs, MTL material slots (as tri_chunks)
    obj_mtl = np.full(len(scene.objects), -1, dtype=np.int32)
    n_tris = 0
    bottom_of, bottoms, inst_rows, inst_xf = {}, [], [], []
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
            mat_rows.append(_material_row(mat, textures, f"objects[{i}].material"))
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

        if obj.type == "mesh" and mesh_uses_mtl(obj, meshes[mesh_of[i]]):
            obj_mtl[i] = len(mat_rows)
            mat_rows += mtl_material_rows(meshes[mesh_of[i]], mat_rows[mat_row], textures, f"objects[{i}].file")
        if obj.type == "mesh" and mesh_of[i] in instanced and mat.type != "emissive":
            mesh = meshes[mesh_of[i]]
            if mesh_of[i] not in bottom_of:
                bottom_of[mesh_of[i]] = len(bottoms)
                bottoms.append(_bottom_level(mesh))
            bottom = bottoms[bottom_of[mesh_of[i]]]
            if mesh.normals is not None and obj.smooth:
                obj_info[i, T.OBJ_SMOOTH] = 1
            lo, hi = _instance_bounds(bottom, m_user)
            mirror = 1 if np.linalg.det(m_user[:3, :3]) < 0 else 0
            # root record and first triangle are filled in once the top level is built
            inst_rows.append([0, i, mirror, 0, mesh.n_faces, bottom_of[mesh_of[i]], 0, 0])
            inst_xf.append(np.concatenate([m_user[:3, :4].reshape(-1), w_user[:3, :4].reshape(-1)]))
            prim_rows.append(np.array([[T.INSTANCE, len(inst_rows) - 1, i]]))
            bounds_lo.append(lo)
            bounds_hi.append(hi)
            meta["triangles"] = int(mesh.n_faces)
            meta["bounds_object"] = [mesh.vertices.min(axis=0).tolist(), mesh.vertices.max(axis=0).tolist()]
            meta["parts"] = list(mesh.group_names)
            meta["instanced"] = True
        elif obj.type == "mesh":
            mesh = meshes[mesh_of[i]]
            verts = mesh.vertices.astype(np.float64) @ m_user[:3, :3].T + m_user[:3, 3]
            geom, lo, hi = triangle_geometry(verts, mesh.faces)
            if mesh.normals is not None and obj.smooth:
                normals = mesh.normals.astype(np.float64) @ w_user[:3, :3]  # inverse transpose
                normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)
                tri_normal_chunks.append(normals[mesh.faces].reshape(-1, 9).astype(np.float32))
                obj_info[i, T.OBJ_SMOOTH] = 1
            else:
                tri_normal_chunks.append(np.zeros((len(geom), 9), dtype=np.float32))
            count = len(geom)
            prim_rows.append(np.stack([
                np.full(count, T.TRIANGLE), np.arange(n_tris, n_tris + count), np.full(count, i)
            ], axis=1))
            tri_chunks.append(geom)
            tri_part_chunks.append(mesh.face_groups)
            tri_uv_chunks.append(triangle_uvs(mesh))
            tri_mtl_chunks.append(mesh.face_materials)
            bounds_lo.append(lo)
            bounds_hi.append(hi)
            areas = None   # world triangle areas: the light's sampling weights, if it emits
            if mat.type == "emissive":
                tri = verts[mesh.faces]  # (m, 3, 3)
                areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
            meta["triangles"] = int(count)
            meta["bounds_object"] = [mesh.vertices.min(axis=0).tolist(), mesh.vertices.max(axis=0).tolist()]
            meta["parts"] = list(mesh.group_names)
            meta["instanced"] = False
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
    _, paired = pair_layout(bvh.node_bounds, bvh.node_info)
    prim_order = np.ascontiguousarray(bvh.prim_order, dtype=np.int32)
    inst_info = np.zeros((len(inst_rows), T.INST_COLUMNS), dtype=np.int32)
    roots = [0]
    if bottoms:
        top_links, prim_order = _instance_links(paired.copy(), prim_order, prim_info, lo_all, hi_all)
        _, paired, prim_order, bottom_rows, bottom_roots, firsts = _link_levels(
            top_links, prim_order, len(prim_info), bottoms, n_tris)
        roots += bottom_roots
    bvh_boxes, bvh_links, wide_roots, depths = wide_layout(paired, roots)
    stack_needed = traversal_stack_needed(depths)
    if stack_needed > T.STACK_SIZE:
        # one traversal stack serves both levels: fall back to world-space copies if too deep
        if bottoms and settings.instancing != "always":
            flat = scene.model_copy(update={"render": settings.model_copy(update={"instancing": "never"})})
            return compile_scene(flat, base_dir, spp=spp, seed=seed, width=width, height=height, max_depth=max_depth)
        if bottoms:
            raise SceneError("render.instancing: the two-level BVH is too deep for the traversal stack "
                             "(use 'auto' or 'never')")
        raise SceneError(f"the scene's BVH is too deep for the traversal stack ({stack_needed} > {T.STACK_SIZE} entries)")
    if bottoms:
        prim_info = np.ascontiguousarray(np.concatenate([prim_info] + bottom_rows).astype(np.int32))
        inst_info[:] = inst_rows
        inst_info[:, T.INST_ROOT] = wide_roots[1:][inst_info[:, T.INST_MESH]]
        inst_info[:, T.INST_FIRST_TRI] = np.asarray(firsts)[inst_info[:, T.INST_MESH]]
        tri_chunks += [b.geom for b in bottoms]
        tri_normal_chunks += [b.normals for b in bottoms]
        tri_part_chunks += [meshes[m].face_groups for m in bottom_of]
        tri_uv_chunks += [triangle_uvs(meshes[m]) for m in bottom_of]
        tri_mtl_chunks += [meshes[m].face_materials for m in bottom_of]
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
    for k, light in enumerate(scene.lights):
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
                if light.image is not None:
                    mean = mean * environment_image_columns(env, light, textures, f"lights[{k}].image")
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

    tex_info, tex_params, texels = textures.arrays()
    shape_xform = f32(shape_xf, 24)
    arrays = SceneArrays(
        bvh_boxes=bvh_boxes,
        bvh_links=bvh_links,
        prim_order=prim_order,
        prim_info=prim_info,
        shape_xform=shape_xform,
        shape_param=_with_face_normals(f32(shape_par, 4), shape_xform),
        tri_geom=f32(np.concatenate(tri_chunks) if tri_chunks else [], 9),
        tri_normals=f32(np.concatenate(tri_normal_chunks) if tri_normal_chunks else [], 9),
        tri_part=np.ascontiguousarray(np.concatenate(tri_part_chunks) if tri_part_chunks else np.zeros(0), dtype=np.int32),
        obj_info=np.ascontiguousarray(obj_info),
        obj_xform=np.ascontiguousarray(obj_xform),
        inst_info=inst_info,
        inst_xform=f32(inst_xf, 24),
        mat_params=f32(mat_rows, T.MAT_COLUMNS),
        light_info=i32(light_info, 4),
        light_params=f32(light_params, T.LP_COLUMNS),
        light_cdf=np.ascontiguousarray(light_cdf, dtype=np.float32),
        light_tri_cdf=np.ascontiguousarray(np.concatenate(tri_cdfs) if tri_cdfs else np.zeros(0), dtype=np.float32),
        env=env,
        camera=cam,
        settings=run,
        tex_info=tex_info,
        tex_params=tex_params,
        texels=texels,
        tri_uvs=np.ascontiguousarray(
            np.concatenate(tri_uv_chunks) if textures.has_images and tri_uv_chunks else np.zeros((0, 6)),
            dtype=np.float32),
        tri_material=np.ascontiguousarray(
            np.concatenate(tri_mtl_chunks) if (obj_mtl >= 0).any() else np.zeros(0), dtype=np.int32),
        obj_mtl=obj_mtl,
    )
    return CompiledScene(
        arrays=arrays, width=width, height=height, spp=spp, seed=seed, max_depth=max_depth,
        exposure=settings.exposure, K=K, world_to_camera=w2c, objects=objects_meta, class_names=class_names,
        stack_needed=stack_needed,
    )


@parallel_host_jit
def _gather_rows_kernel(table, rows, out):
    for i in prange(rows.shape[0]):
        for k in range(table.shape[1]):
            out[i, k] = table[rows[i], k]


def _gather_rows(table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``table[rows]`` for a 2D table, in parallel."""
    out = np.empty((len(rows), table.shape[1]), dtype=table.dtype)
    _gather_rows_kernel(table, rows, out)
    return out


#: Leaves of the ray caster's BVH: up to this many triangles, tested as one vector test
#: (``_simd.closest_in_triangle_block``; the traversal's stack packs a count in 3 bits).
CASTER_LEAF = WIDTH - 1
#: A record's visit against one block test, for the SAH merge of the ray caster's leaves.
CASTER_VISIT_COST = 100.0


def _block_lanes(leaf_count: np.ndarray):
    """(block, lane) of every triangle of leaves 0, 1, ... holding leaf_count[i] triangles each."""
    block = np.repeat(np.arange(len(leaf_count)), leaf_count)
    lane = np.arange(len(block)) - np.repeat(np.cumsum(leaf_count) - leaf_count, leaf_count)
    return block, lane


def _face_normals(shape_xform: np.ndarray) -> np.ndarray:
    """(S, 24) float32: for each analytic shape and each face f of the unit box (axis f // 2,
    + side when f is odd; face 5, +z, is also a quad's and a disk's normal) the world normal
    and the length of the unnormalized one, computed with the very float32 operations, in the
    same order, as ``intersect.surface_at`` did per hit (``xform_normal`` of the canonical
    normal with the world->object matrix, ``length``, a scale by its reciprocal): the same bits.

    shape_xform : (S, 24) float32 (object->world then world->object 3x4 row-major)
    """
    m = shape_xform[:, T.XF_TO_OBJECT:T.XF_TO_OBJECT + 12]
    zero, one = np.float32(0.0), np.float32(1.0)
    out = np.empty((len(shape_xform), 24), dtype=np.float32)
    for face in range(6):
        n = [zero, zero, zero]
        n[face // 2] = one if face % 2 == 1 else -one
        # vecmath.xform_normal: row k of the transposed linear part, summed left to right
        world = [m[:, k] * n[0] + m[:, 4 + k] * n[1] + m[:, 8 + k] * n[2] for k in range(3)]
        length = np.sqrt(world[0] * world[0] + world[1] * world[1] + world[2] * world[2])
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = one / length
            for k in range(3):
                out[:, 4 * face + k] = world[k] * inverse
        out[:, 4 * face + 3] = length
    return out


def _with_face_normals(shape_param: np.ndarray, shape_xform: np.ndarray) -> np.ndarray:
    """shape_param (S, 4) with the columns of ``_face_normals`` appended (S, SP_COLUMNS)."""
    return np.ascontiguousarray(np.concatenate([shape_param, _face_normals(shape_xform)], axis=1))


def triangle_blocks(geom: np.ndarray, leaf_first: np.ndarray, leaf_count: np.ndarray,
                    order: Optional[np.ndarray] = None) -> np.ndarray:
    """Triangle blocks for ``_simd.closest_in_triangle_block``: leaf i (slots leaf_first[i] ..
    + leaf_count[i] - 1, at most WIDTH; slot k is row k of geom, or row order[k]) becomes
    block i, rows WIDTH i .. WIDTH i + WIDTH - 1 of the result, holding its corners component
    by component (word WIDTH j + lane of the block for component j of its lane-th triangle;
    unused lanes 0).

    geom : (T, 9) float32 corners; returns (len(leaf_first) * WIDTH, 9) float32.
    """
    blocks = np.zeros((len(leaf_first), 9, WIDTH), dtype=np.float32)
    block, lane = _block_lanes(leaf_count)
    slots = leaf_first[block] + lane
    blocks[block, :, lane] = geom[slots if order is None else order[slots]]
    return blocks.reshape(len(leaf_first) * WIDTH, 9)


def triangle_scene_arrays(vertices: np.ndarray, faces: np.ndarray, blocks: bool = True):
    """SceneArrays holding only a triangle mesh (for ray casting, no materials or lights).

    With ``blocks`` (the ray caster's layout): leaves of up to CASTER_LEAF triangles, each
    stored as one block of ``triangle_blocks`` in ``tri_geom`` (leaf links point at the block's
    first row; triangle slot = block row), intersected by ``trace_hit_triangles`` as one vector
    test; ``prim_info``, ``prim_order`` and ``tri_part`` are empty. Without: the
    renderer's layout for one mesh, triangles stored in BVH leaf order (primitive k is triangle
    row k, ``prim_order`` the identity), for the general launcher.

    Parameters
    ----------
    vertices : (n, 3) float world positions
    faces : (m, 3) int vertex indices

    Returns
    -------
    arrays : SceneArrays
    triangle_of_row : (rows,) int32, the index in ``faces`` of each triangle row (-1 for the
        unused lanes of blocks)
    """
    geom, lo, hi = triangle_geometry(vertices, faces)
    bvh = build_bvh(lo, hi)
    _, paired = pair_layout(bvh.node_bounds, bvh.node_info)
    if blocks:
        bvh_boxes, bvh_links, _, depths = wide_layout(paired, [0], leaf_merge=CASTER_LEAF,
                                                      merge_visit_cost=CASTER_VISIT_COST, open_leaf_subtrees=False)
    else:
        bvh_boxes, bvh_links, _, depths = wide_layout(paired, [0])
    if traversal_stack_needed(depths) > T.STACK_SIZE:
        raise RaysynthError("the mesh's BVH is too deep for the traversal stack")
    triangle_of_row = np.ascontiguousarray(bvh.prim_order, dtype=np.int32)
    if blocks:
        # leaves in slot order become blocks 0, 1, ...; their links point at the block's first row
        offsets = bvh_links[:, WIDE_LINKS::2]
        counts = bvh_links[:, WIDE_LINKS + 1::2]
        is_leaf = counts > 0
        order = np.argsort(offsets[is_leaf], kind="stable")
        leaf_first = offsets[is_leaf][order]
        leaf_count = counts[is_leaf][order]
        block_of_leaf = np.empty(len(order), dtype=np.int32)
        block_of_leaf[order] = np.arange(len(order), dtype=np.int32)
        offsets[is_leaf] = block_of_leaf * WIDTH
        if len(leaf_first) * WIDTH >= 2**28:   # the stack packs a leaf's first row in 28 bits
            raise RaysynthError("the mesh has too many triangles for the ray caster")
        block, lane = _block_lanes(leaf_count)
        triangle_of_block_row = np.full(len(leaf_first) * WIDTH, -1, dtype=np.int32)
        triangle_of_block_row[block * WIDTH + lane] = triangle_of_row[leaf_first[block] + lane]
        geom = triangle_blocks(geom, leaf_first, leaf_count, order=triangle_of_row)
        triangle_of_row = triangle_of_block_row
    else:
        geom = _gather_rows(geom, triangle_of_row)
    count = 0 if blocks else len(geom)   # the block launcher reads neither table
    prim_info = np.zeros((count, 3), dtype=np.int32)
    prim_info[:, T.PRIM_KIND] = T.TRIANGLE
    prim_info[:, T.PRIM_INDEX] = np.arange(count, dtype=np.int32)
    arrays = empty_scene_arrays(
        bvh_boxes=bvh_boxes, bvh_links=bvh_links, prim_order=np.arange(count, dtype=np.int32), prim_info=prim_info,
        tri_geom=geom, tri_part=np.zeros(count, dtype=np.int32), obj_info=np.zeros((1, 4), dtype=np.int32),
        obj_xform=np.zeros((1, 12), dtype=np.float32), mat_params=np.zeros((1, T.MAT_COLUMNS), dtype=np.float32),
        obj_mtl=np.full(1, -1, dtype=np.int32),
    )
    return arrays, triangle_of_row
