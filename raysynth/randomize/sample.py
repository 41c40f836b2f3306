"""Sampling scenes from a randomizer config: ``sample_scene(config, seed) -> scene dict``.

Determinism: every random number comes from ``numpy.random.Generator(PCG64(SeedSequence(...)))``
streams derived from the seed alone, one stream per purpose (object counts and placement,
materials, background, sun, area lights, camera, ground material). The same config and seed give
the same dict, whatever else the process did; changing one section of the config (say the lights)
leaves what the other streams draw (say the placement) unchanged.
"""
from __future__ import annotations

import colorsys
import math
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..compile import euler_matrix
from ..errors import SceneError
from ..spec.scene import Transform
from .config import (
    PRIMITIVE_PARAMS,
    HSVRange,
    MaterialsConfig,
    ObjectEntry,
    RandomizerConfig,
    _load_meshes,
    class_names,
    load_config,
    mesh_path,
    primitive_params,
    procedural_bounds,
)
from .placement import Collider, Item, Placed, place_items, quat_axis_angle, quat_matrix, separated

_SEED_LIMIT = 1 << 64
_TAG_DERIVE = 0x52445356  # domain tags keep these seed sequences apart from any other use
_TAG_SCENE = 0x52534E45
# stream ids (SeedSequence spawn keys)
_OBJECTS, _MATERIALS, _BACKGROUND, _SUN, _AREA_LIGHTS, _CAMERA, _GROUND = range(7)


def _words(value: int) -> list[int]:
    """A 64-bit integer as two 32-bit words (fixed length, so the encoding is injective)."""
    return [value & 0xFFFFFFFF, value >> 32]


def _check_int(name: str, value, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) < limit:
        raise SceneError(f"{name}: must be an integer in [0, 2**{limit.bit_length() - 1}) (got {value!r})")
    return int(value)


def derive_seed(dataset_seed: int, index: int, attempt: int = 0) -> int:
    """The scene seed of image `index`, try `attempt`, of the dataset with seed `dataset_seed`.

    Computed as ``SeedSequence([tag, seed_lo, seed_hi, index_lo, index_hi, attempt_lo,
    attempt_hi]).generate_state(2, uint32)`` read as a 64-bit integer and shifted right by one:
    a stable (NumPy documents SeedSequence's output as fixed), well-mixed function of the three
    arguments (each in [0, 2**64)), in [0, 2**63) so it is also a valid ``render.seed``.
    """
    words = [_TAG_DERIVE]
    for name, value in (("dataset_seed", dataset_seed), ("index", index), ("attempt", attempt)):
        words += _words(_check_int(name, value, _SEED_LIMIT))
    lo, hi = np.random.SeedSequence(words).generate_state(2, np.uint32)
    return ((int(hi) << 32) | int(lo)) >> 1


def _stream(seed: int, key: int) -> np.random.Generator:
    """The independent random stream `key` of a scene seed."""
    ss = np.random.SeedSequence([_TAG_SCENE, *_words(seed)], spawn_key=(key,))
    return np.random.Generator(np.random.PCG64(ss))


def _floats(values) -> list[float]:
    return [float(v) for v in values]


def _lerp(r, u: float) -> float:
    return float(r[0] + (r[1] - r[0]) * u)


def _hsv(dist: HSVRange, u) -> list[float]:
    """Linear RGB from three uniforms in [0, 1) and an HSV distribution."""
    h = _lerp(dist.hue, u[0]) % 1.0
    return _floats(max(0.0, c) for c in colorsys.hsv_to_rgb(h, _lerp(dist.saturation, u[1]), _lerp(dist.value, u[2])))


# ----------------------------------------------------------------------------- materials
def sample_material(m: MaterialsConfig, rng: np.random.Generator, metals_and_glass: bool = True) -> dict:
    """One material from the distribution (draws exactly 8 uniforms, whatever the kind)."""
    u = rng.random(8)
    color = _hsv(m.albedo, u[1:4])
    metal, glass = (m.metal_fraction, m.glass_fraction) if metals_and_glass else (0.0, 0.0)
    if u[0] < metal:
        return {"type": "conductor", "color": color, "roughness": _lerp(m.roughness, u[4])}
    if u[0] < metal + glass:
        return {"type": "dielectric", "ior": _lerp(m.glass_ior, u[4]), "color": [1.0, 1.0, 1.0]}
    if u[0] < metal + glass + m.checker_fraction:
        checker = {"color_a": color, "color_b": _hsv(m.albedo, u[5:8]), "scale": _lerp(m.checker_scale, u[4])}
        return {"type": "diffuse", "checker": checker}
    return {"type": "diffuse", "albedo": color}


