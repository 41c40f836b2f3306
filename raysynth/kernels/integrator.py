"""The per-pixel body shared by every backend: label pass and path tracing. Target-free.

``label_pixel`` then ``render_pixel`` (CUDA: one pixel per thread, both in one kernel), or
``label_tiles`` then ``render_tiles`` (CPU: two launchers, each a run of tiles per call with the
pixel's code compiled into its loop) are the entry points launchers call. For pixel (x, y):

1. ``label_pixel`` traces the ray through the pixel centre and writes the label layers from its
   first hit (instance, class, mesh part, depth, distance, camera-space normal, albedo, world
   position; a miss clears them). The CPU compiles it apart from the path tracer, in the main
   process while a second one compiles the path tracer on a cold start;
2. ``render_pixel`` (which reads the centre ray's instance back from the frame) traces ``spp``
   camera paths (correlated multi-jittered positions in the pixel, box filter) with next-event
   estimation, multiple importance sampling (power heuristic) and Russian roulette, and writes
   their mean radiance;
3. writes ``coverage``: the fraction of those camera samples whose first hit is the same
   instance as the centre ray's (background counts as an instance), and the soft mask: the
   first SOFT_SLOTS distinct instances the samples hit and the fraction of samples of each.

``spp = 0`` renders the labels only: the centre ray is the pixel's one sample (coverage 1,
soft mask = the centre's instance) and the radiance is black; no path is traced (the CPU
backend writes those three layers on the host and launches no ``render_tiles``).
"""
import math

import numpy as np

from .._jit import CALLED, INLINED, kernel
from .camera import camera_ray
from .intersect import surface_at_hit
from .lights import (
    area_light_pdf,
    directional_disc_hit,
    emitted_radiance,
    environment_pdf,
    environment_radiance,
    sample_light,
)
from .materials import bsdf_eval, bsdf_sample, is_delta_material, material_kind
from .rng import (
    DIM_BOUNCE,
    DIM_LENS,
    DIMS_PER_BOUNCE,
    STRATA_BOUNCE,
    STRATA_CHUNK,
    STRATA_PER_BOUNCE,
    STRATA_PIXEL,
    STRATIFIED_BOUNCES,
    fill_strata,
    sample_key,
    uniform,
)
from .sampling import power_heuristic
from .tags import (
    CAM_DOWN,
    CAM_FORWARD,
    CAM_RIGHT,
    EMISSIVE,
    MAT_CHECKER_SCALE,
    MAT_COLOR,
    MAT_COLOR_B,
    MAT_TEXTURE,
    OBJ_CLASS,
    OBJ_LIGHT,
    PRIM_INDEX,
    PRIM_KIND,
    SET_MAX_DEPTH,
    SET_RR_DEPTH,
    SET_SEED,
    SET_SPP,
    TRIANGLE,
)
from .textures import hit_material, texture_color
from .traverse import trace, trace_hit
from .vecmath import (
    BIG,
    F32,
    HALF,
    ONE,
    ZERO,
    add,
    dot,
    from_local,
    madd,
    max_component,
    mul,
    neg,
    offset_origin,
    origin_offset,
    orthonormal_basis,
    row3,
    scale,
    sub,
    to_local,
    vec_at,
    xform_point,
)

BLACK = (ZERO, ZERO, ZERO)
WHITE = (ONE, ONE, ONE)
RR_MAX = F32(0.95)
SHADOW_SHRINK = F32(1.0 - 1e-4)
# The pattern index that keys a pixel's multi-jittered sample positions (no camera sample uses it).
PATTERN_SAMPLE = 0xFFFFFFFF
CHECKER_BIAS = F32(1e-3)


