"""The per-ray body of ray casting (``cast_rays`` in every backend). Target-free.

A launcher maps one thread (CUDA) or one loop iteration (CPU) to ray ``i`` and calls
:func:`cast_ray`; the results are the same arrays on every target.
"""
from .._jit import kernel
from .tags import PRIM_INDEX
from .traverse import hit_object, trace_hit


@kernel
def cast_ray(scene, origins, directions, t_max, i, any_hit, stack, out_t, out_prim, out_obj, out_u, out_v):
    """Trace ray ``i`` and write its hit into element ``i`` of the outputs.

    Parameters
    ----------
    scene : SceneArrays
    origins, directions : (n, 3) float32 world-space rays (directions need not be unit)
    t_max : (n,) float32, the hit must lie in (0, t_max[i])
    i : int, the ray
    any_hit : bool, stop at the first hit found (not the closest)
    stack : (STACK_SIZE,) int32 traversal scratch
    out_t : (n,) float32 ray parameter of the hit; out_prim : (n,) int32 primitive index within
        its kind (triangle or analytic shape; for an instanced mesh, its object-space triangle);
        out_obj : (n,) int32 object index (instance id - 1); out_u, out_v : (n,) float32 surface
        coordinates. All -1 on a miss (u, v then 0).
    """
    ro = (origins[i, 0], origins[i, 1], origins[i, 2])
    rd = (directions[i, 0], directions[i, 1], directions[i, 2])
    t, prim, inst, u, v = trace_hit(scene, ro, rd, t_max[i], stack, any_hit)
    out_t[i] = t
    out_prim[i] = scene.prim_info[prim, PRIM_INDEX] if prim >= 0 else prim
    out_obj[i] = hit_object(scene, prim, inst) if prim >= 0 else prim
    out_u[i] = u
    out_v[i] = v
