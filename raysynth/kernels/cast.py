"""The per-ray body of ray casting (``cast_rays`` in every backend). Target-free.

The CPU launcher calls :func:`cast_rays_in` on a chunk of rays per loop iteration, the CUDA
launcher :func:`cast_ray` on one ray per thread; both run the same traversal source and give the
same arrays.

The traversal is compiled into the loop over the rays (``traverse.trace_hit_inline``): a call
per ray costs about a tenth of the time of a ray on a 1M-triangle mesh. One call per range costs
nothing; inlining ``cast_rays_in`` into the launcher as well would double the launcher's compile
time (Numba types an inlined body once more per level) for no speed. The labels' occlusion rays
(a few per object) use ``cast_rays_in_shared`` instead, which calls the traversal the renderer
has compiled already: about 5 s less of a first (cold) labelled render. The RayCaster's mesh
is stored as triangle blocks (``compile.triangle_blocks``: a leaf of up to seven triangles,
component by component), so its loop, ``cast_triangles_in``, tests a leaf's triangles as one
vector test (``traverse.trace_hit_triangles``).
"""
from .._jit import kernel
from .tags import PRIM_INDEX
from .traverse import hit_object, trace_hit, trace_hit_inline, trace_hit_triangles


@kernel
def _write_hit(scene, i, t, prim, inst, u, v, out_t, out_prim, out_obj, out_u, out_v):
    """Store one ray's hit (as returned by trace_hit) into element i of the outputs."""
    out_t[i] = t
    out_prim[i] = scene.prim_info[prim, PRIM_INDEX] if prim >= 0 else prim
    out_obj[i] = hit_object(scene, prim, inst) if prim >= 0 else prim
    out_u[i] = u
    out_v[i] = v


@kernel
def _write_triangle_hit(scene, i, t, prim, inst, u, v, out_t, out_prim, out_obj, out_u, out_v):
    """``_write_hit`` for a scene of one triangle mesh in blocks (``trace_hit_triangles``):
    the primitive is the triangle's row in the blocks, the object 0."""
    out_t[i] = t
    out_prim[i] = prim
    out_obj[i] = 0 if prim >= 0 else prim
    out_u[i] = u
    out_v[i] = v


def _make_cast_rays_in(trace, write_hit=_write_hit):
    """``cast_rays_in`` over a chunk of rays with the given traversal: ``trace_hit_inline``
    (compiled into the loop: the fast one, for ray casting), ``trace_hit`` (a call per ray,
    but the compiled traversal the renderer already has: for the few rays of the labels) or
    ``trace_hit_triangles`` with ``_write_triangle_hit`` (the RayCaster's mesh in blocks)."""

    @kernel
    def cast_rays_in(scene, origins, directions, t_max, first, last, any_hit, stack, stack_t,
                     out_t, out_prim, out_obj, out_u, out_v):
        """Trace rays ``first .. last - 1`` and write each hit into the same element of the outputs.

        Parameters
        ----------
        scene : SceneArrays
        origins, directions : (n, 3) float32 world-space rays (directions need not be unit)
        t_max : (n,) float32, the hit of ray i must lie in (0, t_max[i])
        first, last : int, the rays
        any_hit : bool, stop at the first hit found (not the closest)
        stack, stack_t : (STACK_SIZE,) int32 and float32 traversal scratch
        out_t : (n,) float32 ray parameter of the hit; out_prim : (n,) int32 primitive index within
            its kind (triangle or analytic shape; for an instanced mesh, its object-space triangle);
            out_obj : (n,) int32 object index (instance id - 1); out_u, out_v : (n,) float32 surface
            coordinates. All -1 on a miss (u, v then 0).
        """
        for i in range(first, last):
            ro = (origins[i, 0], origins[i, 1], origins[i, 2])
            rd = (directions[i, 0], directions[i, 1], directions[i, 2])
            t, prim, inst, u, v = trace(scene, ro, rd, t_max[i], stack, stack_t, any_hit)
            write_hit(scene, i, t, prim, inst, u, v, out_t, out_prim, out_obj, out_u, out_v)

    return cast_rays_in


cast_rays_in = _make_cast_rays_in(trace_hit_inline)
cast_rays_in_shared = _make_cast_rays_in(trace_hit)
cast_triangles_in = _make_cast_rays_in(trace_hit_triangles, _write_triangle_hit)


@kernel
def cast_ray(scene, origins, directions, t_max, i, any_hit, stack, stack_t, out_t, out_prim, out_obj, out_u, out_v):
    """Trace ray ``i`` and write its hit into element ``i`` of the outputs (arguments as in
    :func:`cast_rays_in`). One ray per GPU thread: it calls the plain ``trace_hit`` (the CUDA
    compiler inlines it anyway)."""
    ro = (origins[i, 0], origins[i, 1], origins[i, 2])
    rd = (directions[i, 0], directions[i, 1], directions[i, 2])
    t, prim, inst, u, v = trace_hit(scene, ro, rd, t_max[i], stack, stack_t, any_hit)
    _write_hit(scene, i, t, prim, inst, u, v, out_t, out_prim, out_obj, out_u, out_v)
