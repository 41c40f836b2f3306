"""The scene file format: pydantic models with a description and a default on every field.

A scene is JSON (or a dict) with these top-level fields::

    {
      "camera":    {...},          # Camera: pose, projection, image size, optional thin lens
      "render":    {...},          # RenderSettings: spp, max_depth, seed, exposure
      "materials": {"name": {...}} # named materials that objects refer to by name
      "objects":   [{...}, ...],   # shapes and meshes, each with transform, material, label
      "lights":    [{...}, ...],   # point, directional (sun), environment, sky
      "classes":   ["a", "b"]      # optional fixed class list: class id = position + 1
    }

Conventions
-----------
- World space is right-handed; units are arbitrary but consistent (metres suggested).
- Colours are linear RGB. Radiance of emitters in W/(sr m^2) per channel.
- Camera space follows OpenCV: +x right, +y down, +z forward (along the optical axis).
- A transform maps object space to world space as ``M = T @ R @ S`` (scale, then rotate, then
  translate); ``matrix`` gives M directly instead (row-major 4x4).
- Euler angles are degrees, applied about the world X, then Y, then Z axis: ``R = Rz @ Ry @ Rx``.
"""
from __future__ import annotations

import math
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, model_validator

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Vec3 = tuple[FiniteFloat, FiniteFloat, FiniteFloat]
PositiveVec3 = tuple[PositiveFloat, PositiveFloat, PositiveFloat]
Color = tuple[NonNegativeFloat, NonNegativeFloat, NonNegativeFloat]
Row4 = tuple[FiniteFloat, FiniteFloat, FiniteFloat, FiniteFloat]


class Model(BaseModel):
    """Base of every scene model: unknown fields are errors, NaN and inf are refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=False)


# --------------------------------------------------------------------------- transform
def _scalar_to_vec3(value):
    """Accept one number for a uniform scale."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (value, value, value)
    return value


class Transform(Model):
    """Object-to-world placement: ``M = T @ R @ S``, or an explicit ``matrix``."""

    translate: Vec3 = Field((0.0, 0.0, 0.0), description="Translation (x, y, z) in world units.")
    rotate: Vec3 = Field(
        (0.0, 0.0, 0.0),
        description="Euler angles in degrees about the world X, then Y, then Z axis (R = Rz Ry Rx).",
    )
    quaternion: Optional[tuple[FiniteFloat, FiniteFloat, FiniteFloat, FiniteFloat]] = Field(
        None, description="Rotation as a quaternion (w, x, y, z), normalized on use; replaces `rotate`."
    )
    scale: Annotated[
        PositiveVec3, BeforeValidator(_scalar_to_vec3, json_schema_input_type=Union[PositiveFloat, PositiveVec3])
    ] = Field(
        (1.0, 1.0, 1.0), description="Scale factors (sx, sy, sz), each > 0; one number scales uniformly."
    )
    matrix: Optional[tuple[Row4, Row4, Row4, Row4]] = Field(
        None,
        description="Full 4x4 object-to-world matrix, row-major, last row (0, 0, 0, 1); "
        "replaces translate/rotate/quaternion/scale.",
    )

    @model_validator(mode="after")
    def _check(self):
        trs_given = self.model_fields_set & {"translate", "rotate", "quaternion", "scale"}
        if self.matrix is not None and trs_given:
            raise ValueError(f"give either `matrix` or translate/rotate/quaternion/scale, not both ({sorted(trs_given)})")
        if self.quaternion is not None and "rotate" in self.model_fields_set:
            raise ValueError("give either `rotate` (Euler degrees) or `quaternion`, not both")
        if self.quaternion is not None and sum(q * q for q in self.quaternion) < 1e-12:
            raise ValueError("quaternion must not be zero")
        if self.matrix is not None:
            if tuple(self.matrix[3]) != (0.0, 0.0, 0.0, 1.0):
                raise ValueError("matrix last row must be (0, 0, 0, 1)")
            a = self.matrix
            det = (
                a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
                - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
                + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
            )
            if not abs(det) > 1e-12:
                raise ValueError("matrix is singular (its 3x3 part has determinant 0)")
        return self


