"""Ray-primitive intersection and the surface record at a hit. Target-free.

Analytic shapes are intersected exactly in their canonical object space (see ``tags``): the ray
is mapped by the shape's world->object matrix without renormalizing its direction, so the ray
parameter t is the same in both spaces. Triangles are stored as corners (v0, v1, v2) and
intersected watertightly (``intersect_triangle``), in world space or, for a mesh shared by
instances, in the mesh's object space (``surface_at_hit`` maps them).

Every intersector returns ``(t, u, v)`` with ``t = -1`` for a miss (never inf). For triangles
(u, v) are barycentrics of v1 and v2; for boxes and cylinders u is the face/part index.
"""
import math

import numpy as np

from .._jit import kernel
from .tags import (
    BOX,
    CYLINDER,
    DISK,
    FACE_PLUS_Z,
    INST_MIRROR,
    INST_OBJECT,
    OBJ_SMOOTH,
    PRIM_INDEX,
    PRIM_KIND,
    PRIM_OBJECT,
    QUAD,
    SP_AREA,
    SP_CAPS,
    SP_DET,
    SP_FACES,
    SPHERE,
    TRIANGLE,
    XF_TO_OBJECT,
    XF_TO_WORLD,
)
from .vecmath import (
    F32,
    ONE,
    TWO,
    ZERO,
    add,
    cross,
    dot,
    length,
    madd,
    normalize,
    row3,
    scale,
    sub,
    xform_normal,
    xform_point,
    xform_vector,
)

MISS = F32(-1.0)


@kernel
def _sphere(o, d, tmax):
    """Unit sphere; the discriminant is formed from the closest-approach vector for accuracy
    (Haines et al., Ray Tracing Gems ch. 7)."""
    a = dot(d, d)
    b = -dot(o, d)
    tc = b / a
    l = madd(o, d, tc)
    disc = a * (ONE - dot(l, l))
    if disc < ZERO:
        return MISS
    c = dot(o, o) - ONE
    q = b + math.copysign(math.sqrt(disc), b)
    if q == ZERO:
        return MISS
    t0 = c / q
    t1 = q / a
    if t0 > t1:
        t0, t1 = t1, t0
    if t0 > ZERO and t0 < tmax:
        return t0
    if t1 > ZERO and t1 < tmax:
        return t1
    return MISS


@kernel
def _box(o, d, tmax):
    """[-1, 1]^3 by slabs; returns (t, face) with face = 2 * axis + (1 if + side else 0)."""
    t_near = F32(-3.0e38)
    t_far = F32(3.0e38)
    near_face = 0
    far_face = 0
    for axis in range(3):
        if d[axis] != ZERO:
            inv = ONE / d[axis]
            t0 = (-ONE - o[axis]) * inv
            t1 = (ONE - o[axis]) * inv
            f0 = 2 * axis          # the -1 face
            f1 = 2 * axis + 1      # the +1 face
            if t0 > t1:
                t0, t1 = t1, t0
                f0, f1 = f1, f0
            if t0 > t_near:
                t_near = t0
                near_face = f0
            if t1 < t_far:
                t_far = t1
                far_face = f1
        elif o[axis] < -ONE or o[axis] > ONE:
            return MISS, 0
    if t_near > t_far:
        return MISS, 0
    if t_near > ZERO and t_near < tmax:
        return t_near, near_face
    if t_far > ZERO and t_far < tmax:
        return t_far, far_face
    return MISS, 0


@kernel
def _plane(o, d, tmax):
    """z = 0 plane: (t, x, y) of the crossing, t = -1 if none in (0, tmax)."""
    if d[2] == ZERO:
        return MISS, ZERO, ZERO
    t = -o[2] / d[2]
    if not (t > ZERO and t < tmax):
        return MISS, ZERO, ZERO
    return t, o[0] + t * d[0], o[1] + t * d[1]


