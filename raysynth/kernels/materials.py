"""BSDFs: evaluation, importance sampling and densities, in the local shading frame. Target-free.

Directions are local (shading normal = +z) and point away from the surface; ``wo`` is the
direction towards the previous vertex (the camera side). Opaque materials are two-sided: the
caller flips the frame so that ``wo.z > 0``. ``value`` returned by ``bsdf_eval`` is
``f(wo, wi) * |cos(wi)|`` (RGB); ``weight`` returned by ``bsdf_sample`` is ``value / pdf``.
Delta lobes (mirror, smooth glass) return ``pdf = 0`` and ``is_delta = True``; their weight
already contains the Fresnel terms.
"""
import math

from .._jit import kernel
from .sampling import (
    cosine_hemisphere,
    cosine_hemisphere_pdf,
    ggx_d,
    ggx_g1,
    ggx_g2,
    ggx_sample_visible_normal,
    ggx_visible_normal_pdf,
)
from .tags import CONDUCTOR, DIELECTRIC, MAT_IOR, MAT_KIND, MAT_ROUGHNESS
from .vecmath import F32, INV_PI, ONE, ZERO, normalize, scale

#: GGX alpha below which a conductor is treated as a perfect mirror.
MIRROR_ALPHA = F32(1e-3)
BLACK = (ZERO, ZERO, ZERO)
WHITE = (ONE, ONE, ONE)


@kernel
def material_kind(mat_params, m):
    return int(mat_params[m, MAT_KIND])


@kernel
def is_delta_material(mat_params, m):
    """True when every lobe is a delta (no light sampling is useful)."""
    kind = material_kind(mat_params, m)
    if kind == DIELECTRIC:
        return True
    if kind == CONDUCTOR and mat_params[m, MAT_ROUGHNESS] < MIRROR_ALPHA:
        return True
    return False


@kernel
def schlick(f0, cos_theta):
    """Schlick's Fresnel approximation for an RGB F0."""
    c = max(ZERO, min(ONE, cos_theta))
    k = (ONE - c) * (ONE - c)
    k = k * k * (ONE - c)
    return (f0[0] + (ONE - f0[0]) * k, f0[1] + (ONE - f0[1]) * k, f0[2] + (ONE - f0[2]) * k)


@kernel
def fresnel_dielectric(cos_i, eta):
    """Unpolarized Fresnel reflectance for light arriving at cos_i > 0 from the side of index 1
    onto index ``eta`` (relative IOR). Returns (reflectance, cos_t); cos_t = 0 under total
    internal reflection (reflectance 1)."""
    sin2_t = max(ZERO, ONE - cos_i * cos_i) / (eta * eta)
    if sin2_t >= ONE:
        return ONE, ZERO
    cos_t = math.sqrt(ONE - sin2_t)
    rs = (cos_i - eta * cos_t) / (cos_i + eta * cos_t)
    rp = (eta * cos_i - cos_t) / (eta * cos_i + cos_t)
    return F32(0.5) * (rs * rs + rp * rp), cos_t


@kernel
def bsdf_eval(mat_params, m, color, wo, wi):
    """f * |cos(wi)| and the sampling density of wi (solid angle), for non-delta lobes.

    Parameters
    ----------
    mat_params : (M, 16) float32 material table; m : int row
    color : RGB base colour at the hit (albedo, F0; checker already resolved)
    wo, wi : local unit directions, wo.z > 0
    """
    kind = material_kind(mat_params, m)
    if wi[2] <= ZERO or wo[2] <= ZERO:
        return BLACK, ZERO
    if kind == CONDUCTOR:
        alpha = mat_params[m, MAT_ROUGHNESS]
        if alpha < MIRROR_ALPHA:
            return BLACK, ZERO
        h = normalize((wo[0] + wi[0], wo[1] + wi[1], wo[2] + wi[2]))
        woh = wo[0] * h[0] + wo[1] * h[1] + wo[2] * h[2]
        if woh <= ZERO:
            return BLACK, ZERO
        fr = schlick(color, woh)
        k = ggx_d(h, alpha) * ggx_g2(wo, wi, alpha) / (F32(4.0) * wo[2])
        pdf = ggx_visible_normal_pdf(wo, h, alpha) / (F32(4.0) * woh)
        return scale(fr, k), pdf
    if kind == DIELECTRIC:
        return BLACK, ZERO
    # diffuse (and the diffuse base of emitters)
    k = wi[2] * INV_PI
    return scale(color, k), cosine_hemisphere_pdf(wi[2])


@kernel
def bsdf_sample(mat_params, m, color, wo, entering, u_lobe, u1, u2):
    """Sample an incident direction.

    Parameters
    ----------
    entering : bool, dielectric only: wo is on the outside of the surface
    u_lobe, u1, u2 : uniform numbers in [0, 1)

    Returns
    -------
    wi : local direction (wi.z < 0 means transmission)
    weight : RGB f * |cos| / pdf (0 when sampling failed)
    pdf : solid-angle density (0 for delta lobes)
    is_delta : bool
    """
    kind = material_kind(mat_params, m)
    if kind == CONDUCTOR:
        alpha = mat_params[m, MAT_ROUGHNESS]
        if alpha < MIRROR_ALPHA:
            # perfect mirror
            wi = (-wo[0], -wo[1], wo[2])
            return wi, schlick(color, wo[2]), ZERO, True
        h = ggx_sample_visible_normal(wo, alpha, u1, u2)
        woh = wo[0] * h[0] + wo[1] * h[1] + wo[2] * h[2]
        wi = (F32(2.0) * woh * h[0] - wo[0], F32(2.0) * woh * h[1] - wo[1], F32(2.0) * woh * h[2] - wo[2])
        if wi[2] <= ZERO or woh <= ZERO:
            return wi, BLACK, ZERO, False
        pdf = ggx_visible_normal_pdf(wo, h, alpha) / (F32(4.0) * woh)
        # f cos / pdf for visible-normal sampling: F * G2 / G1(wo)
        w = ggx_g2(wo, wi, alpha) / ggx_g1(wo, alpha)
        return wi, scale(schlick(color, woh), w), pdf, False
    if kind == DIELECTRIC:
        ior = mat_params[m, MAT_IOR]
        eta = ior if entering else ONE / ior
        fr, cos_t = fresnel_dielectric(wo[2], eta)
        if u_lobe < fr:
            # specular reflection, chosen with probability F: weight F / F = 1
            return (-wo[0], -wo[1], wo[2]), WHITE, ZERO, True
        # refraction, chosen with probability 1 - F; radiance is scaled by 1 / eta^2
        inv_eta = ONE / eta
        wi = (-wo[0] * inv_eta, -wo[1] * inv_eta, -cos_t)
        k = inv_eta * inv_eta
        return wi, scale(color, k), ZERO, True
    # diffuse
    wi = cosine_hemisphere(u1, u2)
    if wi[2] <= ZERO:
        return wi, BLACK, ZERO, False
    return wi, color, cosine_hemisphere_pdf(wi[2]), False
