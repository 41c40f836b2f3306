"""Light sampling and emission. Target-free.

One light is picked by the power-proportional CDF ``light_cdf``; then a direction towards it is
sampled. All densities returned are solid-angle densities at the shading point, including the
probability of picking the light, so they can be compared with BSDF densities for MIS.

- shape lights: a uniform point on the canonical shape, mapped to world space; the world area
  density is 1 / (canonical area * area_scale(p)), where area_scale is the local area stretch of
  the object->world map (Nanson's formula), exact for any affine transform.
- mesh lights: a triangle by area (CDF), then a uniform point on it.
- point lights and sharp directional lights: delta lights (pdf is the pick probability only).
- directional lights with an angular radius: uniform in the cone of the sun's disc.
- environment (constant or image) / sky: uniform directions on the sphere (image environments
  are not importance-sampled: fine for smooth backgrounds, noisy for small bright suns).
"""
import math

import numpy as np

from .._jit import kernel
from .intersect import sample_canonical_point, triangle_corners
from .sampling import uniform_cone, uniform_cone_pdf, uniform_sphere
from .tags import (
    DISK,
    ENV_COLOR,
    ENV_CONSTANT,
    ENV_GROUND,
    ENV_HORIZON,
    ENV_IMAGE,
    ENV_KIND,
    ENV_LIGHT,
    ENV_NONE,
    ENV_UP,
    FACE_PLUS_Z,
    LI_CDF,
    LI_COUNT,
    LI_KIND,
    LI_REF,
    LIGHT_DIRECTIONAL,
    LIGHT_ENVIRONMENT,
    LIGHT_MESH,
    LIGHT_POINT,
    LIGHT_SHAPE,
    LP_AREA,
    LP_COS_MAX,
    LP_RADIANCE,
    LP_TWO_SIDED,
    LP_VECTOR,
    PRIM_INDEX,
    PRIM_KIND,
    QUAD,
    SP_AREA,
    SP_CAPS,
    SP_DET,
    SP_FACES,
    XF_TO_OBJECT,
    XF_TO_WORLD,
)
from .vecmath import (
    BIG,
    F32,
    INV_FOUR_PI,
    ONE,
    ZERO,
    add,
    cross,
    dot,
    length,
    normalize,
    orthonormal_basis,
    row3,
    scale,
    sub,
    vec_at,
    xform_normal,
    xform_point,
)
from .sampling import uniform_triangle
from .textures import environment_image

BLACK = (ZERO, ZERO, ZERO)


@kernel
def pick_probability(scene, light):
    """Probability that the CDF picks `light`."""
    hi = scene.light_cdf[light]
    lo = scene.light_cdf[light - 1] if light > 0 else ZERO
    return hi - lo