@kernel
def _cylinder(o, d, tmax, caps):
    """Radius 1, z in [-1, 1]; returns (t, part) with part 0 = side, 1 = top cap, 2 = bottom."""
    best = MISS
    part = 0
    # side: x^2 + y^2 = 1
    a = d[0] * d[0] + d[1] * d[1]
    if a > ZERO:
        b = -(o[0] * d[0] + o[1] * d[1])
        tc = b / a
        lx = o[0] + tc * d[0]
        ly = o[1] + tc * d[1]
        disc = a * (ONE - lx * lx - ly * ly)
        if disc >= ZERO:
            c = o[0] * o[0] + o[1] * o[1] - ONE
            q = b + math.copysign(math.sqrt(disc), b)
            if q != ZERO:
                t0 = c / q
                t1 = q / a
                if t0 > t1:
                    t0, t1 = t1, t0
                z0 = o[2] + t0 * d[2]
                z1 = o[2] + t1 * d[2]
                if t0 > ZERO and t0 < tmax and abs(z0) <= ONE:
                    best = t0
                elif t1 > ZERO and t1 < tmax and abs(z1) <= ONE:
                    best = t1
    # caps: z = +-1 inside the unit circle
    if caps and d[2] != ZERO:
        limit = best if best > ZERO else tmax
        for k in range(2):
            zc = ONE if k == 0 else -ONE
            t = (zc - o[2]) / d[2]
            if t > ZERO and t < limit:
                x = o[0] + t * d[0]
                y = o[1] + t * d[1]
                if x * x + y * y <= ONE:
                    best = t
                    limit = t
                    part = 1 + k
    return best, part


@kernel
def intersect_analytic(kind, xf, s, ro, rd, tmax, caps):
    """Intersect a world-space ray with analytic shape s (row of shape_xform)."""
    s = np.int64(s)   # one compiled xform_* for every caller (each integer type is one more)
    o = xform_point(xf, s, XF_TO_OBJECT, ro)
    d = xform_vector(xf, s, XF_TO_OBJECT, rd)
    if kind == SPHERE:
        return _sphere(o, d, tmax), ZERO, ZERO
    if kind == BOX:
        t, face = _box(o, d, tmax)
        return t, F32(face), ZERO
    if kind == QUAD:
        t, x, y = _plane(o, d, tmax)
        if t > ZERO and abs(x) <= ONE and abs(y) <= ONE:
            return t, ZERO, ZERO
        return MISS, ZERO, ZERO
    if kind == DISK:
        t, x, y = _plane(o, d, tmax)
        if t > ZERO and x * x + y * y <= ONE:
            return t, ZERO, ZERO
        return MISS, ZERO, ZERO
    t, part = _cylinder(o, d, tmax, caps)
    return t, F32(part), ZERO


@kernel
def _component(v, k):
    """v[k] for a run-time axis k (selects, no indexing of the tuple)."""
    if k == 0:
        return v[0]
    if k == 1:
        return v[1]
    return v[2]


@kernel
def ray_shear(ro, rd):
    """Per-ray constants of the watertight triangle test (Woop, Benthin and Wald, "Watertight
    Ray/Triangle Intersection", JCGT 2013; pbrt-v4 section 6.5.3): the axis kz of the largest
    |direction| component and the two others kx, ky (cyclic order), the shear that maps the
    ray onto the +z axis, (sx, sy, sz) = (-d_kx / d_kz, -d_ky / d_kz, 1 / d_kz), and the origin's
    components along kx, ky, kz. Computed once per ray (``intersect_triangle_sheared``)."""
    ax, ay, az = abs(rd[0]), abs(rd[1]), abs(rd[2])
    kz = 0 if (ax >= ay and ax >= az) else (1 if ay >= az else 2)
    kx = (kz + 1) % 3
    ky = (kx + 1) % 3
    dz = _component(rd, kz)
    return (kx, ky, kz, -_component(rd, kx) / dz, -_component(rd, ky) / dz, ONE / dz,
            _component(ro, kx), _component(ro, ky), _component(ro, kz))


