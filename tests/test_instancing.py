"""Mesh instancing (two-level BVH): objects whose meshes have the same content share one
object-space bottom-level BVH; rays are mapped into object space at the instance.

- An instanced scene (one mesh, 7 instances: rotations, non-uniform scales, a shear and a mirror,
  one flat-shaded) renders the same labels as the same scene with every mesh flattened into an
  inline world-space copy: instance, class and part ids equal, depth within 1e-5 relative,
  normals within 1e-4, amodal masks equal; ``render.instancing`` "never" / "always" agree too.
- Closest hit and any hit through the instanced BVH equal brute force: bit for bit against every
  instance intersected in turn (the same float32 object-space rays), and against the flattened
  world-space triangles up to float32 rounding (same object, t within 1e-5 relative; rays that
  pass within rounding of a triangle edge may pick the neighbour or slip through the seam).
- Memory: 100 instances of a 20k-triangle mesh cost less than 1.5x one copy plus 100 transforms.
"""
from __future__ import annotations

import copy

import numba
import numpy as np
import pytest

from raysynth.accel.layout import WIDE_LINKS
from raysynth.assets.procedural import make as make_procedural
from raysynth.compile import transform_matrix
from raysynth.kernels import tags as T
from raysynth.kernels.intersect import intersect_prim, intersect_triangle, surface_at_hit
from raysynth.kernels.traverse import hit_object, trace_hit
from raysynth.kernels.vecmath import xform_point, xform_vector
from raysynth.render import prepare, render
from raysynth.spec.scene import Transform

BIG = np.float32(3.0e38)

# object->world placements of the instances: Euler angles, non-uniform scales, translations,
# an explicit matrix with shear and a negative determinant (mirror)
PLACEMENTS = [
    {"translate": [-1.6, 0.55, 0.2], "rotate": [30, 10, 0], "scale": [0.5, 0.35, 0.45]},
    {"translate": [-0.6, 0.5, -0.4], "rotate": [-70, 45, 20], "scale": [0.3, 0.55, 0.4]},
    {"translate": [0.5, 0.6, 0.3], "rotate": [90, 0, 35], "scale": 0.45},
    {"translate": [1.5, 0.5, -0.2], "quaternion": [0.8, 0.3, -0.4, 0.2], "scale": [0.6, 0.3, 0.3]},
    {"matrix": [[-0.4, 0.1, 0.0, 0.0], [0.0, 0.35, 0.15, 1.3], [0.05, 0.0, 0.45, -1.0], [0, 0, 0, 1]]},
    {"translate": [-1.0, 1.4, -1.2], "rotate": [0, -60, 80], "scale": [0.45, 0.45, 0.25]},
    {"translate": [1.0, 1.5, -1.3], "rotate": [15, 120, -30], "scale": [0.35, 0.5, 0.5]},
]
FLAT_SHADED = 5   # this instance has smooth = false


def _mesh_arrays():
    """The shared mesh: a smooth torus whose faces are split into three parts."""
    mesh = make_procedural("torus", major=1.0, minor=0.4, segments=24, sides=12).to_mesh()
    parts = (np.arange(mesh.n_faces) * 3) // mesh.n_faces
    return mesh.vertices.astype(np.float64), mesh.faces, mesh.normals.astype(np.float64), parts


def _base_scene(mesh_objects: list) -> dict:
    return {
        "camera": {"position": [0.4, 2.6, 4.6], "look_at": [0.0, 0.55, -0.3], "fov": 50, "width": 72, "height": 54},
        "render": {"spp": 1, "max_depth": 2},
        "classes": ["floor", "ring", "ball", "blob"],
        "objects": [
            {"type": "quad", "label": "floor", "size": [8, 8], "transform": {"rotate": [-90, 0, 0]}},
            {"type": "sphere", "label": "ball", "radius": 0.3, "transform": {"translate": [0.1, 0.3, 1.0]}},
            # a single-use mesh: flattened into the top level next to the instances
            {"type": "mesh", "label": "blob", "procedural": {"kind": "icosphere", "subdivisions": 2},
             "transform": {"translate": [-0.2, 1.2, -0.9], "scale": [0.3, 0.25, 0.35]}},
        ] + mesh_objects,
        "lights": [{"type": "sky"}],
    }