# --------------------------------------------------------------------------- materials
class Checker(Model):
    """A 3D checkerboard evaluated at the object-space hit point."""

    color_a: Color = Field((0.8, 0.8, 0.8), description="Colour of the even cells (linear RGB).")
    color_b: Color = Field((0.2, 0.2, 0.2), description="Colour of the odd cells (linear RGB).")
    scale: PositiveFloat = Field(4.0, description="Cells per object-space unit.")


class CheckerTexture(Checker):
    """`checker` written as a texture object (the same pattern)."""

    type: Literal["checker"] = Field("checker", description="Texture kind.")


class ImageTexture(Model):
    """An image mapped by the surface's texture coordinates (uv; conventions per shape in
    docs/ARCHITECTURE.md): u runs left to right, v bottom to top of the image; bilinear filtering."""

    type: Literal["image"] = Field("image", description="Texture kind.")
    file: str = Field(description="PNG or JPEG file (8- or 16-bit), relative to the scene file's folder.")
    wrap: Literal["repeat", "clamp", "mirror"] = Field(
        "repeat", description="Lookups outside [0, 1]: repeat the image, clamp to its edge, or repeat it mirrored."
    )
    scale: tuple[FiniteFloat, FiniteFloat] = Field(
        (1.0, 1.0), description="uv multiplier (u, v): uv' = uv * scale + offset (2 repeats the image twice)."
    )
    offset: tuple[FiniteFloat, FiniteFloat] = Field((0.0, 0.0), description="uv shift (u, v), added after `scale`.")
    colorspace: Literal["srgb", "linear"] = Field(
        "srgb", description="Encoding of 8/16-bit values: sRGB (photos, colour maps) or linear (data); "
        "floating-point images are always linear."
    )


class NoiseTexture(Model):
    """Procedural fBm noise blended between two colours, evaluated at the object-space hit point
    (it moves with the object, like `checker`)."""

    type: Literal["noise"] = Field("noise", description="Texture kind.")
    basis: Literal["gradient", "value"] = Field(
        "gradient", description="Noise of each octave: gradient (Perlin) noise or value noise."
    )
    color_a: Color = Field((0.8, 0.8, 0.8), description="Colour where the noise is 0 (linear RGB).")
    color_b: Color = Field((0.2, 0.2, 0.2), description="Colour where the noise is 1 (linear RGB).")
    scale: PositiveFloat = Field(4.0, description="Noise cells per object-space unit in the first octave.")
    octaves: Annotated[int, Field(ge=1, le=8)] = Field(4, description="Octaves summed (fBm).")
    lacunarity: Annotated[float, Field(ge=1, le=16, allow_inf_nan=False)] = Field(
        2.0, description="Frequency ratio between successive octaves."
    )
    gain: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = Field(
        0.5, description="Amplitude ratio between successive octaves."
    )
    seed: Annotated[int, Field(ge=0, lt=1 << 63)] = Field(0, description="Noise seed: another seed, another pattern.")


_TEXTURE_TAGS = {"image": "texture-image", "noise": "texture-noise", "checker": "texture-checker"}


def _texture_tag(value):
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return _TEXTURE_TAGS.get(kind) if isinstance(kind, str) else None


Texture = Annotated[
    Union[
        Annotated[ImageTexture, Tag("texture-image")],
        Annotated[NoiseTexture, Tag("texture-noise")],
        Annotated[CheckerTexture, Tag("texture-checker")],
    ],
    Discriminator(
        _texture_tag,
        custom_error_type="texture_type",
        custom_error_message="a texture needs `type`: 'image', 'noise' or 'checker'",
    ),
]
AlbedoValue = Annotated[
    Union[Annotated[Color, Tag("albedo-color")], Annotated[Texture, Tag("albedo-texture")]],
    Discriminator(lambda v: "albedo-texture" if isinstance(v, (dict, BaseModel)) else "albedo-color"),
]


