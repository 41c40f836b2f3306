"""Warps from [0, 1)^2 to directions and points, with their densities. Target-free.

Local directions are in a shading frame whose +z is the surface normal.
"""
import math

from .._jit import kernel
from .vecmath import F32, HALF, INV_FOUR_PI, INV_PI, ONE, PI, TWO, TWO_PI, ZERO


@kernel
def concentric_disk(u1, u2):
    """Uniform point on the unit disk (Shirley-Chiu concentric map), area density 1/pi."""
    a = TWO * u1 - ONE
    b = TWO * u2 - ONE
    if a == ZERO and b == ZERO:
        return ZERO, ZERO
    if abs(a) > abs(b):
        r = a
        phi = F32(math.pi / 4.0) * (b / a)
    else:
        r = b
        phi = F32(math.pi / 2.0) - F32(math.pi / 4.0) * (a / b)
    return r * math.cos(phi), r * math.sin(phi)


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