def instanced_scene() -> dict:
    v, f, n, parts = _mesh_arrays()
    objs = []
    for k, tf in enumerate(PLACEMENTS):
        objs.append({"type": "mesh", "label": "ring", "vertices": v.tolist(), "faces": f.tolist(),
                     "normals": n.tolist(), "parts": parts.tolist(), "part_names": ["a", "b", "c"],
                     "smooth": k != FLAT_SHADED, "transform": tf})
    return _base_scene(objs)


def flattened_scene() -> dict:
    """The same scene with each instance replaced by an inline world-space copy of the mesh."""
    v, f, n, parts = _mesh_arrays()
    objs = []
    for k, tf in enumerate(PLACEMENTS):
        m = transform_matrix(Transform(**tf))
        normals = n @ np.linalg.inv(m[:3, :3])   # inverse transpose, row vectors
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        objs.append({"type": "mesh", "label": "ring", "vertices": (v @ m[:3, :3].T + m[:3, 3]).tolist(),
                     "faces": f.tolist(), "normals": normals.tolist(), "parts": parts.tolist(),
                     "part_names": ["a", "b", "c"], "smooth": k != FLAT_SHADED})
    return _base_scene(objs)


def _with_instancing(scene: dict, mode: str) -> dict:
    scene = copy.deepcopy(scene)
    scene["render"]["instancing"] = mode
    return scene


@pytest.fixture(scope="module")
def renders():
    out = {"flat": render(flattened_scene(), threads=2)}
    for mode in ("auto", "always", "never"):
        out[mode] = render(_with_instancing(instanced_scene(), mode), threads=2)
    return out


def test_instanced_scene_compiles_to_one_mesh_copy():
    n_tris = make_procedural("torus", major=1.0, minor=0.4, segments=24, sides=12).to_mesh().n_faces
    ico = make_procedural("icosphere", subdivisions=2).to_mesh().n_faces
    inst = prepare(instanced_scene())
    a = inst.arrays
    assert a.inst_info.shape == (len(PLACEMENTS), T.INST_COLUMNS)
    assert a.tri_geom.shape[0] == n_tris + ico     # one copy of the torus, the blob flattened
    assert (a.inst_info[:, T.INST_OBJECT] == np.arange(3, 3 + len(PLACEMENTS))).all()
    assert a.inst_info[:, T.INST_MIRROR].tolist() == [0, 0, 0, 0, 1, 0, 0]
    assert [o.get("instanced") for o in inst.objects] == [None, None, False] + [True] * len(PLACEMENTS)
    assert all(o["parts"] == ["a", "b", "c"] for o in inst.objects[3:])
    assert (a.prim_info[:, T.PRIM_KIND] == T.INSTANCE).sum() == len(PLACEMENTS)
    flat = prepare(flattened_scene()).arrays
    assert flat.inst_info.shape[0] == 0 and flat.tri_geom.shape[0] == len(PLACEMENTS) * n_tris + ico
    never = prepare(_with_instancing(instanced_scene(), "never")).arrays
    assert never.inst_info.shape[0] == 0
    always = prepare(_with_instancing(instanced_scene(), "always")).arrays
    assert always.inst_info.shape[0] == len(PLACEMENTS) + 1     # the single-use blob too


