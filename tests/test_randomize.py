"""Domain randomization: config validation, deterministic sampling, and placement geometry.

Placement is checked independently of the sampler's own GJK code: every placed primitive is read
back from the emitted scene dict through the renderer's ``transform_matrix``, sampled densely on
its surface, and the samples are evaluated in the exact signed distance function of every other
object. A correct placement (distance >= min_gap) makes every sample's signed distance >= min_gap,
so the check cannot fail falsely, and an overlap deeper than the sample spacing makes it fail.
The GJK distance itself is compared with closed forms (spheres), a scipy QP (polytopes) and dense
sampling (curved shapes).
"""
from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize

from raysynth.assets.mesh_io import read_mesh
from raysynth.compile import transform_matrix
from raysynth.errors import SceneError
from raysynth.randomize import Collider, RandomizerConfig, derive_seed, gjk_distance, load_config, sample_scene
from raysynth.randomize import config as config_module
from raysynth.randomize.placement import quat_matrix, random_quat
from raysynth.spec import scene as S
from raysynth.spec.load import parse_scene

try:  # the procedural mesh generators (raysynth.assets.procedural), where installed
    from raysynth.assets.procedural import make as make_procedural
except ImportError:
    make_procedural = None

ROOT = Path(__file__).resolve().parents[1]
SCENES = ROOT / "scenes"
PRIMITIVES = ("sphere", "box", "cylinder", "disk", "quad")

# A crowded pool of every primitive kind (the same pool serves both placement modes).
POOL = [
    {"shape": "sphere", "label": "sphere", "params": {"radius": 0.25}, "scale": [0.6, 1.4], "count": [2, 4]},
    {"shape": "box", "label": "box", "params": {"size": [0.5, 0.3, 0.4]}, "scale": [0.6, 1.4], "count": [2, 4]},
    {"shape": "cylinder", "label": "cylinder", "params": {"radius": 0.15, "height": 0.6}, "scale": [0.6, 1.4],
     "count": [2, 4]},
    {"shape": "disk", "label": "disk", "params": {"radius": 0.3}, "scale": [0.6, 1.4], "count": [1, 2]},
    {"shape": "quad", "distractor": True, "params": {"size": [0.5, 0.3]}, "scale": [0.6, 1.4], "count": [1, 2]},
]
GROUND_CFG = {
    "objects": POOL,
    "placement": {"mode": "ground", "area": {"x": [-1.5, 1.5], "z": [-1.2, 1.4]}, "min_gap": 0.05,
                  "lying_fraction": 0.5, "flat_offset": 0.002},
    "lights": {"area_lights": {"count": [1, 2], "height": [1.0, 1.6]}},
}
VOLUME_CFG = {
    "objects": POOL,
    "placement": {"mode": "volume", "area": {"x": [-1.3, 1.3], "y": [0.0, 1.6], "z": [-1.1, 1.2]}, "min_gap": 0.05},
}
SEEDS = range(25)


# ----------------------------------------------------------------------------- geometry helpers
def local_dims(obj: dict) -> np.ndarray:
    """Collider dims of an emitted primitive: sphere [r], box half sizes, cylinder [r, h/2], ..."""
    t = obj["type"]
    if t in ("sphere", "disk"):
        return np.array([obj["radius"]])
    if t == "cylinder":
        return np.array([obj["radius"], obj["height"] / 2])
    return np.asarray(obj["size"], dtype=np.float64) / 2  # box, quad


def world_matrix(obj: dict) -> np.ndarray:
    """Object-to-world matrix of a scene-dict object, as the renderer computes it."""
    return transform_matrix(S.Transform.model_validate(obj.get("transform", {})))


def sdf(kind: str, dims, p: np.ndarray) -> np.ndarray:
    """Exact signed distance of local points p (n, 3) to a canonical shape (unsigned for flat ones)."""
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    if kind == "sphere":
        return np.linalg.norm(p, axis=1) - dims[0]
    if kind == "box":
        q = np.abs(p) - dims
        return np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)
    if kind == "cylinder":
        d = np.stack([np.hypot(x, y) - dims[0], np.abs(z) - dims[1]], axis=1)
        return np.minimum(d.max(axis=1), 0) + np.linalg.norm(np.maximum(d, 0), axis=1)
    if kind == "disk":
        return np.hypot(np.maximum(np.hypot(x, y) - dims[0], 0), z)
    dx, dy = np.maximum(np.abs(x) - dims[0], 0), np.maximum(np.abs(y) - dims[1], 0)  # quad
    return np.sqrt(dx * dx + dy * dy + z * z)


