"""Ray casting against triangle meshes on the renderer's own BVH and traversal kernel.

    caster = raysynth.RayCaster(vertices, faces)
    t, index_tri, u, v = caster.intersect_closest(ray_origins, ray_directions)
    hit = caster.intersect_any(ray_origins, ray_directions)
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .compile import triangle_scene_arrays
from .errors import RaysynthError


def _as_rays(ray_origins, ray_directions):
    origins = np.ascontiguousarray(ray_origins, dtype=np.float32)
    directions = np.ascontiguousarray(ray_directions, dtype=np.float32)
    if origins.ndim != 2 or origins.shape[1] != 3 or directions.shape != origins.shape:
        raise RaysynthError(
            f"ray_origins and ray_directions must both have shape (n, 3), got {origins.shape} and {directions.shape}"
        )
    return origins, directions


class RayCaster:
    """Closest-hit and any-hit queries against one triangle mesh, multi-threaded.

    Parameters
    ----------
    vertices : (n, 3) float, world positions
    faces : (m, 3) int, triangle vertex indices
    """

    def __init__(self, vertices, faces):
        vertices = np.asarray(vertices)
        faces = np.asarray(faces)
        if vertices.ndim != 2 or vertices.shape[1] != 3 or not len(vertices):
            raise RaysynthError(f"vertices must have shape (n, 3) with n > 0, got {vertices.shape}")
        if faces.ndim != 2 or faces.shape[1] != 3 or not len(faces):
            raise RaysynthError(f"faces must have shape (m, 3) with m > 0, got {faces.shape}")
        if not np.isfinite(vertices).all():
            raise RaysynthError("vertices must be finite")
        if faces.min() < 0 or faces.max() >= len(vertices):
            raise RaysynthError(f"faces index outside [0, {len(vertices)})")
        # kernel arrays, triangles in blocks of BVH leaves; triangle_of_row maps a row back to faces
        self.arrays, self.triangle_of_row = triangle_scene_arrays(vertices, faces)

    def intersect_closest(self, ray_origins, ray_directions, t_max: Optional[np.ndarray] = None,
                          threads: Optional[int] = None):
        """Closest hit of every ray (directions need not be unit; t is in their units). Where
        several triangles are hit at exactly the same t (a shared edge or vertex), the one
        first in the caster's BVH leaf order is reported: the same for the same mesh, whatever
        the thread count or traversal order.

        Returns
        -------
        t : (n,) float32, ray parameter of the hit, -1 where nothing is hit
        index_tri : (n,) int32, triangle index, -1 where nothing is hit
        u, v : (n,) float32 barycentric coordinates of vertices 1 and 2 of the hit triangle
        """
        from .backends.cpu import cast_rays

        origins, directions = _as_rays(ray_origins, ray_directions)
        t, row, _, u, v = cast_rays(self.arrays, origins, directions, t_max, any_hit=False, threads=threads,
                                    triangles=True)
        index_tri = np.where(row >= 0, self.triangle_of_row[np.maximum(row, 0)], row)
        return t, index_tri, u, v

    def intersect_any(self, ray_origins, ray_directions, t_max: Optional[np.ndarray] = None,
                      threads: Optional[int] = None) -> np.ndarray:
        """(n,) bool: does each ray hit anything within (0, t_max)?"""
        from .backends.cpu import cast_rays

        origins, directions = _as_rays(ray_origins, ray_directions)
        t, index_tri, _, _, _ = cast_rays(self.arrays, origins, directions, t_max, any_hit=True, threads=threads,
                                          triangles=True)
        return index_tri >= 0
