"""Domain-randomization configs: a pydantic model (JSON) of what :func:`sample_scene` draws from.

A config is JSON with these sections (every field has a default; unknown fields are errors)::

    {
      "objects":   [{"shape": "box", "params": {"size": [0.4, 0.4, 0.4]}, "label": "box",
                     "count": [1, 3], "scale": [0.8, 1.2]}, ...],   # the object pool
      "num_objects": [8, 12],            # optional total; then `weight` picks the mix
      "classes": ["box", ...],           # optional fixed class list (else pool label order)
      "class_probability": {"box": 0.2}, # P(class appears in an image): rare cases on demand
      "placement": {...}, "ground": {...}, "static_objects": [...],
      "materials": {...}, "lights": {...}, "camera": {...}, "render": {...}
    }

Ranges are ``[min, max]`` pairs (uniform draws; ``[v, v]`` is a constant). Angles are degrees.
Colours are drawn in HSV (hue in turns, taken modulo 1 so ``[0.9, 1.1]`` spans red; saturation
and value in [0, 1]) and converted to linear RGB.

:func:`load_config` validates a file or dict and raises :class:`raysynth.errors.SceneError` with
one line ``"<config file>: field.path: message"``.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import numpy as np
from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag, TypeAdapter, ValidationError,
    field_serializer, model_validator,
)

from ..errors import SceneError
from ..spec import scene as _scene
from ..spec.scene import Checker, Diffuse, Material, SceneObject

# The scene format's procedural mesh model, where the scene format has one.
_PROCEDURAL_ADAPTER = TypeAdapter(_scene.Procedural) if hasattr(_scene, "Procedural") else None

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
UnitFloat = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
NonNegativeInt = Annotated[int, Field(ge=0)]

#: Shapes of pool entries.
SHAPES = ("sphere", "box", "cylinder", "disk", "quad", "procedural", "mesh_file")
#: Procedural mesh kinds of the scene format (``{"type": "mesh", "procedural": {"kind": ...}}``).
PROCEDURAL_KINDS = (
    "icosphere", "uv_sphere", "torus", "cylinder", "cone", "capsule", "torus_knot", "blob", "terrain",
    "tetrahedron", "cube", "octahedron", "dodecahedron", "icosahedron",
)
#: Size parameters of primitive entries and their defaults (before `scale`).
PRIMITIVE_PARAMS = {
    "sphere": {"radius": 0.5},
    "box": {"size": (1.0, 1.0, 1.0)},
    "cylinder": {"radius": 0.5, "height": 1.0},
    "disk": {"radius": 0.5},
    "quad": {"size": (1.0, 1.0)},
}


def _ordered(value):
    """A [min, max] range must not be inverted."""
    if value[0] > value[1]:
        raise ValueError(f"inverted range [{value[0]:g}, {value[1]:g}]: give [min, max]")
    return value


def _range(item):
    return Annotated[tuple[item, item], AfterValidator(_ordered)]


Range = _range(FiniteFloat)
PositiveRange = _range(PositiveFloat)
NonNegativeRange = _range(NonNegativeFloat)
UnitRange = _range(UnitFloat)
CountRange = _range(NonNegativeInt)
Vec3 = tuple[FiniteFloat, FiniteFloat, FiniteFloat]


def _within(lo: float, hi: float):
    """A range whose ends lie in [lo, hi]."""
    return _range(Annotated[float, Field(ge=lo, le=hi, allow_inf_nan=False)])


# "random", or a material: the tag picks which one errors are reported against
GroundMaterial = Annotated[
    Union[Annotated[Literal["random"], Tag("ground-random")], Annotated[Material, Tag("ground-material")]],
    Discriminator(lambda v: "ground-random" if isinstance(v, str) else "ground-material"),
]


class ConfigModel(BaseModel):
    """Base of the config models: unknown fields are errors, NaN and inf are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class HSVRange(ConfigModel):
    """A colour distribution: uniform hue, saturation and value, converted to linear RGB."""

    hue: Range = Field((0.0, 1.0), description="Hue range in turns (modulo 1: [0.9, 1.1] spans red).")
    saturation: UnitRange = Field((0.3, 0.9), description="Saturation range in [0, 1].")
    value: NonNegativeRange = Field((0.3, 0.9), description="Value (brightness) range, >= 0.")


