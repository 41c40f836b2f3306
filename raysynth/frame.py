"""The output layers of one render, as a named tuple of arrays the kernels write into."""
from typing import NamedTuple

import numpy as np

#: Distinct instances tracked per pixel by the soft mask (more are counted in none of them).
SOFT_SLOTS = 4


class Frame(NamedTuple):
    """Per-pixel output buffers, all (H, W[, 3]) and C-contiguous.

    rgb      : (H, W, 3) float32, linear radiance (mean over the pixel's camera samples)
    instance : (H, W) int32, object instance id of the pixel-centre ray (0 = background)
    class_id : (H, W) int32, class id of that object (0 = background or unlabelled)
    depth    : (H, W) float32, z-depth along the optical axis, scene units (0 = no hit)
    distance : (H, W) float32, distance from the camera centre to the hit (0 = no hit)
    normal   : (H, W, 3) float32, unit shading normal in camera space (OpenCV axes), facing
               the camera (0 = no hit)
    albedo   : (H, W, 3) float32, base colour of the material at the hit, linear RGB
    position : (H, W, 3) float32, world-space hit position
    coverage : (H, W) float32, fraction of the camera samples whose first hit is the same
               instance as the pixel-centre ray (background counts as instance 0)
    soft_ids : (H, W, SOFT_SLOTS) int32, instances first hit by the pixel's camera samples
               (0 = background), by decreasing share; unused slots have weight 0
    soft_weight : (H, W, SOFT_SLOTS) float32, fraction of the samples of each of soft_ids
               (sums to 1 unless more than SOFT_SLOTS instances share the pixel)
    part     : (H, W) int32, mesh part of the pixel-centre hit: part id + 1, the part id being
               the index into the object's ``parts`` names in meta.json (OBJ ``o``/``g`` groups
               or an inline mesh's ``parts``); 0 = background or an analytic shape
    """

    rgb: np.ndarray
    instance: np.ndarray
    class_id: np.ndarray
    depth: np.ndarray
    distance: np.ndarray
    normal: np.ndarray
    albedo: np.ndarray
    position: np.ndarray
    coverage: np.ndarray
    soft_ids: np.ndarray
    soft_weight: np.ndarray
    part: np.ndarray


def empty_frame(height: int, width: int) -> Frame:
    """Zero-filled buffers of the right shapes and dtypes."""
    f32, i32 = np.float32, np.int32
    return Frame(
        rgb=np.zeros((height, width, 3), f32),
        instance=np.zeros((height, width), i32),
        class_id=np.zeros((height, width), i32),
        depth=np.zeros((height, width), f32),
        distance=np.zeros((height, width), f32),
        normal=np.zeros((height, width, 3), f32),
        albedo=np.zeros((height, width, 3), f32),
        position=np.zeros((height, width, 3), f32),
        coverage=np.zeros((height, width), f32),
        soft_ids=np.zeros((height, width, SOFT_SLOTS), i32),
        soft_weight=np.zeros((height, width, SOFT_SLOTS), f32),
        part=np.zeros((height, width), i32),
    )
