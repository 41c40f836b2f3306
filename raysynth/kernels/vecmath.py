"""3-vector maths on float32 tuples, target-free.

Vectors are ``(x, y, z)`` tuples of float32. Every literal is a float32 constant from this
module: a bare Python float (or int) in an expression turns float32 into float64, which is slow
on GPUs and changes results between targets.
"""
import math

import numpy as np

from .._jit import kernel

F32 = np.float32
ZERO = F32(0.0)
ONE = F32(1.0)
TWO = F32(2.0)
HALF = F32(0.5)
PI = F32(math.pi)
TWO_PI = F32(2.0 * math.pi)
INV_PI = F32(1.0 / math.pi)
INV_TWO_PI = F32(0.5 / math.pi)
INV_FOUR_PI = F32(0.25 / math.pi)
BIG = F32(3.0e38)
TINY = F32(1.0e-20)


@kernel
def vec(x, y, z):
    """Tuple of three float32."""
    return (F32(x), F32(y), F32(z))


@kernel
def add(a, b):
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


@kernel
def sub(a, b):
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


@kernel
def mul(a, b):
    """Component-wise product."""
    return (a[0] * b[0], a[1] * b[1], a[2] * b[2])


@kernel
def scale(a, s):
    return (a[0] * s, a[1] * s, a[2] * s)


@kernel
def madd(a, b, s):
    """a + b * s."""
    return (a[0] + b[0] * s, a[1] + b[1] * s, a[2] + b[2] * s)


@kernel
def neg(a):
    return (-a[0], -a[1], -a[2])


@kernel
def dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


@kernel
def cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


@kernel
def length(a):
    return math.sqrt(dot(a, a))


@kernel
def normalize(a):
    n = math.sqrt(dot(a, a))
    if n > ZERO:
        return scale(a, ONE / n)
    return a


@kernel
def max_component(a):
    return max(a[0], max(a[1], a[2]))


@kernel
def max_abs_component(a):
    return max(abs(a[0]), max(abs(a[1]), abs(a[2])))


@kernel
def luminance(c):
    """Rec. 709 luminance of a linear RGB colour."""
    return F32(0.2126) * c[0] + F32(0.7152) * c[1] + F32(0.0722) * c[2]


@kernel
def row3(table, row, col):
    """table[row, col:col+3] as a float32 tuple."""
    return (table[row, col], table[row, col + 1], table[row, col + 2])


@kernel
def vec_at(array, col):
    """array[col:col+3] of a 1-D array as a tuple."""
    return (array[col], array[col + 1], array[col + 2])


@kernel
def xform_point(m, row, col, p):
    """Affine 3x4 matrix stored row-major at table[row, col:col+12], applied to point p."""
    return (
        m[row, col + 0] * p[0] + m[row, col + 1] * p[1] + m[row, col + 2] * p[2] + m[row, col + 3],
        m[row, col + 4] * p[0] + m[row, col + 5] * p[1] + m[row, col + 6] * p[2] + m[row, col + 7],
        m[row, col + 8] * p[0] + m[row, col + 9] * p[1] + m[row, col + 10] * p[2] + m[row, col + 11],
    )


@kernel
def xform_vector(m, row, col, v):
    """Linear part of the 3x4 matrix at table[row, col:col+12], applied to vector v."""
    return (
        m[row, col + 0] * v[0] + m[row, col + 1] * v[1] + m[row, col + 2] * v[2],
        m[row, col + 4] * v[0] + m[row, col + 5] * v[1] + m[row, col + 6] * v[2],
        m[row, col + 8] * v[0] + m[row, col + 9] * v[1] + m[row, col + 10] * v[2],
    )


@kernel
def xform_normal(m, row, col, n):
    """Transpose of the linear part at table[row, col:col+12] applied to n.

    With the world->object matrix, this maps an object-space normal to world space (the
    inverse transpose of object->world), unnormalized.
    """
    return (
        m[row, col + 0] * n[0] + m[row, col + 4] * n[1] + m[row, col + 8] * n[2],
        m[row, col + 1] * n[0] + m[row, col + 5] * n[1] + m[row, col + 9] * n[2],
        m[row, col + 2] * n[0] + m[row, col + 6] * n[1] + m[row, col + 10] * n[2],
    )


@kernel
def orthonormal_basis(n):
    """Two unit tangents (t, b) with (t, b, n) right-handed (Duff et al. 2017, branchless)."""
    sign = ONE if n[2] >= ZERO else -ONE
    a = -ONE / (sign + n[2])
    b = n[0] * n[1] * a
    t = (ONE + sign * n[0] * n[0] * a, sign * b, -sign * n[0])
    bt = (b, sign + n[1] * n[1] * a, -n[1])
    return t, bt


@kernel
def to_local(v, t, b, n):
    """World vector -> shading frame (t, b, n) coordinates."""
    return (dot(v, t), dot(v, b), dot(v, n))


@kernel
def from_local(v, t, b, n):
    """Shading-frame coordinates -> world vector."""
    return (
        t[0] * v[0] + b[0] * v[1] + n[0] * v[2],
        t[1] * v[0] + b[1] * v[1] + n[1] * v[2],
        t[2] * v[0] + b[2] * v[1] + n[2] * v[2],
    )


@kernel
def origin_offset(p):
    """How far ``offset_origin`` moves a ray origin off the surface at p: 1e-4 of p's largest
    coordinate magnitude plus one, so it stays larger than float32 rounding."""
    return F32(1e-4) * (ONE + max_abs_component(p))


@kernel
def offset_origin(p, ng, direction):
    """Ray origin moved off a surface to the side ``direction`` leaves on (avoids self-hits),
    by ``origin_offset(p)`` along ng."""
    eps = origin_offset(p)
    if dot(ng, direction) < ZERO:
        eps = -eps
    return madd(p, ng, eps)