# --------------------------------------------------------------------------- objects
class ObjectEntry(ConfigModel):
    """One entry of the object pool."""

    shape: Literal["sphere", "box", "cylinder", "disk", "quad", "procedural", "mesh_file"] = Field(
        "sphere", description="Shape: a primitive, a procedural mesh, or a mesh file."
    )
    params: dict[str, Any] = Field(
        {},
        description="Shape parameters before `scale`: sphere {radius}, box {size: [x, y, z]}, cylinder "
        "{radius, height}, disk {radius}, quad {size: [x, y]} (defaults: radius 0.5, height 1, size 1); "
        "procedural {kind, ...} passed through to the scene's procedural mesh (unit sized); mesh_file "
        "{file (relative to the config), smooth}, normalized to fit [-1, 1]^3 about its box centre.",
    )
    label: Optional[str] = Field(None, description="Class name (required unless `distractor`).")
    distractor: bool = Field(False, description="Rendered but not annotated (emitted with label null).")
    weight: NonNegativeFloat = Field(
        1.0, description="Relative frequency when `num_objects` is given (objects beyond every count minimum)."
    )
    count: CountRange = Field((1, 1), description="Instances per image [min, max] (uniform without `num_objects`).")
    scale: PositiveRange = Field(
        (1.0, 1.0), description="Uniform scale range; meshes: half their largest extent (they are unit sized)."
    )
    material: Optional[Material] = Field(None, description="Fixed material (default: drawn from `materials`).")
    bounds: Optional[tuple[Vec3, Vec3]] = Field(
        None,
        description="Object-space bounds [[x, y, z] min, max] of a mesh before `scale`, used for placement "
        "(default: the vertex bounds; [-1, 1]^3 for procedural meshes when their generator is unavailable).",
    )
    up_axis: Optional[Literal["+x", "-x", "+y", "-y", "+z", "-z", "random"]] = Field(
        None,
        description="Mesh axis that points up in ground mode (random: any of the six). Default: +z for "
        "procedural meshes (their axis of symmetry), +y for mesh files.",
    )


# --------------------------------------------------------------------------- placement, ground
class Area(ConfigModel):
    """An axis-aligned placement region (world units)."""

    x: Range = Field((-2.0, 2.0), description="x extent [min, max].")
    y: Range = Field((0.0, 2.0), description="y extent [min, max] (volume mode only).")
    z: Range = Field((-2.0, 2.0), description="z extent [min, max].")


class PlacementConfig(ConfigModel):
    """Where and how objects are placed; no two objects come closer than `min_gap`."""

    mode: Literal["ground", "volume"] = Field(
        "ground",
        description="ground: resting on y = 0 with random yaw (boxes on a face, cylinders upright or lying, "
        "disks and quads flat); volume: random positions and rotations inside `area`.",
    )
    area: Area = Field(Area(), description="Region that contains every whole object.")
    min_gap: NonNegativeFloat = Field(0.02, description="Least distance between two objects (0: may not touch).")
    max_attempts: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        200, description="Random poses tried per object before placement fails."
    )
    lying_fraction: UnitFloat = Field(0.3, description="Probability that a cylinder lies on its side (ground mode).")
    flat_offset: NonNegativeFloat = Field(
        0.001, description="Height of disks and quads above the ground (ground mode; avoids coplanar surfaces)."
    )