def surface_points(kind: str, dims, n: int = 2000) -> np.ndarray:
    """Points covering a canonical shape's surface (edges included), about n of them."""
    if kind == "sphere":
        i = np.arange(n) + 0.5
        phi, theta = np.arccos(1 - 2 * i / n), math.pi * (1 + 5 ** 0.5) * i
        return dims[0] * np.stack([np.sin(phi) * np.cos(theta), np.sin(phi) * np.sin(theta), np.cos(phi)], axis=1)
    if kind == "box":
        k = max(3, int(math.sqrt(n / 6)))
        u, v = (g.ravel() for g in np.meshgrid(np.linspace(-1, 1, k), np.linspace(-1, 1, k)))
        faces = []
        for axis in range(3):
            for sign in (-1, 1):
                f = np.zeros((u.size, 3))
                f[:, axis] = sign
                f[:, (axis + 1) % 3], f[:, (axis + 2) % 3] = u, v
                faces.append(f)
        return np.concatenate(faces) * dims
    if kind == "quad":
        k = max(3, int(math.sqrt(n)))
        u, v = (g.ravel() for g in np.meshgrid(np.linspace(-1, 1, k), np.linspace(-1, 1, k)))
        return np.stack([u * dims[0], v * dims[1], np.zeros_like(u)], axis=1)
    m = max(8, int(math.sqrt(n) * 2))  # angles
    ang = np.linspace(0, 2 * math.pi, m, endpoint=False)
    rings = np.linspace(0, 1, max(3, m // 4))
    rr, aa = (g.ravel() for g in np.meshgrid(rings, ang))
    disk = np.stack([dims[0] * rr * np.cos(aa), dims[0] * rr * np.sin(aa), np.zeros_like(rr)], axis=1)
    if kind == "disk":
        return disk
    zs = np.linspace(-dims[1], dims[1], max(3, m // 2))
    zz, aa = (g.ravel() for g in np.meshgrid(zs, ang))
    side = np.stack([dims[0] * np.cos(aa), dims[0] * np.sin(aa), zz], axis=1)
    return np.concatenate([side, disk + [0, 0, dims[1]], disk - [0, 0, dims[1]]])


def rigid_parts(obj: dict) -> tuple[np.ndarray, np.ndarray]:
    """Rotation and translation of a primitive's transform, which must be rigid (sizes carry scale)."""
    m = world_matrix(obj)
    rot = m[:3, :3]
    assert np.allclose(rot.T @ rot, np.eye(3), atol=1e-12), f"{obj['name']}: transform is not rigid"
    return rot, m[:3, 3]


def world_surface(obj: dict, n: int = 2000) -> np.ndarray:
    rot, t = rigid_parts(obj)
    return surface_points(obj["type"], local_dims(obj), n) @ rot.T + t


def world_sdf(obj: dict, p: np.ndarray) -> np.ndarray:
    rot, t = rigid_parts(obj)
    return sdf(obj["type"], local_dims(obj), (p - t) @ rot)


def half_extents(obj: dict) -> np.ndarray:
    """Half size of the world AABB of a primitive from its support function along the axes."""
    rot, _ = rigid_parts(obj)
    d = local_dims(obj)
    t = obj["type"]
    if t == "sphere":
        return np.full(3, d[0])
    if t == "box":
        return np.abs(rot) @ d
    if t == "quad":
        return np.abs(rot[:, 0]) * d[0] + np.abs(rot[:, 1]) * d[1]
    radial = d[0] * np.sqrt(rot[:, 0] ** 2 + rot[:, 1] ** 2)
    return radial if t == "disk" else radial + np.abs(rot[:, 2]) * d[1]


def placed(scene: dict) -> list[dict]:
    """The sampled pool objects (not the ground, static objects or area lights)."""
    return [o for o in scene["objects"] if o["name"] != "ground" and not o["name"].startswith("area_light")
            and o["name"] not in ("floor", "leg")]


def mesh_vertices(obj: dict) -> np.ndarray:
    """Object-space vertices of an emitted mesh (generated, or read from its file); the corners of
    [-1, 1]^3 for a procedural mesh where no generator is installed (what the sampler assumes)."""
    if "procedural" in obj:
        if make_procedural is None:
            return np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
        spec = dict(obj["procedural"])
        return np.asarray(make_procedural(spec.pop("kind"), **spec).vertices, dtype=np.float64)
    return read_mesh(obj["file"]).vertices.astype(np.float64)


class Body:
    """A placed object for the independent checks: `points` cover it (primitive surface samples, or
    mesh vertices), `sdf` is the world distance to it (exact for primitives; for meshes, to the box
    of their vertex bounds, which contains them)."""

    def __init__(self, obj: dict, n: int = 2000):
        self.obj = obj
        if obj["type"] != "mesh":
            self.points = world_surface(obj, n)
            return
        v, m = mesh_vertices(obj), world_matrix(obj)
        self.points = v @ m[:3, :3].T + m[:3, 3]
        self.inv = np.linalg.inv(m)
        self.scale = float(np.linalg.norm(m[:3, 0]))
        assert np.allclose(m[:3, :3].T @ m[:3, :3], self.scale ** 2 * np.eye(3), atol=1e-12)  # uniform scale
        self.centre, self.half = (v.max(0) + v.min(0)) / 2, (v.max(0) - v.min(0)) / 2

    def sdf(self, p: np.ndarray) -> np.ndarray:
        if self.obj["type"] != "mesh":
            return world_sdf(self.obj, p)
        local = p @ self.inv[:3, :3].T + self.inv[:3, 3]
        return self.scale * sdf("box", self.half, local - self.centre)

    def lowest(self) -> float:
        """Lowest world y: analytic for primitives, over the vertices for meshes."""
        if self.obj["type"] != "mesh":
            return rigid_parts(self.obj)[1][1] - half_extents(self.obj)[1]
        return float(self.points[:, 1].min())


def assert_separated(objs: list[dict], gap: float, n: int = 2000) -> None:
    """Every point covering each object is at least `gap` from every other object (signed distance)."""
    bodies = [Body(o, n) for o in objs]
    for a in bodies:
        for b in bodies:
            if a is not b:
                closest = b.sdf(a.points).min()
                assert closest >= gap - 1e-9, f"{a.obj['name']} is {closest:.4g} from {b.obj['name']} (min_gap {gap})"


def assert_resting(objs: list[dict], flat_offset: float) -> None:
    """Solids touch y = 0, flat shapes lie `flat_offset` above it (meshes: exact when generated)."""
    for o in objs:
        lowest = Body(o, 10).lowest()
        want = flat_offset if o["type"] in ("disk", "quad") else 0.0
        if "procedural" in o and make_procedural is None:
            assert lowest >= -1e-9  # only the unit cube is known: conservative
        else:
            assert abs(lowest - want) < 1e-6, f"{o['name']}: lowest point at y = {lowest}"


def error_of(data, **kw) -> str:
    with pytest.raises(SceneError) as info:
        cfg = load_config(data)
        sample_scene(cfg, 0, **kw)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


# ----------------------------------------------------------------------------- config errors
def pool(**entry) -> dict:
    """A config whose pool is one entry (a labelled sphere unless overridden)."""
    return {"objects": [{"shape": "sphere", "label": "a", **entry}]}


@pytest.mark.parametrize("data, expected", [
    ({"camera": {"distance": [8, 5]}}, "config: camera.distance: inverted range [8, 5]"),
    ({"placement": {"area": {"x": [2, -2]}}}, "config: placement.area.x: inverted range"),
    ({"lights": {"sun_elevation": [60, 30]}}, "config: lights.sun_elevation: inverted range"),
    (pool(count=[5, 2]), "config: objects[0].count: inverted range [5, 2]"),
    (pool(count=[-1, 2]), "config: objects[0].count[0]:"),
    (pool(scale=[-1, 2]), "config: objects[0].scale[0]: Input should be greater than 0"),
    (pool(params={"radius": -1}), "config: objects[0].params.radius: sizes must be > 0"),
    (pool(shape="box", params={"size": [1, -2, 1]}), "config: objects[0].params.size: sizes must be > 0"),
    (pool(shape="box", params={"radius": 1}), "config: objects[0].params.radius: unknown parameter for a box"),
    (pool(label=None), "config: objects[0].label: required"),
    (pool(distractor=True), "config: objects[0].label: a distractor"),
    (pool(shape="procedural", params={"kind": "teapot"}), "config: objects[0].params.kind: unknown procedural kind"),
    (pool(shape="mesh_file", params={"file": "missing.obj"}), "config: objects[0].params.file:"),
    (pool(up_axis="+y"), "config: objects[0].up_axis: only meshes"),
    ({"class_probability": {"zebra": 0.5}}, "config: class_probability.zebra: unknown class 'zebra'"),
    ({"class_probability": {"box": 1.5}}, "config: class_probability.box: Input should be less than or equal to 1"),
    ({"classes": ["box"], **pool(label="ball")}, "config: objects[0].label: unknown class 'ball'"),
    ({"placement": {"aera": {}}}, "config: placement.aera: unknown field"),
    ({"materials": {"metal_fraction": 0.6, "glass_fraction": 0.6}}, "config: materials: metal_fraction + glass_fraction"),
    ({"materials": {"ground": {"type": "diffuse", "albedo": [1, -1, 0]}}}, "config: materials.ground.albedo[1]:"),
    ({"placement": {"mode": "volume", "area": {"y": [-1, 1]}}}, "config: placement.area.y: starts below the ground"),
    ({"placement": {"area": {"x": [-20, 20]}}}, "config: placement.area: x [-20.0, 20.0] z [-2.0, 2.0] extends beyond"),
    ({"num_objects": [50, 60]}, "config: num_objects: minimum 50 exceeds the sum of count maxima (9)"),
    ({"camera": {"elevation": [0, 95]}}, "config: camera.elevation[1]:"),
    ({"static_objects": [{"type": "sphere", "material": "steel"}]}, "config: static_objects[0].material: give it inline"),
])
def test_config_errors_are_one_line_and_name_the_field(data, expected):
    assert error_of(data).startswith(expected)


@pytest.mark.skipif(not hasattr(S, "Procedural"), reason="the scene format has no procedural meshes")
@pytest.mark.parametrize("params, expected", [
    ({"kind": "torus", "major": -1}, "config: objects[0].params.major: Input should be greater than 0"),
    ({"kind": "torus", "minor": 0.9}, "config: objects[0].params: minor must be < major"),
    ({"kind": "blob", "wobble": 1}, "config: objects[0].params.wobble: unknown field"),
])
def test_procedural_parameters_are_checked_by_the_scene_format(params, expected):
    assert error_of(pool(shape="procedural", params=params)).startswith(expected)


def test_count_beyond_capacity_is_refused_at_load():
    """Solid volume alone exceeds the area: no placement can exist, refused before sampling."""
    data = {"objects": [{"shape": "sphere", "label": "a", "params": {"radius": 0.5}, "count": [30, 30]}],
            "placement": {"area": {"x": [-1, 1], "z": [-1, 1]}}}
    msg = error_of(data)
    assert msg.startswith("config: placement: 30 objects (count minima) cannot fit without overlap in a 2x2 area")
    assert msg.endswith("enlarge placement.area or lower objects[0].count")


def test_count_that_cannot_be_placed_gives_the_placement_error():
    """30 disks of area 0.79 each (flat: zero volume, so the load check passes) in a 2x2 area."""
    data = {"objects": [{"shape": "box", "label": "b", "params": {"size": [0.2, 0.2, 0.2]}},
                        {"shape": "disk", "label": "d", "params": {"radius": 0.5}, "count": [30, 30]}],
            "placement": {"area": {"x": [-1, 1], "z": [-1, 1]}, "max_attempts": 40}}
    msg = error_of(data)
    prefix = "config: placement: could not place 31 objects without overlap in a 2x2 area after 40 attempts (placed "
    assert msg.startswith(prefix), msg
    placed_count = int(msg[len(prefix):].split(")")[0])
    # disk centres lie in a unit square, >= 1.02 apart: at most 3 fit (the best spread of 3 is 1.035)
    assert 1 <= placed_count <= 3
    assert msg.endswith("); enlarge placement.area or lower objects[1].count")


def test_config_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"camera": {"fov": [50, 30]}}))
    assert error_of(bad).startswith(f"{bad}: camera.fov: inverted range [50, 30]")
    broken = tmp_path / "broken.json"
    broken.write_text('{"camera": }')
    assert error_of(broken).startswith(f"{broken}:1:12: invalid JSON")
    assert error_of(tmp_path / "none.json") == f"{tmp_path / 'none.json'}: config file not found"


def test_every_config_field_has_a_description_and_a_default():
    models = [m for m in vars(config_module).values()
              if isinstance(m, type) and issubclass(m, config_module.ConfigModel) and m is not config_module.ConfigModel]
    assert len(models) >= 10
    for model in models:
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"
            assert not info.is_required(), f"{model.__name__}.{name} has no default"
    cfg = load_config({})
    assert cfg == RandomizerConfig()  # the defaults form a valid config
    json.dumps(RandomizerConfig.model_json_schema())


def test_configs_round_trip_through_json():
    """A dumped config loads again to an equal config that samples the same scenes."""
    statics = [{"type": "box", "name": "wall", "size": [4, 1, 0.1], "material": {"type": "diffuse"},
                "transform": {"translate": [0, 0.5, -3], "quaternion": [0.9, 0, 0.1, 0]}}]
    for cfg in (load_config(SCENES / "random_shapes.json"), load_config(SCENES / "tabletop.json"),
                load_config({"static_objects": statics})):
        again = load_config(json.loads(cfg.model_dump_json()))
        assert again.model_dump() == cfg.model_dump()
        assert json.dumps(sample_scene(again, 3)) == json.dumps(sample_scene(cfg, 3))


# ----------------------------------------------------------------------------- seeds, determinism
def test_derive_seed_is_stable_distinct_and_in_range():
    assert derive_seed(0, 0) == derive_seed(0, 0, 0) == 51223332398889021  # pinned: datasets must not change
    assert derive_seed(7, 3, 1) == 3973458457918492158
    seeds = {derive_seed(d, i, a) for d in range(4) for i in range(200) for a in range(4)}
    assert len(seeds) == 4 * 200 * 4
    assert all(0 <= s < 1 << 63 for s in seeds)
    assert derive_seed(1, 2) != derive_seed(2, 1) and derive_seed(2**32, 0) != derive_seed(0, 1)
    for bad in ((-1, 0), (0, 2**64), (0.5, 1), (True, 1)):
        with pytest.raises(SceneError, match="must be an integer"):
            derive_seed(*bad)


def test_sampling_is_deterministic_per_seed_and_ignores_global_rng():
    cfg = load_config(SCENES / "random_shapes.json")
    first = json.dumps(sample_scene(cfg, 1234))
    np.random.seed(99)
    random.seed(99)
    np.random.random(1000)
    sample_scene(cfg, 77)  # other samples in between change nothing
    assert json.dumps(sample_scene(load_config(SCENES / "random_shapes.json"), 1234)) == first
    assert json.dumps(sample_scene(cfg, 1234)) == first
    assert json.loads(first)["render"]["seed"] == 1234


def test_sampling_is_identical_in_a_fresh_process():
    code = ("import json; from raysynth.randomize import sample_scene; "
            f"print(json.dumps(sample_scene({str(SCENES / 'tabletop.json')!r}, 42)))")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=True)
    assert out.stdout.strip() == json.dumps(sample_scene(SCENES / "tabletop.json", 42))


