"""BVH traversal: closest hit and any hit, over a two-level BVH. Target-free.

The BVH comes as paired-child records (``raysynth.accel.layout``): each record holds the boxes
of both children of one interior node and their links, in one 64-byte line. Traversal stands on
a record, tests both child boxes, intersects the primitives of hit leaf children at once
(nearer child first), continues into the nearer interior child and pushes the farther one on a
caller-provided int32 stack. The ray's t_max shrinks on every hit, so farther boxes are culled.

Mesh instancing: a top-level child link ``(offset, 0)`` with ``offset <= -2`` is mesh instance
``-2 - offset`` (its box in the record is the instance's world box). It is visited like an
interior child; visiting it enters the instance: the ray is mapped into object space by the
instance's world->object matrix (the direction is not renormalized, so t means the same in both
spaces and the closest t carries over), the stack height is remembered, and the traversal goes
on at the root record of the mesh's bottom-level tree (object space, in the same record table,
``inst_info[i, INST_ROOT]``). When the stack is back at that height, the ray returns to world
space. Stack depth <= top-level depth + bottom-level depth (checked by the compiler). Scenes
without instances take exactly the same steps as before instancing existed.
"""
import numpy as np

from .._jit import kernel
from .intersect import intersect_prim
from .tags import INST_OBJECT, INST_ROOT, NO_HIT, PRIM_OBJECT, XF_TO_OBJECT
from .vecmath import F32, ONE, ZERO, xform_point, xform_vector

_INV_TINY = F32(1e30)
_MISS = F32(-1.0)


@kernel
def _safe_inverse(x):
    """1/x, with x = 0 mapped to a huge finite value of x's sign (no inf * 0 = NaN in slabs)."""
    if x == ZERO:
        return _INV_TINY
    return ONE / x


@kernel
def _inverse_direction(rd):
    """Per-axis reciprocals of the ray direction for the slab tests."""
    return _safe_inverse(rd[0]), _safe_inverse(rd[1]), _safe_inverse(rd[2])


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
def _leaf(scene, first, count, ro, rd, best_t, best_prim, best_inst, best_u, best_v, any_hit, inst):
    """Intersect the primitives of one leaf; hits are recorded as seen through instance ``inst``
    (-1: world space). Returns the updated closest hit."""
    for k in range(first, first + count):
        prim = scene.prim_order[np.uint64(k)]
        t, u, v = intersect_prim(scene, prim, ro, rd, best_t)
        if t > ZERO:
            best_t = t
            best_prim = prim
            best_inst = inst
            best_u = u
            best_v = v
            if any_hit:
                break
    return best_t, best_prim, best_inst, best_u, best_v


@kernel
def _ray_in(scene, inst, ro_w, rd_w):
    """The world ray (ro_w, rd_w) in the object space of instance ``inst`` (world for -1)."""
    if inst < 0:
        return ro_w, rd_w
    return (xform_point(scene.inst_xform, inst, XF_TO_OBJECT, ro_w),
            xform_vector(scene.inst_xform, inst, XF_TO_OBJECT, rd_w))


def _make_trace_hit(inline):
    """``trace_hit`` compiled as a function of its own, or into its callers (``inline``)."""

    @kernel(inline=inline)
    def trace_hit(scene, ro, rd, tmax, stack, any_hit):
        """Closest (or, with any_hit, any) intersection along the ray within (0, tmax).

        ``trace_hit`` is a function of its own: callers with several trace calls (the
        integrator) share one copy of the traversal instead of compiling one per call site.
        ``trace_hit_inline`` is the same code compiled into its caller: a call costs about a
        sixth of a ray cast on a 1M-triangle mesh (the SceneArrays argument is passed as 223
        scalars), so the ray-casting loop (``cast.cast_rays_in``) uses it.

        Parameters
        ----------
        scene : SceneArrays
        ro, rd : world-space origin and direction (float32 tuples; rd need not be unit)
        tmax : float32 upper bound of the ray parameter
        stack : (STACK_SIZE,) int32 scratch
        any_hit : bool, stop at the first hit found (shadow rays)

        Returns
        -------
        (t, prim, inst, u, v) : prim = -1 (NO_HIT) and t = -1 when nothing is hit; inst is the
        row of inst_info when the hit primitive is a triangle of an instanced mesh (prim is then
        one of the mesh's object-space triangles), else -1
        """
        boxes = scene.bvh_boxes
        links = scene.bvh_links
        ro_w = ro
        rd_w = rd
        ox, oy, oz = ro[0], ro[1], ro[2]
        ix, iy, iz = _inverse_direction(rd)
        best_t = tmax
        best_prim = NO_HIT
        best_inst = NO_HIT
        best_u = ZERO
        best_v = ZERO
        inst = NO_HIT
        inst_base = 0
        top = 0
        record = 0
        while True:
            if record < 0:
                # enter instance -2 - record: walk its mesh's tree with the ray in object space
                inst = -2 - record
                inst_base = top
                ro, rd = _ray_in(scene, inst, ro_w, rd_w)
                ox, oy, oz = ro[0], ro[1], ro[2]
                ix, iy, iz = _inverse_direction(rd)
                record = scene.inst_info[inst, INST_ROOT]
            rec = np.uint64(record)   # unsigned: indexing without the negative-index fix-up
            offset_a = links[rec, 12]
            count_a = links[rec, 13]
            offset_b = links[rec, 14]
            count_b = links[rec, 15]
            t_a = _slab(boxes, rec, 0, ox, oy, oz, ix, iy, iz, best_t)
            t_b = _MISS
            if count_b >= 0:
                t_b = _slab(boxes, rec, 6, ox, oy, oz, ix, iy, iz, best_t)
            # visit the child entered first first (selects, not branches: the order is a coin toss)
            swap = (t_b >= ZERO) & ((t_a < ZERO) | (t_b < t_a))
            t_a, t_b = (t_b if swap else t_a), (t_a if swap else t_b)
            offset_a, offset_b = (offset_b if swap else offset_a), (offset_a if swap else offset_b)
            count_a, count_b = (count_b if swap else count_a), (count_a if swap else count_b)
            next_record = -1   # none (instances are <= -2)
            if t_a >= ZERO:
                if count_a > 0:
                    best_t, best_prim, best_inst, best_u, best_v = _leaf(
                        scene, offset_a, count_a, ro, rd, best_t, best_prim, best_inst, best_u, best_v,
                        any_hit, inst)
                    if any_hit and best_prim != NO_HIT:
                        break
                else:
                    next_record = offset_a
            if t_b >= ZERO and t_b <= best_t:
                if count_b > 0:
                    best_t, best_prim, best_inst, best_u, best_v = _leaf(
                        scene, offset_b, count_b, ro, rd, best_t, best_prim, best_inst, best_u, best_v,
                        any_hit, inst)
                    if any_hit and best_prim != NO_HIT:
                        break
                elif next_record == -1:
                    next_record = offset_b
                else:
                    stack[top] = offset_b
                    top += 1
            if next_record != -1:
                record = next_record
            elif top > 0:
                if top == inst_base and inst >= 0:
                    # the instance's tree is done: back to the world ray
                    inst = NO_HIT
                    ro = ro_w
                    rd = rd_w
                    ox, oy, oz = ro[0], ro[1], ro[2]
                    ix, iy, iz = _inverse_direction(rd)
                top -= 1
                record = stack[top]
            else:
                break
        if best_prim == NO_HIT:
            return _MISS, NO_HIT, NO_HIT, ZERO, ZERO
        return best_t, best_prim, best_inst, best_u, best_v

    return trace_hit