class GroundConfig(ConfigModel):
    """The support surface: a quad at y = 0, or a slab (a table top) whose top face is y = 0."""

    enabled: bool = Field(True, description="Add the ground (not annotated); objects never go below y = 0.")
    shape: Literal["quad", "box"] = Field("quad", description="quad: a plane; box: a slab of `thickness`.")
    size: tuple[PositiveFloat, PositiveFloat] = Field((20.0, 20.0), description="Extent (x, z), centred at the origin.")
    thickness: PositiveFloat = Field(0.05, description="Slab thickness (box only).")


# --------------------------------------------------------------------------- materials
class MaterialsConfig(ConfigModel):
    """Random object materials: diffuse by default, or metal, glass, checker by fraction."""

    albedo: HSVRange = Field(HSVRange(), description="Base colour distribution (diffuse albedo, metal colour).")
    roughness: _within(0.0, 1.0) = Field((0.05, 0.5), description="Metal roughness range (GGX alpha).")
    metal_fraction: UnitFloat = Field(0.2, description="Fraction of objects with a conductor material.")
    glass_fraction: UnitFloat = Field(0.1, description="Fraction of objects with a dielectric material.")
    checker_fraction: UnitFloat = Field(0.1, description="Fraction of objects with a two-colour checker.")
    checker_scale: PositiveRange = Field((2.0, 8.0), description="Checker cells per object-space unit.")
    glass_ior: _within(1.0, 4.0) = Field((1.4, 1.6), description="Glass index of refraction range.")
    ground: GroundMaterial = Field(
        Diffuse(checker=Checker(color_a=(0.7, 0.7, 0.7), color_b=(0.3, 0.3, 0.32), scale=1.0)),
        description='Ground material: a fixed material, or "random" (drawn like object materials, '
        "without metal or glass).",
    )


# --------------------------------------------------------------------------- lights
class AreaLights(ConfigModel):
    """Emissive quads facing down, above the placement area."""

    count: CountRange = Field((0, 0), description="Number of area lights [min, max].")
    size: PositiveRange = Field((0.5, 1.5), description="Edge length range.")
    intensity: NonNegativeRange = Field((4.0, 12.0), description="Radiance multiplier range.")
    height: PositiveRange = Field((2.5, 4.0), description="Height (y) range.")
    color: HSVRange = Field(
        HSVRange(hue=(0.05, 0.15), saturation=(0.0, 0.3), value=(1.0, 1.0)), description="Emitted colour."
    )


class LightsConfig(ConfigModel):
    """Background (constant environment or gradient sky), a sun, optional area lights."""

    sky_probability: UnitFloat = Field(0.5, description="Probability of a sky (else a constant environment).")
    background_intensity: NonNegativeRange = Field((0.3, 1.0), description="Environment or sky intensity range.")
    environment_color: HSVRange = Field(
        HSVRange(saturation=(0.0, 0.15), value=(0.6, 1.0)), description="Constant environment colour."
    )
    sky_zenith: HSVRange = Field(
        HSVRange(hue=(0.55, 0.65), saturation=(0.4, 0.7), value=(0.5, 1.0)), description="Sky colour straight up."
    )
    sky_horizon: HSVRange = Field(
        HSVRange(hue=(0.55, 0.65), saturation=(0.0, 0.2), value=(0.8, 1.0)), description="Sky colour at the horizon."
    )
    sky_ground: HSVRange = Field(
        HSVRange(hue=(0.05, 0.12), saturation=(0.1, 0.3), value=(0.1, 0.3)), description="Sky colour below the horizon."
    )
    sun_probability: UnitFloat = Field(1.0, description="Probability that the image has a sun.")
    sun_elevation: _within(0.0, 90.0) = Field((20.0, 70.0), description="Sun elevation above the horizon, degrees.")
    sun_azimuth: Range = Field((0.0, 360.0), description="Sun azimuth about +y from +z towards +x, degrees.")
    sun_irradiance: NonNegativeRange = Field((1.5, 4.0), description="Sun irradiance range.")
    sun_color: HSVRange = Field(
        HSVRange(hue=(0.05, 0.15), saturation=(0.0, 0.3), value=(1.0, 1.0)), description="Sun colour."
    )
    sun_angular_radius: _within(0.0, 30.0) = Field((0.5, 3.0), description="Sun disc angular radius, degrees.")
    area_lights: AreaLights = Field(AreaLights(), description="Optional area lights.")