def test_different_seeds_give_different_scenes():
    cfg = load_config(GROUND_CFG)
    scenes = [sample_scene(cfg, s) for s in range(20)]
    positions = {json.dumps([o["transform"]["translate"] for o in placed(sc)]) for sc in scenes}
    cameras = {json.dumps(sc["camera"]) for sc in scenes}
    assert len(positions) == len(cameras) == 20
    assert len({len(placed(sc)) for sc in scenes}) > 1  # counts vary too


def test_streams_are_independent_per_section():
    """Changing the lights or the camera leaves the sampled objects unchanged."""
    a = sample_scene(load_config(GROUND_CFG), 5)
    b = sample_scene(load_config({**GROUND_CFG, "lights": {"sun_probability": 0.0}, "camera": {"fov": [20, 20]}}), 5)
    assert json.dumps(placed(a)) == json.dumps(placed(b))
    assert a["lights"] != b["lights"] and a["camera"] != b["camera"]
    c = sample_scene(load_config(GROUND_CFG), 5, camera_seed=6)
    assert json.dumps(placed(c)) == json.dumps(placed(a)) and c["camera"] != a["camera"]
    assert c["render"]["seed"] == 5


# ----------------------------------------------------------------------------- placement geometry
@pytest.mark.parametrize("cfg_data", [GROUND_CFG, VOLUME_CFG], ids=["ground", "volume"])
def test_no_two_placed_objects_overlap(cfg_data):
    cfg = load_config(cfg_data)
    gap = cfg.placement.min_gap
    for seed in SEEDS:
        scene = sample_scene(cfg, seed)
        objs = placed(scene) + [o for o in scene["objects"] if o["name"].startswith("area_light")]
        assert len(objs) >= 8
        assert_separated(objs, gap)