# ----------------------------------------------------------------------------- objects
def _sample_counts(cfg: RandomizerConfig, rng: np.random.Generator) -> list[int]:
    """Instances per pool entry: class presence first, then counts (see the config docs)."""
    entries = cfg.objects
    present = {name: bool(rng.random() < p) for name, p in cfg.class_probability.items()}
    active = [i for i, e in enumerate(entries) if present.get(e.label, True)]
    counts = [0] * len(entries)
    if cfg.num_objects is None:
        for i in active:
            counts[i] = int(rng.integers(entries[i].count[0], entries[i].count[1] + 1))
    else:
        for i in active:
            counts[i] = entries[i].count[0]
        total = int(rng.integers(cfg.num_objects[0], cfg.num_objects[1] + 1))
        total = min(max(total, sum(counts)), sum(entries[i].count[1] for i in active))
        while sum(counts) < total:
            avail = [i for i in active if counts[i] < entries[i].count[1] and entries[i].weight > 0]
            if not avail:
                break
            w = np.array([entries[i].weight for i in avail])
            counts[avail[int(rng.choice(len(avail), p=w / w.sum()))]] += 1
    for name, is_present in present.items():  # a drawn class appears at least once
        pool = [i for i, e in enumerate(entries) if e.label == name]
        if is_present and sum(counts[i] for i in pool) == 0:
            pool = [i for i in pool if entries[i].count[1] >= 1]
            w = np.array([entries[i].weight for i in pool]) + (0.0 if any(entries[i].weight > 0 for i in pool) else 1.0)
            counts[pool[int(rng.choice(len(pool), p=w / w.sum()))]] += 1
    return counts


def _mesh_unit(cfg: RandomizerConfig, e: ObjectEntry, params: Optional[dict] = None):
    """(centre c0, half size h0, unit bounds lo, hi) of a mesh entry: unit coords u = (v - c0) / h0.

    Procedural meshes are unit sized already (c0 = 0, h0 = 1); mesh files are normalized so that
    their bounding box is centred and its largest half extent is 1. `params`: the procedural
    parameters of this instance (with a drawn blob seed)."""
    if e.shape == "procedural":
        c0, h0 = np.zeros(3), 1.0
        p = e.params if params is None else params
        lo, hi = procedural_bounds(cfg, p, f"objects[{cfg.objects.index(e)}].params", cache=p is e.params)
    else:
        vlo, vhi = cfg._meshes[str(mesh_path(cfg, e.params["file"]))]
        c0 = (vlo + vhi) / 2
        h0 = float(max((vhi - vlo).max() / 2, 1e-30))
        lo, hi = (vlo - c0) / h0, (vhi - c0) / h0
    if e.bounds is not None:
        lo, hi = np.asarray(e.bounds[0], dtype=np.float64), np.asarray(e.bounds[1], dtype=np.float64)
    return c0, h0, lo, hi


def _items(cfg: RandomizerConfig, counts: list[int], rng: np.random.Generator) -> tuple[list[Item], list[dict]]:
    """Placement items and, per item, what emission needs (entry, scale, procedural params)."""
    items, extra = [], []
    for i, (e, n) in enumerate(zip(cfg.objects, counts)):
        for _ in range(n):
            s = float(rng.uniform(e.scale[0], e.scale[1]))
            info = {"entry": i, "scale": s}
            if e.shape in PRIMITIVE_PARAMS:
                p = primitive_params(e)
                dims = {
                    "sphere": lambda: [p["radius"] * s],
                    "box": lambda: [v * s / 2 for v in p["size"]],
                    "cylinder": lambda: [p["radius"] * s, p["height"] * s / 2],
                    "disk": lambda: [p["radius"] * s],
                    "quad": lambda: [v * s / 2 for v in p["size"]],
                }[e.shape]()
                items.append(Item(e.shape, dims, i))
            else:
                if e.shape == "procedural":
                    info["params"] = dict(e.params)
                    if e.params["kind"] == "blob" and "seed" not in e.params:
                        info["params"]["seed"] = int(rng.integers(0, 1 << 31))  # a new blob per instance
                _, _, lo, hi = _mesh_unit(cfg, e, info.get("params"))
                up = e.up_axis or ("+z" if e.shape == "procedural" else "+y")
                items.append(Item("box", s * (hi - lo) / 2, i, origin_offset=-s * (hi + lo) / 2, up=up))
            extra.append(info)
    return items, extra