# --------------------------------------------------------------------------- camera, render
class CameraConfig(ConfigModel):
    """An orbit camera about the look-at point, and the visibility rule of the dataset generator."""

    distance: PositiveRange = Field((5.0, 8.0), description="Distance to the look-at point.")
    elevation: _within(-89.0, 89.0) = Field((20.0, 50.0), description="Elevation above the horizontal, degrees.")
    azimuth: Range = Field((0.0, 360.0), description="Azimuth about +y from +z towards +x, degrees.")
    roll: _within(-180.0, 180.0) = Field((0.0, 0.0), description="Roll about the viewing direction, degrees.")
    look_at: Optional[Vec3] = Field(
        None, description="Look-at point (default: centre of the placement area, y = 0 in ground mode)."
    )
    look_at_jitter: tuple[NonNegativeFloat, NonNegativeFloat, NonNegativeFloat] = Field(
        (0.3, 0.1, 0.3), description="Uniform jitter of the look-at point, half-width per axis."
    )
    fov: _within(1.0, 170.0) = Field((35.0, 50.0), description="Vertical field of view range, degrees.")
    width: Annotated[int, Field(ge=1, le=16384)] = Field(320, description="Image width, pixels.")
    height: Annotated[int, Field(ge=1, le=16384)] = Field(240, description="Image height, pixels.")
    min_visible_objects: NonNegativeInt = Field(
        1, description="Dataset generator: least number of annotated objects that must be visible."
    )
    min_visibility: UnitFloat = Field(
        0.1, description="Dataset generator: visible fraction an object needs to count as visible."
    )
    max_attempts: Annotated[int, Field(ge=1)] = Field(
        20, description="Dataset generator: samples tried per image before giving up."
    )


class RenderConfig(ConfigModel):
    """Render settings copied into every scene."""

    spp: Annotated[int, Field(ge=1, le=1 << 20)] = Field(16, description="Camera samples per pixel.")
    max_depth: Annotated[int, Field(ge=1, le=1024)] = Field(6, description="Maximum path length in segments.")
    exposure: FiniteFloat = Field(0.0, description="Exposure in stops.")


_DEFAULT_POOL = [
    ObjectEntry(shape="sphere", label="sphere", count=(1, 3), params={"radius": 0.3}),
    ObjectEntry(shape="box", label="box", count=(1, 3), params={"size": [0.5, 0.5, 0.5]}),
    ObjectEntry(shape="cylinder", label="cylinder", count=(1, 3), params={"radius": 0.2, "height": 0.6}),
]