class Diffuse(Model):
    """Lambertian reflector."""

    type: Literal["diffuse"] = Field("diffuse", description="Material kind.")
    albedo: AlbedoValue = Field(
        (0.8, 0.8, 0.8),
        description="Diffuse reflectance: linear RGB in [0, 1], or a texture object (as in `texture`).",
    )
    checker: Optional[Checker] = Field(None, description="Procedural checker replacing `albedo`.")
    texture: Optional[Texture] = Field(
        None,
        description="Texture replacing `albedo`: {\"type\": \"image\", \"file\": ...}, {\"type\": \"noise\", ...} "
        "or {\"type\": \"checker\", ...}.",
    )

    @model_validator(mode="after")
    def _check(self):
        given = [name for name, on in (("texture `albedo`", not isinstance(self.albedo, tuple)),
                                       ("`texture`", self.texture is not None),
                                       ("`checker`", self.checker is not None)) if on]
        if len(given) > 1:
            raise ValueError(f"give only one of a texture `albedo`, `texture` or `checker` (got {', '.join(given)})")
        return self

    def texture_spec(self):
        """The texture replacing the albedo colour (a Checker for `checker`), or None; and the
        name of the field it came from."""
        if self.texture is not None:
            return self.texture, "texture"
        if not isinstance(self.albedo, tuple):
            return self.albedo, "albedo"
        if self.checker is not None:
            return self.checker, "checker"
        return None, None

    def albedo_color(self) -> tuple:
        """The albedo colour (the default grey when `albedo` is a texture)."""
        return self.albedo if isinstance(self.albedo, tuple) else (0.8, 0.8, 0.8)


class Conductor(Model):
    """Metal: GGX microfacet reflection with Schlick Fresnel."""

    type: Literal["conductor"] = Field("conductor", description="Material kind.")
    color: Color = Field((0.9, 0.9, 0.9), description="Reflectance at normal incidence (F0), linear RGB.")
    roughness: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = Field(
        0.2, description="GGX alpha (as in Mitsuba); 0 is a perfect mirror."
    )


class Dielectric(Model):
    """Smooth glass: Fresnel reflection and Snell refraction."""

    type: Literal["dielectric"] = Field("dielectric", description="Material kind.")
    ior: Annotated[float, Field(ge=1.0, le=4.0, allow_inf_nan=False)] = Field(
        1.5, description="Index of refraction inside (outside is 1)."
    )
    color: Color = Field((1.0, 1.0, 1.0), description="Transmission tint, linear RGB in [0, 1].")


class Emissive(Model):
    """Area light: the shape emits `radiance` from its front side (both sides if `two_sided`)."""

    type: Literal["emissive"] = Field("emissive", description="Material kind.")
    radiance: Color = Field((1.0, 1.0, 1.0), description="Emitted radiance, linear RGB.")
    intensity: NonNegativeFloat = Field(1.0, description="Multiplier applied to `radiance`.")
    albedo: Color = Field((0.0, 0.0, 0.0), description="Diffuse reflectance of the emitter surface.")
    two_sided: bool = Field(False, description="Emit from both sides (default: along the normal only).")


Material = Annotated[Union[Diffuse, Conductor, Dielectric, Emissive], Field(discriminator="type")]
MaterialRef = Annotated[
    Union[Annotated[str, Tag("material-name")], Annotated[Material, Tag("material-inline")]],
    Discriminator(lambda v: "material-name" if isinstance(v, str) else "material-inline"),
]


# --------------------------------------------------------------------------- objects
class ObjectBase(Model):
    name: Optional[str] = Field(None, description="Optional object name, written to meta.json.")
    label: Optional[str] = Field(
        None, description="Class name; objects with the same label share a class id (none: class 0)."
    )
    # Defaults are instances, not default_factory, so that the JSON Schema shows them; pydantic
    # copies a mutable default for every model it creates.
    transform: Transform = Field(Transform(), description="Object-to-world placement.")
    material: MaterialRef = Field(
        Diffuse(), description="Inline material, or the name of an entry in `materials`."
    )
    keypoints: Optional[list[Vec3]] = Field(
        None,
        description="Keypoints in object coordinates (before `transform`); default: the 8 corners "
        "of the object-space bounding box.",
    )


class Sphere(ObjectBase):
    """Sphere centred at the object origin."""

    type: Literal["sphere"] = Field("sphere", description="Shape kind.")
    radius: PositiveFloat = Field(1.0, description="Radius (> 0).")


class Box(ObjectBase):
    """Axis-aligned box centred at the object origin."""

    type: Literal["box"] = Field("box", description="Shape kind.")
    size: PositiveVec3 = Field((1.0, 1.0, 1.0), description="Full edge lengths (x, y, z), each > 0.")