@kernel(inline=True)
def surface_color(scene, m, obj, p, prim, u, v):
    """Base colour of material m at world point p of object obj, hit on primitive prim with
    intersector values (u, v). The procedural checker and noise are evaluated in the object's own
    space, so they move with the object; image textures at the hit's uv (kernels/textures.py)."""
    color = row3(scene.mat_params, m, MAT_COLOR)
    cells = scene.mat_params[m, MAT_CHECKER_SCALE]
    if cells > ZERO:
        q = xform_point(scene.obj_xform, np.int64(obj), 0, p)
        # Cell boundaries moved by CHECKER_BIAS of a cell: a surface lying on a boundary (a quad
        # or disk at object z = 0, a unit box's faces) gets one cell, not rounding noise.
        parity = (int(math.floor(q[0] * cells + CHECKER_BIAS)) + int(math.floor(q[1] * cells + CHECKER_BIAS))
                  + int(math.floor(q[2] * cells + CHECKER_BIAS)))
        if parity % 2 != 0:
            color = row3(scene.mat_params, m, MAT_COLOR_B)
    tex = int(scene.mat_params[m, MAT_TEXTURE])
    if tex >= 0:
        color = texture_color(scene, tex, m, obj, p, prim, u, v)
    return color


@kernel
def _is_black(c):
    return c[0] <= ZERO and c[1] <= ZERO and c[2] <= ZERO