class RandomizerConfig(ConfigModel):
    """A domain-randomization config: the distribution that :func:`sample_scene` samples scenes from."""

    description: str = Field("", description="Free text.")
    objects: list[ObjectEntry] = Field(_DEFAULT_POOL, description="The object pool.")
    num_objects: Optional[CountRange] = Field(
        None,
        description="Total objects per image [min, max]: every entry first gets its count minimum, the rest "
        "are drawn by `weight` among entries below their maximum. Default: each entry's count independently.",
    )
    classes: Optional[list[str]] = Field(
        None, description="Fixed class list (class id = index + 1). Default: pool labels in order of first appearance."
    )
    class_probability: dict[str, UnitFloat] = Field(
        {}, description="Probability that a class appears at all in an image (then at least once)."
    )
    placement: PlacementConfig = Field(PlacementConfig(), description="Object placement.")
    ground: GroundConfig = Field(GroundConfig(), description="The ground or table top.")
    static_objects: list[SceneObject] = Field(
        [], description="Scene objects added unchanged to every image (e.g. a floor, walls); analytic ones are obstacles."
    )
    materials: MaterialsConfig = Field(MaterialsConfig(), description="Object and ground materials.")
    lights: LightsConfig = Field(LightsConfig(), description="Lighting.")
    camera: CameraConfig = Field(CameraConfig(), description="Camera.")
    render: RenderConfig = Field(RenderConfig(), description="Render settings.")

    _source: str = PrivateAttr("config")
    _base_dir: Optional[Path] = PrivateAttr(None)
    _meshes: dict = PrivateAttr(default_factory=dict)  # mesh file -> (vertex lo, vertex hi)

    @field_serializer("static_objects")
    def _dump_static(self, objects: list, info) -> list:
        """Only the fields the user gave: scene objects check which transform fields were given, so
        defaults written out (rotate next to quaternion) would not validate again."""
        return [o.model_dump(mode=info.mode, exclude_unset=True) for o in objects]

    @model_validator(mode="after")
    def _check(self):
        # Messages name the full field path: model-level errors have no location of their own.
        if not self.objects:
            raise ValueError("objects: the pool is empty (it needs at least one entry)")
        for i, e in enumerate(self.objects):
            _check_entry(e, f"objects[{i}]")
        for i, o in enumerate(self.static_objects):
            if isinstance(o.material, str):
                raise ValueError(
                    f"static_objects[{i}].material: give it inline (configs have no named materials)"
                )
        labels = class_names(self)
        if self.classes is not None:
            if len(set(self.classes)) != len(self.classes):
                raise ValueError("classes: names must be unique")
            for where, items in (("objects", self.objects), ("static_objects", self.static_objects)):
                for i, e in enumerate(items):
                    if e.label is not None and e.label not in self.classes:
                        raise ValueError(
                            f"{where}[{i}].label: unknown class '{e.label}' (classes: {', '.join(self.classes)})"
                        )
        for name in self.class_probability:
            pool = [e for e in self.objects if e.label == name]
            if not pool:
                raise ValueError(
                    f"class_probability.{name}: unknown class '{name}' (pool labels: {', '.join(labels) or 'none'})"
                )
            if all(e.count[1] == 0 for e in pool):
                raise ValueError(f"class_probability.{name}: every pool entry of class '{name}' has count maximum 0")
        if self.num_objects is not None:
            lo = sum(e.count[0] for e in self.objects)
            hi = sum(e.count[1] for e in self.objects)
            if self.num_objects[0] > hi:
                raise ValueError(f"num_objects: minimum {self.num_objects[0]} exceeds the sum of count maxima ({hi})")
            if self.num_objects[1] < lo:
                raise ValueError(f"num_objects: maximum {self.num_objects[1]} is below the sum of count minima ({lo})")
        m = self.materials
        if m.metal_fraction + m.glass_fraction + m.checker_fraction > 1 + 1e-12:
            raise ValueError("materials: metal_fraction + glass_fraction + checker_fraction exceeds 1")
        p, area = self.placement, self.placement.area
        if p.mode == "volume" and self.ground.enabled and area.y[0] < 0:
            raise ValueError(
                f"placement.area.y: starts below the ground (y = 0) at {area.y[0]:g}; raise it or disable ground"
            )
        if p.mode == "ground" and self.ground.enabled:
            gx, gz = self.ground.size[0] / 2, self.ground.size[1] / 2
            if area.x[0] < -gx or area.x[1] > gx or area.z[0] < -gz or area.z[1] > gz:
                raise ValueError(
                    f"placement.area: x {list(area.x)} z {list(area.z)} extends beyond the ground "
                    f"(x and z within +-{gx:g}, +-{gz:g}); enlarge ground.size or shrink the area"
                )
        for axis in ("x", "z") + (("y",) if p.mode == "volume" else ()):
            r = getattr(area, axis)
            if not r[1] > r[0]:
                raise ValueError(f"placement.area.{axis}: empty extent [{r[0]:g}, {r[1]:g}]")
        _check_capacity(self)
        return self