class Quad(ObjectBase):
    """Rectangle in the object's z = 0 plane, centred, front side facing +z."""

    type: Literal["quad"] = Field("quad", description="Shape kind.")
    size: tuple[PositiveFloat, PositiveFloat] = Field((1.0, 1.0), description="Edge lengths (x, y), each > 0.")


class Disk(ObjectBase):
    """Disk in the object's z = 0 plane, centred, front side facing +z."""

    type: Literal["disk"] = Field("disk", description="Shape kind.")
    radius: PositiveFloat = Field(1.0, description="Radius (> 0).")


class Cylinder(ObjectBase):
    """Cylinder along the object's z axis, centred at the origin."""

    type: Literal["cylinder"] = Field("cylinder", description="Shape kind.")
    radius: PositiveFloat = Field(0.5, description="Radius (> 0).")
    height: PositiveFloat = Field(1.0, description="Length along z (> 0).")
    caps: bool = Field(True, description="Close both ends with disks (a solid cylinder).")


# Procedural meshes (raysynth.assets.procedural): one model per generator, fields = its arguments.
# Centred at the origin, +z is the axis / up, default sizes fit the cube [-1, 1]^3.
_Divisions = Annotated[int, Field(ge=3, le=4096)]
_NoiseSeed = Annotated[int, Field(ge=0, lt=1 << 63)]
_Octaves = Annotated[int, Field(ge=1, le=8)]


class ProceduralIcosphere(Model):
    """Geodesic unit sphere: a subdivided icosahedron."""

    kind: Literal["icosphere"] = Field("icosphere", description="Generator.")
    subdivisions: Annotated[int, Field(ge=0, le=8)] = Field(
        3, description="Levels of 1-to-4 triangle subdivision (20 * 4**subdivisions triangles)."
    )


class ProceduralUVSphere(Model):
    """Latitude-longitude unit sphere, poles on the z axis."""

    kind: Literal["uv_sphere"] = Field("uv_sphere", description="Generator.")
    segments: _Divisions = Field(32, description="Divisions around the z axis.")
    rings: Annotated[int, Field(ge=2, le=4096)] = Field(16, description="Divisions from pole to pole.")


class ProceduralTorus(Model):
    """Ring torus around the z axis."""

    kind: Literal["torus"] = Field("torus", description="Generator.")
    major: PositiveFloat = Field(0.7, description="Distance from the centre to the middle of the tube (> minor).")
    minor: PositiveFloat = Field(0.3, description="Tube radius (< major).")
    segments: _Divisions = Field(48, description="Divisions around the z axis.")
    sides: _Divisions = Field(24, description="Divisions around the tube.")

    @model_validator(mode="after")
    def _check(self):
        if not self.minor < self.major:
            raise ValueError(f"minor must be < major = {self.major:g}, got {self.minor:g}")
        return self


class ProceduralCylinder(Model):
    """Cylinder along z from -height/2 to +height/2."""

    kind: Literal["cylinder"] = Field("cylinder", description="Generator.")
    radius: PositiveFloat = Field(1.0, description="Radius (> 0).")
    height: PositiveFloat = Field(2.0, description="Length along z (> 0).")
    segments: _Divisions = Field(32, description="Divisions around the axis.")
    stacks: Annotated[int, Field(ge=1, le=4096)] = Field(1, description="Divisions of the side along the axis.")
    caps: bool = Field(True, description="Close both ends with flat disks.")


class ProceduralCone(Model):
    """Cone along z: base at z = -height/2, apex at z = +height/2."""

    kind: Literal["cone"] = Field("cone", description="Generator.")
    radius: PositiveFloat = Field(1.0, description="Base radius (> 0).")
    height: PositiveFloat = Field(2.0, description="Base-to-apex length (> 0).")
    segments: _Divisions = Field(32, description="Divisions around the axis.")
    stacks: Annotated[int, Field(ge=1, le=4096)] = Field(1, description="Divisions of the side along the axis.")
    cap: bool = Field(True, description="Close the base with a flat disk.")


