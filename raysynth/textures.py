"""Host side of textures: load images, pack every texture of a scene into the kernel tables.

A scene's textures become three arrays of :class:`~raysynth.compile.SceneArrays` (layouts in
``raysynth.kernels.tags``):

- ``texels`` (K,) float32: the linear RGB texels of every image, one image after the other,
  each row-major from its top row (an image used by several textures is stored once);
- ``tex_info`` (N, 8) int32: kind, texel offset, width, height, wrap mode, noise octaves and
  seed (low and high 32 bits);
- ``tex_params`` (N, 8) float32: uv scale and offset (images), cells per unit, lacunarity and
  gain (noise).

Scenes without textures get (0, 8) tables and an empty texel array. Image paths are resolved
against the scene file's folder (the current folder for scene dictionaries); a missing or
unreadable image raises :class:`~raysynth.errors.SceneError` naming the field path.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from .assets.images import ImageError, read_texture
from .errors import SceneError
from .kernels import tags as T

_WRAP = {"repeat": T.WRAP_REPEAT, "clamp": T.WRAP_CLAMP, "mirror": T.WRAP_MIRROR}
_MAX_TEXELS = (1 << 31) - 1


class TextureTable:
    """Collects the textures of one scene; ``arrays()`` gives the kernel tables."""

    def __init__(self, base_dir: Optional[Path] = None):
        self.base_dir = base_dir
        self._info: list = []
        self._params: list = []
        self._chunks: list = []
        self._size = 0
        self._images: dict = {}   # (path, colorspace) -> (offset, width, height, mean rgb)
        self._means: list = []    # mean linear colour of each texture row (images only)

    @property
    def has_images(self) -> bool:
        """True when some texture looks up texels (meshes then need their uvs)."""
        return any(row[T.TI_KIND] == T.TEX_IMAGE for row in self._info)

    def resolve(self, file) -> Path:
        path = Path(file)
        if not path.is_absolute():
            path = (self.base_dir or Path.cwd()) / path
        return path

    def _load(self, file, colorspace: str, where: str):
        path = self.resolve(file)
        key = (str(path), colorspace)
        if key not in self._images:
            try:
                rgb = read_texture(path, colorspace)
            except ImageError as err:
                raise SceneError(f"{where}: {err}") from None
            if self._size + rgb.size > _MAX_TEXELS:
                raise SceneError(f"{where}: the scene's textures exceed {_MAX_TEXELS} texel values in all")
            self._images[key] = (self._size, rgb.shape[1], rgb.shape[0], rgb.reshape(-1, 3).mean(axis=0))
            self._chunks.append(rgb.reshape(-1))
            self._size += rgb.size
        return self._images[key]

    def image(self, file, where: str, *, wrap="repeat", scale=(1.0, 1.0), offset=(0.0, 0.0),
              colorspace: str = "srgb") -> int:
        """Add an image texture; ``where`` names the field of ``file`` in errors. Returns its row."""
        start, width, height, mean = self._load(file, colorspace, where)
        info = np.zeros(T.TI_COLUMNS, dtype=np.int64)
        info[T.TI_KIND] = T.TEX_IMAGE
        info[T.TI_OFFSET], info[T.TI_WIDTH], info[T.TI_HEIGHT] = start, width, height
        info[T.TI_WRAP] = wrap if isinstance(wrap, (int, np.integer)) else _WRAP[wrap]
        params = np.zeros(T.TP_COLUMNS, dtype=np.float64)
        params[T.TP_SCALE:T.TP_SCALE + 2] = scale
        params[T.TP_OFFSET:T.TP_OFFSET + 2] = offset
        return self._add(info, params, mean)

    def noise(self, spec) -> int:
        """Add a procedural noise texture (a NoiseTexture model). Returns its row."""
        info = np.zeros(T.TI_COLUMNS, dtype=np.int64)
        info[T.TI_KIND] = T.TEX_NOISE_VALUE if spec.basis == "value" else T.TEX_NOISE_GRADIENT
        info[T.TI_OCTAVES] = spec.octaves
        seed = int(spec.seed)
        # two's-complement 32-bit halves (the kernel masks them back to unsigned)
        info[T.TI_SEED_LO] = np.uint32(seed & 0xFFFFFFFF).astype(np.int32)
        info[T.TI_SEED_HI] = np.uint32((seed >> 32) & 0xFFFFFFFF).astype(np.int32)
        params = np.zeros(T.TP_COLUMNS, dtype=np.float64)
        params[T.TP_SCALE] = spec.scale
        params[T.TP_LACUNARITY] = spec.lacunarity
        params[T.TP_GAIN] = spec.gain
        mean = 0.5 * (np.asarray(spec.color_a) + np.asarray(spec.color_b))
        return self._add(info, params, mean)

    def _add(self, info, params, mean) -> int:
        self._info.append(info)
        self._params.append(params)
        self._means.append(np.asarray(mean, dtype=np.float64))
        return len(self._info) - 1

    def mean_color(self, row: int) -> np.ndarray:
        """Mean linear colour of texture `row` (all texels of an image; for light power)."""
        return self._means[row]

    def arrays(self):
        """(tex_info (N, 8) int32, tex_params (N, 8) float32, texels (K,) float32), C-contiguous."""
        info = np.asarray(self._info, dtype=np.int64).reshape(-1, T.TI_COLUMNS).astype(np.int32)
        params = np.asarray(self._params, dtype=np.float64).reshape(-1, T.TP_COLUMNS).astype(np.float32)
        texels = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)
        return (np.ascontiguousarray(info), np.ascontiguousarray(params),
                np.ascontiguousarray(texels, dtype=np.float32))


def diffuse_texture_columns(row: np.ndarray, mat, textures: TextureTable, where: str) -> None:
    """Fill the colour and texture columns of the material row of a Diffuse model: plain
    albedo, checker (object space), image (uv) or noise (object space). ``where`` is the
    material's field path (errors name ``where.texture.file`` ...)."""
    row[T.MAT_COLOR:T.MAT_COLOR + 3] = mat.albedo_color()
    spec, field = mat.texture_spec()
    if spec is None:
        return
    kind = getattr(spec, "type", "checker")
    if kind == "checker":
        row[T.MAT_COLOR:T.MAT_COLOR + 3] = spec.color_a
        row[T.MAT_COLOR_B:T.MAT_COLOR_B + 3] = spec.color_b
        row[T.MAT_CHECKER_SCALE] = spec.scale
    elif kind == "noise":
        row[T.MAT_COLOR:T.MAT_COLOR + 3] = spec.color_a
        row[T.MAT_COLOR_B:T.MAT_COLOR_B + 3] = spec.color_b
        row[T.MAT_TEXTURE] = textures.noise(spec)
    else:
        row[T.MAT_TEXTURE] = textures.image(
            spec.file, f"{where}.{field}.file", wrap=spec.wrap, scale=spec.scale, offset=spec.offset,
            colorspace=spec.colorspace,
        )