@pytest.mark.parametrize("mode", ["auto", "always", "never"])
def test_instanced_labels_equal_flattened(renders, mode):
    ref, got = renders["flat"], renders[mode]
    for name in ("instance", "class", "part"):
        np.testing.assert_array_equal(got[name], ref[name], err_msg=name)
    ids = set(np.unique(ref["instance"]).tolist())
    assert set(range(4, 4 + len(PLACEMENTS))) <= ids, f"every instance must be visible: {sorted(ids)}"
    assert set(np.unique(ref["part"]).tolist()) == {0, 1, 2, 3}
    hit = ref["instance"] > 0
    rel = np.abs(got["depth"][hit] - ref["depth"][hit]) / ref["depth"][hit]
    assert rel.max() <= 1e-5, rel.max()
    assert (got["depth"][~hit] == 0).all()
    err = np.abs(got["normals"] - ref["normals"]).max()
    assert err <= 1e-4, err
    np.testing.assert_array_equal(got["amodal"], ref["amodal"])
    for a, b in zip(got["labels"]["objects"], ref["labels"]["objects"]):
        assert a["instance_id"] == b["instance_id"]
        for key in ("visible_pixels", "amodal_pixels", "visibility", "mask_visible", "mask_amodal", "bbox_visible"):
            assert a[key] == b[key], key
        assert np.allclose(a["bbox_amodal"], b["bbox_amodal"], rtol=0, atol=1e-3)


def test_instanced_amodal_masks_see_through_occluders(renders):
    # the amodal pass enters instances behind other objects: some instance pixel is hidden
    got = renders["auto"]
    bits = got["amodal"][:, :, 0]
    hidden = 0
    for obj in range(3, 3 + len(PLACEMENTS)):
        amodal = (bits >> np.uint32(obj)) & 1 == 1
        visible = got["instance"] == obj + 1
        assert (amodal | ~visible).all()
        hidden += int((amodal & ~visible).sum())
    assert hidden > 20


# ----------------------------------------------------------------------- rays vs brute force
@numba.njit  # no disk cache: it would not see kernel edits (keyed on this file only)
def _trace_many(scene, ros, rds, tmaxs, any_hit, out_t, out_obj, out_prim, out_inst):
    stack = np.zeros(T.STACK_SIZE, dtype=np.int32)
    stack_t = np.zeros(T.STACK_SIZE, dtype=np.float32)
    for i in range(ros.shape[0]):
        ro = (ros[i, 0], ros[i, 1], ros[i, 2])
        rd = (rds[i, 0], rds[i, 1], rds[i, 2])
        t, prim, inst, _, _ = trace_hit(scene, ro, rd, tmaxs[i], stack, stack_t, any_hit)
        out_t[i] = t
        out_prim[i] = prim
        out_inst[i] = inst
        out_obj[i] = hit_object(scene, prim, inst) if prim >= 0 else -1


@numba.njit  # no disk cache: it would not see kernel edits (keyed on this file only)
def _normals_many(scene, ros, rds, out_ng):
    """World geometric normal (by winding) of each ray's closest hit."""
    stack = np.zeros(T.STACK_SIZE, dtype=np.int32)
    stack_t = np.zeros(T.STACK_SIZE, dtype=np.float32)
    for i in range(ros.shape[0]):
        ro = (ros[i, 0], ros[i, 1], ros[i, 2])
        rd = (rds[i, 0], rds[i, 1], rds[i, 2])
        t, prim, inst, u, v = trace_hit(scene, ro, rd, BIG, stack, stack_t, False)
        if prim >= 0:
            _, ng, _, _, _ = surface_at_hit(scene, prim, inst, ro, rd, t, u, v)
            out_ng[i, 0], out_ng[i, 1], out_ng[i, 2] = ng