@kernel(ssa=False)
def trace_path(scene, ro, rd, key, strata, k, stack, stack_t):
    """Radiance arriving at the camera along the ray (ro, rd), and the object index of the
    first hit (-1 for background).

    ``key`` is the camera sample's key; column k of ``strata`` ((STRATA_ROWS, STRATA_CHUNK)
    float32, from ``rng.fill_strata``) holds its light and BSDF samples of the first
    STRATIFIED_BOUNCES bounces, stratified over the pixel's spp samples.

    ``max_depth`` counts path segments, the camera ray included (as in Mitsuba 3): 1 shows
    only emitters, 2 adds direct lighting.
    """
    max_depth = scene.settings[SET_MAX_DEPTH]
    rr_depth = scene.settings[SET_RR_DEPTH]
    radiance = BLACK
    beta = WHITE
    first_obj = -1
    prev_delta = True   # the camera ray counts as a delta event: no MIS on what it sees
    prev_pdf = ZERO
    prev_p = ro
    for depth in range(max_depth):
        dim = DIM_BOUNCE + depth * DIMS_PER_BOUNCE
        t, prim, inst, u, v = trace_hit(scene, ro, rd, BIG, stack, stack_t, False)

        # ---- escaped: environment and sun discs
        if prim < 0:
            le = environment_radiance(scene, rd)
            if not _is_black(le):
                w = ONE if prev_delta else power_heuristic(prev_pdf, environment_pdf(scene))
                radiance = add(radiance, scale(mul(beta, le), w))
            disc_le, disc_pdf = directional_disc_hit(scene, rd)
            if not _is_black(disc_le):
                w = ONE if prev_delta else power_heuristic(prev_pdf, disc_pdf)
                radiance = add(radiance, scale(mul(beta, disc_le), w))
            break

        p, ng, ns, obj, area_scale = surface_at_hit(scene, prim, inst, ro, rd, t, u, v)
        if depth == 0:
            first_obj = obj
        wo = neg(rd)

        # ---- emission of a hit area light (MIS against light sampling)
        light = np.int64(scene.obj_info[obj, OBJ_LIGHT])   # int64 like every light index
        if light >= 0:
            le = emitted_radiance(scene, light, ng, wo)
            if not _is_black(le):
                w = ONE
                if not prev_delta:
                    w = power_heuristic(prev_pdf, area_light_pdf(scene, light, prev_p, p, ng, area_scale))
                radiance = add(radiance, scale(mul(beta, le), w))

        if depth + 1 >= max_depth:
            break

        # ---- material and shading frame on the side of wo
        m = hit_material(scene, prim, obj)
        color = surface_color(scene, m, obj, p, prim, u, v)
        if material_kind(scene.mat_params, m) == EMISSIVE and _is_black(color):
            break
        entering = dot(rd, ng) < ZERO
        n_shade = ns if dot(ns, wo) > ZERO else neg(ns)
        ng_side = ng if entering else neg(ng)
        tangent, bitangent = orthonormal_basis(n_shade)
        wo_local = to_local(wo, tangent, bitangent, n_shade)
        if wo_local[2] <= ZERO:
            break

        # ---- this bounce's random numbers: stratified over the pixel's samples, then uniform
        if depth < STRATIFIED_BOUNCES:
            row = STRATA_BOUNCE + depth * STRATA_PER_BOUNCE
            u_pick, u_l1, u_l2 = strata[row, k], strata[row + 1, k], strata[row + 2, k]
            u_lobe, u_b1, u_b2 = strata[row + 3, k], strata[row + 4, k], strata[row + 5, k]
        else:
            u_pick, u_l1, u_l2 = uniform(key, dim), uniform(key, dim + 1), uniform(key, dim + 2)
            u_lobe, u_b1, u_b2 = uniform(key, dim + 3), uniform(key, dim + 4), uniform(key, dim + 5)

        # ---- the next direction from the BSDF, sampled before the shadow ray (used after it):
        # its square roots and divisions then overlap the shadow walk
        next_local, weight, next_pdf, delta_bsdf = bsdf_sample(
            scene.mat_params, m, color, wo_local, entering, u_lobe, u_b1, u_b2,
        )
        next_wi = from_local(next_local, tangent, bitangent, n_shade)

        # ---- next-event estimation: one light sample, shadow ray, MIS
        if not is_delta_material(scene.mat_params, m):
            wi, dist, target, le, pdf_light, delta_light = sample_light(scene, p, u_pick, u_l1, u_l2)
            if pdf_light > ZERO and not _is_black(le) and dot(wi, ng_side) > ZERO:
                wi_local = to_local(wi, tangent, bitangent, n_shade)
                f, pdf_bsdf = bsdf_eval(scene.mat_params, m, color, wo_local, wi_local)
                if not _is_black(f):
                    # wi leaves on ng_side's side, so this is offset_origin(p, ng, wi), bit for
                    # bit, without waiting for wi
                    origin = madd(p, ng_side, origin_offset(p))
                    if dist < BIG:
                        # aim from the offset origin at the sampled point and stop just short of
                        # it: the direction spans the whole segment (not unit), so t < 1 is
                        # before the light and no square root or division is needed
                        shadow_dir = sub(target, origin)
                        shadow_max = SHADOW_SHRINK
                    else:
                        shadow_dir = wi
                        shadow_max = BIG
                    _, blocker, _, _ = trace(scene, origin, shadow_dir, shadow_max, stack, stack_t, True)
                    if blocker < 0:
                        w = ONE if delta_light else power_heuristic(pdf_light, pdf_bsdf)
                        radiance = add(radiance, scale(mul(mul(beta, f), le), w / pdf_light))

        # ---- continue the path along the BSDF's direction
        if _is_black(weight):
            break
        wi = next_wi
        # a reflected direction must leave on wo's geometric side, a refracted one must cross
        if (next_local[2] > ZERO) != (dot(wi, ng_side) > ZERO):
            break
        beta = mul(beta, weight)
        prev_delta = delta_bsdf
        prev_pdf = next_pdf
        prev_p = p

        # ---- Russian roulette
        if depth + 1 >= rr_depth:
            q = min(max_component(beta), RR_MAX)
            if uniform(key, dim + 6) >= q:
                break
            beta = scale(beta, ONE / q)

        ro = offset_origin(p, ng, wi)
        rd = wi
    return radiance, first_obj