@kernel
def _sheared(p, shear):
    """Corner p in the ray's sheared frame: (x, y) across the ray, z along it (unscaled)."""
    kx, ky, kz, sx, sy, _, okx, oky, okz = shear
    z = _component(p, kz) - okz
    return _component(p, kx) - okx + sx * z, _component(p, ky) - oky + sy * z, z


@kernel
def intersect_triangle_sheared(tri_geom, i, shear, tmax):
    """Watertight intersection with triangle i of tri_geom (T, 9) float32 corners v0, v1, v2,
    for the ray whose ``ray_shear`` is ``shear``.

    The corners are moved into a frame where the ray is the +z axis and the hit is decided by
    the signs of the three 2D edge functions. The edge function of an edge shared by two
    triangles is computed from the same two float32 corners in both (with opposite sign), so a
    ray through the edge, or through a vertex, hits at least one of them: no ray slips between
    the triangles of a closed mesh. An exactly zero edge function counts as inside. Returns
    (t, u, v): u, v are the barycentrics of v1 and v2; t = -1 on a miss (t must lie in
    (0, tmax))."""
    x0, y0, z0 = _sheared(row3(tri_geom, i, 0), shear)
    x1, y1, z1 = _sheared(row3(tri_geom, i, 3), shear)
    x2, y2, z2 = _sheared(row3(tri_geom, i, 6), shear)
    e0 = x1 * y2 - y1 * x2    # weight of v0 (the edge v1 v2)
    e1 = x2 * y0 - y2 * x0    # weight of v1
    e2 = x0 * y1 - y0 * x1    # weight of v2
    if (e0 < ZERO or e1 < ZERO or e2 < ZERO) and (e0 > ZERO or e1 > ZERO or e2 > ZERO):
        return MISS, ZERO, ZERO
    det = e0 + e1 + e2
    if det == ZERO:
        return MISS, ZERO, ZERO
    t_scaled = (e0 * z0 + e1 * z1 + e2 * z2) * shear[5]
    inv_det = ONE / det
    t = t_scaled * inv_det
    if t > ZERO and t < tmax:
        return t, e1 * inv_det, e2 * inv_det
    return MISS, ZERO, ZERO


@kernel
def intersect_triangle(tri_geom, i, ro, rd, tmax):
    """``intersect_triangle_sheared`` for the ray (ro, rd): (t, u, v), t = -1 on a miss."""
    return intersect_triangle_sheared(tri_geom, i, ray_shear(ro, rd), tmax)


@kernel
def triangle_corners(tri_geom, i):
    """Corners v0, v1, v2 of triangle i and its edges e1 = v1 - v0, e2 = v2 - v0."""
    v0 = row3(tri_geom, i, 0)
    v1 = row3(tri_geom, i, 3)
    v2 = row3(tri_geom, i, 6)
    return v0, sub(v1, v0), sub(v2, v0)


@kernel
def intersect_primitive(prim_info, tri_geom, shape_xform, shape_param, prim, ro, rd, shear, tmax):
    """Intersect primitive ``prim`` (row of prim_info) given the scene tables it needs (the
    traversal's leaf loop passes these four, not the whole SceneArrays) and the ray's
    ``ray_shear``. Returns (t, u, v), t = -1 on a miss."""
    row = np.uint64(prim)   # unsigned: indexing without the negative-index fix-up
    kind = prim_info[row, PRIM_KIND]
    index = prim_info[row, PRIM_INDEX]
    if kind == TRIANGLE:
        return intersect_triangle_sheared(tri_geom, np.uint64(index), shear, tmax)
    caps = shape_param[index, SP_CAPS] > ZERO
    return intersect_analytic(kind, shape_xform, index, ro, rd, tmax, caps)


@kernel
def intersect_prim(scene, prim, ro, rd, tmax):
    """Intersect primitive `prim` (row of prim_info). Returns (t, u, v), t = -1 on a miss."""
    return intersect_primitive(scene.prim_info, scene.tri_geom, scene.shape_xform, scene.shape_param, prim, ro, rd,
                               ray_shear(ro, rd), tmax)