@numba.njit  # no disk cache: it would not see kernel edits (keyed on this file only)
def _brute_many(scene, ros, rds, tmaxs, out_t, out_obj, out_tri, out_edge):
    """Closest hit over every top-level primitive in turn; an instance's triangles are
    intersected one by one with the ray mapped into its object space. out_tri: triangle row of
    tri_geom (-1 for analytic shapes); out_edge: smallest barycentric coordinate of the hit."""
    n_prims = scene.prim_info.shape[0]
    for i in range(ros.shape[0]):
        ro = (ros[i, 0], ros[i, 1], ros[i, 2])
        rd = (rds[i, 0], rds[i, 1], rds[i, 2])
        best = tmaxs[i]
        obj = -1
        tri = -1
        edge = np.float32(1.0)
        for p in range(n_prims):
            kind = scene.prim_info[p, T.PRIM_KIND]
            if kind == T.INSTANCE:
                k = scene.prim_info[p, T.PRIM_INDEX]
                o = xform_point(scene.inst_xform, k, T.XF_TO_OBJECT, ro)
                d = xform_vector(scene.inst_xform, k, T.XF_TO_OBJECT, rd)
                first = scene.inst_info[k, T.INST_FIRST_TRI]
                for j in range(first, first + scene.inst_info[k, T.INST_TRI_COUNT]):
                    t, u, v = intersect_triangle(scene.tri_geom, j, o, d, best)
                    if t > np.float32(0.0):
                        best, obj, tri = t, scene.inst_info[k, T.INST_OBJECT], j
                        edge = min(u, v, np.float32(1.0) - u - v)
            elif scene.prim_info[p, T.PRIM_OBJECT] >= 0:   # not a bottom-level triangle
                t, u, v = intersect_prim(scene, p, ro, rd, best)
                if t > np.float32(0.0):
                    best, obj = t, scene.prim_info[p, T.PRIM_OBJECT]
                    tri = scene.prim_info[p, T.PRIM_INDEX] if kind == T.TRIANGLE else -1
                    edge = min(u, v, np.float32(1.0) - u - v) if kind == T.TRIANGLE else np.float32(1.0)
        out_t[i] = best if obj >= 0 else np.float32(-1.0)
        out_obj[i] = obj
        out_tri[i] = tri
        out_edge[i] = edge


def _trace(arrays, ros, rds, tmaxs, any_hit):
    n = len(ros)
    t, obj, prim, inst = np.empty(n, np.float32), np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.int32)
    _trace_many(arrays, ros, rds, tmaxs, any_hit, t, obj, prim, inst)
    tri = np.where(prim >= 0, arrays.prim_info[np.maximum(prim, 0), T.PRIM_INDEX], -1)
    tri = np.where((prim >= 0) & (arrays.prim_info[np.maximum(prim, 0), T.PRIM_KIND] == T.TRIANGLE), tri, -1)
    return t, obj, tri


def _brute(arrays, ros, rds, tmaxs):
    n = len(ros)
    out = np.empty(n, np.float32), np.empty(n, np.int32), np.empty(n, np.int32), np.empty(n, np.float32)
    _brute_many(arrays, ros, rds, tmaxs, *out)
    return out


def _local_triangle(arrays, obj, tri):
    """Triangle index within its object's mesh, for instanced and flattened arrays alike."""
    local = np.full(len(tri), -1)
    inst = arrays.inst_info
    for k in range(len(tri)):
        if tri[k] < 0:
            continue
        rows = np.flatnonzero(inst[:, T.INST_OBJECT] == obj[k]) if len(inst) else []
        if len(rows):
            local[k] = tri[k] - inst[rows[0], T.INST_FIRST_TRI]
        else:
            info = arrays.prim_info
            own = info[(info[:, T.PRIM_KIND] == T.TRIANGLE) & (info[:, T.PRIM_OBJECT] == obj[k]), T.PRIM_INDEX]
            local[k] = tri[k] - own.min()
    return local


def ray_scene() -> dict:
    """The instanced scene plus clusters of co-located instances (leaves holding several
    instances and an analytic shape: chains of instance links) and a far-away instance."""
    scene = instanced_scene()
    ring = scene["objects"][3]
    rng = np.random.default_rng(5)
    for centre in ([2.5, 0.8, 1.5], [-2.5, 1.0, 1.2]):
        for _ in range(6):
            obj = dict(ring)
            obj["transform"] = {"translate": centre, "rotate": rng.uniform(-180, 180, 3).tolist(),
                                "scale": rng.uniform(0.2, 0.6, 3).tolist()}
            scene["objects"].append(obj)
        scene["objects"].append({"type": "box", "size": [0.3, 0.3, 0.3], "transform": {"translate": centre}})
    far = dict(ring)
    far["transform"] = {"translate": [30.0, 2.0, -40.0], "rotate": [10, 20, 30], "scale": [2.0, 1.0, 1.5]}
    scene["objects"].append(far)
    return scene


