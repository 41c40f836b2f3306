"""Textures at a surface hit: uv parameterizations, image lookups, procedural noise. Target-free.

Texture coordinates (u to the right of the image, v up it: v = 0 is the image's bottom row, as
in OBJ files), per primitive, from the object-space hit point (x, y, z) of the canonical shape:

- triangles: the mesh's per-vertex uvs interpolated with the hit's barycentrics; (0, 0) when
  the mesh has none.
- sphere: u = atan2(y, x) / 2 pi in [0, 1), v = 1/2 + asin(z) / pi (poles on the object z axis,
  as the procedural ``uv_sphere`` and ``icosphere``).
- quad and disk: u = (x + 1) / 2, v = (y + 1) / 2: the quad is [0, 1]^2 (unmirrored seen from its
  front, +z), the disk is inscribed in it.
- box: every face is [0, 1]^2, upright and unmirrored seen from outside: on the +-x and +-y faces
  v runs up z; on the +-z faces v runs along +y. (u along +y on +x, -y on -x, -x on +y, +x on -y,
  +x on +z, -x on -z.)
- cylinder: side u = atan2(y, x) / 2 pi, v = (z + 1) / 2; top cap (x + 1) / 2, (y + 1) / 2;
  bottom cap (x + 1) / 2, (1 - y) / 2 (as the procedural ``cylinder``'s caps).

Image lookup: uv' = uv * scale + offset, then texel coordinates x = u' W - 1/2,
y = (1 - v') H - 1/2 (texel (i, j) of row j from the top has its centre at integer + 1/2), and
the bilinear blend of the four nearest texels, each index wrapped by the texture's mode
(repeat, clamp to the edge, mirrored repeat; environment maps repeat in u and clamp in v). No
mip-mapping: minified textures alias (the camera samples of the rgb layer average it out).

Procedural noise (``TEX_NOISE_*``): fBm over octaves of value noise (hashed lattice values in
[0, 1), trilinear with quintic fade) or gradient noise (Perlin's improved noise, 12 edge
gradients, mapped from [-1, 1] to [0, 1]) at the object-space hit point, blended between the
material's two colours. The lattice hash is SplitMix64 of (seed, octave, cell), so the pattern
is the same on every target.
"""
import math

import numpy as np

from .._jit import kernel
from .rng import MASK32, U64, mix64
from .tags import (
    BOX,
    CYLINDER,
    ENV_COLOR,
    ENV_FRONT,
    ENV_RIGHT,
    ENV_TEXTURE,
    ENV_UP,
    MAT_COLOR,
    MAT_COLOR_B,
    OBJ_MATERIAL,
    PRIM_INDEX,
    PRIM_KIND,
    SPHERE,
    TEX_IMAGE,
    TEX_NOISE_VALUE,
    TI_HEIGHT,
    TI_KIND,
    TI_OCTAVES,
    TI_OFFSET,
    TI_SEED_HI,
    TI_SEED_LO,
    TI_WIDTH,
    TI_WRAP,
    TP_GAIN,
    TP_LACUNARITY,
    TP_OFFSET,
    TP_SCALE,
    TRIANGLE,
    WRAP_CLAMP,
    WRAP_ENVIRONMENT,
    WRAP_MIRROR,
    WRAP_REPEAT,
    XF_TO_OBJECT,
)
from .vecmath import F32, HALF, INV_PI, INV_TWO_PI, ONE, ZERO, dot, mul, normalize, row3, vec_at, xform_point

_MASK32 = 0xFFFFFFFF
_GOLDEN = U64(0x9E3779B97F4A7C15)
_PX = U64(0xD6E8FEB86659FD93)
_PY = U64(0xA0761D6478BD642F)
_PZ = U64(0xE7037ED1A0B428DB)
_S40 = U64(40)
_S60 = U64(60)
_INV_2_24 = F32(1.0 / (1 << 24))
_SIX = F32(6.0)
_TEN = F32(10.0)
_FIFTEEN = F32(15.0)


# ----------------------------------------------------------------------------- uv
@kernel
def _azimuth(y, x):
    """atan2(y, x) / 2 pi in [0, 1]."""
    s = math.atan2(y, x) * INV_TWO_PI
    if s < ZERO:
        s += ONE
    return s