class ProceduralCapsule(Model):
    """Cylinder with hemispherical ends along z, total length `height`."""

    kind: Literal["capsule"] = Field("capsule", description="Generator.")
    radius: PositiveFloat = Field(0.5, description="Radius of the cylinder and the end caps (> 0).")
    height: PositiveFloat = Field(2.0, description="Total length, tips included (>= 2 radius).")
    segments: _Divisions = Field(32, description="Divisions around the axis.")
    rings: Annotated[int, Field(ge=1, le=4096)] = Field(8, description="Latitude divisions of each hemisphere.")

    @model_validator(mode="after")
    def _check(self):
        if self.height < 2 * self.radius:
            raise ValueError(f"height must be >= 2 * radius = {2 * self.radius:g}, got {self.height:g}")
        return self


class ProceduralTorusKnot(Model):
    """Tube around a (p, q) torus knot, scaled to fit [-1, 1]^3."""

    kind: Literal["torus_knot"] = Field("torus_knot", description="Generator.")
    p: Annotated[int, Field(ge=1, le=64)] = Field(2, description="Windings around the z axis (coprime with q).")
    q: Annotated[int, Field(ge=1, le=64)] = Field(3, description="Windings through the hole (coprime with p).")
    radius: Annotated[float, Field(gt=0, lt=0.5, allow_inf_nan=False)] = Field(0.12, description="Tube radius.")
    segments: Annotated[int, Field(ge=3, le=65536)] = Field(256, description="Divisions along the curve.")
    sides: _Divisions = Field(16, description="Divisions around the tube.")

    @model_validator(mode="after")
    def _check(self):
        if math.gcd(self.p, self.q) != 1:
            raise ValueError(f"p and q must be coprime, got p={self.p}, q={self.q}")
        return self


class ProceduralBlob(Model):
    """Sphere displaced along its radii by smooth seeded noise; radius in [(1-a)/(1+a), 1]."""

    kind: Literal["blob"] = Field("blob", description="Generator.")
    amplitude: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = Field(
        0.3, description="Relative bump height in [0, 1)."
    )
    frequency: PositiveFloat = Field(1.5, description="Noise lattice cells per unit length.")
    seed: _NoiseSeed = Field(0, description="Noise seed.")
    octaves: _Octaves = Field(3, description="Fractal noise octaves.")
    subdivisions: Annotated[int, Field(ge=0, le=8)] = Field(4, description="Icosphere subdivision level.")


class ProceduralTerrain(Model):
    """Height field: a square grid in the xy plane lifted along +z by seeded noise (open surface)."""

    kind: Literal["terrain"] = Field("terrain", description="Generator.")
    size: PositiveFloat = Field(2.0, description="Edge length of the square, centred on the origin.")
    resolution: Annotated[int, Field(ge=1, le=4096)] = Field(64, description="Grid cells per edge.")
    height: NonNegativeFloat = Field(0.3, description="Maximum |z| of the surface.")
    frequency: PositiveFloat = Field(1.5, description="Noise lattice cells per unit length.")
    octaves: _Octaves = Field(4, description="Fractal noise octaves.")
    seed: _NoiseSeed = Field(0, description="Noise seed.")


class ProceduralTetrahedron(Model):
    """Regular tetrahedron inscribed in the unit sphere (flat-shaded)."""

    kind: Literal["tetrahedron"] = Field("tetrahedron", description="Generator.")


class ProceduralCube(Model):
    """Axis-aligned cube inscribed in the unit sphere, half edge 1/sqrt(3) (flat-shaded)."""

    kind: Literal["cube"] = Field("cube", description="Generator.")


class ProceduralOctahedron(Model):
    """Regular octahedron with vertices at +-x, +-y, +-z (flat-shaded)."""

    kind: Literal["octahedron"] = Field("octahedron", description="Generator.")


class ProceduralDodecahedron(Model):
    """Regular dodecahedron inscribed in the unit sphere (flat-shaded)."""

    kind: Literal["dodecahedron"] = Field("dodecahedron", description="Generator.")


class ProceduralIcosahedron(Model):
    """Regular icosahedron inscribed in the unit sphere, vertices at the poles (flat-shaded)."""

    kind: Literal["icosahedron"] = Field("icosahedron", description="Generator.")