def flatten(scene: dict) -> dict:
    """Every instanced mesh object replaced by an inline world-space copy."""
    scene = copy.deepcopy(scene)
    for obj in scene["objects"]:
        if obj["type"] == "mesh" and "vertices" in obj:
            m = transform_matrix(Transform(**obj.pop("transform")))
            v = np.asarray(obj["vertices"], dtype=np.float64)
            n = np.asarray(obj["normals"], dtype=np.float64) @ np.linalg.inv(m[:3, :3])
            obj["vertices"] = (v @ m[:3, :3].T + m[:3, 3]).tolist()
            obj["normals"] = (n / np.linalg.norm(n, axis=1, keepdims=True)).tolist()
    return scene


def random_rays(arrays, seed: int, n: int = 1500):
    """Rays aimed at random points of random instances' triangles from outside, random rays
    from inside the cluster of objects, and axis-aligned rays."""
    rng = np.random.default_rng(seed)
    inst = arrays.inst_info
    ros, rds = [], []
    k = rng.integers(len(inst), size=n)
    tri = inst[k, T.INST_FIRST_TRI] + rng.integers(inst[k, T.INST_TRI_COUNT])
    g = arrays.tri_geom[tri].astype(np.float64)
    b = rng.dirichlet([1, 1, 1], size=n)
    p_obj = b[:, 0:1] * g[:, 0:3] + b[:, 1:2] * g[:, 3:6] + b[:, 2:3] * g[:, 6:9]   # corners v0, v1, v2
    xf = arrays.inst_xform[k].astype(np.float64)
    to_world = xf[:, :12].reshape(-1, 3, 4)
    target = np.einsum("nij,nj->ni", to_world[:, :, :3], p_obj) + to_world[:, :, 3]
    o = target + rng.normal(size=(n, 3)) * rng.uniform(1.0, 8.0, (n, 1))
    ros.append(o)
    rds.append((target - o) * rng.uniform(0.2, 3.0, (n, 1)))
    centre = np.array([0.0, 0.8, 0.0])
    o = centre + rng.uniform(-3, 3, (n, 3))
    ros.append(o)
    rds.append(rng.normal(size=(n, 3)))
    d = np.zeros((n, 3))
    d[np.arange(n), rng.integers(3, size=n)] = rng.choice([-1.0, 1.0], n)
    ros.append(centre + rng.uniform(-3, 3, (n, 3)))
    rds.append(d)
    return np.concatenate(ros).astype(np.float32), np.concatenate(rds).astype(np.float32)


def _near(t, tmax):
    """Hits within rounding of t_max (one scene may count them, the other not)."""
    return np.abs(t - tmax) < 1e-4 * tmax


@pytest.fixture(scope="module")
def ray_arrays():
    scene = ray_scene()
    inst = prepare(scene).arrays
    flat = prepare(flatten(scene)).arrays
    assert len(inst.inst_info) == len(PLACEMENTS) + 13 and len(flat.inst_info) == 0
    # co-located instances share leaves: the top level got chain records (instance links)
    links = inst.bvh_links[:, WIDE_LINKS:]
    assert ((links[:, 0::2] <= -2) & (links[:, 1::2] == 0)).sum() == len(inst.inst_info)
    return inst, flat