@kernel
def surface_uv(scene, prim, p, u, v):
    """Texture coordinates (see the module docstring) of the hit at world point p of primitive
    `prim`, whose intersector returned (u, v): barycentrics (triangles) or the face / part index."""
    kind = scene.prim_info[prim, PRIM_KIND]
    index = scene.prim_info[prim, PRIM_INDEX]
    if kind == TRIANGLE:
        uvs = scene.tri_uvs
        if index >= uvs.shape[0]:
            return ZERO, ZERO
        w = ONE - u - v
        return (w * uvs[index, 0] + u * uvs[index, 2] + v * uvs[index, 4],
                w * uvs[index, 1] + u * uvs[index, 3] + v * uvs[index, 5])
    q = xform_point(scene.shape_xform, np.int64(index), XF_TO_OBJECT, p)
    x = q[0]
    y = q[1]
    z = q[2]
    if kind == SPHERE:
        n = normalize(q)
        return _azimuth(n[1], n[0]), HALF + math.asin(max(-ONE, min(ONE, n[2]))) * INV_PI
    if kind == BOX:
        face = int(u)
        axis = face // 2
        sign = ONE if face % 2 == 1 else -ONE
        if axis == 0:
            return HALF + HALF * sign * y, HALF + HALF * z
        if axis == 1:
            return HALF - HALF * sign * x, HALF + HALF * z
        return HALF + HALF * sign * x, HALF + HALF * y
    if kind == CYLINDER:
        part = int(u)
        if part == 1:
            return HALF + HALF * x, HALF + HALF * y
        if part == 2:
            return HALF + HALF * x, HALF - HALF * y
        return _azimuth(y, x), HALF + HALF * z
    return HALF + HALF * x, HALF + HALF * y  # quad, disk


# ----------------------------------------------------------------------------- images
@kernel
def _wrap(i, n, mode):
    """Texel index i wrapped into [0, n)."""
    if mode == WRAP_CLAMP:
        return min(max(i, 0), n - 1)
    if mode == WRAP_MIRROR:
        period = 2 * n
        k = i % period
        if k < 0:
            k += period
        if k >= n:
            k = period - 1 - k
        return k
    k = i % n
    if k < 0:
        k += n
    return k


@kernel
def _texel(texels, base, width, x, y):
    k = base + 3 * (y * width + x)
    return (texels[k], texels[k + 1], texels[k + 2])


@kernel
def image_lookup(scene, tex, s, t):
    """Bilinear lookup of image texture `tex` at texture coordinates (s, t) (no uv transform)."""
    base = scene.tex_info[tex, TI_OFFSET]
    width = scene.tex_info[tex, TI_WIDTH]
    height = scene.tex_info[tex, TI_HEIGHT]
    mode = scene.tex_info[tex, TI_WRAP]
    mode_x = mode
    mode_y = mode
    if mode == WRAP_ENVIRONMENT:
        mode_x = WRAP_REPEAT
        mode_y = WRAP_CLAMP
    x = s * F32(width) - HALF
    y = (ONE - t) * F32(height) - HALF
    if not (abs(x) < F32(1e9) and abs(y) < F32(1e9)):  # nan, inf or absurd uv
        x = ZERO
        y = ZERO
    ix = int(math.floor(x))
    iy = int(math.floor(y))
    fx = x - F32(ix)
    fy = y - F32(iy)
    x0 = _wrap(ix, width, mode_x)
    x1 = _wrap(ix + 1, width, mode_x)
    y0 = _wrap(iy, height, mode_y)
    y1 = _wrap(iy + 1, height, mode_y)
    texels = scene.texels
    c00 = _texel(texels, base, width, x0, y0)
    c10 = _texel(texels, base, width, x1, y0)
    c01 = _texel(texels, base, width, x0, y1)
    c11 = _texel(texels, base, width, x1, y1)
    gx = ONE - fx
    gy = ONE - fy
    return (
        (c00[0] * gx + c10[0] * fx) * gy + (c01[0] * gx + c11[0] * fx) * fy,
        (c00[1] * gx + c10[1] * fx) * gy + (c01[1] * gx + c11[1] * fx) * fy,
        (c00[2] * gx + c10[2] * fx) * gy + (c01[2] * gx + c11[2] * fx) * fy,
    )


@kernel
def environment_uv(env, d):
    """Equirectangular coordinates of world direction d: the image centre looks along
    env[ENV_FRONT], u grows towards env[ENV_RIGHT] (u = 3/4 there), v = 1 is env[ENV_UP]."""
    x = dot(d, vec_at(env, ENV_RIGHT))
    y = dot(d, vec_at(env, ENV_UP))
    z = dot(d, vec_at(env, ENV_FRONT))
    return HALF + math.atan2(x, z) * INV_TWO_PI, HALF + math.asin(max(-ONE, min(ONE, y))) * INV_PI


@kernel
def environment_image(scene, d):
    """Radiance of an image environment along unit direction d (tint times the texel)."""
    env = scene.env
    s, t = environment_uv(env, d)
    return mul(vec_at(env, ENV_COLOR), image_lookup(scene, int(env[ENV_TEXTURE]), s, t))


# ----------------------------------------------------------------------------- noise
@kernel
def _fade(t):
    return t * t * t * (t * (t * _SIX - _FIFTEEN) + _TEN)


