"""Warps from [0, 1)^2 to directions and points, with their densities. Target-free.

Local directions are in a shading frame whose +z is the surface normal.
"""
import math

from .._jit import kernel
from .vecmath import F32, HALF, INV_FOUR_PI, INV_PI, ONE, PI, TWO, TWO_PI, ZERO


# Minimax polynomials of sin and cos on [-pi/4, pi/4] (Cephes sinf / cosf; about 1 ulp)
_S1, _S2, _S3 = F32(-1.6666654611e-1), F32(8.3321608736e-3), F32(-1.9515295891e-4)
_C1, _C2, _C3 = F32(4.166664568298827e-2), F32(-1.388731625493765e-3), F32(2.443315711809948e-5)


@kernel
def sincos_quarter(x):
    """(sin x, cos x) for |x| <= pi / 4, by polynomials: no call into the maths library (whose
    call spills the caller's registers in the path loop)."""
    z = x * x
    sin_x = x + x * z * (_S1 + z * (_S2 + z * _S3))
    cos_x = ONE - HALF * z + z * z * (_C1 + z * (_C2 + z * _C3))
    return sin_x, cos_x


@kernel
def concentric_disk(u1, u2):
    """Uniform point on the unit disk (Shirley-Chiu concentric map), area density 1/pi. The
    angle is pi/4 (b/a) or pi/2 - pi/4 (a/b): sin and cos of pi/4 times a ratio in [-1, 1]."""
    a = TWO * u1 - ONE
    b = TWO * u2 - ONE
    if a == ZERO and b == ZERO:
        return ZERO, ZERO
    if abs(a) > abs(b):
        s, c = sincos_quarter(F32(math.pi / 4.0) * (b / a))
        return a * c, a * s
    s, c = sincos_quarter(F32(math.pi / 4.0) * (a / b))
    return b * s, b * c   # cos(pi/2 - x) = sin x, sin(pi/2 - x) = cos x


@kernel
def cosine_hemisphere(u1, u2):
    """Cosine-weighted direction about +z; density cos(theta) / pi."""
    x, y = concentric_disk(u1, u2)
    z = math.sqrt(max(ZERO, ONE - x * x - y * y))
    return (x, y, z)


@kernel
def cosine_hemisphere_pdf(cos_theta):
    return max(cos_theta, ZERO) * INV_PI


@kernel
def uniform_sphere(u1, u2):
    """Uniform direction on the unit sphere; density 1 / (4 pi)."""
    z = ONE - TWO * u1
    r = math.sqrt(max(ZERO, ONE - z * z))
    phi = TWO_PI * u2
    return (r * math.cos(phi), r * math.sin(phi), z)


@kernel
def uniform_sphere_pdf():
    return INV_FOUR_PI


@kernel
def uniform_cone(u1, u2, cos_max):
    """Uniform direction in the cone of half-angle acos(cos_max) about +z."""
    cos_t = ONE - u1 * (ONE - cos_max)
    sin_t = math.sqrt(max(ZERO, ONE - cos_t * cos_t))
    phi = TWO_PI * u2
    return (sin_t * math.cos(phi), sin_t * math.sin(phi), cos_t)


@kernel
def uniform_cone_pdf(cos_max):
    return ONE / (TWO_PI * (ONE - cos_max))


@kernel
def uniform_triangle(u1, u2):
    """Uniform barycentrics (b1, b2) on a triangle (Heitz 2019 low-distortion map)."""
    if u2 > u1:
        b0 = u1 * HALF
        b1 = u2 - b0
    else:
        b1 = u2 * HALF
        b0 = u1 - b1
    return b0, b1


@kernel
def power_heuristic(pdf_a, pdf_b):
    """MIS weight of strategy a against b (power 2)."""
    a2 = pdf_a * pdf_a
    b2 = pdf_b * pdf_b
    if a2 + b2 <= ZERO:
        return ZERO
    return a2 / (a2 + b2)


# ---------------------------------------------------------------------------- GGX
@kernel
def ggx_d(h, alpha):
    """Isotropic GGX normal distribution D(h) for a local half vector h (z = normal)."""
    cos2 = h[2] * h[2]
    if h[2] <= ZERO:
        return ZERO
    a2 = alpha * alpha
    t = cos2 * (a2 - ONE) + ONE
    return a2 / (PI * t * t)


@kernel
def ggx_lambda(w, alpha):
    """Smith Lambda for GGX."""
    cos2 = w[2] * w[2]
    if cos2 <= ZERO:
        return F32(1e30)
    tan2 = max(ZERO, ONE - cos2) / cos2
    return (math.sqrt(ONE + alpha * alpha * tan2) - ONE) * HALF


@kernel
def ggx_g1(w, alpha):
    return ONE / (ONE + ggx_lambda(w, alpha))


@kernel
def ggx_g2(wo, wi, alpha):
    """Height-correlated Smith masking-shadowing."""
    return ONE / (ONE + ggx_lambda(wo, alpha) + ggx_lambda(wi, alpha))


@kernel
def ggx_sample_visible_normal(wo, alpha, u1, u2):
    """Half vector distributed as the visible normals seen from wo (Heitz 2018, wo.z > 0)."""
    # stretch the view vector to the unit-roughness configuration
    vx = alpha * wo[0]
    vy = alpha * wo[1]
    vz = wo[2]
    inv = ONE / math.sqrt(vx * vx + vy * vy + vz * vz)
    vx *= inv
    vy *= inv
    vz *= inv
    # orthonormal basis around the view vector
    lensq = vx * vx + vy * vy
    if lensq > ZERO:
        il = ONE / math.sqrt(lensq)
        t1 = (-vy * il, vx * il, ZERO)
    else:
        t1 = (ONE, ZERO, ZERO)
    t2 = (vy * t1[2] - vz * t1[1], vz * t1[0] - vx * t1[2], vx * t1[1] - vy * t1[0])
    # point on the projected hemisphere
    r = math.sqrt(u1)
    phi = TWO_PI * u2
    p1 = r * math.cos(phi)
    p2 = r * math.sin(phi)
    s = HALF * (ONE + vz)
    p2 = (ONE - s) * math.sqrt(max(ZERO, ONE - p1 * p1)) + s * p2
    p3 = math.sqrt(max(ZERO, ONE - p1 * p1 - p2 * p2))
    # back to the ellipsoid configuration
    nx = t1[0] * p1 + t2[0] * p2 + vx * p3
    ny = t1[1] * p1 + t2[1] * p2 + vy * p3
    nz = t1[2] * p1 + t2[2] * p2 + vz * p3
    hx = alpha * nx
    hy = alpha * ny
    hz = max(F32(1e-7), nz)
    inv = ONE / math.sqrt(hx * hx + hy * hy + hz * hz)
    return (hx * inv, hy * inv, hz * inv)


@kernel
def ggx_visible_normal_pdf(wo, h, alpha):
    """Density of ggx_sample_visible_normal: G1(wo) max(0, wo.h) D(h) / wo.z."""
    if wo[2] <= ZERO:
        return ZERO
    woh = wo[0] * h[0] + wo[1] * h[1] + wo[2] * h[2]
    return ggx_g1(wo, alpha) * max(ZERO, woh) * ggx_d(h, alpha) / wo[2]
