"""BVH traversal: closest hit and any hit, over a two-level BVH. Target-free.

The BVH comes as 8-wide records (``raysynth.accel.layout.wide_layout``, ``WIDTH``): each record
holds the boxes of up to eight children, stored axis by axis, and their (offset, count) links,
in 256 bytes. A visit tests the ray against all eight boxes (the near and far plane of each
axis chosen once per ray from the direction's signs) as one 8-wide vector test
(``_simd.entry_distances``, the same values as ``_enter_child`` child by child), then walks only
the lanes it entered (the set bits of ``_simd.entered_mask``, all within the current closest
t) and pushes those children on a caller-provided stack, sorted so that the nearest is on top;
a stack entry is the child itself (``_stack_entry``: its record, or its leaf's slots, or its
instance, packed in one int32) with its entry distance in a float32 twin stack, so a child
found farther than a hit made meanwhile is dropped when popped. A pushed child's record (or
the ray caster's triangle block) is prefetched at the push: a large mesh's records miss the
caches. A popped leaf is intersected at once (the ray caster's leaves, up to seven triangles,
as one vector test: ``_leaf_of_block``); a popped interior child is visited next. The ray's
t_max shrinks on every hit, so farther boxes are culled. Exact ties in t go to the lower
primitive row (``_wins_tie``), so the walk's order never decides a hit.

Mesh instancing: a top-level child link ``(offset, 0)`` with ``offset <= -2`` is mesh instance
``-2 - offset`` (its box in the record is the instance's world box). Popping it enters the
instance: the ray is mapped into object space by the instance's world->object matrix (the
direction is not renormalized, so t means the same in both spaces and the closest t carries
over), the stack height is remembered, and the traversal goes on at the root record of the
mesh's bottom-level tree (object space, in the same record table, ``inst_info[i, INST_ROOT]``).
When the stack is back at that height, the ray returns to world space. Stack height <= WIDTH - 1
per level of both trees + WIDTH (checked by the compiler against STACK_SIZE).
"""
import numpy as np

from .._jit import CALLED, INLINED, kernel
from .._simd import (VECTOR_BOXES, closest_in_triangle_block, entered_mask, entry_distances, lane, lowest_bit,
                     prefetch_record, prefetch_triangles)
from ..accel.layout import WIDE_LINKS, WIDTH
from .intersect import intersect_prim, intersect_primitive, ray_shear
from .tags import INST_OBJECT, INST_ROOT, NO_HIT, PRIM_OBJECT, XF_TO_OBJECT
from .vecmath import F32, ONE, ZERO, xform_point, xform_vector

_INV_TINY = F32(1e30)
_MISS = F32(-1.0)
#: ``ray_shear``'s result where no triangle will read it
_NO_SHEAR = (0, 1, 2, F32(0.0), F32(0.0), F32(1.0), F32(0.0), F32(0.0), F32(0.0))
#: ``_make_trace_hit``'s ``only_triangles`` for the ray caster's walk (every leaf a triangle block)
_ONLY_TRIANGLES = True
_THREE_QUARTER_ULP = F32(0.75 * 2.0 ** -23)   # of a float32 in units of its value (_next_float_up)
_U1 = np.uint64(1)
# first column of each bound in a wide record (accel/layout.py): min x, y, z, then max x, y, z
_MIN_X = np.uint64(0)
_MIN_Y = np.uint64(WIDTH)
_MIN_Z = np.uint64(2 * WIDTH)
_MAX_X = np.uint64(3 * WIDTH)
_MAX_Y = np.uint64(4 * WIDTH)
_MAX_Z = np.uint64(5 * WIDTH)
_LINKS = WIDE_LINKS


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
def _near_far_columns(ix, iy, iz):
    """Columns of a wide record holding, per axis, the bound a ray with reciprocal direction
    (ix, iy, iz) meets first (near) and last (far) for child 0 (child c: + c)."""
    ux = ix >= ZERO
    uy = iy >= ZERO
    uz = iz >= ZERO
    return (_MIN_X if ux else _MAX_X, _MIN_Y if uy else _MAX_Y, _MIN_Z if uz else _MAX_Z,
            _MAX_X if ux else _MIN_X, _MAX_Y if uy else _MIN_Y, _MAX_Z if uz else _MIN_Z)


