"""The amodal pass: which objects the ray through each pixel centre crosses. Target-free.

An object's amodal mask is the set of pixels whose centre ray hits it anywhere along the ray,
in front of or behind other objects. One pass over the BVH per pixel marks all of them at once
as bits (bit ``obj % 32`` of word ``obj // 32``), so every mask costs one bit per pixel.
"""
import numpy as np

from .._jit import kernel
from .camera import camera_ray
from .traverse import mark_objects_along_ray
from .vecmath import F32, HALF


@kernel(inline=True)
def amodal_pixel(scene, bits, x, y, stack):
    """Fill ``bits[y, x, :]`` ((H, W, words) uint32) for the pixel-centre ray of (x, y): the same
    ray (lens centre included) that the label layers use."""
    for w in range(bits.shape[2]):
        bits[y, x, w] = np.uint32(0)
    ro, rd = camera_ray(scene.camera, F32(x) + HALF, F32(y) + HALF, HALF, HALF)
    mark_objects_along_ray(scene, ro, rd, stack, bits, y, x)


@kernel
def amodal_tiles(scene, bits, tiles, first, stop, stack):
    """The amodal pass over tiles[first:stop] (tiles (K, 4) int32 [x0, y0, x1, y1]; stack
    (STACK_SIZE,) int32 scratch): the CPU launcher's one call."""
    for k in range(first, stop):
        for y in range(tiles[k, 1], tiles[k, 3]):
            for x in range(tiles[k, 0], tiles[k, 2]):
                amodal_pixel(scene, bits, x, y, stack)