def _make_label_pixel(inline):
    """``label_pixel`` as a function of its own (the CUDA kernel), or compiled into its caller
    (``label_tiles``)."""

    @kernel(inline=inline)
    def label_pixel(scene, frame, x, y, stack, stack_t):
        """Write the label layers of pixel (x, y) of ``frame`` from the first hit of the ray
        through the pixel centre (see the module docstring); a miss clears them. stack and
        stack_t: traversal scratch."""
        cam = scene.camera
        ro, rd = camera_ray(cam, F32(x) + HALF, F32(y) + HALF, HALF, HALF)
        t, prim, inst, u, v = trace_hit(scene, ro, rd, BIG, stack, stack_t, False)
        if prim >= 0:
            p, ng, ns, obj, _ = surface_at_hit(scene, prim, inst, ro, rd, t, u, v)
            frame.instance[y, x] = obj + 1
            frame.part[y, x] = 0
            if scene.prim_info[prim, PRIM_KIND] == TRIANGLE:
                frame.part[y, x] = scene.tri_part[scene.prim_info[prim, PRIM_INDEX]] + 1
            frame.class_id[y, x] = scene.obj_info[obj, OBJ_CLASS]
            frame.distance[y, x] = t
            frame.depth[y, x] = t * dot(rd, vec_at(cam, CAM_FORWARD))
            n = ns if dot(ns, rd) < ZERO else neg(ns)   # facing the camera
            frame.normal[y, x, 0] = dot(n, vec_at(cam, CAM_RIGHT))
            frame.normal[y, x, 1] = dot(n, vec_at(cam, CAM_DOWN))
            frame.normal[y, x, 2] = dot(n, vec_at(cam, CAM_FORWARD))
            albedo = surface_color(scene, hit_material(scene, prim, obj), obj, p, prim, u, v)
            for c in range(3):
                frame.albedo[y, x, c] = albedo[c]
                frame.position[y, x, c] = p[c]
        else:   # background: clear what an earlier render into this frame left
            frame.instance[y, x] = 0
            frame.part[y, x] = 0
            frame.class_id[y, x] = 0
            frame.distance[y, x] = ZERO
            frame.depth[y, x] = ZERO
            for c in range(3):
                frame.normal[y, x, c] = ZERO
                frame.albedo[y, x, c] = ZERO
                frame.position[y, x, c] = ZERO

    return label_pixel


label_pixel = _make_label_pixel(CALLED)
_label_pixel_inline = _make_label_pixel(INLINED)


def _make_render_pixel(inline):
    """``render_pixel`` as a function of its own (the CUDA launchers: one pixel per thread), or
    compiled into its caller (``render_tiles``: a call passes the SceneArrays and Frame as ~330
    scalars, which cost as much as a labels-only pixel)."""

    @kernel(inline=inline)
    def render_pixel(scene, frame, x, y, stack, stack_t, strata):
        """Render pixel (x, y) of ``frame``, whose label layers ``label_pixel`` has written: rgb,
        coverage and the soft mask (see the module docstring); stack and stack_t: traversal
        scratch, strata: (STRATA_ROWS, STRATA_CHUNK) float32 scratch for the stratified values
        of a chunk of camera samples."""
        cam = scene.camera
        width = frame.rgb.shape[1]
        pixel = y * width + x
        centre_obj = frame.instance[y, x] - 1   # the centre ray's object (-1: background)

        # ---- 2. camera paths, box filter; 3. coverage of the centre ray's instance
        spp = scene.settings[SET_SPP]
        seed = scene.settings[SET_SEED]
        pattern = sample_key(seed, pixel, PATTERN_SAMPLE)
        total = BLACK
        same = 0
        soft_ids = frame.soft_ids[y, x]
        soft_weight = frame.soft_weight[y, x]
        for k in range(soft_ids.shape[0]):
            soft_ids[k] = 0
            soft_weight[k] = ZERO
        bounces = scene.settings[SET_MAX_DEPTH] - 1   # bounces a path can sample
        for first in range(0, spp, STRATA_CHUNK):
            count = min(STRATA_CHUNK, spp - first)
            fill_strata(strata, first, count, spp, pattern, bounces)
            for k in range(count):
                key = sample_key(seed, pixel, first + k)
                jx, jy = strata[STRATA_PIXEL, k], strata[STRATA_PIXEL + 1, k]
                ro, rd = camera_ray(cam, F32(x) + jx, F32(y) + jy, uniform(key, DIM_LENS), uniform(key, DIM_LENS + 1))
                radiance, first_obj = trace_path(scene, ro, rd, key, strata, k, stack, stack_t)
                if math.isfinite(radiance[0]) and math.isfinite(radiance[1]) and math.isfinite(radiance[2]):
                    total = add(total, radiance)
                if first_obj == centre_obj:
                    same += 1
                add_soft_sample(soft_ids, soft_weight, first_obj + 1)
        if spp == 0:   # labels only: the centre ray is the one sample (black radiance)
            add_soft_sample(soft_ids, soft_weight, centre_obj + 1)
            same = 1
        inv = ONE / F32(max(spp, 1))
        for c in range(3):
            frame.rgb[y, x, c] = total[c] * inv
        frame.coverage[y, x] = F32(same) * inv
        finish_soft_mask(soft_ids, soft_weight, inv)

    return render_pixel