@pytest.mark.parametrize("finite_tmax", [False, True])
def test_closest_hit_equals_brute_force(ray_arrays, finite_tmax):
    inst, flat = ray_arrays
    ros, rds = random_rays(inst, 31 + finite_tmax)
    rng = np.random.default_rng(7)
    tmaxs = np.full(len(ros), BIG, np.float32)
    if finite_tmax:
        tmaxs = np.exp(rng.uniform(np.log(0.05), np.log(20.0), len(ros))).astype(np.float32)
    t, obj, tri = _trace(inst, ros, rds, tmaxs, False)
    # exact: every instance in turn, the same float32 object-space rays
    bt, bobj, btri, iedge = _brute(inst, ros, rds, tmaxs)
    assert 0.2 < (bobj >= 0).mean() < 0.95
    np.testing.assert_array_equal(obj >= 0, bobj >= 0)
    np.testing.assert_array_equal(t, bt)
    np.testing.assert_array_equal(obj, bobj)
    # another triangle only in an exact tie (a shared edge or vertex hit at the same t)
    assert (tri != btri).sum() <= 2
    # up to rounding: the flattened world-space triangles
    ft, fobj, ftri, fedge = _brute(flat, ros, rds, tmaxs)
    seam = (np.minimum(fedge, iedge) < 1e-4) | _near(t, tmaxs) | _near(ft, tmaxs)
    # float32 world coordinates carry an absolute error ~ |position| * eps: t within 1e-5 of
    # its own size plus the origin's distance (in ray-parameter units), divided by the cosine of
    # the incidence angle (t of a grazing ray is ill-conditioned)
    scale = np.abs(ft) + np.linalg.norm(ros, axis=1) / np.linalg.norm(rds, axis=1)
    g = flat.tri_geom[np.maximum(ftri, 0)].astype(np.float64)
    n = np.cross(g[:, 3:6] - g[:, 0:3], g[:, 6:9] - g[:, 0:3])
    cos = np.abs((n * rds).sum(1)) / np.linalg.norm(n, axis=1) / np.linalg.norm(rds, axis=1)
    cos = np.where(ftri >= 0, np.maximum(cos, 1e-3), 1.0)
    same = (obj == fobj) & np.where(obj >= 0, np.abs(t - ft) <= 1e-5 * scale / cos, True)
    bad = np.flatnonzero(~same & ~seam)
    assert len(bad) == 0, (f"{len(bad)} rays differ from the flattened scene, e.g. ray {bad[0]}: "
                           f"instanced obj {obj[bad[0]]} t={t[bad[0]]}, flat obj {fobj[bad[0]]} t={ft[bad[0]]}")
    assert (~same).sum() <= 0.002 * len(ros)
    local_i, local_f = _local_triangle(inst, obj, tri), _local_triangle(flat, fobj, ftri)
    assert ((local_i == local_f) | ~same | seam).all()
    if not finite_tmax:
        # winding normals agree, mirrored instance included (its det < 0 flips the winding)
        ng_i, ng_f = np.zeros((len(ros), 3), np.float32), np.zeros((len(ros), 3), np.float32)
        _normals_many(inst, ros, rds, ng_i)
        _normals_many(flat, ros, rds, ng_f)
        check = same & ~seam & (obj >= 0)
        assert ((ng_i * ng_f).sum(1)[check] > 1 - 1e-4).all()
        mirrored = inst.inst_info[inst.inst_info[:, T.INST_MIRROR] == 1, T.INST_OBJECT]
        assert np.isin(obj[check], mirrored).sum() > 20


def test_any_hit_agrees_with_brute_force(ray_arrays):
    inst, flat = ray_arrays
    ros, rds = random_rays(inst, 41)
    rng = np.random.default_rng(8)
    tmaxs = np.exp(rng.uniform(np.log(0.05), np.log(20.0), len(ros))).astype(np.float32)
    tmaxs[rng.random(len(ros)) < 0.2] = BIG
    t, obj, _ = _trace(inst, ros, rds, tmaxs, True)
    bt, bobj, _, bedge = _brute(inst, ros, rds, tmaxs)
    assert 0.2 < (bobj >= 0).mean() < 0.8
    np.testing.assert_array_equal(obj >= 0, bobj >= 0)
    h = obj >= 0
    assert ((t[h] > 0) & (t[h] < tmaxs[h])).all() and (t[h] >= bt[h]).all()
    ft, fobj, _, fedge = _brute(flat, ros, rds, tmaxs)
    near = (np.minimum(fedge, bedge) < 1e-4) | _near(bt, tmaxs) | _near(ft, tmaxs)
    assert (((obj >= 0) == (fobj >= 0)) | near).all()


# ----------------------------------------------------------------------- memory
def _bytes(arrays) -> int:
    """Bytes of the kernel arrays, memory shared by two fields (bvh_boxes / bvh_links) once."""
    seen = []
    for a in arrays:
        if not any(np.shares_memory(a, b) for b in seen):
            seen.append(a)
    return sum(a.nbytes for a in seen)