def test_objects_rest_on_the_ground():
    cfg = load_config(GROUND_CFG)
    offset = cfg.placement.flat_offset
    poses = set()
    for seed in SEEDS:
        for o in placed(sample_scene(cfg, seed)):
            rot, t = rigid_parts(o)
            lowest = t[1] - half_extents(o)[1]
            sampled = (world_surface(o)[:, 1]).min()
            assert sampled >= lowest - 1e-9
            if o["type"] in ("disk", "quad"):
                assert abs(lowest - offset) < 1e-9 and abs(rot[1, 2] - 1) < 1e-12  # flat, front face up
            else:
                assert abs(lowest) < 1e-6, f"{o['name']} lowest point at y = {lowest}"
            if o["type"] == "cylinder":
                poses.add("upright" if abs(abs(rot[1, 2]) - 1) < 1e-9 else "lying" if abs(rot[1, 2]) < 1e-9 else "tilted")
            if o["type"] == "box":  # on a face: one box axis is vertical
                assert np.isclose(np.abs(rot[1]).max(), 1.0, atol=1e-9)
    assert poses == {"upright", "lying"}


@pytest.mark.parametrize("cfg_data", [GROUND_CFG, VOLUME_CFG], ids=["ground", "volume"])
def test_objects_stay_within_the_area(cfg_data):
    cfg = load_config(cfg_data)
    a = cfg.placement.area
    lo, hi = np.array([a.x[0], a.y[0], a.z[0]]), np.array([a.x[1], a.y[1], a.z[1]])
    axes = [0, 2] if cfg.placement.mode == "ground" else [0, 1, 2]
    for seed in SEEDS:
        for o in placed(sample_scene(cfg, seed)):
            c, h = rigid_parts(o)[1], half_extents(o)
            assert np.all(c[axes] - h[axes] >= lo[axes] - 1e-9) and np.all(c[axes] + h[axes] <= hi[axes] + 1e-9)
            assert c[1] - h[1] >= -1e-9  # never below the ground