def _object_dict(cfg: RandomizerConfig, p: Placed, info: dict, material: dict, name: str) -> dict:
    """The scene object of a placed item."""
    e = cfg.objects[info["entry"]]
    q = _floats(p.quaternion)
    obj = {"type": e.shape, "name": name, "label": None if e.distractor else e.label}
    d = p.collider.dims
    if e.shape == "sphere":
        obj["radius"] = float(d[0])
    elif e.shape in ("box", "quad"):
        obj["size"] = _floats(2 * d)
    elif e.shape == "cylinder":
        obj.update(radius=float(d[0]), height=float(2 * d[1]))
    elif e.shape == "disk":
        obj["radius"] = float(d[0])
    if e.shape in PRIMITIVE_PARAMS:
        obj["transform"] = {"translate": _floats(p.origin), "quaternion": q}
    else:
        c0, h0, _, _ = _mesh_unit(cfg, e, info.get("params"))
        s = info["scale"] / h0
        obj["type"] = "mesh"
        if e.shape == "procedural":
            obj["procedural"] = info["params"]
        else:
            obj["file"] = mesh_path(cfg, e.params["file"]).as_posix()
            if "smooth" in e.params:
                obj["smooth"] = e.params["smooth"]
        translate = p.origin - quat_matrix(p.quaternion) @ (s * c0)
        obj["transform"] = {"translate": _floats(translate), "quaternion": q, "scale": s}
    obj["material"] = e.material.model_dump(mode="json") if e.material is not None else material
    return obj


# ----------------------------------------------------------------------------- static geometry
def static_collider(obj) -> Optional[Collider]:
    """A collider containing an analytic static object (None for meshes: not obstacles).

    Non-uniform scales of round shapes use the largest factor; an explicit `matrix` gives the
    bounding sphere (both conservative)."""
    if obj.type == "mesh":
        return None
    tf: Transform = obj.transform
    canon = {"sphere": lambda: [obj.radius] * 3, "box": lambda: [v / 2 for v in obj.size],
             "quad": lambda: [obj.size[0] / 2, obj.size[1] / 2, 0.0], "disk": lambda: [obj.radius, obj.radius, 0.0],
             "cylinder": lambda: [obj.radius, obj.radius, obj.height / 2]}[obj.type]()
    if tf.matrix is not None:
        m = np.asarray(tf.matrix, dtype=np.float64)
        radius = float(np.linalg.norm(m[:3, :3], 2) * np.linalg.norm(canon))
        return Collider("sphere", [radius], m[:3, 3])
    rot = quat_matrix(tf.quaternion) if tf.quaternion is not None else euler_matrix(tf.rotate)
    s = np.asarray(tf.scale, dtype=np.float64)
    half = np.asarray(canon) * s
    dims = {"sphere": lambda: [half.max()], "box": lambda: half, "quad": lambda: half[:2],
            "disk": lambda: [half[:2].max()], "cylinder": lambda: [half[:2].max(), half[2]]}[obj.type]()
    return Collider(obj.type, dims, tf.translate, rot)


def _ground_dict(cfg: RandomizerConfig, seed: int) -> Optional[dict]:
    g = cfg.ground
    if not g.enabled:
        return None
    mat = cfg.materials.ground
    if mat == "random":
        material = sample_material(cfg.materials, _stream(seed, _GROUND), metals_and_glass=False)
    else:
        material = mat.model_dump(mode="json")
    if g.shape == "quad":
        return {"type": "quad", "name": "ground", "label": None, "size": _floats(g.size),
                "transform": {"rotate": [-90.0, 0.0, 0.0]}, "material": material}
    size = [float(g.size[0]), float(g.thickness), float(g.size[1])]
    return {"type": "box", "name": "ground", "label": None, "size": size,
            "transform": {"translate": [0.0, -float(g.thickness) / 2, 0.0]}, "material": material}