@kernel
def _enter_child(boxes, row, c, ox, oy, oz, ix, iy, iz, cols, tmax):
    """Entry distance of the ray into the box of child c (uint64) of wide record ``row``, or -1
    if it misses the box within (0, tmax); cols from ``_near_far_columns``."""
    t_near = max(max((boxes[row, cols[0] + c] - ox) * ix, (boxes[row, cols[1] + c] - oy) * iy),
                 max((boxes[row, cols[2] + c] - oz) * iz, ZERO))
    t_far = min(min((boxes[row, cols[3] + c] - ox) * ix, (boxes[row, cols[4] + c] - oy) * iy),
                min((boxes[row, cols[5] + c] - oz) * iz, tmax))
    if t_near <= t_far:
        return t_near
    return _MISS


@kernel
def _ray_setup(ro, rd, triangles):
    """What a walk precomputes for the ray (ro, rd): origin components, reciprocal direction,
    the near/far bound columns (``_near_far_columns``) and, when the scene has ``triangles``,
    the triangle test's ``ray_shear`` (three divisions a scene of analytic shapes never uses)."""
    ix, iy, iz = _inverse_direction(rd)
    shear = ray_shear(ro, rd) if triangles else _NO_SHEAR
    return ro[0], ro[1], ro[2], ix, iy, iz, _near_far_columns(ix, iy, iz), shear


@kernel
def _stack_entry(offset, count):
    """The traversal stack entry of a child link (offset, count) of a wide record: the record
    itself (>= 0) for an interior child, -1 - (first slot * 8 + count) for a leaf (count 1..7)
    and -1 - instance * 8 for an instance link (offset = -2 - instance)."""
    if count == 0 and offset >= 0:
        return offset
    if count > 0:
        return -1 - (offset * 8 + count)
    return -1 - 8 * (-2 - offset)


@kernel
def _child_entry(links, row, c):
    """``_stack_entry`` of child c of wide record ``row``."""
    return _stack_entry(links[row, _LINKS + 2 * c], links[row, _LINKS + 2 * c + 1])


@kernel
def _push_sorted(stack, stack_t, base, top, entry, t_entry):
    """Push ``entry`` with entry distance ``t_entry`` above ``base`` (uint64), keeping the
    entries pushed by this visit sorted so that the nearest is on top; returns the new top."""
    j = np.uint64(top)   # unsigned stack indices: no negative-index fix-up
    while j > base and stack_t[j - _U1] < t_entry:
        stack[j] = stack[j - _U1]
        stack_t[j] = stack_t[j - _U1]
        j -= _U1
    stack[j] = entry
    stack_t[j] = t_entry
    return top + 1


@kernel
def _next_float_up(x):
    """The float32 just above x (x > 0, normal): x + x * 0.75 * 2**-23 adds between 0.75 and 1.5
    of x's unit in the last place, which rounds to exactly one (tested against
    ``np.nextafter``). An intersector asked for t < _next_float_up(best_t) returns t <= best_t."""
    return x + x * _THREE_QUARTER_ULP


@kernel
def _wins_tie(prim, inst, best_prim, best_inst):
    """Whether a hit on ``prim`` (seen through instance ``inst``) at the closest t found so far
    replaces the hit on ``best_prim``: the lower primitive row wins, then the lower instance."""
    return prim < best_prim or (prim == best_prim and inst < best_inst)