def _check_entry(e: ObjectEntry, where: str) -> None:
    """Per-entry cross-field checks (shape parameters, label)."""
    if e.distractor and e.label is not None:
        raise ValueError(f"{where}.label: a distractor is not annotated; remove `label` or set distractor false")
    if not e.distractor and e.label is None:
        raise ValueError(f"{where}.label: required for an annotated object (or set distractor true)")
    for name in ("bounds", "up_axis"):
        if getattr(e, name) is not None and e.shape not in ("procedural", "mesh_file"):
            raise ValueError(f"{where}.{name}: only meshes (procedural, mesh_file) take {name}")
    if e.bounds is not None:
        if any(lo >= hi for lo, hi in zip(*e.bounds)):
            raise ValueError(f"{where}.bounds: every min must be below its max (got {[list(b) for b in e.bounds]})")
    if e.shape in PRIMITIVE_PARAMS:
        known = PRIMITIVE_PARAMS[e.shape]
        for key, value in e.params.items():
            if key not in known:
                raise ValueError(f"{where}.params.{key}: unknown parameter for a {e.shape} (known: {', '.join(known)})")
            n = len(known[key]) if isinstance(known[key], tuple) else 0
            ok = (isinstance(value, (list, tuple)) and len(value) == n) if n else not isinstance(value, (list, tuple, dict))
            if not ok:
                raise ValueError(f"{where}.params.{key}: expected {f'{n} numbers' if n else 'a number'} (got {value!r})")
            values = value if n else [value]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
                raise ValueError(f"{where}.params.{key}: expected finite numbers (got {value!r})")
            if not all(v > 0 for v in values):
                raise ValueError(f"{where}.params.{key}: sizes must be > 0 (got {value!r})")
    elif e.shape == "procedural":
        kind = e.params.get("kind")
        if kind not in PROCEDURAL_KINDS:
            raise ValueError(
                f"{where}.params.kind: unknown procedural kind {kind!r} (known: {', '.join(PROCEDURAL_KINDS)})"
            )
        if _PROCEDURAL_ADAPTER is not None:  # the scene format's own check of the generator's parameters
            try:
                _PROCEDURAL_ADAPTER.validate_python(e.params)
            except ValidationError as err:
                raise ValueError(f"{where}.params{_error_line(err, e.params, sep='.')}") from None
    else:  # mesh_file
        if not isinstance(e.params.get("file"), str) or not e.params["file"]:
            raise ValueError(f"{where}.params.file: a mesh_file entry needs a file path")
        for key, value in e.params.items():
            if key not in ("file", "smooth"):
                raise ValueError(f"{where}.params.{key}: unknown parameter for a mesh_file (known: file, smooth)")
        if not isinstance(e.params.get("smooth", True), bool):
            raise ValueError(f"{where}.params.smooth: expected true or false")


def class_names(cfg: RandomizerConfig) -> list[str]:
    """The scene class list: the fixed `classes`, or the labels of the pool and then of the static
    objects, in order of first appearance (the same in every image, so class ids are stable)."""
    if cfg.classes is not None:
        return list(cfg.classes)
    names: list[str] = []
    for e in [*cfg.objects, *cfg.static_objects]:
        if e.label is not None and e.label not in names:
            names.append(e.label)
    return names


def primitive_params(e: ObjectEntry) -> dict:
    """Size parameters of a primitive entry with defaults filled in (before `scale`)."""
    return {**PRIMITIVE_PARAMS[e.shape], **e.params}


def _min_volume(e: ObjectEntry) -> float:
    """Volume of the smallest instance of a primitive entry (0 for flat shapes and meshes)."""
    s = e.scale[0]
    p = primitive_params(e) if e.shape in PRIMITIVE_PARAMS else {}
    if e.shape == "sphere":
        return 4 / 3 * math.pi * (p["radius"] * s) ** 3
    if e.shape == "box":
        return float(np.prod(p["size"])) * s ** 3
    if e.shape == "cylinder":
        return math.pi * p["radius"] ** 2 * p["height"] * s ** 3
    return 0.0