# ----------------------------------------------------------------------------- lights, camera
def _background(cfg: RandomizerConfig, rng: np.random.Generator) -> dict:
    lc = cfg.lights
    u = rng.random(14)
    intensity = _lerp(lc.background_intensity, u[1])
    if u[0] < lc.sky_probability:
        return {"type": "sky", "zenith": _hsv(lc.sky_zenith, u[2:5]), "horizon": _hsv(lc.sky_horizon, u[5:8]),
                "ground": _hsv(lc.sky_ground, u[8:11]), "intensity": intensity}
    return {"type": "environment", "color": _hsv(lc.environment_color, u[11:14]), "intensity": intensity}


def _sun(cfg: RandomizerConfig, rng: np.random.Generator) -> Optional[dict]:
    lc = cfg.lights
    u = rng.random(8)
    if not u[0] < lc.sun_probability:
        return None
    el, az = math.radians(_lerp(lc.sun_elevation, u[1])), math.radians(_lerp(lc.sun_azimuth, u[2]))
    to_sun = np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
    irradiance = _lerp(lc.sun_irradiance, u[3])
    return {"type": "directional", "direction": _floats(-to_sun),
            "irradiance": [c * irradiance for c in _hsv(lc.sun_color, u[4:7])],
            "angular_radius": _lerp(lc.sun_angular_radius, u[7])}


def _area_lights(cfg: RandomizerConfig, rng: np.random.Generator, colliders: list[Collider]) -> list[dict]:
    """Emissive quads facing down over the placement area, clear of every object."""
    al, area = cfg.lights.area_lights, cfg.placement.area
    down = quat_axis_angle((1, 0, 0), 90)  # local +z (the emitting side) -> world -y
    out = []
    for k in range(int(rng.integers(al.count[0], al.count[1] + 1))):
        u = rng.random(6)
        size = _lerp(al.size, u[0])
        for _ in range(cfg.placement.max_attempts):
            pos = np.array([rng.uniform(*area.x), rng.uniform(*al.height), rng.uniform(*area.z)])
            light = Collider("quad", [size / 2, size / 2], pos, quat_matrix(down))
            if all(separated(light, c, cfg.placement.min_gap) for c in colliders):
                break
        else:
            raise SceneError(
                f"{cfg._source}: lights.area_lights: could not place area light {k} clear of the objects after "
                f"{cfg.placement.max_attempts} attempts; raise lights.area_lights.height"
            )
        colliders.append(light)
        out.append({"type": "quad", "name": f"area_light_{k}", "label": None, "size": [size, size],
                    "transform": {"translate": _floats(pos), "quaternion": _floats(down)},
                    "material": {"type": "emissive", "radiance": _hsv(al.color, u[1:4]),
                                 "intensity": _lerp(al.intensity, u[4])}})
    return out


def look_at_centre(cfg: RandomizerConfig) -> np.ndarray:
    """The camera's default look-at point: the placement area's centre (y = 0 in ground mode)."""
    if cfg.camera.look_at is not None:
        return np.asarray(cfg.camera.look_at, dtype=np.float64)
    a = cfg.placement.area
    y = 0.0 if cfg.placement.mode == "ground" else (a.y[0] + a.y[1]) / 2
    return np.array([(a.x[0] + a.x[1]) / 2, y, (a.z[0] + a.z[1]) / 2])


def _camera(cfg: RandomizerConfig, rng: np.random.Generator, colliders: list[Collider], tries: int = 100) -> dict:
    """An orbit camera outside every object (and above the ground)."""
    cc = cfg.camera
    centre = look_at_centre(cfg)
    for _ in range(tries):
        u = rng.random(8)
        target = centre + (2 * u[5:8] - 1) * np.asarray(cc.look_at_jitter)
        dist = _lerp(cc.distance, u[0])
        el, az = math.radians(_lerp(cc.elevation, u[1])), math.radians(_lerp(cc.azimuth, u[2]))
        pos = target + dist * np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])
        if cfg.ground.enabled and pos[1] <= 1e-3:
            continue
        eye = Collider("sphere", [1e-3 * dist], pos)  # the camera with a small clearance
        if not all(separated(eye, c, 0.0) for c in colliders):
            continue
        break
    else:
        raise SceneError(f"{cfg._source}: camera: every sampled position was inside an object or below the ground; "
                         "raise camera.distance or camera.elevation")
    roll = math.radians(_lerp(cc.roll, u[3]))
    up = [0.0, 1.0, 0.0]
    if roll != 0.0:
        fwd = (target - pos) / np.linalg.norm(target - pos)
        right = np.cross(fwd, up)
        right /= np.linalg.norm(right)
        up = _floats(math.cos(roll) * np.cross(right, fwd) + math.sin(roll) * right)
    return {"position": _floats(pos), "look_at": _floats(target), "up": up, "fov": _lerp(cc.fov, u[4]),
            "width": cc.width, "height": cc.height}


