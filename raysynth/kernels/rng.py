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
the dimension). Deeper dimensions are independent uniforms. ``fill_strata`` computes a pixel's
stratified values for a chunk of its camera samples at once (the same values, in SIMD loops).
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
_ONE_MINUS = F32(0.99999994)   # the largest float32 below 1

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
def _permute_round(x, w, p):
    """One round of Kensler's permutation hash: a bijection on the bits selected by the mask w
    (w + 1 a power of two), chosen by the 32-bit pattern p."""
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
    return x


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
        x = _permute_round(x, w, p)
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
    return _stratum_value(permute(s, n, key & MASK32), s, n, key)


@kernel
def _stratum_value(stratum, s, n, key):
    """Sample s's value in its stratum [stratum/n, (stratum+1)/n), jittered by its key."""
    return min((F32(stratum) + uniform(key, s + 3001)) / F32(n), _ONE_MINUS)


@kernel
def _grid_columns(n):
    """floor(sqrt(n)) from a float32 estimate, corrected to the exact integer root (no float64
    on the GPU); math.sqrt because np.sqrt is no CUDA device function."""
    m = np.int64(math.sqrt(F32(n)))
    if m * m > n:
        m -= 1
    if (m + 1) * (m + 1) <= n:
        m += 1
    return m


@kernel
def cmj_2d(s, n, key):
    """Sample s of n correlated multi-jittered 2-D points in [0, 1)^2 (Kensler 2013).

    For any n, the n points of one pixel fill one cell each of an m x ceil(n/m) grid
    (m = floor(sqrt(n))), y is stratified in n strata, and x in m * ceil(n/m) strata (n of them
    when n is a square or m * ceil(n/m) = n). ``key`` (the pixel's pattern) decorrelates pixels.
    """
    m = _grid_columns(n)
    rows = (n + m - 1) // m
    p_s, p_x, p_y = _cmj_patterns(key)
    s = permute(s, n, p_s)
    return _cmj_point(s, permute(s % m, m, p_x), permute(s // m, rows, p_y), n, m, rows, key)


@kernel
def _cmj_patterns(key):
    """The three 32-bit patterns of a CMJ set: sample order, x within a row, y within a column."""
    p = key & MASK32
    return (p * U64(0x51633E2D)) & MASK32, (p * U64(0x68BC21EB)) & MASK32, (p * U64(0x02E5BE93)) & MASK32


@kernel
def _cmj_point(s, sx, sy, n, m, rows, key):
    """The CMJ point of permuted sample s in grid cell (sx, sy) of m columns and rows rows,
    jittered by its key; float32 rounding to exactly 1 is guarded against."""
    jx = uniform(key, 2 * s + 1001)
    jy = uniform(key, 2 * s + 1002)
    x = (F32(sx) + (F32(sy) + jx) / F32(rows)) / F32(m)
    y = (F32(s) + jy) / F32(n)
    return min(x, _ONE_MINUS), min(y, _ONE_MINUS)


# ---- a pixel's stratified values, a chunk of camera samples at a time
#: Camera samples whose stratified values ``fill_strata`` computes together.
STRATA_CHUNK = 16
#: Rows of a strata table: the pixel position (x, y), then per stratified bounce the light
#: pick, light position (u, v), BSDF lobe and BSDF direction (u, v).
STRATA_PIXEL = 0
STRATA_BOUNCE = 2
STRATA_PER_BOUNCE = 6
STRATA_ROWS = STRATA_BOUNCE + STRATIFIED_BOUNCES * STRATA_PER_BOUNCE


@kernel
def fill_strata(strata, first, count, n, pattern, bounces):
    """Stratified values of camera samples first .. first + count - 1 of a pixel's n into
    ``strata`` ((STRATA_ROWS, STRATA_CHUNK) float32; column k is sample first + k):
    row STRATA_PIXEL, +1: ``cmj_2d(s, n, pattern)``; then for bounce b < ``bounces`` (at most
    STRATIFIED_BOUNCES: a path of max depth d samples d - 1 bounces; later rows are left as they are),
    from row STRATA_BOUNCE + b * STRATA_PER_BOUNCE: ``stratified_1d`` (light pick), ``cmj_2d``
    (light position, two rows), ``stratified_1d`` (lobe), ``cmj_2d`` (direction, two rows), each
    keyed by ``dimension_key(pattern, DIM_BOUNCE + b * DIMS_PER_BOUNCE + j)``, j = 0, 1, 3, 4.

    The same values as those calls made sample by sample, but computed row by row over the
    chunk: when n (and floor(sqrt(n))) is a power of two, as spp usually is, a permutation
    needs no cycle walking and no division, and the loops compile to SIMD code (the
    permutations were ~15 % of a path-traced render when computed one sample at a time)."""
    _fill_cmj_2d(strata[STRATA_PIXEL], strata[STRATA_PIXEL + 1], first, count, n, pattern)
    for b in range(min(bounces, STRATIFIED_BOUNCES)):
        dim = DIM_BOUNCE + b * DIMS_PER_BOUNCE
        row = STRATA_BOUNCE + b * STRATA_PER_BOUNCE
        _fill_stratified_1d(strata[row], first, count, n, dimension_key(pattern, dim))
        _fill_cmj_2d(strata[row + 1], strata[row + 2], first, count, n, dimension_key(pattern, dim + 1))
        _fill_stratified_1d(strata[row + 3], first, count, n, dimension_key(pattern, dim + 3))
        _fill_cmj_2d(strata[row + 4], strata[row + 5], first, count, n, dimension_key(pattern, dim + 4))


@kernel
def _is_power_of_two(n):
    return n > 0 and n & (n - 1) == 0


@kernel
def _permute_power_of_two(i, n, p):
    """``permute(i, n, p)`` for a power-of-two n: the walk ends after one round (the hash maps
    [0, n) onto itself) and the remainder is a mask. Straight-line code, so loops over i
    vectorize."""
    w = U64(n - 1)
    return np.int64((_permute_round(U64(i), w, p) + p) & w)


@kernel
def _fill_stratified_1d(out, first, count, n, key):
    """out[k] = stratified_1d(first + k, n, key) for k < count (out: (STRATA_CHUNK,) float32)."""
    if _is_power_of_two(n):
        p = key & MASK32
        for k in range(count):
            s = first + k
            out[k] = _stratum_value(_permute_power_of_two(s, n, p), s, n, key)
    else:
        for k in range(count):
            out[k] = stratified_1d(first + k, n, key)


@kernel
def _fill_cmj_2d(out_x, out_y, first, count, n, key):
    """(out_x[k], out_y[k]) = cmj_2d(first + k, n, key) for k < count."""
    m = _grid_columns(n)
    if _is_power_of_two(n) and _is_power_of_two(m):
        rows = n // m
        shift = 0
        while (1 << shift) < m:
            shift += 1
        p_s, p_x, p_y = _cmj_patterns(key)
        for k in range(count):
            s = _permute_power_of_two(first + k, n, p_s)
            out_x[k], out_y[k] = _cmj_point(s, _permute_power_of_two(s & (m - 1), m, p_x),
                                            _permute_power_of_two(s >> shift, rows, p_y), n, m, rows, key)
    else:
        for k in range(count):
            out_x[k], out_y[k] = cmj_2d(first + k, n, key)