render_pixel = _make_render_pixel(CALLED)
_render_pixel_inline = _make_render_pixel(INLINED)


@kernel
def add_soft_sample(ids, weights, instance):
    """Count one camera sample whose first hit is ``instance`` (0 = background) in a pixel's
    soft-mask slots ``ids`` / ``weights`` ((SOFT_SLOTS,) int32 / float32 views: the first
    distinct instances seen; samples of further ones are dropped). The helpers take the two
    views, not the Frame: a call passes every array it is given as ~8 scalars."""
    for k in range(ids.shape[0]):
        if weights[k] == ZERO:
            ids[k] = instance
            weights[k] = ONE
            return
        if ids[k] == instance:
            weights[k] += ONE
            return


@kernel
def finish_soft_mask(ids, weights, inv_spp):
    """Turn a pixel's slot counts into fractions of its samples, sorted by decreasing weight
    (ties: smaller instance id first), so the result does not depend on sample order."""
    slots = ids.shape[0]
    for k in range(slots):
        weights[k] *= inv_spp
    for i in range(1, slots):
        j = i
        while j > 0:
            wa = weights[j - 1]
            wb = weights[j]
            ia = ids[j - 1]
            ib = ids[j]
            if wb > wa or (wb == wa and wb > ZERO and ib < ia):
                weights[j - 1] = wb
                weights[j] = wa
                ids[j - 1] = ib
                ids[j] = ia
                j -= 1
            else:
                break


@kernel
def label_tiles(scene, frame, tiles, first, stop, stack, stack_t):
    """``label_pixel`` for every pixel of tiles[first:stop] (see ``render_tiles``), compiled
    into the loop."""
    for k in range(first, stop):
        for y in range(tiles[k, 1], tiles[k, 3]):
            for x in range(tiles[k, 0], tiles[k, 2]):
                _label_pixel_inline(scene, frame, x, y, stack, stack_t)


@kernel
def render_tiles(scene, frame, tiles, first, stop, stack, stack_t, strata):
    """Render tiles[first:stop] of ``frame``: tiles is (K, 4) int32 [x0, y0, x1, y1] pixel
    rectangles; stack / stack_t (STACK_SIZE,) int32 / float32 traversal scratch, strata
    (STRATA_ROWS, STRATA_CHUNK) float32 scratch for stratified sample values. The CPU
    launcher's one call, with ``render_pixel`` compiled into its loop, so a run of tiles, not a
    pixel, pays for a call."""
    for k in range(first, stop):
        for y in range(tiles[k, 1], tiles[k, 3]):
            for x in range(tiles[k, 0], tiles[k, 2]):
                _render_pixel_inline(scene, frame, x, y, stack, stack_t, strata)

