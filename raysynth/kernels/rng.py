"""Counter-based random numbers: every number is a hash of (seed, pixel, sample, dimension).

No generator state is carried between pixels or threads, so an image is the same bytes whatever
the thread count, tile order or target. Integer maths runs in uint64 (which wraps the same on every
target); 32-bit values are masked explicitly.

Dimensions used by the path tracer for one camera sample:
  0, 1  pixel position (correlated multi-jittered over the pixel's samples)
  2, 3  lens position
  DIM_BOUNCE + k * DIMS_PER_BOUNCE + j  for bounce k (light choice, light position, BSDF, RR)

The pixel position, and on the first STRATIFIED_BOUNCES bounces the light choice, light position,
BSDF lobe and BSDF direction, are stratified over the pixel's samples ("padded" stratification:
each dimension, or pair, has its own random permutation of strata, keyed by the pixel pattern and
the dimension). Deeper dimensions are independent uniforms.
"""
import math

import numpy as np

from .._jit import kernel
from .vecmath import F32

U64 = np.uint64
MASK32 = U64(0xFFFFFFFF)
_M1 = U64(0xBF58476D1CE4E5B9)
_M2 = U64(0x94D049BB133111EB)
_GOLDEN = U64(0x9E3779B97F4A7C15)
_S30 = U64(30)
_S27 = U64(27)
_S31 = U64(31)
_S40 = U64(40)
_INV_2_24 = F32(1.0 / (1 << 24))

DIM_PIXEL = 0
DIM_LENS = 2
DIM_BOUNCE = 4
DIMS_PER_BOUNCE = 8   # light pick, light uv (2), bsdf lobe, bsdf uv (2), roulette, spare
STRATIFIED_BOUNCES = 2


@kernel
def mix64(x):
    """SplitMix64 finaliser: a bijective 64-bit avalanche hash."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


@kernel
def sample_key(seed, pixel, sample):
    """Key of one camera sample: a hash of (seed, pixel index, sample index)."""
    h = mix64(U64(seed) + _GOLDEN)
    h = mix64(h ^ (U64(pixel) * _GOLDEN))
    return mix64(h ^ (U64(sample) + _GOLDEN * U64(3)))


@kernel
def uniform(key, dim):
    """Uniform float32 in [0, 1) for dimension `dim` of the sample `key` (24 random bits)."""
    h = mix64(key ^ (U64(dim) * _GOLDEN))
    return F32(h >> _S40) * _INV_2_24


@kernel
def _mul32(x, c):
    return (x * c) & MASK32


@kernel
def permute(i, n, p):
    """Element i of a random permutation of [0, n) chosen by the 32-bit pattern p.

    Kensler, "Correlated Multi-Jittered Sampling" (2013), listing 3: a hash that is a bijection
    on the low bits selected by w, walked until the value falls inside [0, n).
    """
    w = U64(n - 1)
    w |= w >> U64(1)
    w |= w >> U64(2)
    w |= w >> U64(4)
    w |= w >> U64(8)
    w |= w >> U64(16)
    x = U64(i)
    while True:
        x ^= p
        x = _mul32(x, U64(0xE170893D))
        x ^= p >> U64(16)
        x ^= (x & w) >> U64(4)
        x ^= p >> U64(8)
        x = _mul32(x, U64(0x0929EB3F))
        x ^= p >> U64(23)
        x ^= (x & w) >> U64(1)
        x = _mul32(x, U64(1) | (p >> U64(27)))
        x = _mul32(x, U64(0x6935FA69))
        x ^= (x & w) >> U64(11)
        x = _mul32(x, U64(0x74DCB303))
        x ^= (x & w) >> U64(2)
        x = _mul32(x, U64(0x9E501CC3))
        x ^= (x & w) >> U64(2)
        x = _mul32(x, U64(0xC860A3DF))
        x &= w
        x ^= x >> U64(5)
        if x < U64(n):
            break
    return np.int64((x + p) % U64(n))


@kernel
def dimension_key(pattern, dim):
    """The pixel pattern of one sampling dimension: all samples of a pixel share it, so their
    values in that dimension can be stratified against each other."""
    return mix64(pattern ^ (U64(dim) * _GOLDEN))


@kernel
def stratified_1d(s, n, key):
    """Sample s of n stratified values in [0, 1): one per stratum [k/n, (k+1)/n), the stratum
    of sample s chosen by a random permutation keyed by ``key``, jittered inside it."""
    k = permute(s, n, key & MASK32)
    return min((F32(k) + uniform(key, s + 3001)) / F32(n), F32(0.99999994))


@kernel
def cmj_2d(s, n, key):
    """Sample s of n correlated multi-jittered 2-D points in [0, 1)^2 (Kensler 2013).

    For any n, the n points of one pixel fill one cell each of an m x ceil(n/m) grid
    (m = floor(sqrt(n))), y is stratified in n strata, and x in m * ceil(n/m) strata (n of them
    when n is a square or m * ceil(n/m) = n). ``key`` (the pixel's pattern) decorrelates pixels.
    """
    p = key & MASK32
    # floor(sqrt(n)) from a float32 estimate, corrected to the exact integer root (no float64
    # on the GPU); math.sqrt because np.sqrt is no CUDA device function
    m = np.int64(math.sqrt(F32(n)))
    if m * m > n:
        m -= 1
    if (m + 1) * (m + 1) <= n:
        m += 1
    rows = (n + m - 1) // m
    s = permute(s, n, (p * U64(0x51633E2D)) & MASK32)
    sx = permute(s % m, m, (p * U64(0x68BC21EB)) & MASK32)
    sy = permute(s // m, rows, (p * U64(0x02E5BE93)) & MASK32)
    jx = uniform(key, 2 * s + 1001)
    jy = uniform(key, 2 * s + 1002)
    x = (F32(sx) + (F32(sy) + jx) / F32(rows)) / F32(m)
    y = (F32(s) + jy) / F32(n)
    # guard against float32 rounding to exactly 1
    return min(x, F32(0.99999994)), min(y, F32(0.99999994))