Procedural = Annotated[
    Union[
        ProceduralIcosphere, ProceduralUVSphere, ProceduralTorus, ProceduralCylinder, ProceduralCone,
        ProceduralCapsule, ProceduralTorusKnot, ProceduralBlob, ProceduralTerrain, ProceduralTetrahedron,
        ProceduralCube, ProceduralOctahedron, ProceduralDodecahedron, ProceduralIcosahedron,
    ],
    Field(discriminator="kind"),
]


class Mesh(ObjectBase):
    """Triangle mesh from a file (OBJ or PLY, path relative to the scene file), inline arrays or a
    procedural generator."""

    type: Literal["mesh"] = Field("mesh", description="Shape kind.")
    file: Optional[str] = Field(None, description="OBJ or PLY file, relative to the scene file's folder.")
    use_mtl: Optional[bool] = Field(
        None,
        description="Apply the OBJ's MTL materials (Kd colour or map_Kd texture, as diffuse) to the faces whose "
        "`usemtl` names one: null = only when the object gives no `material`; true = always (they replace "
        "`material` on those faces); false = never.",
    )
    vertices: Optional[list[Vec3]] = Field(None, description="Inline vertex positions (n x 3).")
    faces: Optional[list[tuple[int, int, int]]] = Field(
        None, description="Inline triangles (m x 3 zero-based vertex indices, counter-clockwise = front)."
    )
    normals: Optional[list[Vec3]] = Field(None, description="Inline vertex normals (n x 3), optional.")
    procedural: Optional[Procedural] = Field(
        None, description="Generated mesh, chosen by `kind` (icosphere, torus, terrain, ...); replaces `file`."
    )
    smooth: bool = Field(True, description="Interpolate vertex normals when the mesh has them.")
    parts: Optional[list[Annotated[int, Field(ge=0)]]] = Field(
        None, description="Inline meshes: part id of each face (m entries; the `part` layer shows id + 1). "
        "Files: OBJ `o`/`g` groups are the parts."
    )
    part_names: Optional[list[str]] = Field(
        None, description="Inline meshes: name of each part id (default: group0, group1, ...)."
    )

    @model_validator(mode="after")
    def _check(self):
        inline = self.vertices is not None or self.faces is not None
        given = [name for name, on in (("file", self.file is not None), ("vertices/faces", inline),
                                       ("procedural", self.procedural is not None)) if on]
        if not given:
            raise ValueError("a mesh needs `file`, inline `vertices` and `faces`, or `procedural`")
        if len(given) > 1:
            raise ValueError(
                f"give only one of `file`, inline `vertices`/`faces` or `procedural` (got {', '.join(given)})"
            )
        if inline and (self.vertices is None or self.faces is None):
            raise ValueError("inline meshes need both `vertices` and `faces`")
        if self.normals is not None and self.vertices is not None and len(self.normals) != len(self.vertices):
            raise ValueError(f"`normals` has {len(self.normals)} entries but `vertices` has {len(self.vertices)}")
        if (self.parts is not None or self.part_names is not None) and not inline:
            raise ValueError("`parts` and `part_names` are for inline meshes (a file's parts are its OBJ groups)")
        if self.parts is not None and self.faces is not None and len(self.parts) != len(self.faces):
            raise ValueError(f"`parts` has {len(self.parts)} entries but `faces` has {len(self.faces)}")
        if self.part_names is not None and self.parts is not None and max(self.parts, default=0) >= len(self.part_names):
            raise ValueError(f"`parts` uses id {max(self.parts)} but `part_names` has {len(self.part_names)} names")
        return self


SceneObject = Annotated[Union[Sphere, Box, Quad, Disk, Cylinder, Mesh], Field(discriminator="type")]


# --------------------------------------------------------------------------- lights
class PointLight(Model):
    """Isotropic point light."""

    type: Literal["point"] = Field("point", description="Light kind.")
    position: Vec3 = Field((0.0, 5.0, 0.0), description="World position.")
    intensity: Color = Field((10.0, 10.0, 10.0), description="Radiant intensity, W/sr per channel.")