def test_volume_mode_rotations_are_random():
    cfg = load_config(VOLUME_CFG)
    ups = np.array([rigid_parts(o)[0][:, 2] for s in range(10) for o in placed(sample_scene(cfg, s))])
    assert np.abs(ups.mean(axis=0)).max() < 0.3 and ups[:, 1].std() > 0.4  # object z axes point everywhere


def _gjk_reference(a: Collider, b: Collider) -> tuple[float, float]:
    """(reference distance, tolerance): closed form with a sphere, a QP for polytopes, else dense sampling."""
    def local(c, p):
        return (p - c.center) @ c.rotation

    def samples(c, n):
        return surface_points(c.kind, c.dims, n) @ c.rotation.T + c.center

    if a.kind == "sphere" or b.kind == "sphere":
        s, o = (a, b) if a.kind == "sphere" else (b, a)
        return max(float(sdf(o.kind, o.dims, local(o, s.center[None]))[0]) - s.dims[0], 0.0), 1e-6
    if {a.kind, b.kind} <= {"box", "quad"}:
        va, vb = (np.unique(_corners(c), axis=0) for c in (a, b))
        na = len(va)

        def f(w):
            d = w[:na] @ va - w[na:] @ vb
            return d @ d

        cons = [{"type": "eq", "fun": lambda w: w[:na].sum() - 1}, {"type": "eq", "fun": lambda w: w[na:].sum() - 1}]
        w0 = np.concatenate([np.full(na, 1 / na), np.full(len(vb), 1 / len(vb))])
        res = minimize(f, w0, method="SLSQP", bounds=[(0, 1)] * len(w0), constraints=cons,
                       options={"ftol": 1e-14, "maxiter": 500})
        return math.sqrt(max(res.fun, 0.0)), 2e-5
    pa, pb = samples(a, 40000), samples(b, 40000)
    d = min(sdf(b.kind, b.dims, local(b, pa)).min(), sdf(a.kind, a.dims, local(a, pb)).min())
    return max(float(d), 0.0), 0.02