def _max_height(e: ObjectEntry) -> float:
    """Largest height of an instance of an entry resting on the ground (any orientation)."""
    s = e.scale[1]
    if e.shape == "sphere":
        return 2 * primitive_params(e)["radius"] * s
    if e.shape == "box":
        return max(primitive_params(e)["size"]) * s
    if e.shape == "cylinder":
        p = primitive_params(e)
        return max(2 * p["radius"], p["height"]) * s
    if e.shape in ("disk", "quad"):
        return 0.0
    lo, hi = (np.asarray(e.bounds[0]), np.asarray(e.bounds[1])) if e.bounds is not None else (-np.ones(3), np.ones(3))
    return float(np.linalg.norm(hi - lo)) * s


def _check_capacity(cfg: RandomizerConfig) -> None:
    """Refuse pools whose smallest instances already exceed the placement volume (no placement exists)."""
    area, mode = cfg.placement.area, cfg.placement.mode
    wx, wz = area.x[1] - area.x[0], area.z[1] - area.z[0]
    if mode == "ground":
        height = max(_max_height(e) for e in cfg.objects)
        container, what = wx * wz * height, f"{wx:g}x{wz:g} area"
    else:
        container, what = wx * (area.y[1] - area.y[0]) * wz, f"{wx:g}x{area.y[1] - area.y[0]:g}x{wz:g} volume"
    needed = [(e.count[0] * _min_volume(e), i) for i, e in enumerate(cfg.objects)]
    total = sum(v for v, _ in needed)
    if total > container:
        worst = max(needed)[1]
        n = sum(e.count[0] for e in cfg.objects)
        raise ValueError(
            f"placement: {n} objects (count minima) cannot fit without overlap in a {what}: their volume "
            f"{total:.3g} exceeds the {container:.3g} available; enlarge placement.area or lower objects[{worst}].count"
        )


# --------------------------------------------------------------------------- loading
def _field_path(loc: tuple, data: Any) -> str:
    """('objects', 3, 'scale', 0) -> 'objects[3].scale[0]'.

    The location is walked through the input data, so parts that are not keys or indices of it
    (pydantic's union tags and validator names, recognised as such or because the next part
    indexes the same data) are dropped, while a dict key that happens to equal a tag (a class
    named "box") is kept."""
    def indexes(value, part) -> bool:
        if isinstance(value, (list, tuple)):
            return isinstance(part, int) and 0 <= part < len(value)
        return isinstance(value, dict) and part in value

    path = ""
    for k, part in enumerate(loc):
        if indexes(data, part):
            path += f"[{part}]" if isinstance(part, int) else ("." if path else "") + str(part)
            data = data[part]
        elif isinstance(part, str) and (part in _UNION_TAGS or part.startswith(_WRAPPERS)
                                        or (k + 1 < len(loc) and indexes(data, loc[k + 1]))):
            continue
        else:  # a missing field, or data not shaped as expected
            path, data = path + (f"[{part}]" if isinstance(part, int) else ("." if path else "") + str(part)), None
    return path


_UNION_TAGS = {"ground-random", "ground-material", "diffuse", "conductor", "dielectric", "emissive", "sphere", "box",
               "quad", "disk", "cylinder", "mesh", *PROCEDURAL_KINDS}
_WRAPPERS = ("function-", "tagged-union", "union", "literal[", "json-")


def _error_line(err: ValidationError, data: Any, sep: str = "") -> str:
    """The first error of a ValidationError as 'field.path: message' (path relative to `data`;
    `sep` goes before a non-empty path, to append it to an outer one)."""
    first = err.errors(include_url=False)[0]
    kind, msg = first.get("type", ""), first.get("msg", "invalid value")
    if kind == "extra_forbidden":
        msg = "unknown field"
    elif kind == "missing":
        msg = "required field is missing"
    elif kind == "union_tag_invalid":
        ctx = first.get("ctx", {})
        msg = f"unknown type {ctx.get('tag')!r} (expected one of {ctx.get('expected_tags')})"
    elif kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    elif "input" in first and len(repr(first["input"])) <= 60:
        msg += f" (got {first['input']!r})"
    path = _field_path(tuple(first.get("loc", ())), data)
    if not path:
        return f": {msg}" if sep else msg  # model-level checks name their own path
    return f"{sep if not path.startswith('[') else ''}{path}: {msg}"