def mtl_material_rows(mesh, fallback: np.ndarray, textures: TextureTable, where: str) -> list:
    """One material row per entry of ``mesh.material_names`` (the ids of ``face_materials``):
    a diffuse row from the MTL record (``map_Kd`` texture, sRGB and repeating, else the ``Kd``
    colour clipped to [0, 1]), or a copy of ``fallback`` (the object's material) for names the
    MTL files do not define. ``where`` names the mesh's ``file`` field in errors."""
    rows = []
    for name in mesh.material_names:
        record = mesh.materials.get(name)
        if record is None:
            rows.append(fallback.copy())
            continue
        row = np.zeros(T.MAT_COLUMNS, dtype=np.float32)
        row[T.MAT_KIND] = T.DIFFUSE
        row[T.MAT_TEXTURE] = -1.0
        row[T.MAT_COLOR:T.MAT_COLOR + 3] = np.clip(np.asarray(record.get("Kd", (0.8, 0.8, 0.8))), 0.0, 1.0)
        if record.get("map_Kd"):
            row[T.MAT_TEXTURE] = textures.image(record["map_Kd"], f"{where} (MTL material '{name}' map_Kd)")
        rows.append(row)
    return rows


def mesh_uses_mtl(obj, mesh) -> bool:
    """Whether the object's faces take the OBJ file's MTL materials (see Mesh.use_mtl)."""
    if not getattr(mesh, "materials", None):
        return False
    if not any(name in mesh.materials for name in mesh.material_names):
        return False
    if obj.use_mtl is None:
        return "material" not in obj.model_fields_set
    return bool(obj.use_mtl)


def triangle_uvs(mesh) -> np.ndarray:
    """(m, 6) float32 uv of the three corners of each face; zeros when the mesh has no uvs."""
    if mesh.uvs is None:
        return np.zeros((mesh.faces.shape[0], 6), dtype=np.float32)
    return np.ascontiguousarray(mesh.uvs[mesh.faces].reshape(-1, 6), dtype=np.float32)


def environment_image_columns(env: np.ndarray, light, textures: TextureTable, where: str) -> np.ndarray:
    """Set the image columns of the ``env`` table for an Environment with ``image`` (kind, texture,
    orthonormal frame front / right / up; ENV_COLOR stays the tint). Returns the image's mean
    linear colour (for the light's power estimate)."""
    row = textures.image(light.image, where, wrap=T.WRAP_ENVIRONMENT, colorspace=light.colorspace)
    up = np.asarray(light.up, dtype=np.float64)
    up /= np.linalg.norm(up)
    front = np.asarray(light.front, dtype=np.float64)
    front = front - (front @ up) * up
    front /= np.linalg.norm(front)
    angle = np.radians(light.rotation)
    front = front * np.cos(angle) + np.cross(up, front) * np.sin(angle)
    right = np.cross(front, up)
    env[T.ENV_KIND] = T.ENV_IMAGE
    env[T.ENV_TEXTURE] = row
    env[T.ENV_FRONT:T.ENV_FRONT + 3] = front
    env[T.ENV_RIGHT:T.ENV_RIGHT + 3] = right
    env[T.ENV_UP:T.ENV_UP + 3] = up
    return textures.mean_color(row)
