"""BVH traversal: closest hit and any hit. Target-free.

The BVH comes as paired-child records (``raysynth.accel.layout``): each record holds the boxes
of both children of one interior node and their links, in one 64-byte line. Traversal stands on
a record, tests both child boxes, intersects the primitives of hit leaf children at once
(nearer child first), continues into the nearer interior child and pushes the farther one on a
caller-provided int32 stack. The ray's t_max shrinks on every hit, so farther boxes are culled.
"""
import numpy as np

from .._jit import kernel
from .intersect import intersect_prim
from .tags import NO_HIT
from .vecmath import F32, ONE, ZERO

_INV_TINY = F32(1e30)
_MISS = F32(-1.0)


@kernel
def _safe_inverse(x):
    """1/x, with x = 0 mapped to a huge finite value of x's sign (no inf * 0 = NaN in slabs)."""
    if x == ZERO:
        return _INV_TINY
    return ONE / x


@kernel
def _slab(boxes, record, col, ox, oy, oz, ix, iy, iz, tmax):
    """Entry distance of the ray into the box at boxes[record, col:col + 6], or -1 if it misses
    within (0, tmax)."""
    tx0 = (boxes[record, col + 0] - ox) * ix
    tx1 = (boxes[record, col + 3] - ox) * ix
    ty0 = (boxes[record, col + 1] - oy) * iy
    ty1 = (boxes[record, col + 4] - oy) * iy
    tz0 = (boxes[record, col + 2] - oz) * iz
    tz1 = (boxes[record, col + 5] - oz) * iz
    t_near = max(max(min(tx0, tx1), min(ty0, ty1)), max(min(tz0, tz1), ZERO))
    t_far = min(min(max(tx0, tx1), max(ty0, ty1)), min(max(tz0, tz1), tmax))
    if t_near <= t_far:
        return t_near
    return _MISS


@kernel
def _leaf(scene, first, count, ro, rd, best_t, best_prim, best_u, best_v, any_hit):
    """Intersect the primitives of one leaf; returns the updated closest hit."""
    for k in range(first, first + count):
        prim = scene.prim_order[k]
        t, u, v = intersect_prim(scene, prim, ro, rd, best_t)
        if t > ZERO:
            best_t = t
            best_prim = prim
            best_u = u
            best_v = v
            if any_hit:
                break
    return best_t, best_prim, best_u, best_v


@kernel
def trace(scene, ro, rd, tmax, stack, any_hit):
    """Closest (or, with any_hit, any) intersection along the ray within (0, tmax).

    Parameters
    ----------
    scene : SceneArrays
    ro, rd : world-space origin and direction (float32 tuples; rd need not be unit)
    tmax : float32 upper bound of the ray parameter
    stack : (STACK_SIZE,) int32 scratch
    any_hit : bool, stop at the first hit found (shadow rays)

    Returns
    -------
    (t, prim, u, v) : prim = -1 (NO_HIT) and t = -1 when nothing is hit
    """
    boxes = scene.bvh_boxes
    links = scene.bvh_links
    ox, oy, oz = ro[0], ro[1], ro[2]
    ix = _safe_inverse(rd[0])
    iy = _safe_inverse(rd[1])
    iz = _safe_inverse(rd[2])
    best_t = tmax
    best_prim = NO_HIT
    best_u = ZERO
    best_v = ZERO
    top = 0
    record = 0
    while True:
        offset_a = links[record, 12]
        count_a = links[record, 13]
        offset_b = links[record, 14]
        count_b = links[record, 15]
        t_a = _slab(boxes, record, 0, ox, oy, oz, ix, iy, iz, best_t)
        t_b = _MISS
        if count_b >= 0:
            t_b = _slab(boxes, record, 6, ox, oy, oz, ix, iy, iz, best_t)
        # visit the child entered first first
        if t_b >= ZERO and (t_a < ZERO or t_b < t_a):
            t_a, t_b = t_b, t_a
            offset_a, offset_b = offset_b, offset_a
            count_a, count_b = count_b, count_a
        next_record = -1
        if t_a >= ZERO:
            if count_a > 0:
                best_t, best_prim, best_u, best_v = _leaf(
                    scene, offset_a, count_a, ro, rd, best_t, best_prim, best_u, best_v, any_hit)
                if any_hit and best_prim != NO_HIT:
                    break
            else:
                next_record = offset_a
        if t_b >= ZERO and t_b <= best_t:
            if count_b > 0:
                best_t, best_prim, best_u, best_v = _leaf(
                    scene, offset_b, count_b, ro, rd, best_t, best_prim, best_u, best_v, any_hit)
                if any_hit and best_prim != NO_HIT:
                    break
            elif next_record < 0:
                next_record = offset_b
            else:
                stack[top] = offset_b
                top += 1
        if next_record >= 0:
            record = next_record
        elif top > 0:
            top -= 1
            record = stack[top]
        else:
            break
    if best_prim == NO_HIT:
        return _MISS, NO_HIT, ZERO, ZERO
    return best_t, best_prim, best_u, best_v


@kernel
def mark_objects_along_ray(scene, ro, rd, stack, bits, y, x):
    """Set bit ``obj % 32`` of ``bits[y, x, obj // 32]`` for every object the ray hits anywhere
    along (0, inf): occluders do not stop it (the amodal pass).

    Visits every BVH record whose box the ray crosses, with no t_max culling, and intersects
    each primitive once; a primitive's nearest hit is enough to know the object is crossed.
    ``bits`` is (H, W, words) uint32."""
    boxes = scene.bvh_boxes
    links = scene.bvh_links
    ox, oy, oz = ro[0], ro[1], ro[2]
    ix = _safe_inverse(rd[0])
    iy = _safe_inverse(rd[1])
    iz = _safe_inverse(rd[2])
    top = 0
    record = 0
    while True:
        for child in range(2):
            offset = links[record, 12 + 2 * child]
            count = links[record, 13 + 2 * child]
            if count < 0:
                continue
            if _slab(boxes, record, 6 * child, ox, oy, oz, ix, iy, iz, _INV_TINY) < ZERO:
                continue
            if count > 0:
                for k in range(offset, offset + count):
                    prim = scene.prim_order[k]
                    obj = scene.prim_info[prim, 2]
                    word = obj // 32
                    flag = np.uint32(1 << (obj % 32))
                    if bits[y, x, word] & flag:
                        continue   # already known to be crossed
                    t, _, _ = intersect_prim(scene, prim, ro, rd, _INV_TINY)
                    if t > ZERO:
                        bits[y, x, word] |= flag
            else:
                stack[top] = offset
                top += 1
        if top == 0:
            break
        top -= 1
        record = stack[top]