# ----------------------------------------------------------------------------- scene
def sample_scene(
    config: Union[RandomizerConfig, dict, str, os.PathLike],
    seed: int,
    base_dir: Union[str, os.PathLike, None] = None,
    *,
    camera_seed: Optional[int] = None,
) -> dict:
    """Sample one scene dict (accepted by :func:`raysynth.spec.load.parse_scene`) from a config.

    Parameters
    ----------
    config : a RandomizerConfig, or a config dict or JSON file path (validated with load_config)
    seed : scene seed in [0, 2**63), e.g. from :func:`derive_seed`; also the scene's render.seed
    base_dir : folder that mesh_file paths are relative to (default: the config's own)
    camera_seed : draw only the camera from this seed instead (the objects, materials and lights
        stay those of `seed`): resample a viewpoint while keeping the scene

    Returns
    -------
    dict with camera, render, classes, objects (placed pool objects in pool order, then the ground,
    the static objects and any area lights; only annotated pool objects have a label) and lights.
    Mesh files are referred to by absolute path. Raises SceneError (one line) when placement fails.
    """
    cfg = config if isinstance(config, RandomizerConfig) else load_config(config, base_dir)
    if base_dir is not None:
        cfg._base_dir = Path(base_dir)
    if any(e.shape == "mesh_file" and str(mesh_path(cfg, e.params["file"])) not in cfg._meshes for e in cfg.objects):
        _load_meshes(cfg)
    seed = _check_int("seed", seed, 1 << 63)

    rng = _stream(seed, _OBJECTS)
    counts = _sample_counts(cfg, rng)
    items, infos = _items(cfg, counts, rng)
    statics = [c for c in (static_collider(o) for o in cfg.static_objects) if c is not None]
    pc, area = cfg.placement, cfg.placement.area
    placed = place_items(
        items, rng, mode=pc.mode, area=np.array([area.x, area.y, area.z], dtype=np.float64), min_gap=pc.min_gap,
        max_attempts=pc.max_attempts, lying_fraction=pc.lying_fraction, flat_offset=pc.flat_offset,
        obstacles=statics, count_field="count", source=cfg._source,
    )

    mat_rng = _stream(seed, _MATERIALS)
    objects = []
    for j, (p, info) in enumerate(zip(placed, infos)):
        e = cfg.objects[info["entry"]]
        material = sample_material(cfg.materials, mat_rng)  # drawn for every object: stable streams
        name = f"distractor_{j}" if e.distractor else f"{e.label}_{j}"
        objects.append(_object_dict(cfg, p, info, material, name))
    ground = _ground_dict(cfg, seed)
    if ground is not None:
        objects.append(ground)
    objects += [o.model_dump(mode="json", exclude_unset=True) for o in cfg.static_objects]
    colliders = statics + [p.collider for p in placed]
    objects += _area_lights(cfg, _stream(seed, _AREA_LIGHTS), colliders)

    lights = [_background(cfg, _stream(seed, _BACKGROUND))]
    sun = _sun(cfg, _stream(seed, _SUN))
    if sun is not None:
        lights.append(sun)
    cam_seed = seed if camera_seed is None else _check_int("camera_seed", camera_seed, 1 << 63)
    camera = _camera(cfg, _stream(cam_seed, _CAMERA), colliders)
    r = cfg.render
    return {
        "camera": camera,
        "render": {"spp": r.spp, "max_depth": r.max_depth, "seed": seed, "exposure": r.exposure},
        "classes": class_names(cfg),
        "objects": objects,
        "lights": lights,
    }