class DirectionalLight(Model):
    """Distant light such as the sun; a disc of `angular_radius` degrees gives soft shadows."""

    type: Literal["directional"] = Field("directional", description="Light kind.")
    direction: Vec3 = Field((0.0, -1.0, 0.0), description="Direction the light travels (need not be unit).")
    irradiance: Color = Field((3.0, 3.0, 3.0), description="Irradiance on a surface facing the light.")
    angular_radius: Annotated[float, Field(ge=0, le=30, allow_inf_nan=False)] = Field(
        0.0, description="Angular radius of the light's disc, degrees (the sun: 0.27); 0 = sharp."
    )

    @model_validator(mode="after")
    def _check(self):
        if sum(c * c for c in self.direction) < 1e-24:
            raise ValueError("direction must not be zero")
        return self


class Environment(Model):
    """Radiance from every direction not blocked by the scene: a constant colour, or an
    equirectangular image (times `color`), sampled uniformly over the sphere."""

    type: Literal["environment"] = Field("environment", description="Light kind.")
    color: Color = Field((1.0, 1.0, 1.0), description="Radiance, linear RGB; with `image`, a tint multiplying it.")
    intensity: NonNegativeFloat = Field(1.0, description="Multiplier applied to `color`.")
    image: Optional[str] = Field(
        None,
        description="Equirectangular (latitude-longitude) image, relative to the scene file's folder: its "
        "centre is seen looking along `front`, its top row along `up`, u grows to the right.",
    )
    colorspace: Literal["srgb", "linear"] = Field(
        "srgb", description="Encoding of the image's 8/16-bit values (floating-point images are linear)."
    )
    up: Vec3 = Field((0.0, 1.0, 0.0), description="World direction of the image's top row (zenith).")
    front: Vec3 = Field(
        (0.0, 0.0, -1.0), description="World direction seen at the image centre (made orthogonal to `up`)."
    )
    rotation: FiniteFloat = Field(
        0.0, description="Turn of the image about `up`, degrees (right-handed: counter-clockwise seen from above)."
    )

    @model_validator(mode="after")
    def _check(self):
        up = self.up
        f = self.front
        cross = (up[1] * f[2] - up[2] * f[1], up[2] * f[0] - up[0] * f[2], up[0] * f[1] - up[1] * f[0])
        nu = math.sqrt(sum(c * c for c in up))
        nf = math.sqrt(sum(c * c for c in f))
        if not nu > 1e-12:
            raise ValueError("up must not be zero")
        if not math.sqrt(sum(c * c for c in cross)) > 1e-9 * nu * max(nf, 1e-30):
            raise ValueError("front must not be zero or parallel to up")
        return self


class Sky(Model):
    """Gradient sky: horizon to zenith above the horizon, `ground` below it."""

    type: Literal["sky"] = Field("sky", description="Light kind.")
    zenith: Color = Field((0.25, 0.45, 0.9), description="Radiance straight up.")
    horizon: Color = Field((0.9, 0.9, 1.0), description="Radiance at the horizon.")
    ground: Color = Field((0.3, 0.28, 0.25), description="Radiance below the horizon.")
    up: Vec3 = Field((0.0, 1.0, 0.0), description="World up direction of the sky.")
    intensity: NonNegativeFloat = Field(1.0, description="Multiplier applied to all three colours.")

    @model_validator(mode="after")
    def _check(self):
        if sum(c * c for c in self.up) < 1e-24:
            raise ValueError("up must not be zero")
        return self


Light = Annotated[Union[PointLight, DirectionalLight, Environment, Sky], Field(discriminator="type")]


# --------------------------------------------------------------------------- camera, settings
class Intrinsics(Model):
    """Pinhole intrinsics in pixels (OpenCV convention: pixel centres at integer + 0.5)."""

    fx: PositiveFloat = Field(description="Focal length along x, pixels.")
    fy: PositiveFloat = Field(description="Focal length along y, pixels.")
    cx: FiniteFloat = Field(description="Principal point x, pixels (width / 2 for a centred one).")
    cy: FiniteFloat = Field(description="Principal point y, pixels (height / 2 for a centred one).")