_CALLED = False   # the factory's argument (a name, as the kernel-source rules ask)
_INLINED = True
trace_hit = _make_trace_hit(_CALLED)
trace_hit_inline = _make_trace_hit(_INLINED)


@kernel
def trace(scene, ro, rd, tmax, stack, any_hit):
    """``trace_hit`` without the instance: (t, prim, u, v). Enough for scenes without instanced
    meshes and for shadow rays; a prim of an instanced mesh has no object of its own."""
    t, prim, _, u, v = trace_hit(scene, ro, rd, tmax, stack, any_hit)
    return t, prim, u, v


@kernel
def hit_object(scene, prim, inst):
    """Object row of a hit returned by ``trace_hit``."""
    if inst >= 0:
        return scene.inst_info[inst, INST_OBJECT]
    return scene.prim_info[prim, PRIM_OBJECT]


@kernel
def mark_objects_along_ray(scene, ro, rd, stack, bits, y, x):
    """Set bit ``obj % 32`` of ``bits[y, x, obj // 32]`` for every object the ray hits anywhere
    along (0, inf): occluders do not stop it (the amodal pass).

    Visits every BVH record whose box the ray crosses, with no t_max culling, and intersects
    each primitive once; a primitive's nearest hit is enough to know the object is crossed.
    An instance is entered as in ``trace_hit`` (unless its object is already marked) and left
    at its first hit. ``bits`` is (H, W, words) uint32."""
    boxes = scene.bvh_boxes
    links = scene.bvh_links
    ro_w = ro
    rd_w = rd
    ox, oy, oz = ro[0], ro[1], ro[2]
    ix, iy, iz = _inverse_direction(rd)
    inst = NO_HIT
    inst_obj = 0
    inst_base = 0
    top = 0
    record = 0
    while True:
        if record < 0:
            inst = -2 - record
            inst_obj = scene.inst_info[inst, INST_OBJECT]
            inst_base = top
            ro, rd = _ray_in(scene, inst, ro_w, rd_w)
            ox, oy, oz = ro[0], ro[1], ro[2]
            ix, iy, iz = _inverse_direction(rd)
            record = scene.inst_info[inst, INST_ROOT]
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
                    obj = inst_obj if inst >= 0 else scene.prim_info[prim, PRIM_OBJECT]
                    word = obj // 32
                    flag = np.uint32(1 << (obj % 32))
                    if bits[y, x, word] & flag:
                        continue   # already known to be crossed
                    t, _, _ = intersect_prim(scene, prim, ro, rd, _INV_TINY)
                    if t > ZERO:
                        bits[y, x, word] |= flag
            elif offset >= 0:
                stack[top] = offset
                top += 1
            else:
                obj = scene.inst_info[-2 - offset, INST_OBJECT]
                if not bits[y, x, obj // 32] & np.uint32(1 << (obj % 32)):
                    stack[top] = offset
                    top += 1
        if inst >= 0 and bits[y, x, inst_obj // 32] & np.uint32(1 << (inst_obj % 32)):
            top = inst_base   # the instance is crossed: skip the rest of its tree
        if top == inst_base and inst >= 0:
            inst = NO_HIT
            ro = ro_w
            rd = rd_w
            ox, oy, oz = ro[0], ro[1], ro[2]
            ix, iy, iz = _inverse_direction(rd)
        if top == 0:
            break
        top -= 1
        record = stack[top]