@kernel
def _leaf(prim_order, prim_info, tri_geom, shape_xform, shape_param, first, count, ro, rd, shear,
          best_t, best_prim, best_inst, best_u, best_v, any_hit, inst):
    """Intersect the primitives of one leaf (``prim_order[first:first + count]``); hits are
    recorded as seen through instance ``inst`` (-1: world space). Returns the updated closest
    hit. Takes the five scene tables it reads, not the SceneArrays (a call passes that as 223
    scalars: more than a leaf's work).

    Two primitives hit at exactly the same t (faces meeting along the ray, coincident surfaces)
    resolve to the lower primitive row (``_wins_tie``) whatever order the walk meets them in:
    once a hit is held, a primitive is asked for t <= best_t, not t < best_t."""
    bound = best_t if best_prim == NO_HIT else _next_float_up(best_t)
    for k in range(first, first + count):
        prim = prim_order[np.uint64(k)]
        t, u, v = intersect_primitive(prim_info, tri_geom, shape_xform, shape_param, prim, ro, rd, shear, bound)
        if t > ZERO and (t < best_t or _wins_tie(prim, inst, best_prim, best_inst)):
            best_t = t
            best_prim = prim
            best_inst = inst
            best_u = u
            best_v = v
            if any_hit:
                break
            bound = _next_float_up(t)
    return best_t, best_prim, best_inst, best_u, best_v


@kernel
def _leaf_of_block(prim_order, prim_info, tri_geom, shape_xform, shape_param, first, count, ro, rd, shear,
                   best_t, best_prim, best_inst, best_u, best_v, any_hit, inst):
    """``leaf`` for the ray caster's triangle blocks (``compile.triangle_blocks``): the leaf's
    ``count`` triangles, rows first .. first + count - 1 of tri_geom, as one vector test; the
    same hit as ``_leaf``'s loop over them would give (ties included: a lower lane is a lower
    row)."""
    bound = best_t if best_prim == NO_HIT else _next_float_up(best_t)
    t, lane_hit, u, v = closest_in_triangle_block(tri_geom, first, count, shear, bound)
    prim = first + np.int64(lane_hit)
    if t > ZERO and (t < best_t or _wins_tie(prim, inst, best_prim, best_inst)):
        return t, prim, inst, u, v
    return best_t, best_prim, best_inst, best_u, best_v


@kernel
def _ray_in(inst_xform, inst, ro_w, rd_w):
    """The world ray (ro_w, rd_w) in the object space of instance ``inst`` (world for -1)."""
    if inst < 0:
        return ro_w, rd_w
    return (xform_point(inst_xform, inst, XF_TO_OBJECT, ro_w),
            xform_vector(inst_xform, inst, XF_TO_OBJECT, rd_w))


@kernel
def _prefetch_nothing(tri_geom, first):
    """A leaf reached through ``prim_order``: nothing cheap to prefetch."""


@kernel
def _prefetch_block(tri_geom, first):
    """A leaf of the ray caster: its triangle block starts at row ``first`` of tri_geom."""
    prefetch_triangles(tri_geom, first)