class Camera(Model):
    """Perspective camera: pose from position/look_at/up, projection from `fov` or `intrinsics`."""

    position: Vec3 = Field((0.0, 0.0, 5.0), description="Centre of projection in world space.")
    look_at: Vec3 = Field((0.0, 0.0, 0.0), description="World point on the optical axis.")
    up: Vec3 = Field((0.0, 1.0, 0.0), description="World direction that appears up in the image.")
    fov: Annotated[float, Field(gt=0, lt=180, allow_inf_nan=False)] = Field(
        40.0, description="Vertical field of view, degrees (ignored when `intrinsics` is given)."
    )
    intrinsics: Optional[Intrinsics] = Field(None, description="Pixel intrinsics fx, fy, cx, cy; replaces `fov`.")
    width: Annotated[int, Field(ge=1, le=16384)] = Field(320, description="Image width, pixels.")
    height: Annotated[int, Field(ge=1, le=16384)] = Field(240, description="Image height, pixels.")
    aperture_radius: NonNegativeFloat = Field(0.0, description="Thin-lens aperture radius (0 = pinhole).")
    focus_distance: Optional[PositiveFloat] = Field(
        None, description="Z-distance of the plane in focus (default: distance to `look_at`)."
    )

    @model_validator(mode="after")
    def _check(self):
        fwd = [a - b for a, b in zip(self.look_at, self.position)]
        if sum(c * c for c in fwd) < 1e-24:
            raise ValueError("look_at must differ from position")
        cross = (
            fwd[1] * self.up[2] - fwd[2] * self.up[1],
            fwd[2] * self.up[0] - fwd[0] * self.up[2],
            fwd[0] * self.up[1] - fwd[1] * self.up[0],
        )
        norm_f = math.sqrt(sum(c * c for c in fwd))
        norm_u = math.sqrt(sum(c * c for c in self.up))
        if not math.sqrt(sum(c * c for c in cross)) > 1e-9 * norm_f * max(norm_u, 1e-30):
            raise ValueError("up must not be parallel to the viewing direction (look_at - position)")
        return self


class RenderSettings(Model):
    """Sampling and output settings."""

    spp: Annotated[int, Field(ge=0, le=1 << 20)] = Field(
        64, description="Camera samples per pixel; 0 renders the label layers only (one pixel-centre ray "
                        "per pixel, black rgb, coverage 1).")
    max_depth: Annotated[int, Field(ge=1, le=1024)] = Field(
        8, description="Maximum path length in segments, the camera ray included (1: emitters only, 2: direct light)."
    )
    rr_depth: Annotated[int, Field(ge=1, le=1024)] = Field(
        5, description="Path length from which Russian roulette may end paths."
    )
    seed: Annotated[int, Field(ge=0, lt=1 << 63)] = Field(0, description="Seed of every random number of the render.")
    exposure: FiniteFloat = Field(0.0, description="Exposure in stops: rgb is multiplied by 2**exposure.")
    instancing: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Mesh instancing: objects whose meshes have the same content share one object-space "
        "BVH. auto: meshes used by 2 or more objects; always: every mesh; never: every object gets its "
        "own world-space copy. Emissive meshes are always copied.",
    )


class Scene(Model):
    """A complete scene: camera, render settings, materials, objects and lights."""

    camera: Camera = Field(Camera(), description="The camera.")
    render: RenderSettings = Field(RenderSettings(), description="Sampling settings.")
    materials: dict[str, Material] = Field({}, description="Named materials.")
    objects: list[SceneObject] = Field([], description="Shapes and meshes.")
    lights: list[Light] = Field([], description="Non-geometric lights.")
    classes: Optional[list[str]] = Field(
        None,
        description="Fixed class list: class id = index + 1. Default: labels in order of first appearance.",
    )

    @model_validator(mode="after")
    def _check(self):
        if not self.objects:
            raise ValueError("objects: the scene is empty (it needs at least one object)")
        for i, obj in enumerate(self.objects):
            if isinstance(obj.material, str) and obj.material not in self.materials:
                known = ", ".join(sorted(self.materials)) or "none defined"
                raise ValueError(f"objects[{i}].material: unknown material '{obj.material}' (known: {known})")
            if self.classes is not None and obj.label is not None and obj.label not in self.classes:
                raise ValueError(f"objects[{i}].label: unknown class '{obj.label}' (classes: {', '.join(self.classes)})")
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise ValueError("classes: names must be unique")
        if sum(isinstance(light, (Environment, Sky)) for light in self.lights) > 1:
            raise ValueError("lights: at most one environment or sky")
        return self