def _corners(c: Collider) -> np.ndarray:
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
    half = np.append(c.dims, 0.0) if c.kind == "quad" else c.dims
    return (signs * half) @ c.rotation.T + c.center


def test_gjk_distance_matches_independent_references():
    rng = np.random.default_rng(2024)
    dims = {"sphere": lambda: rng.uniform(0.1, 0.6, 1), "box": lambda: rng.uniform(0.1, 0.6, 3),
            "cylinder": lambda: rng.uniform(0.1, 0.6, 2), "disk": lambda: rng.uniform(0.1, 0.6, 1),
            "quad": lambda: rng.uniform(0.1, 0.6, 2)}
    checked = {"overlap": 0, "apart": 0}
    for ka in PRIMITIVES:
        for kb in PRIMITIVES:
            for _ in range(6):
                a = Collider(ka, dims[ka](), rng.uniform(-0.3, 0.3, 3), quat_matrix(random_quat(rng)))
                b = Collider(kb, dims[kb](), a.center + rng.normal(size=3) * 0.7, quat_matrix(random_quat(rng)))
                got, (want, tol) = gjk_distance(a, b), _gjk_reference(a, b)
                assert abs(got - want) <= tol, f"{ka}-{kb}: gjk {got} vs reference {want}"
                assert got <= want + 1e-7 or tol > 1e-3  # a lower bound wherever the reference is exact
                assert gjk_distance(b, a) == pytest.approx(got, abs=2 * 1e-7)
                checked["overlap" if want == 0 else "apart"] += 1
    assert min(checked.values()) > 20


def test_gjk_touching_and_nested_shapes():
    box = Collider("box", [0.5, 0.5, 0.5])
    assert gjk_distance(box, Collider("sphere", [0.1], [0, 0.1, 0])) == 0.0  # sphere inside the box
    assert gjk_distance(box, Collider("box", [0.5, 0.5, 0.5], [1.0, 0, 0])) == pytest.approx(0.0, abs=1e-7)  # faces touch
    assert gjk_distance(box, Collider("box", [0.5, 0.5, 0.5], [1.25, 0.3, -0.2])) == pytest.approx(0.25, abs=1e-7)
    lying = Collider("cylinder", [0.2, 0.5], [0.0, 0.9, 0.0], quat_matrix([math.cos(math.pi / 4), math.sin(math.pi / 4), 0, 0]))
    assert gjk_distance(box, lying) == pytest.approx(0.0, abs=1e-7)  # cylinder along y: cap 0.4 above
    floating = Collider("disk", [0.3], [0.0, 0.75, 0.0], quat_matrix([math.cos(math.pi / 4), -math.sin(math.pi / 4), 0, 0]))
    assert gjk_distance(box, floating) == pytest.approx(0.25, abs=1e-7)