def _make_trace_hit(inline, vector_boxes, leaf=_leaf, prefetch_leaf=_prefetch_nothing, only_triangles=False):
    """``trace_hit`` compiled as a function of its own, or into its callers (``inline``); with
    ``vector_boxes``, a visit's slab tests are one WIDTH-wide vector test
    (``_simd.entry_distances``: the same values as ``_enter_child``); ``leaf`` intersects a
    leaf's primitives (``_leaf``, or ``_leaf_of_block`` for the ray caster's triangle blocks) and
    ``prefetch_leaf`` prefetches what it will read when a leaf is pushed; ``only_triangles``:
    every leaf holds triangles (the ray caster), so the shear is computed without a test."""

    @kernel(inline=inline)
    def traverse_tables(boxes, links, prim_order, prim_info, tri_geom, shape_xform, shape_param, inst_info,
                        inst_xform, ro, rd, tmax, stack, stack_t, any_hit):
        """``trace_hit`` on the nine scene tables the traversal reads (a call passes each array
        as 9 scalars: 81 in all instead of the SceneArrays' 223)."""
        ro_w = ro
        rd_w = rd
        triangles = only_triangles or tri_geom.shape[0] > 0
        ox, oy, oz, ix, iy, iz, cols, shear = _ray_setup(ro, rd, triangles)
        best_t = tmax
        best_prim = NO_HIT
        best_inst = NO_HIT
        best_u = ZERO
        best_v = ZERO
        inst = NO_HIT
        inst_base = 0
        top = 0
        record = 0
        while record >= 0:
            # visit: push the children the ray enters before best_t, the nearest on top
            row = np.uint64(record)   # unsigned: indexing without the negative-index fix-up
            base = np.uint64(top)
            if vector_boxes:
                # the WIDTH slab tests as one vector test (the same values), then the entered lanes
                t_all = entry_distances(boxes, row, ox, oy, oz, ix, iy, iz, cols, best_t)
                entered = entered_mask(t_all)
                if entered != 0 and entered & (entered - np.uint32(1)) == 0:
                    only = _child_entry(links, row, lowest_bit(entered))
                    if only >= 0:   # one interior child entered: visit it next, without the stack
                        record = only
                        continue
                while entered != 0:
                    c = lowest_bit(entered)
                    entered = entered & (entered - np.uint32(1))
                    entry = _child_entry(links, row, c)
                    # start loading what the child needs: it is popped after the other pushes
                    # (an instance link, only in scenes whose prefetch_leaf does nothing, falls
                    # in the leaf branch too)
                    if entry >= 0:
                        prefetch_record(boxes, entry)
                    else:
                        prefetch_leaf(tri_geom, (-1 - entry) >> 3)
                    top = _push_sorted(stack, stack_t, base, top, entry, lane(t_all, c))
            else:
                for c in range(WIDTH):
                    t_c = _enter_child(boxes, row, np.uint64(c), ox, oy, oz, ix, iy, iz, cols, best_t)
                    if t_c >= ZERO:
                        top = _push_sorted(stack, stack_t, base, top, _child_entry(links, row, c), t_c)
            # pop: intersect leaves until an interior child (or an instance) is next
            record = -1
            while top > 0:
                if top == inst_base and inst >= 0:
                    # the instance's tree is done: back to the world ray
                    inst = NO_HIT
                    ro = ro_w
                    rd = rd_w
                    ox, oy, oz, ix, iy, iz, cols, shear = _ray_setup(ro, rd, triangles)
                top -= 1
                if stack_t[np.uint64(top)] > best_t:
                    continue   # a hit found since the push lies before this box
                entry = stack[np.uint64(top)]
                if entry >= 0:
                    record = entry
                    break
                offset = (-1 - entry) >> 3
                count = (-1 - entry) & 7
                if count > 0:
                    best_t, best_prim, best_inst, best_u, best_v = leaf(
                        prim_order, prim_info, tri_geom, shape_xform, shape_param, offset, count, ro, rd, shear,
                        best_t, best_prim, best_inst, best_u, best_v, any_hit, inst)
                    if any_hit and best_prim != NO_HIT:
                        top = 0
                else:
                    # enter instance ``offset``: walk its mesh's tree with the ray in object space
                    inst = offset
                    inst_base = top
                    ro, rd = _ray_in(inst_xform, inst, ro_w, rd_w)
                    ox, oy, oz, ix, iy, iz, cols, shear = _ray_setup(ro, rd, triangles)
                    record = inst_info[inst, INST_ROOT]
                    break
        if best_prim == NO_HIT:
            return _MISS, NO_HIT, NO_HIT, ZERO, ZERO
        return best_t, best_prim, best_inst, best_u, best_v

    @kernel(inline=inline)
    def trace_hit(scene, ro, rd, tmax, stack, stack_t, any_hit):
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
        stack : (STACK_SIZE,) int32 scratch (entries: ``_stack_entry``)
        stack_t : (STACK_SIZE,) float32 scratch (the entries' entry distances)
        any_hit : bool, stop at the first hit found (shadow rays)

        Returns
        -------
        (t, prim, inst, u, v) : prim = -1 (NO_HIT) and t = -1 when nothing is hit; inst is the
        row of inst_info when the hit primitive is a triangle of an instanced mesh (prim is then
        one of the mesh's object-space triangles), else -1
        """
        return traverse_tables(scene.bvh_boxes, scene.bvh_links, scene.prim_order, scene.prim_info, scene.tri_geom,
                               scene.shape_xform, scene.shape_param, scene.inst_info, scene.inst_xform,
                               ro, rd, tmax, stack, stack_t, any_hit)

    return trace_hit


trace_hit = _make_trace_hit(CALLED, VECTOR_BOXES)
trace_hit_inline = _make_trace_hit(INLINED, VECTOR_BOXES)
#: ``trace_hit_inline`` for one triangle mesh in blocks (the RayCaster's scenes)
trace_hit_triangles = _make_trace_hit(INLINED, VECTOR_BOXES, _leaf_of_block, _prefetch_block, _ONLY_TRIANGLES)


@kernel
def trace(scene, ro, rd, tmax, stack, stack_t, any_hit):
    """``trace_hit`` without the instance: (t, prim, u, v). Enough for scenes without instanced
    meshes and for shadow rays; a prim of an instanced mesh has no object of its own."""
    t, prim, _, u, v = trace_hit(scene, ro, rd, tmax, stack, stack_t, any_hit)
    return t, prim, u, v


@kernel
def hit_object(scene, prim, inst):
    """Object row of a hit returned by ``trace_hit``."""
    if inst >= 0:
        return scene.inst_info[inst, INST_OBJECT]
    return scene.prim_info[prim, PRIM_OBJECT]


@kernel(inline=True)
def _amodal_child(scene, offset, count, inst, inst_obj, ro, rd, stack, top, bits, y, x):
    """A child the amodal walk entered, link (offset, count): mark the objects of a leaf's
    primitives the ray crosses, or push an interior child or an instance link (unless its
    object is marked already); returns the new stack top."""
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
    return top


@kernel(inline=True)
def mark_objects_along_ray(scene, ro, rd, stack, bits, y, x):
    """Set bit ``obj % 32`` of ``bits[y, x, obj // 32]`` for every object the ray hits anywhere
    along (0, inf): occluders do not stop it (the amodal pass).

    Visits every BVH record whose box the ray crosses, with no t_max culling (the int32 stack
    holds records and instance links, at most WIDTH per level), and intersects each primitive
    once; a primitive's nearest hit is enough to know the object is crossed.
    An instance is entered as in ``trace_hit`` (unless its object is already marked) and left
    at its first hit. ``bits`` is (H, W, words) uint32."""
    boxes = scene.bvh_boxes
    links = scene.bvh_links
    ro_w = ro
    rd_w = rd
    ox, oy, oz, ix, iy, iz, cols, _ = _ray_setup(ro, rd, False)
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
            ro, rd = _ray_in(scene.inst_xform, inst, ro_w, rd_w)
            ox, oy, oz, ix, iy, iz, cols, _ = _ray_setup(ro, rd, False)
            record = scene.inst_info[inst, INST_ROOT]
        row = np.uint64(record)
        if VECTOR_BOXES:   # one vector test, then only the lanes entered (absent children never are)
            entered = entered_mask(entry_distances(boxes, row, ox, oy, oz, ix, iy, iz, cols, _INV_TINY))
            while entered != 0:
                child = lowest_bit(entered)
                entered = entered & (entered - np.uint32(1))
                top = _amodal_child(scene, links[row, _LINKS + 2 * child], links[row, _LINKS + 2 * child + 1], inst,
                                    inst_obj, ro, rd, stack, top, bits, y, x)
        else:
            for child in range(WIDTH):
                t_child = _enter_child(boxes, row, np.uint64(child), ox, oy, oz, ix, iy, iz, cols, _INV_TINY)
                if t_child >= ZERO:   # the ray's line from its origin on (no t_max) enters the box
                    top = _amodal_child(scene, links[row, _LINKS + 2 * child], links[row, _LINKS + 2 * child + 1],
                                        inst, inst_obj, ro, rd, stack, top, bits, y, x)
        if inst >= 0 and bits[y, x, inst_obj // 32] & np.uint32(1 << (inst_obj % 32)):
            top = inst_base   # the instance is crossed: skip the rest of its tree
        if top == inst_base and inst >= 0:
            inst = NO_HIT
            ro = ro_w
            rd = rd_w
            ox, oy, oz, ix, iy, iz, cols, _ = _ray_setup(ro, rd, False)
        if top == 0:
            break
        top -= 1
        record = stack[top]