def test_memory_of_many_instances():
    mesh = {"type": "mesh", "procedural": {"kind": "icosphere", "subdivisions": 5}}   # 20480 triangles
    rng = np.random.default_rng(3)

    def scene(n):
        objs = [dict(mesh, transform={"translate": rng.uniform(-20, 20, 3).tolist(),
                                      "rotate": rng.uniform(-180, 180, 3).tolist(),
                                      "scale": rng.uniform(0.5, 1.5, 3).tolist()}) for _ in range(n)]
        return {"camera": {"width": 8, "height": 8}, "render": {"spp": 1}, "objects": objs}

    one = prepare(scene(1)).arrays                 # auto: a single use is flattened
    many = prepare(scene(100)).arrays
    n_tris = one.tri_geom.shape[0]
    assert n_tris == 20480 and many.tri_geom.shape[0] == n_tris and many.inst_info.shape[0] == 100
    transform_bytes = many.inst_xform.nbytes // 100
    budget = 1.5 * (_bytes(one) + 100 * transform_bytes)
    assert _bytes(many) < budget, (_bytes(many), budget)
    flat = prepare(dict(scene(100), render={"spp": 1, "instancing": "never"})).arrays
    assert _bytes(flat) > 50 * _bytes(many)
    print(f"bytes per triangle: one copy {_bytes(one) / n_tris:.1f}, 100 instances "
          f"{_bytes(many) / n_tris:.1f} (per instance {(_bytes(many) - _bytes(one)) / 99:.0f}), "
          f"100 flattened copies {_bytes(flat) / (100 * n_tris):.1f}")


# ----------------------------------------------------------------------- which meshes are shared
def test_same_content_is_shared_whatever_its_source(tmp_path):
    obj = "v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 2 3 4\nf 3 1 4\n"
    (tmp_path / "a.obj").write_text(obj)
    (tmp_path / "copy.obj").write_text(obj)
    (tmp_path / "other.obj").write_text(obj.replace("v 0 0 1", "v 0 0 2"))
    lamp = {"type": "emissive", "radiance": [1, 1, 1]}
    objects = [{"type": "mesh", "file": "a.obj", "transform": {"translate": [k, 0, 0]}} for k in range(2)]
    objects += [{"type": "mesh", "file": "copy.obj"}, {"type": "mesh", "file": "other.obj"},
                {"type": "mesh", "file": "a.obj", "material": lamp}]
    from raysynth.compile import compile_scene
    from raysynth.spec.load import parse_scene

    compiled = compile_scene(parse_scene({"objects": objects}), tmp_path)
    a = compiled.arrays
    # a.obj twice and its copy: one mesh, 3 instances; other.obj used once and the emissive
    # object are flattened (light sampling needs world-space triangles)
    assert [o["instanced"] for o in compiled.objects] == [True, True, True, False, False]
    assert len(a.inst_info) == 3 and len(set(a.inst_info[:, T.INST_ROOT])) == 1
    assert a.tri_geom.shape[0] == 4 + 4 + 4
    # world-space triangles first (other.obj, then the lamp's), the shared mesh after them
    assert a.light_info.shape[0] == 1 and a.light_info[0, T.LI_REF] == 4
    assert (a.inst_info[:, T.INST_FIRST_TRI] == 8).all()


def test_too_deep_for_the_stack_falls_back_to_copies(monkeypatch):
    from raysynth.errors import SceneError

    need = {mode: prepare(_with_instancing(instanced_scene(), mode)).stack_needed for mode in ("never", "auto", "always")}
    assert need["auto"] > need["never"]   # this scene's two-level tree is deeper than its flat one
    monkeypatch.setattr(T, "STACK_SIZE", need["auto"] - 1)   # the compiler's check only
    flat = prepare(instanced_scene())
    assert len(flat.arrays.inst_info) == 0 and not any(o.get("instanced") for o in flat.objects)
    monkeypatch.setattr(T, "STACK_SIZE", need["always"] - 1)
    with pytest.raises(SceneError, match="render.instancing: the two-level BVH is too deep"):
        prepare(_with_instancing(instanced_scene(), "always"))