# ----------------------------------------------------------------------------- counts, classes, meshes
def test_counts_and_class_probability():
    data = {"objects": [{"shape": "sphere", "label": "common", "params": {"radius": 0.1}, "count": [1, 3]},
                        {"shape": "box", "label": "rare", "params": {"size": [0.2, 0.2, 0.2]}, "count": [1, 2]},
                        {"shape": "box", "label": "never", "params": {"size": [0.2, 0.2, 0.2]}, "count": [0, 2]},
                        {"shape": "disk", "distractor": True, "params": {"radius": 0.1}, "count": [0, 1], "weight": 0}],
            "num_objects": [3, 6], "class_probability": {"rare": 0.3, "never": 0.0, "common": 1.0}}
    cfg = load_config(data)
    n, with_rare = 300, 0
    for seed in range(n):
        labels = [o["label"] for o in placed(sample_scene(cfg, seed))]
        assert 1 <= labels.count("common") <= 3 and labels.count("never") == 0 and None not in labels
        assert 3 <= len(labels) <= 6
        with_rare += "rare" in labels
    assert abs(with_rare / n - 0.3) < 4 * math.sqrt(0.21 / n)
    scene = sample_scene(cfg, 0)
    assert scene["classes"] == ["common", "rare", "never"]


def test_procedural_entries_emit_the_procedural_mesh_dict():
    data = {"objects": [
        {"shape": "procedural", "label": "knot", "params": {"kind": "torus_knot", "p": 2, "q": 3}, "scale": [0.2, 0.4],
         "count": [2, 2]},
        {"shape": "procedural", "label": "blob", "params": {"kind": "blob"}, "scale": [0.3, 0.3], "count": [3, 3]},
        {"shape": "procedural", "label": "torus", "params": {"kind": "torus"}, "scale": [0.5, 0.5], "count": [1, 1],
         "bounds": [[-1, -1, -0.5], [1, 1, 0.5]]},
        {"shape": "procedural", "label": "cone", "params": {"kind": "cone"}, "scale": [0.3, 0.3], "count": [1, 1],
         "up_axis": "-y", "bounds": [[-1, -1, -1], [1, 1, 1]]},
        {"shape": "sphere", "label": "ball", "params": {"radius": 0.2}, "count": [2, 2]}]}
    cfg = load_config(data)
    for seed in range(10):
        scene = sample_scene(cfg, seed)
        meshes = [o for o in scene["objects"] if o["type"] == "mesh"]
        assert [o["procedural"]["kind"] for o in meshes] == ["torus_knot"] * 2 + ["blob"] * 3 + ["torus", "cone"]
        assert all(o["procedural"] == {"kind": "torus_knot", "p": 2, "q": 3} for o in meshes[:2])
        assert len({o["procedural"]["seed"] for o in meshes[2:5]}) == 3  # a different blob each
        for o in meshes:
            tf = o["transform"]
            entry = cfg.objects[[e.label for e in cfg.objects].index(o["label"])]
            assert entry.scale[0] <= tf["scale"] <= entry.scale[1]
            rot = quat_matrix(tf["quaternion"])
            up = [0, -1, 0] if o["procedural"]["kind"] == "cone" else [0, 0, 1]
            assert np.allclose(rot @ up, [0, 1, 0], atol=1e-12)  # the up axis points up, only yawed
            if o["procedural"]["kind"] in ("torus", "cone"):  # given bounds rest on y = 0
                bottom = 0.5 if o["procedural"]["kind"] == "torus" else 1.0
                assert tf["translate"][1] == pytest.approx(bottom * tf["scale"], abs=1e-12)
        if "procedural" in S.Mesh.model_fields:
            parse_scene(scene)


@pytest.mark.skipif(make_procedural is None, reason="raysynth.assets.procedural is not installed")
def test_procedural_meshes_rest_on_the_ground_and_avoid_others():
    """With the generators, placement uses each mesh's exact vertex bounds."""
    data = {"objects": [
        {"shape": "procedural", "label": "torus", "params": {"kind": "torus", "minor": 0.2}, "scale": [0.3, 0.5],
         "count": [1, 2]},
        {"shape": "procedural", "label": "blob", "params": {"kind": "blob", "subdivisions": 2}, "scale": [0.2, 0.4],
         "count": [1, 3]},
        {"shape": "procedural", "label": "knot", "params": {"kind": "torus_knot"}, "scale": [0.3, 0.4],
         "count": [1, 1], "up_axis": "random"},
        {"shape": "cylinder", "label": "can", "params": {"radius": 0.15, "height": 0.4}, "count": [2, 4]}],
        "placement": {"area": {"x": [-1.6, 1.6], "z": [-1.6, 1.6]}, "min_gap": 0.04}}
    cfg = load_config(data)
    for seed in range(10):
        objs = placed(sample_scene(cfg, seed))
        assert_resting(objs, cfg.placement.flat_offset)
        assert_separated(objs, cfg.placement.min_gap, n=600)
        for o in objs:
            pts = Body(o, 200).points
            assert pts[:, [0, 2]].min() >= -1.6 - 1e-9 and pts[:, [0, 2]].max() <= 1.6 + 1e-9