@kernel
def _search_cdf(cdf, first, count, u):
    """Smallest index k in [first, first + count) with cdf[k] > u (cdf ends at 1)."""
    lo = first
    hi = first + count - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf[mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return lo


@kernel
def environment_radiance(scene, d):
    """Radiance of the environment (constant, image or sky) seen along unit direction d."""
    env = scene.env
    kind = int(env[ENV_KIND])
    if kind == ENV_NONE:
        return BLACK
    zenith = vec_at(env, ENV_COLOR)
    if kind == ENV_CONSTANT:
        return zenith
    if kind == ENV_IMAGE:
        return environment_image(scene, d)
    s = dot(d, vec_at(env, ENV_UP))
    if s < ZERO:
        return vec_at(env, ENV_GROUND)
    horizon = vec_at(env, ENV_HORIZON)
    w = min(s, ONE)
    return add(scale(horizon, ONE - w), scale(zenith, w))


@kernel
def environment_pdf(scene):
    """Solid-angle density (with the pick probability) of sampling the environment."""
    light = int(scene.env[ENV_LIGHT])
    if light < 0:
        return ZERO
    return pick_probability(scene, light) * INV_FOUR_PI


@kernel
def emitted_radiance(scene, light, ng, wo):
    """Radiance leaving an area light's surface point with normal ng towards direction wo."""
    two_sided = scene.light_params[light, LP_TWO_SIDED] > ZERO
    if not two_sided and dot(ng, wo) <= ZERO:
        return BLACK
    return row3(scene.light_params, light, LP_RADIANCE)


@kernel
def area_light_pdf(scene, light, ref, p, ng, area_scale):
    """Solid-angle density at `ref` of sampling point p (normal ng) on area light `light`.

    ``area_scale`` is the surface record's world/canonical area ratio at p (1 for triangles).
    """
    kind = scene.light_info[light, LI_KIND]
    if kind == LIGHT_SHAPE:
        shape = scene.prim_info[scene.light_info[light, LI_REF], PRIM_INDEX]
        pdf_area = ONE / (scene.shape_param[shape, SP_AREA] * area_scale)
    else:
        pdf_area = ONE / scene.light_params[light, LP_AREA]
    to_light = sub(p, ref)
    dist2 = dot(to_light, to_light)
    cos_l = abs(dot(ng, to_light)) / math.sqrt(dist2)
    if cos_l <= ZERO:
        return ZERO
    return pick_probability(scene, light) * pdf_area * dist2 / cos_l


@kernel
def directional_disc_hit(scene, d):
    """Radiance and pick-weighted density of directional lights with a disc containing d.

    Used when a BSDF-sampled ray escapes the scene (for MIS with their light samples).
    """
    radiance = BLACK
    pdf = ZERO
    for light in range(scene.light_info.shape[0]):
        if scene.light_info[light, LI_KIND] == LIGHT_DIRECTIONAL:
            cos_max = scene.light_params[light, LP_COS_MAX]
            if cos_max < ONE and dot(d, row3(scene.light_params, light, LP_VECTOR)) >= cos_max:
                radiance = add(radiance, row3(scene.light_params, light, LP_RADIANCE))
                pdf += pick_probability(scene, light) * uniform_cone_pdf(cos_max)
    return radiance, pdf


@kernel(inline=True)
def sample_light(scene, p, u_pick, u1, u2):
    """Sample a direction from shading point p towards a light.

    Returns
    -------
    wi : unit world direction towards the light
    dist : distance to the sampled point (BIG for distant lights)
    target : the sampled point itself (world space; wi again for distant lights), so a shadow
        ray can aim at it without waiting for wi's normalization
    radiance : RGB radiance arriving along -wi (before visibility)
    pdf : solid-angle density including the pick probability (0 = failed sample)
    is_delta : bool, a point or sharp directional light (no MIS)
    """
    n_lights = scene.light_info.shape[0]
    if n_lights == 0:
        return (ZERO, ZERO, ONE), ZERO, p, BLACK, ZERO, False
    light = _search_cdf(scene.light_cdf, 0, n_lights, u_pick)
    pick = pick_probability(scene, light)
    # reuse u_pick within the chosen light's CDF interval as a fresh uniform number
    lo = scene.light_cdf[light - 1] if light > 0 else ZERO
    u_sub = min((u_pick - lo) / max(pick, F32(1e-30)), F32(0.99999994))
    kind = scene.light_info[light, LI_KIND]
    params = scene.light_params
    if kind == LIGHT_POINT:
        q = row3(params, light, LP_VECTOR)
        to_light = sub(q, p)
        dist = length(to_light)
        if dist <= ZERO:
            return (ZERO, ZERO, ONE), ZERO, q, BLACK, ZERO, True
        wi = scale(to_light, ONE / dist)
        radiance = scale(row3(params, light, LP_RADIANCE), ONE / (dist * dist))
        return wi, dist, q, radiance, pick, True
    if kind == LIGHT_DIRECTIONAL:
        axis = row3(params, light, LP_VECTOR)
        cos_max = params[light, LP_COS_MAX]
        if cos_max >= ONE:
            return axis, BIG, axis, row3(params, light, LP_RADIANCE), pick, True
        t, b = orthonormal_basis(axis)
        local = uniform_cone(u1, u2, cos_max)
        wi = normalize(add(add(scale(t, local[0]), scale(b, local[1])), scale(axis, local[2])))
        return wi, BIG, wi, row3(params, light, LP_RADIANCE), pick * uniform_cone_pdf(cos_max), False
    if kind == LIGHT_ENVIRONMENT:
        wi = uniform_sphere(u1, u2)
        return wi, BIG, wi, environment_radiance(scene, wi), pick * INV_FOUR_PI, False
    # area lights: a point on the emitter surface
    if kind == LIGHT_SHAPE:
        prim = scene.light_info[light, LI_REF]
        shape = np.int64(scene.prim_info[prim, PRIM_INDEX])
        shape_kind = scene.prim_info[prim, PRIM_KIND]
        caps = scene.shape_param[shape, SP_CAPS] > ZERO
        p_obj, n_obj = sample_canonical_point(shape_kind, caps, u_sub, u1, u2)
        q = xform_point(scene.shape_xform, shape, XF_TO_WORLD, p_obj)
        if shape_kind == QUAD or shape_kind == DISK:   # the +z face's normal, precomputed (same bits)
            nq = row3(scene.shape_param, shape, SP_FACES + 4 * FACE_PLUS_Z)
            n_len = scene.shape_param[shape, SP_FACES + 4 * FACE_PLUS_Z + 3]
        else:
            n_world = xform_normal(scene.shape_xform, shape, XF_TO_OBJECT, n_obj)
            n_len = length(n_world)
            nq = scale(n_world, ONE / n_len)
        pdf_area = ONE / (scene.shape_param[shape, SP_AREA] * scene.shape_param[shape, SP_DET] * n_len)
    else:
        # mesh light: triangle by area, then a uniform point on it
        first = scene.light_info[light, LI_REF]
        count = scene.light_info[light, LI_COUNT]
        cdf0 = scene.light_info[light, LI_CDF]
        k = _search_cdf(scene.light_tri_cdf, np.int64(cdf0), np.int64(count), u_sub)
        tri = first + (k - cdf0)
        b1, b2 = uniform_triangle(u1, u2)
        v0, e1, e2 = triangle_corners(scene.tri_geom, tri)
        q = add(v0, add(scale(e1, b1), scale(e2, b2)))
        nq = normalize(cross(e1, e2))
        pdf_area = ONE / params[light, LP_AREA]
    to_light = sub(q, p)
    dist2 = dot(to_light, to_light)
    if dist2 <= ZERO:
        return (ZERO, ZERO, ONE), ZERO, q, BLACK, ZERO, False
    dist = math.sqrt(dist2)
    wi = scale(to_light, ONE / dist)
    cos_l = dot(nq, wi)
    radiance = emitted_radiance(scene, light, nq, (-wi[0], -wi[1], -wi[2]))
    if cos_l == ZERO:
        return wi, dist, q, BLACK, ZERO, False
    pdf = pick * pdf_area * dist2 / abs(cos_l)
    return wi, dist, q, radiance, pdf, False
