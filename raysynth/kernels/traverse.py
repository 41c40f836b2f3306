"""BVH traversal: closest hit and any hit. Target-free.

The BVH is flattened depth-first (``raysynth.accel.bvh``): an interior node's first child is the
next node, ``offset`` is the second child; a leaf covers ``prim_order[offset:offset + count]``.
Traversal is iterative with a caller-provided int32 stack, visits the child whose box the ray
enters first, and shrinks t_max on every hit. Children are visited nearest entry point first.
"""
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
def _slab(bounds, node, ox, oy, oz, ix, iy, iz, tmax):
    """Entry distance of the ray into the node's box, or -1 if it misses within (0, tmax)."""
    tx0 = (bounds[node, 0] - ox) * ix
    tx1 = (bounds[node, 3] - ox) * ix
    ty0 = (bounds[node, 1] - oy) * iy
    ty1 = (bounds[node, 4] - oy) * iy
    tz0 = (bounds[node, 2] - oz) * iz
    tz1 = (bounds[node, 5] - oz) * iz
    t_near = max(max(min(tx0, tx1), min(ty0, ty1)), max(min(tz0, tz1), ZERO))
    t_far = min(min(max(tx0, tx1), max(ty0, ty1)), min(max(tz0, tz1), tmax))
    if t_near <= t_far:
        return t_near
    return _MISS


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
    bounds = scene.node_bounds
    info = scene.node_info
    order = scene.prim_order
    ox, oy, oz = ro[0], ro[1], ro[2]
    ix = _safe_inverse(rd[0])
    iy = _safe_inverse(rd[1])
    iz = _safe_inverse(rd[2])
    best_t = tmax
    best_prim = NO_HIT
    best_u = ZERO
    best_v = ZERO
    top = 0
    node = 0
    if _slab(bounds, 0, ox, oy, oz, ix, iy, iz, best_t) < ZERO:
        return _MISS, NO_HIT, ZERO, ZERO
    while True:
        count = info[node, 1]
        if count > 0:
            # leaf: test its primitives
            first = info[node, 0]
            for k in range(first, first + count):
                prim = order[k]
                t, u, v = intersect_prim(scene, prim, ro, rd, best_t)
                if t > ZERO:
                    best_t = t
                    best_prim = prim
                    best_u = u
                    best_v = v
                    if any_hit:
                        return best_t, best_prim, best_u, best_v
            if top == 0:
                break
            top -= 1
            node = stack[top]
        else:
            # interior: test both children, visit the nearer first, keep the other on the stack
            t_a = _slab(bounds, node + 1, ox, oy, oz, ix, iy, iz, best_t)
            second = info[node, 0]
            t_b = _slab(bounds, second, ox, oy, oz, ix, iy, iz, best_t)
            if t_a >= ZERO and t_b >= ZERO:
                if t_b < t_a:
                    stack[top] = node + 1
                    node = second
                else:
                    stack[top] = second
                    node = node + 1
                top += 1
            elif t_a >= ZERO:
                node = node + 1
            elif t_b >= ZERO:
                node = second
            else:
                if top == 0:
                    break
                top -= 1
                node = stack[top]
    if best_prim == NO_HIT:
        return _MISS, NO_HIT, ZERO, ZERO
    return best_t, best_prim, best_u, best_v