def test_mesh_file_entries_are_normalized_rest_on_the_ground_and_avoid_others():
    data = {"objects": [
        {"shape": "mesh_file", "label": "blob", "params": {"file": "meshes/blob.ply"}, "scale": [0.3, 0.5], "count": [2, 3]},
        {"shape": "mesh_file", "label": "knot", "params": {"file": "meshes/torus_knot.obj", "smooth": False},
         "scale": [0.3, 0.5], "count": [1, 2]},
        {"shape": "box", "label": "box", "params": {"size": [0.4, 0.4, 0.4]}, "count": [2, 4]}],
        "placement": {"area": {"x": [-2, 2], "z": [-2, 2]}, "min_gap": 0.04}}
    cfg = load_config(data, base_dir=SCENES)
    for seed in range(8):
        scene = sample_scene(cfg, seed)
        parse_scene(scene)
        objs = placed(scene)
        for o in objs:
            if o["type"] == "mesh":
                assert Path(o["file"]).is_absolute() and Path(o["file"]).exists() and o["label"] in ("blob", "knot")
                v = mesh_vertices(o)
                half = (v.max(0) - v.min(0)).max() * o["transform"]["scale"] / 2  # scale = half the largest extent
                assert 0.3 - 1e-9 <= half <= 0.5 + 1e-9
                assert np.allclose(quat_matrix(o["transform"]["quaternion"]) @ [0, 1, 0], [0, 1, 0], atol=1e-12)
            pts = Body(o, 200).points
            assert pts[:, [0, 2]].min() >= -2 - 1e-9 and pts[:, [0, 2]].max() <= 2 + 1e-9
        assert_resting(objs, cfg.placement.flat_offset)
        assert_separated(objs, cfg.placement.min_gap, n=600)


# ----------------------------------------------------------------------------- bundled configs, render
def without_procedural(scene: dict) -> dict:
    """A copy the scene format accepts: procedural meshes become boxes of the unit cube they are
    placed as, where the format has no procedural meshes yet."""
    scene = json.loads(json.dumps(scene))
    if "procedural" in S.Mesh.model_fields:
        return scene
    for o in scene["objects"]:
        if "procedural" in o:
            del o["procedural"]
            o.update(type="box", size=[2.0, 2.0, 2.0])
    return scene


@pytest.mark.parametrize("name, n_range", [("random_shapes.json", (8, 20)), ("tabletop.json", (5, 13))])
def test_bundled_configs_sample_valid_scenes(name, n_range):
    cfg = load_config(SCENES / name)
    assert 4 <= len(cfg.classes) <= 6
    kinds, labels = set(), set()
    for seed in range(8):
        scene = sample_scene(cfg, derive_seed(3, seed))
        objs = placed(scene)
        assert n_range[0] <= len(objs) <= n_range[1]
        assert scene["camera"]["width"] == 320 and scene["camera"]["height"] == 240 and scene["render"]["spp"] == 16
        parsed = parse_scene(without_procedural(scene))
        assert parsed.classes == cfg.classes
        kinds |= {o["type"] for o in objs} | {o["procedural"]["kind"] for o in objs if "procedural" in o}
        labels |= {o["label"] for o in objs}
        assert_resting(objs, cfg.placement.flat_offset)
        extra = [o for o in scene["objects"] if o["name"] == "leg" or o["name"].startswith("area_light")]
        assert_separated(objs + extra, cfg.placement.min_gap, n=600)
    assert {"sphere", "box", "cylinder"} <= kinds and kinds & set(config_module.PROCEDURAL_KINDS)
    assert None in labels and len(labels - {None}) >= 4  # distractors and most classes appear


def test_render_a_sampled_primitive_scene():
    import raysynth

    data = {**GROUND_CFG, "camera": {"distance": [4, 4], "elevation": [40, 40], "width": 32, "height": 24},
            "render": {"spp": 1, "max_depth": 3}}
    scene = sample_scene(load_config(data), 11)
    out = raysynth.render(scene)
    assert out["rgb"].shape == (24, 32, 3) and np.isfinite(out["rgb"]).all() and out["rgb"].max() > 0
    names = [o["name"] for o in scene["objects"]]
    ids = set(np.unique(out["instance"]).tolist()) - {0}
    assert names.index("ground") + 1 in ids and len(ids) >= 4
    for inst in ids:  # the class layer follows each object's label
        label = scene["objects"][inst - 1]["label"]
        want = 0 if label is None else scene["classes"].index(label) + 1
        assert set(np.unique(out["class"][out["instance"] == inst]).tolist()) == {want}