@kernel
def _lattice(key, ix, iy, iz):
    """64-bit hash of lattice cell (ix, iy, iz) under `key`."""
    h = key ^ (U64(ix & _MASK32) * _PX) ^ (U64(iy & _MASK32) * _PY) ^ (U64(iz & _MASK32) * _PZ)
    return mix64(h)


@kernel
def _corner(key, ix, iy, iz, fx, fy, fz, gradient):
    """Value (in [0, 1)) or gradient dot offset (Perlin's 12 edge gradients) at one corner."""
    h = _lattice(key, ix, iy, iz)
    if not gradient:
        return F32(h >> _S40) * _INV_2_24
    g = int(h >> _S60)
    a = fx if g < 8 else fy
    b = fy if g < 4 else (fx if (g == 12 or g == 14) else fz)
    if (g & 1) != 0:
        a = -a
    if (g & 2) != 0:
        b = -b
    return a + b


@kernel
def _noise(key, q, gradient):
    """One octave of value noise in [0, 1) or gradient noise in about [-1, 1] at point q."""
    ix = int(math.floor(q[0]))
    iy = int(math.floor(q[1]))
    iz = int(math.floor(q[2]))
    fx = q[0] - F32(ix)
    fy = q[1] - F32(iy)
    fz = q[2] - F32(iz)
    sx = _fade(fx)
    sy = _fade(fy)
    sz = _fade(fz)
    total = ZERO
    for corner in range(8):
        cx = corner & 1
        cy = (corner >> 1) & 1
        cz = (corner >> 2) & 1
        wx = sx if cx == 1 else ONE - sx
        wy = sy if cy == 1 else ONE - sy
        wz = sz if cz == 1 else ONE - sz
        c = _corner(key, ix + cx, iy + cy, iz + cz, fx - F32(cx), fy - F32(cy), fz - F32(cz), gradient)
        total += wx * wy * wz * c
    return total


@kernel
def noise_fbm(scene, tex, q):
    """fBm of texture `tex` at object-space point q, in [0, 1]."""
    info = scene.tex_info
    gradient = info[tex, TI_KIND] != TEX_NOISE_VALUE
    octaves = info[tex, TI_OCTAVES]
    # int32 halves -> uint64 (sign-extended by the cast, then masked: the same on every target)
    seed = (U64(info[tex, TI_SEED_LO]) & MASK32) | ((U64(info[tex, TI_SEED_HI]) & MASK32) << U64(32))
    key = mix64(seed + _GOLDEN)
    freq = scene.tex_params[tex, TP_SCALE]
    lacunarity = scene.tex_params[tex, TP_LACUNARITY]
    gain = scene.tex_params[tex, TP_GAIN]
    amp = ONE
    total = ZERO
    norm = ZERO
    for octave in range(octaves):
        okey = mix64(key ^ (U64(octave + 1) * _GOLDEN))
        n = _noise(okey, (q[0] * freq, q[1] * freq, q[2] * freq), gradient)
        total += amp * n
        norm += amp
        amp *= gain
        freq *= lacunarity
    t = total / norm
    if gradient:
        t = HALF + HALF * t
    return max(ZERO, min(ONE, t))


# ----------------------------------------------------------------------------- materials
@kernel
def texture_color(scene, tex, m, obj, p, prim, u, v):
    """Colour of texture `tex` (material m) at the hit of primitive `prim` at world point p of
    object obj; (u, v) as returned by the intersector."""
    if scene.tex_info[tex, TI_KIND] == TEX_IMAGE:
        s, t = surface_uv(scene, prim, p, u, v)
        s = s * scene.tex_params[tex, TP_SCALE] + scene.tex_params[tex, TP_OFFSET]
        t = t * scene.tex_params[tex, TP_SCALE + 1] + scene.tex_params[tex, TP_OFFSET + 1]
        return image_lookup(scene, tex, s, t)
    q = xform_point(scene.obj_xform, np.int64(obj), 0, p)
    k = noise_fbm(scene, tex, q)
    a = row3(scene.mat_params, m, MAT_COLOR)
    b = row3(scene.mat_params, m, MAT_COLOR_B)
    j = ONE - k
    return (a[0] * j + b[0] * k, a[1] * j + b[1] * k, a[2] * j + b[2] * k)


@kernel
def hit_material(scene, prim, obj):
    """Material row at a hit: for the triangles of an object that uses its OBJ's MTL materials
    (``obj_mtl[obj] >= 0``) the row of the face's ``usemtl`` slot, else the object's material."""
    base = scene.obj_mtl[obj]
    if base >= 0 and scene.prim_info[prim, PRIM_KIND] == TRIANGLE:
        index = scene.prim_info[prim, PRIM_INDEX]
        if index < scene.tri_material.shape[0]:
            return base + scene.tri_material[index]
    return scene.obj_info[obj, OBJ_MATERIAL]