def _format(err: ValidationError, source: str, data: Any) -> str:
    """'source: field.path: message' for the first error."""
    return f"{source}: {_error_line(err, data)}"


def load_config(
    source: Union[str, os.PathLike, dict, RandomizerConfig], base_dir: Union[str, os.PathLike, None] = None
) -> RandomizerConfig:
    """Read and validate a randomizer config (a JSON file path, a dict, or a config).

    base_dir : folder that mesh_file paths are relative to (default: the config file's folder,
        or the working directory for a dict).
    Raises SceneError with one line ``"<config file>: field.path: message"``.
    """
    if isinstance(source, RandomizerConfig):
        if base_dir is not None:
            source._base_dir = Path(base_dir)
        return source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = str(path)
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SceneError(f"{name}: config file not found") from None
        except (OSError, UnicodeDecodeError) as err:
            raise SceneError(f"{name}: cannot read config file ({err.__class__.__name__}: {err})") from None
        except json.JSONDecodeError as err:
            raise SceneError(f"{name}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
        folder = path.resolve().parent
    else:
        data, name, folder = source, "config", None
    if not isinstance(data, dict):
        raise SceneError(f"{name}: a config must be a JSON object, got {type(data).__name__}")
    try:
        cfg = RandomizerConfig.model_validate(data)
    except ValidationError as err:
        raise SceneError(_format(err, name, data)) from None
    cfg._source = name
    cfg._base_dir = Path(base_dir) if base_dir is not None else folder
    _load_meshes(cfg)
    return cfg


def mesh_path(cfg: RandomizerConfig, file: str) -> Path:
    """Absolute path of a mesh_file entry's file."""
    path = Path(file)
    return path if path.is_absolute() else ((cfg._base_dir or Path.cwd()) / path).resolve()


def _load_meshes(cfg: RandomizerConfig) -> None:
    """Read every mesh file once (errors name the entry) and keep its vertex bounds; likewise
    generate each procedural entry with fixed parameters."""
    from ..assets.mesh_io import MeshFormatError, read_mesh

    for i, e in enumerate(cfg.objects):
        if e.shape == "procedural" and not (e.params["kind"] == "blob" and "seed" not in e.params):
            procedural_bounds(cfg, e.params, f"objects[{i}].params")
        if e.shape != "mesh_file":
            continue
        path = mesh_path(cfg, e.params["file"])
        if str(path) in cfg._meshes:
            continue
        try:
            mesh = read_mesh(path)
        except MeshFormatError as err:
            raise SceneError(f"{cfg._source}: objects[{i}].params.file: {err}") from None
        v = mesh.vertices.astype(np.float64)
        cfg._meshes[str(path)] = (v.min(axis=0), v.max(axis=0))


def procedural_bounds(cfg: RandomizerConfig, params: dict, where: str, cache: bool = True):
    """Vertex bounds (lo, hi) of a procedural mesh, or the unit cube's where no generator exists."""
    key = "procedural:" + json.dumps(params, sort_keys=True)
    if key in cfg._meshes:
        return cfg._meshes[key]
    try:
        from ..assets.procedural import make
    except ImportError:  # the generator is not part of this installation: the documented unit cube
        return -np.ones(3), np.ones(3)
    spec = dict(params)
    try:
        v = np.asarray(make(spec.pop("kind"), **spec).vertices, dtype=np.float64)
    except ValueError as err:
        raise SceneError(f"{cfg._source}: {where}: {err}") from None
    bounds = (v.min(axis=0), v.max(axis=0))
    if cache:
        cfg._meshes[key] = bounds
    return bounds