@kernel
def _canonical_normal(kind, p, part):
    """Outward unit normal of a canonical shape at object-space point p."""
    if kind == SPHERE:
        return p
    if kind == BOX:
        face = int(part)
        axis = face // 2
        sign = ONE if face % 2 == 1 else -ONE
        if axis == 0:
            return (sign, ZERO, ZERO)
        if axis == 1:
            return (ZERO, sign, ZERO)
        return (ZERO, ZERO, sign)
    if kind == CYLINDER:
        ipart = int(part)
        if ipart == 1:
            return (ZERO, ZERO, ONE)
        if ipart == 2:
            return (ZERO, ZERO, -ONE)
        r = math.sqrt(p[0] * p[0] + p[1] * p[1])
        if r > ZERO:
            return (p[0] / r, p[1] / r, ZERO)
        return (ONE, ZERO, ZERO)
    return (ZERO, ZERO, ONE)  # quad, disk


@kernel
def _instanced_triangle_surface(scene, index, inst, u, v):
    """Surface record of a hit on object-space triangle ``index`` seen through instance ``inst``:
    the point goes to world space by the instance's object->world matrix, normals by the inverse
    transpose (the transpose of world->object). Vertex normals are mapped and normalized one by
    one before they are interpolated, as a flattened (world-space) copy of the mesh does."""
    obj = scene.inst_info[inst, INST_OBJECT]
    xf = scene.inst_xform
    v0, e1, e2 = triangle_corners(scene.tri_geom, index)
    p = xform_point(xf, inst, XF_TO_WORLD, add(v0, add(scale(e1, u), scale(e2, v))))
    ng = normalize(xform_normal(xf, inst, XF_TO_OBJECT, cross(e1, e2)))
    if scene.inst_info[inst, INST_MIRROR] != 0:
        ng = (-ng[0], -ng[1], -ng[2])   # a mirroring transform reverses the winding
    ns = ng
    if scene.obj_info[obj, OBJ_SMOOTH] != 0:
        w = ONE - u - v
        n0 = normalize(xform_normal(xf, inst, XF_TO_OBJECT, row3(scene.tri_normals, index, 0)))
        n1 = normalize(xform_normal(xf, inst, XF_TO_OBJECT, row3(scene.tri_normals, index, 3)))
        n2 = normalize(xform_normal(xf, inst, XF_TO_OBJECT, row3(scene.tri_normals, index, 6)))
        n = add(scale(n0, w), add(scale(n1, u), scale(n2, v)))
        if dot(n, n) > ZERO:
            ns = normalize(n)
    return p, ng, ns, obj, ONE


@kernel(inline=True)
def surface_at_hit(scene, prim, inst, ro, rd, t, u, v):
    """The surface record of a hit (prim, inst) found by ``traverse.trace_hit``.

    Returns
    -------
    p : world position
    ng : world geometric normal (unit, outward / by winding)
    ns : world shading normal (unit; interpolated vertex normals for smooth meshes)
    obj : object row (instance id = obj + 1)
    area_scale : ratio of world to canonical surface area at p (analytic shapes; 1 for
        triangles), used by the light-sampling density
    """
    if inst >= 0:
        return _instanced_triangle_surface(scene, np.int64(scene.prim_info[prim, PRIM_INDEX]), inst, u, v)
    return surface_at(scene, prim, ro, rd, t, u, v)


@kernel
def surface_at(scene, prim, ro, rd, t, u, v):
    """The surface record of a hit found by ``intersect_prim`` on a primitive that is not part of
    an instanced mesh (see ``surface_at_hit``); the same record."""
    kind = scene.prim_info[prim, PRIM_KIND]
    index = np.int64(scene.prim_info[prim, PRIM_INDEX])   # as every other caller of the helpers
    obj = scene.prim_info[prim, PRIM_OBJECT]
    if kind == TRIANGLE:
        v0, e1, e2 = triangle_corners(scene.tri_geom, index)
        p = add(v0, add(scale(e1, u), scale(e2, v)))
        ng = normalize(cross(e1, e2))
        ns = ng
        if scene.obj_info[obj, OBJ_SMOOTH] != 0:
            w = ONE - u - v
            n0 = row3(scene.tri_normals, index, 0)
            n1 = row3(scene.tri_normals, index, 3)
            n2 = row3(scene.tri_normals, index, 6)
            n = add(scale(n0, w), add(scale(n1, u), scale(n2, v)))
            if dot(n, n) > ZERO:
                ns = normalize(n)
        return p, ng, ns, obj, ONE
    if kind == BOX or kind == QUAD or kind == DISK:
        # a flat face: its world normal and area stretch were computed once by the compiler
        # (compile._face_normals: the same float32 operations as below, the same bits); the
        # point straight along the world ray (no trip through object space and back: the
        # next rays wait for it)
        col = SP_FACES + 4 * (int(u) if kind == BOX else FACE_PLUS_Z)
        ng = row3(scene.shape_param, index, col)
        return madd(ro, rd, t), ng, ng, obj, scene.shape_param[index, SP_DET] * scene.shape_param[index, col + 3]
    xf = scene.shape_xform
    o = xform_point(xf, index, XF_TO_OBJECT, ro)
    d = xform_vector(xf, index, XF_TO_OBJECT, rd)
    p_obj = madd(o, d, t)
    if kind == SPHERE:
        p_obj = normalize(p_obj)  # re-project onto the surface (removes intersection error)
    n_obj = _canonical_normal(kind, p_obj, u)
    p = xform_point(xf, index, XF_TO_WORLD, p_obj)
    n_world = xform_normal(xf, index, XF_TO_OBJECT, n_obj)
    n_len = length(n_world)
    ng = scale(n_world, ONE / n_len)
    area_scale = scene.shape_param[index, SP_DET] * n_len
    return p, ng, ng, obj, area_scale


@kernel
def canonical_area(scene, index):
    """Surface area of analytic shape `index` in its canonical object space."""
    return scene.shape_param[index, SP_AREA]


@kernel
def sample_canonical_point(kind, caps, u_pick, u1, u2):
    """Uniform point (by canonical area) on a canonical shape: (p_obj, n_obj)."""
    if kind == SPHERE:
        z = ONE - TWO * u1
        r = math.sqrt(max(ZERO, ONE - z * z))
        phi = F32(2.0 * math.pi) * u2
        p = (r * math.cos(phi), r * math.sin(phi), z)
        return p, p
    if kind == BOX:
        face = min(int(u_pick * F32(6.0)), 5)
        axis = face // 2
        sign = ONE if face % 2 == 1 else -ONE
        a = TWO * u1 - ONE
        b = TWO * u2 - ONE
        if axis == 0:
            return (sign, a, b), (sign, ZERO, ZERO)
        if axis == 1:
            return (a, sign, b), (ZERO, sign, ZERO)
        return (a, b, sign), (ZERO, ZERO, sign)
    if kind == QUAD:
        return (TWO * u1 - ONE, TWO * u2 - ONE, ZERO), (ZERO, ZERO, ONE)
    if kind == DISK:
        r = math.sqrt(u1)
        phi = F32(2.0 * math.pi) * u2
        return (r * math.cos(phi), r * math.sin(phi), ZERO), (ZERO, ZERO, ONE)
    # cylinder: side area 4 pi, each cap pi
    side_fraction = ONE if not caps else F32(4.0 / 6.0)
    if u_pick < side_fraction:
        phi = F32(2.0 * math.pi) * u1
        c = math.cos(phi)
        s = math.sin(phi)
        return (c, s, TWO * u2 - ONE), (c, s, ZERO)
    r = math.sqrt(u1)
    phi = F32(2.0 * math.pi) * u2
    top = u_pick < side_fraction + (ONE - side_fraction) * F32(0.5)
    zc = ONE if top else -ONE
    return (r * math.cos(phi), r * math.sin(phi), zc), (ZERO, ZERO, zc)
